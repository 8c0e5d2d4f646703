//! The session cookie: its name, attributes, the exact `Set-Cookie` strings, and reading it back.

use std::fmt;
use std::str::FromStr;

use cookie::Cookie;
use cookie::time::{Duration, OffsetDateTime};
use lambda_http::http::HeaderMap;
use lambda_http::http::header::COOKIE;

const HOST_PREFIX: &str = "__Host-";
const SECURE_PREFIX: &str = "__Secure-";

/// The cookie's `SameSite` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    /// Sent on same-site requests only.
    Strict,
    /// Also sent on top-level cross-site navigations (the default).
    Lax,
    /// Sent on every request (requires `Secure`).
    None,
}

/// A `SameSite` value that is none of the three.
#[derive(Debug, thiserror::Error)]
#[error("expected Strict, Lax or None")]
pub struct UnknownSameSite;

impl FromStr for SameSite {
    type Err = UnknownSameSite;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "strict" => Ok(Self::Strict),
            "lax" => Ok(Self::Lax),
            "none" => Ok(Self::None),
            _ => Err(UnknownSameSite),
        }
    }
}

impl fmt::Display for SameSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Strict => "Strict",
            Self::Lax => "Lax",
            Self::None => "None",
        })
    }
}

impl From<SameSite> for cookie::SameSite {
    fn from(value: SameSite) -> Self {
        match value {
            SameSite::Strict => cookie::SameSite::Strict,
            SameSite::Lax => cookie::SameSite::Lax,
            SameSite::None => cookie::SameSite::None,
        }
    }
}

/// Cookie settings that cannot work together.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CookiePolicyError {
    /// Browsers drop `SameSite=None` cookies without `Secure`.
    #[error("SameSite=None requires Secure (browsers drop such cookies otherwise)")]
    SameSiteNoneWithoutSecure,
    /// Not a valid cookie name.
    #[error("cookie name {0:?} must be a plain token without a __Host-/__Secure- prefix")]
    InvalidName(String),
    /// Not a valid cookie domain.
    #[error("cookie domain {0:?} is not a host name")]
    InvalidDomain(String),
}

/// Two different session cookies in one request: which one is meant cannot be known.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the request carries {0} different session cookies")]
pub struct ConflictingCookies(pub usize);

/// Cookie defaults in one place: `__Host-session`, `Secure; HttpOnly; SameSite=Lax; Path=/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookiePolicy {
    name: String,
    same_site: SameSite,
    domain: Option<String>,
    secure: bool,
}

impl CookiePolicy {
    /// The cookie policy: a `__Host-` name (or `__Secure-` with a domain) when secure.
    pub fn new(
        base_name: &str,
        same_site: SameSite,
        domain: Option<String>,
        secure: bool,
    ) -> Result<Self, CookiePolicyError> {
        let is_token_char = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
        if base_name.is_empty()
            || !base_name.chars().all(is_token_char)
            || base_name.starts_with(HOST_PREFIX)
            || base_name.starts_with(SECURE_PREFIX)
        {
            return Err(CookiePolicyError::InvalidName(base_name.to_owned()));
        }
        if let Some(d) = &domain {
            let host = d.strip_prefix('.').unwrap_or(d);
            if host.is_empty()
                || !host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
            {
                return Err(CookiePolicyError::InvalidDomain(d.clone()));
            }
        }
        if same_site == SameSite::None && !secure {
            return Err(CookiePolicyError::SameSiteNoneWithoutSecure);
        }
        // __Host- requires Secure, Path=/ and no Domain; __Secure- requires Secure only.
        let name = match (secure, &domain) {
            (true, None) => format!("{HOST_PREFIX}{base_name}"),
            (true, Some(_)) => format!("{SECURE_PREFIX}{base_name}"),
            (false, _) => base_name.to_owned(),
        };
        Ok(Self {
            name,
            same_site,
            domain,
            secure,
        })
    }

    /// Whether the cookie is `Secure` (the API is served over HTTPS).
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// The full cookie name, prefix included.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn base(&self, value: &str) -> Cookie<'static> {
        let mut builder = Cookie::build((self.name.clone(), value.to_owned()))
            .path("/")
            .secure(self.secure)
            .http_only(true)
            .same_site(self.same_site.into());
        if let Some(domain) = &self.domain {
            builder = builder.domain(domain.clone());
        }
        builder.build()
    }

    /// `Set-Cookie` value carrying the token for `max_age_seconds`, or until the browser
    /// closes when `None`.
    pub fn issue(&self, token_secret: &str, max_age_seconds: Option<i64>) -> String {
        let mut cookie = self.base(token_secret);
        if let Some(seconds) = max_age_seconds {
            cookie.set_max_age(Duration::seconds(seconds));
        }
        cookie.to_string()
    }

    /// `Set-Cookie` value that makes the browser drop the session cookie.
    pub fn clear(&self) -> String {
        let mut cookie = self.base("");
        cookie.set_max_age(Duration::ZERO);
        cookie.set_expires(OffsetDateTime::UNIX_EPOCH);
        cookie.to_string()
    }

    /// The session cookie's value from every `Cookie` header of a request: `None` when absent,
    /// an error when the request carries two different values under our name.
    pub fn read(&self, headers: &HeaderMap) -> Result<Option<String>, ConflictingCookies> {
        let mut values: Vec<String> = Vec::new();
        for header in headers.get_all(COOKIE) {
            let Ok(text) = header.to_str() else { continue };
            for cookie in Cookie::split_parse(text).flatten() {
                if cookie.name() == self.name && !values.iter().any(|v| v == cookie.value()) {
                    values.push(cookie.value().to_owned());
                }
            }
        }
        match values.len() {
            0 => Ok(None),
            1 => Ok(values.pop()),
            n => Err(ConflictingCookies(n)),
        }
    }
}

#[cfg(test)]
mod tests {
    use lambda_http::http::HeaderValue;

    use super::*;

    fn default_policy() -> CookiePolicy {
        CookiePolicy::new("session", SameSite::Lax, None, true).unwrap()
    }

    fn headers(cookies: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for c in cookies {
            map.append(COOKIE, HeaderValue::from_str(c).unwrap());
        }
        map
    }

    #[test]
    fn default_cookie_is_host_prefixed_secure_httponly_lax_root_path() {
        assert_eq!(
            default_policy().issue("tok", Some(3600)),
            "__Host-session=tok; HttpOnly; SameSite=Lax; Secure; Path=/; Max-Age=3600"
        );
    }

    #[test]
    fn clearing_cookie_expires_immediately_with_the_same_attributes() {
        assert_eq!(
            default_policy().clear(),
            "__Host-session=; HttpOnly; SameSite=Lax; Secure; Path=/; Max-Age=0; \
             Expires=Thu, 01 Jan 1970 00:00:00 GMT"
        );
    }

    #[test]
    fn a_domain_switches_the_prefix_to_secure() {
        let policy =
            CookiePolicy::new("sid", SameSite::Strict, Some("example.com".into()), true).unwrap();
        assert_eq!(policy.name(), "__Secure-sid");
        assert_eq!(
            policy.issue("t", Some(10)),
            "__Secure-sid=t; HttpOnly; SameSite=Strict; Secure; Path=/; Domain=example.com; Max-Age=10"
        );
    }

    #[test]
    fn samesite_none_requires_secure() {
        assert_eq!(
            CookiePolicy::new("session", SameSite::None, None, false),
            Err(CookiePolicyError::SameSiteNoneWithoutSecure)
        );
        assert!(CookiePolicy::new("session", SameSite::None, None, true).is_ok());
    }

    #[test]
    fn insecure_cookie_has_no_prefix() {
        let policy = CookiePolicy::new("session", SameSite::Lax, None, false).unwrap();
        assert_eq!(policy.name(), "session");
        assert!(!policy.issue("t", Some(1)).contains("Secure"));
    }

    #[test]
    fn names_with_separators_or_prefixes_are_rejected() {
        for bad in ["", "a b", "a;b", "__Host-x", "__Secure-x", "a=b"] {
            assert!(
                CookiePolicy::new(bad, SameSite::Lax, None, true).is_err(),
                "{bad:?}"
            );
        }
        assert!(CookiePolicy::new("s", SameSite::Lax, Some("a b".into()), true).is_err());
    }

    #[test]
    fn session_cookie_is_found_among_others() {
        let h = headers(&["theme=dark; __Host-session=abc; other=1"]);
        assert_eq!(default_policy().read(&h), Ok(Some("abc".into())));
    }

    #[test]
    fn missing_session_cookie_reads_as_none() {
        let h = headers(&["session=abc; __Secure-session=x"]);
        assert_eq!(default_policy().read(&h), Ok(None));
        assert_eq!(default_policy().read(&HeaderMap::new()), Ok(None));
    }

    #[test]
    fn two_different_session_cookies_conflict() {
        let h = headers(&["__Host-session=a", "__Host-session=b"]);
        assert_eq!(default_policy().read(&h), Err(ConflictingCookies(2)));
    }

    #[test]
    fn the_same_session_cookie_twice_is_accepted() {
        let h = headers(&["__Host-session=a; __Host-session=a"]);
        assert_eq!(default_policy().read(&h), Ok(Some("a".into())));
    }

    #[test]
    fn garbled_cookie_pairs_are_skipped_not_fatal() {
        let h = headers(&[";;=;__Host-session=abc;novalue"]);
        assert_eq!(default_policy().read(&h), Ok(Some("abc".into())));
    }
}
