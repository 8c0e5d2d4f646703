//! Mints a short-lived HS256 login ticket for local use, signed with `AUTH_JWT_HS256_SECRET`
//! for `AUTH_JWT_ISSUER` / `AUTH_JWT_AUDIENCE` (the same variables the functions read).
//!
//! Usage: `dev-token <user_id> [--tenant <tenant_id>] [--ttl-seconds <n>]`

use std::collections::HashMap;
use std::process::ExitCode;

use chrono::Utc;
use session_shared::config::identity_from_env;
use session_shared::identity::{TicketClaims, mint_hs256};

const USAGE: &str = "usage: dev-token <user_id> [--tenant <tenant_id>] [--ttl-seconds <n>]";

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(ticket) => {
            println!("{ticket}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("dev-token: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Vec<String>) -> Result<String, String> {
    let mut user = None;
    let mut tenant = None;
    let mut ttl: i64 = 300;
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--tenant" => tenant = Some(it.next().ok_or(USAGE)?),
            "--ttl-seconds" => {
                ttl = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|v| *v > 0)
                    .ok_or(USAGE)?;
            }
            "-h" | "--help" => return Err(USAGE.into()),
            _ if user.is_none() && !arg.starts_with('-') => user = Some(arg),
            _ => return Err(format!("unexpected argument {arg:?}\n{USAGE}")),
        }
    }
    let user = user.ok_or(USAGE)?;
    let identity = identity_from_env().map_err(|e| e.to_string())?;
    let hs256 = identity
        .hs256
        .as_ref()
        .ok_or("dev-token mints HS256 login tickets: set AUTH_JWT_HS256_SECRET")?;
    let now = Utc::now().timestamp();
    let mut extra = HashMap::new();
    if let Some(t) = tenant {
        extra.insert(identity.tenant_claim.clone(), serde_json::Value::String(t));
    }
    let claims = TicketClaims {
        sub: &user,
        iss: &hs256.issuer,
        aud: &hs256.audience,
        iat: now,
        nbf: now,
        exp: now + ttl,
        extra,
    };
    mint_hs256(&claims, &hs256.secret).map_err(|e| e.to_string())
}
