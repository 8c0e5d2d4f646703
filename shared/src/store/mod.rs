//! The DynamoDB store: the only code that talks to DynamoDB (and the only importer of
//! `aws_sdk_dynamodb` besides the table tool). Below the session operations, above `domain`:
//! it stores and returns domain values and must not decide what they mean (expiry, rotation,
//! replay are the session layer's questions, answered by `domain`).
//!
//! Single-table design (see the README's "Data model"). A token item is keyed by the SHA-256 of
//! its token, `pk = "TOKEN#<hash>"`, `sk = "SESSION"`, so validate is one `GetItem`. Its `kind`
//! says what the token is now: `session` (the live head of a lineage, carrying the whole
//! session and its rotation seed), `retired` (rotated away: successor hash, and the seed the
//! successor is derived from), or `revoked`. Only heads carry `gsi1pk/gsi1sk`
//! (`USER#<user key>` / `SESSION#<session_id>`), so `sessions_by_user` lists exactly the live
//! sessions (for a moment during a rotation, both the old and the new head of one session). A
//! user's guard item (`USER#<user key>` / `GUARD`) carries `gsi2pk/gsi2sk`
//! (`TENANT#<tenant_id>` / `USER#<user key>`): `by_tenant` lists a tenant's users. Heads stored
//! before that are in `by_tenant` themselves until they are retired or revoked. Audit events live under `pk = "USER#<user_id>"`,
//! `sk = "EVENT#<epoch ms>#<sequence>#<event id>"`, with their own TTL, written by `session-events`
//! from the stream.
//!
//! One file per concern: [`client`] (the SDK client and its timeouts), `codec` (keys and item
//! mapping), `expressions` (conditional writes), `transact` (transactions and their outcomes),
//! `reads`, `writes`, [`error`] and `table` (the table definition).

mod attribute;
pub mod client;
mod codec;
pub mod error;
mod expressions;
mod grants;
mod provider;
mod reads;
mod single;
#[cfg(feature = "events")]
pub mod stream;
mod table;
mod transact;
mod writes;

use aws_sdk_dynamodb::Client;

#[cfg(feature = "guard")]
pub use client::client_from_default_chain;
pub use client::{
    AwsEnvironment, StoreTimeouts, client_config, client_from_env, environment_credentials,
    https_client,
};
pub use codec::Listed;
pub use error::StoreError;
pub use reads::{Owner, PageKey};
pub use table::{TABLE_DEFINITION_JSON, TableDefinition, Ttl, delete_table};
pub use transact::{BatchOutcome, Write};
pub use writes::{Claimed, Listing, Revocation, Rotation};

/// Awaiting an SDK call on the heap. Its future is over 5 KB; kept inline it would make every
/// future above it (session operation, handler) as large, and each of those is moved whole
/// when it is wrapped or boxed (by `tracing` and `lambda_http` on every invocation). One small
/// allocation per DynamoDB call instead: the validate handler's future goes from 10 KB to
/// a few hundred bytes.
trait OnHeap: std::future::Future + Sized {
    fn on_heap(self) -> std::pin::Pin<Box<Self>> {
        Box::pin(self)
    }
}

impl<F: std::future::Future> OnHeap for F {}

/// Most sessions revoked in one transaction: each takes an update and an event put, well
/// inside DynamoDB's 100 actions per `TransactWriteItems` (and the classic batch size of 25).
pub const MAX_BATCH: usize = 25;

/// The session table, through one DynamoDB client. Cheap to clone.
#[derive(Clone)]
pub struct SessionStore {
    client: Client,
    table: String,
}

impl SessionStore {
    /// The store of `table` through `client`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}
