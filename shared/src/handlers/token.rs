//! Session tokens for other services: `POST /sessions/current/token` (the caller's session as a
//! short-lived JWT for one audience) and `GET /.well-known/jwks.json` (the keys that verify it,
//! no session, no DynamoDB call).

use chrono::{SecondsFormat, Utc};
use lambda_http::http::StatusCode;
use lambda_http::http::header::{self, HeaderValue};
use lambda_http::{Body, Error, Request, Response};
use serde::{Deserialize, Serialize};
use tracing::instrument;

use super::{Api, caller_session, keeping_rotation, refusal, serve};
use crate::http::origin::own_origin;
use crate::http::request::json_body;
use crate::http::response::json_response;
use crate::http::{ApiError, Matched, Route};
use crate::metrics::Metric;
use crate::tokens::{JWKS_MAX_AGE_SECONDS, TokenError, TokenService};

/// What `session-token` uses: the session API and the minting of tokens.
pub struct Tokens {
    /// The session API.
    pub api: Api,
    /// Mints tokens, publishes the keys.
    pub tokens: TokenService,
}

/// `POST /sessions/current/token`'s body: which audience (optional when one is configured).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MintRequest {
    audience: Option<String>,
}

/// The minted token and when it expires.
#[derive(Serialize)]
struct MintBody<'a> {
    token: &'a str,
    audience: &'a str,
    expires_at: String,
    expires_in: i64,
}

/// Both routes of `session-token`.
#[instrument(skip_all, fields(route = "token"))]
pub async fn token(tokens: &Tokens, req: Request) -> Result<Response<Body>, Error> {
    serve(
        &tokens.api,
        &req,
        "session-token",
        async |matched: Matched| match matched.route {
            Route::MintToken => mint(tokens, &req).await,
            Route::Jwks => key_set(tokens).await,
            // Not this function's (serve admits only its routes): never another operation.
            _ => Err(ApiError::not_found()),
        },
    )
    .await
}

/// The caller's live session (cookie or bearer, the rules of any unsafe route) as a JWT for
/// the audience the body names; a rotation the validation made is carried as on every route.
async fn mint(tokens: &Tokens, req: &Request) -> Result<Response<Body>, ApiError> {
    let api = &tokens.api;
    let body: MintRequest = json_body(req, api.http.max_body_bytes)?.unwrap_or_default();
    // An unknown audience is the caller's mistake whatever their session: answered first.
    tokens
        .tokens
        .audience(body.audience.as_deref())
        .map_err(token_error)?;
    // Without an origin there is no `iss`: a deployment to fix, not a call to retry.
    let issuer = own_origin(req, &api.http.origins).ok_or_else(|| {
        tracing::error!("no issuer: set SESSION_PUBLIC_ORIGIN (the request names no domain)");
        ApiError::internal()
    })?;
    let (credential, current) = match caller_session(api, req).await? {
        Ok(caller) => caller,
        Err(refused) => return Ok(refused),
    };
    let now = Utc::now();
    let minted = match tokens
        .tokens
        .mint(&current.session, body.audience.as_deref(), &issuer, now)
        .await
    {
        Ok(minted) => minted,
        // The session stays, and so does a rotation its validation just made.
        Err(error) => {
            return Ok(refusal(
                api,
                token_error(error),
                &current,
                credential.transport,
            ));
        }
    };
    crate::metrics::count(Metric::TokensMinted, 1);
    let expires_at = minted.claims.expires_at();
    let response = json_response(
        StatusCode::OK,
        &MintBody {
            token: &minted.token,
            audience: &minted.claims.aud,
            expires_at: expires_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            expires_in: (expires_at - now).num_seconds().max(0),
        },
    );
    Ok(keeping_rotation(
        api,
        response,
        &current,
        credential.transport,
    ))
}

/// The published keys, cacheable for [`JWKS_MAX_AGE_SECONDS`].
async fn key_set(tokens: &Tokens) -> Result<Response<Body>, ApiError> {
    let keys = tokens.tokens.key_set().await.map_err(token_error)?;
    let mut response = json_response(StatusCode::OK, &keys);
    if let Ok(value) = HeaderValue::from_str(&format!("public, max-age={JWKS_MAX_AGE_SECONDS}")) {
        response.headers_mut().insert(header::CACHE_CONTROL, value);
    }
    Ok(response)
}

/// A minting failure as the API answers it: the caller's mistakes are 400; KMS failing now is
/// 503 (retry), a key KMS refuses for good is 500 (the configuration; details only in the logs).
fn token_error(error: TokenError) -> ApiError {
    match error {
        unknown @ TokenError::UnknownAudience(_) => ApiError::unknown_audience(unknown.to_string()),
        missing @ TokenError::AudienceRequired => ApiError::unknown_audience(missing.to_string()),
        TokenError::Signing(error) if error.is_transient() => {
            tracing::warn!(error = %error, "the KMS signing key is unavailable");
            crate::metrics::count(Metric::UnavailableSigning, 1);
            ApiError::service_unavailable().with_message("tokens cannot be minted: retry shortly")
        }
        TokenError::Signing(error) => {
            tracing::error!(error = %error, "the KMS signing key cannot be used");
            crate::metrics::count(Metric::UnavailableSigning, 1);
            ApiError::internal()
        }
    }
}
