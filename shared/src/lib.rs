//! The session service library: every function is a few lines of wiring around this crate.
//!
//! Layers that only point down (the README's "Layout"; `tests/tests/layers.rs` checks it):
//!
//! | module | owns | may use |
//! |---|---|---|
//! | [`domain`] | sessions, tokens, deadlines, the expiry rule, events: pure logic | nothing |
//! | [`store`] | DynamoDB: client, items, conditional writes, transactions | domain |
//! | [`identity`] | identity-token verification, JWKS cache | domain |
//! | `events` (feature `events`) | delivering lifecycle events (webhooks) | domain, store |
//! | [`session`] | the operations: sign-in, validate, rotation, revocation, data | domain, store, identity |
//! | [`http`] | request parsing, responses, routes, `ApiError` | domain, store, identity, session |
//! | `tokens` (feature `token-mint`) | minting session tokens for other services: KMS keys, the JWKS | domain, store |
//! | [`handlers`] | the Lambda entry handlers: http wired to session | all of the above |
//! | `guard` (feature `guard`) | the tower layer and axum extractor for Rust services | domain, store, identity, session, http |
//! | [`config`], [`app`] | the environment read once; what each function builds | everything |
//!
//! [`telemetry`] (logging set-up) stands apart and uses none of them; [`metrics`] (what an
//! invocation did, as CloudWatch Embedded Metric Format) is below them all, and any may count.
#![warn(missing_docs)]

pub mod app;
pub mod config;
pub mod domain;
#[cfg(feature = "events")]
pub mod events;
#[cfg(feature = "guard")]
pub mod guard;
pub mod handlers;
pub mod http;
pub mod identity;
pub mod metrics;
pub mod session;
pub mod store;
pub mod telemetry;
#[cfg(feature = "token-mint")]
pub mod tokens;

pub use handlers::{Api, SignIn};
