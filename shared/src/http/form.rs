//! `application/x-www-form-urlencoded` bodies: the identity provider's back-channel logout
//! post (`logout_token=...`).

use lambda_http::Request;
use lambda_http::http::header::CONTENT_TYPE;

use super::ApiError;

/// The one value of field `name` of a form body of at most `max_bytes`; a body that is not a
/// form, or that names the field never or twice, is a 400 in the OAuth 2.0 shape.
pub(crate) fn form_field(req: &Request, name: &str, max_bytes: usize) -> Result<String, ApiError> {
    let is_form = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|mime| {
            mime.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Err(ApiError::logout_refused(
            "send the logout token as application/x-www-form-urlencoded",
        ));
    }
    let bytes: &[u8] = req.body().as_ref();
    if bytes.len() > max_bytes {
        return Err(ApiError::logout_refused(format!(
            "the body is more than the {max_bytes} bytes allowed"
        )));
    }
    let mut values = form_urlencoded::parse(bytes).filter(|(key, _)| key == name);
    match (values.next(), values.next()) {
        (Some((_, value)), None) if !value.is_empty() => Ok(value.into_owned()),
        (Some(_), Some(_)) => Err(ApiError::logout_refused(format!(
            "the form names {name} more than once"
        ))),
        _ => Err(ApiError::logout_refused(format!("the form lacks {name}"))),
    }
}
