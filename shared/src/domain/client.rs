//! The client a session was created from and last seen by.

/// The most characters of a user agent kept on a session.
const MAX_USER_AGENT_CHARS: usize = 512;

/// Where the session was created from, taken from the API Gateway request context.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    /// The client IP API Gateway saw.
    pub ip: Option<String>,
    /// The user agent, cut to a bounded length.
    pub user_agent: Option<String>,
}

impl ClientInfo {
    /// What is known now: the newer value where there is one, the older one otherwise.
    pub fn merged(&self, newer: &ClientInfo) -> ClientInfo {
        ClientInfo {
            ip: newer.ip.clone().or_else(|| self.ip.clone()),
            user_agent: newer.user_agent.clone().or_else(|| self.user_agent.clone()),
        }
    }

    /// Client info from what API Gateway saw; empty values count as unknown.
    pub fn new(ip: Option<&str>, user_agent: Option<&str>) -> Self {
        Self {
            ip: ip.filter(|s| !s.is_empty()).map(str::to_owned),
            user_agent: user_agent.filter(|s| !s.is_empty()).map(|ua| {
                match ua.char_indices().nth(MAX_USER_AGENT_CHARS) {
                    Some((cut, _)) => ua[..cut].to_owned(),
                    None => ua.to_owned(),
                }
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_user_agents_are_truncated() {
        let ua = "x".repeat(1000);
        let info = ClientInfo::new(Some("1.2.3.4"), Some(&ua));
        assert_eq!(info.user_agent.map(|u| u.len()), Some(MAX_USER_AGENT_CHARS));
        assert_eq!(ClientInfo::new(Some(""), None).ip, None);
    }

    #[test]
    fn user_agents_are_truncated_at_a_character_boundary() {
        let ua = "é".repeat(1000);
        let info = ClientInfo::new(None, Some(&ua));
        let kept = info.user_agent.unwrap();
        assert_eq!(kept.chars().count(), MAX_USER_AGENT_CHARS);
        assert!(ua.starts_with(&kept));
    }
}
