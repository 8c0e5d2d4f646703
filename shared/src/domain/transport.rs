//! How a session token travels, fixed when it is issued.

/// How a session token travels: in the session cookie or as `Authorization: Bearer`. Recorded
/// when the token is issued; a token is only accepted the way it was issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// In the session cookie.
    Cookie,
    /// In `Authorization: Bearer`.
    Bearer,
}

impl Transport {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cookie => "cookie",
            Self::Bearer => "bearer",
        }
    }

    /// Reads back [`Transport::as_str`].
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "cookie" => Some(Self::Cookie),
            "bearer" => Some(Self::Bearer),
            _ => None,
        }
    }
}
