//! Paging of `GET /sessions` and the security histories: `limit` (1 to 100, default 50) and the opaque `cursor` the
//! previous page returned as `next_cursor`. The cursor names the last entry shown, so a page
//! needs no server-side state.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::DateTime;
use lambda_http::Request;

use super::gateway::query;

use super::ApiError;
use crate::domain::{HistoryPosition, ListPosition, SessionId};

/// Entries per page unless `limit` says otherwise.
pub const DEFAULT_LIMIT: usize = 50;
/// The most entries a page may hold.
pub const MAX_LIMIT: usize = 100;

/// What a listing request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PageRequest {
    /// At most this many entries.
    pub limit: usize,
    /// Continue after this position (`None`: the first page).
    pub after: Option<ListPosition>,
}

/// The `limit` and `cursor` query parameters; 400 for anything this API did not hand out.
pub(crate) fn page_request(req: &Request) -> Result<PageRequest, ApiError> {
    Ok(PageRequest {
        limit: limit(req)?,
        after: cursor_param(req, parse_cursor)?,
    })
}

/// The `limit` and `cursor` of a security history page.
pub(crate) fn history_page_request(
    req: &Request,
) -> Result<(usize, Option<HistoryPosition>), ApiError> {
    let after = cursor_param(req, |raw| {
        let text = String::from_utf8(URL_SAFE_NO_PAD.decode(raw).ok()?).ok()?;
        HistoryPosition::parse(&text)
    })?;
    Ok((limit(req)?, after))
}

/// The opaque cursor of a security history position.
pub(crate) fn history_cursor(position: &HistoryPosition) -> String {
    URL_SAFE_NO_PAD.encode(position.as_str())
}

fn limit(req: &Request) -> Result<usize, ApiError> {
    match query(req, "limit") {
        None => Ok(DEFAULT_LIMIT),
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                ApiError::invalid_request(format!(
                    "limit must be a whole number from 1 to {MAX_LIMIT}"
                ))
            }),
    }
}

fn cursor_param<T>(
    req: &Request,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<Option<T>, ApiError> {
    query(req, "cursor")
        .map(|raw| {
            parse(raw).ok_or_else(|| {
                ApiError::invalid_request("cursor is not one this API returned as next_cursor")
            })
        })
        .transpose()
}

/// The opaque cursor for a position: base64url of `<epoch ms>.<session id>`.
pub(crate) fn cursor(position: &ListPosition) -> String {
    URL_SAFE_NO_PAD.encode(format!(
        "{}.{}",
        position.last_seen_at.timestamp_millis(),
        position.session_id
    ))
}

fn parse_cursor(raw: &str) -> Option<ListPosition> {
    let bytes = URL_SAFE_NO_PAD.decode(raw).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (millis, id) = text.split_once('.')?;
    Some(ListPosition {
        last_seen_at: DateTime::from_timestamp_millis(millis.parse().ok()?)?,
        session_id: SessionId::parse(id).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    #[test]
    fn a_cursor_reads_back_as_its_position() {
        let at = Utc::now();
        let position = ListPosition {
            last_seen_at: DateTime::from_timestamp_millis(at.timestamp_millis()).unwrap(),
            session_id: SessionId::random(),
        };
        assert_eq!(parse_cursor(&cursor(&position)), Some(position));
        assert_eq!(
            parse_cursor(&cursor(&ListPosition::start())),
            Some(ListPosition::start())
        );
    }

    #[test]
    fn anything_else_is_no_cursor() {
        for raw in [
            "",
            "abc",
            "MTIzNA",
            "!!!",
            &URL_SAFE_NO_PAD.encode("12.not-a-uuid"),
        ] {
            assert_eq!(parse_cursor(raw), None, "{raw}");
        }
    }
}
