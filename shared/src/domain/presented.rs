//! What a request presents: a session token, the way it came (cookie or bearer), and the client
//! that sent it. Built once by the HTTP layer, read by every operation on a presented token.

use super::client::ClientInfo;
use super::token::SessionToken;
use super::transport::Transport;

/// A presented session token with how it came and from whom.
#[derive(Debug, Clone, Copy)]
pub struct Presented<'a> {
    /// The token (never printed: its `Debug` is redacted).
    pub token: &'a SessionToken,
    /// The client as seen now (IP, user agent).
    pub client: &'a ClientInfo,
    /// How the token came.
    pub transport: Transport,
}

impl<'a> Presented<'a> {
    /// `token`, sent by `client` as `transport`.
    pub fn new(token: &'a SessionToken, client: &'a ClientInfo, transport: Transport) -> Self {
        Self {
            token,
            client,
            transport,
        }
    }
}
