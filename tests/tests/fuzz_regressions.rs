//! Every input the fuzz targets keep (`shared/fuzz/seeds/<target>` and the crashes found,
//! `shared/fuzz/regressions/<target>`) replayed through the same checks the targets run
//! (`session_shared::http::fuzzing`), on the stable toolchain, in every `make test`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use session_shared::http::Transport;
use session_shared::http::fuzzing;
use session_shared::identity::{IdentityError, TicketClaims, mint_hs256};

/// The kept inputs of one target, by file name.
fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fuzz");
    let mut inputs = Vec::new();
    for kind in ["seeds", "regressions"] {
        let Ok(dir) = std::fs::read_dir(root.join(kind).join(target)) else {
            continue;
        };
        for entry in dir {
            let path = entry.unwrap().path();
            if path.is_file() && path.file_name().is_some_and(|n| n != ".gitkeep") {
                let name = format!("{kind}/{}", path.file_name().unwrap().to_string_lossy());
                inputs.push((name, std::fs::read(&path).unwrap()));
            }
        }
    }
    assert!(!inputs.is_empty(), "no kept inputs for {target}");
    inputs
}

fn input(target: &str, name: &str) -> Vec<u8> {
    inputs(target)
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("{target}/{name} is kept"))
        .1
}

#[test]
fn cookie_header_inputs_pass_the_checks() {
    for (name, data) in inputs("cookie_header") {
        println!("{name}");
        fuzzing::check_cookie_header(&data);
    }
    let valid = fuzzing::cookie_header(&input("cookie_header", "seeds/valid")).unwrap();
    assert_eq!(valid.unwrap().transport, Transport::Cookie);
    let conflicting =
        fuzzing::cookie_header(&input("cookie_header", "seeds/two-headers-conflicting"));
    assert_eq!(conflicting.unwrap().unwrap_err().status(), 400);
}

#[test]
fn authorization_header_inputs_pass_the_checks() {
    for (name, data) in inputs("authorization_header") {
        println!("{name}");
        fuzzing::check_authorization_header(&data);
    }
    let valid = fuzzing::authorization_header(&input("authorization_header", "seeds/valid"));
    assert_eq!(valid.unwrap().unwrap().transport, Transport::Bearer);
    let basic = fuzzing::authorization_header(&input("authorization_header", "seeds/basic"));
    assert_eq!(basic.unwrap().unwrap_err().code(), "invalid_request");
    // Beside a session cookie every Authorization header is ambiguous, the valid one too.
    for (name, data) in inputs("authorization_header") {
        if let Some(outcome) = fuzzing::authorization_beside_a_cookie(&data) {
            let error = outcome.expect_err(&name);
            assert_eq!(
                (error.status().as_u16(), error.code()),
                (400, "invalid_request"),
                "{name}"
            );
            assert!(format!("{error:?}").contains("ambiguous"), "{name}");
        }
    }
}

#[test]
fn json_body_inputs_pass_the_checks() {
    for (name, data) in inputs("json_body") {
        println!("{name}");
        fuzzing::check_json_body(&data);
    }
    let patch = input("json_body", "seeds/patch");
    let at = patch.iter().position(|b| *b == b'\n').unwrap();
    let outcome = fuzzing::json_bodies(&patch[..at], &patch[at + 1..]).unwrap();
    let patched = outcome.patch.unwrap().unwrap();
    assert_eq!(patched.to_json(), r#"{"cart":{}}"#);
    let large = input("json_body", "seeds/too-large");
    let at = large.iter().position(|b| *b == b'\n').unwrap();
    let outcome = fuzzing::json_bodies(&large[..at], &large[at + 1..]).unwrap();
    assert_eq!(outcome.create.unwrap_err().status(), 413);
}

#[tokio::test]
async fn id_token_inputs_pass_the_checks() {
    let verifier = fuzzing::ticket_verifier();
    for (name, data) in inputs("id_token") {
        println!("{name}");
        fuzzing::check_id_token(&verifier, &data).await;
    }
    let refused = async |name: &str| {
        let token = String::from_utf8(input("id_token", name)).unwrap();
        verifier.verify(token.trim()).await.unwrap_err()
    };
    assert_eq!(
        refused("seeds/alg-none").await,
        IdentityError::UnsupportedAlgorithm
    );
    assert_eq!(refused("seeds/expired").await, IdentityError::Expired);
    assert_eq!(
        refused("seeds/wrong-secret").await,
        IdentityError::BadSignature
    );
    // `iat` of i64::MIN: the age is computed without overflow (it panicked in debug builds).
    assert_eq!(refused("seeds/iat-min").await, IdentityError::TooOld);
    assert_eq!(
        refused("seeds/duplicate-tenant").await,
        IdentityError::DuplicateMember
    );
}

/// The positive control: the fuzz verifier does accept a ticket signed with its secret, so the
/// replay above fails because the inputs are bad, not because nothing verifies.
#[tokio::test]
async fn the_fuzz_verifier_accepts_a_valid_ticket() {
    let now = chrono::Utc::now().timestamp();
    let claims = TicketClaims {
        sub: "alice",
        iss: "https://login.fuzz",
        aud: "fuzz",
        iat: now,
        nbf: now,
        exp: now + 300,
        extra: Default::default(),
    };
    let ticket = mint_hs256(&claims, fuzzing::TICKET_SECRET.as_bytes()).unwrap();

    let identity = fuzzing::ticket_verifier().verify(&ticket).await.unwrap();

    assert_eq!(identity.user_id.as_str(), "alice");
}
