//! A human label for the device a session was last used from, parsed from its user agent
//! (for "your sessions" lists: "Chrome on Windows 10").

use serde::Serialize;

const UNKNOWN: &str = "UNKNOWN";

/// What a user agent says about the device; `None` fields were not recognised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Device {
    /// Browser family, e.g. `Firefox`.
    pub browser: Option<String>,
    /// Browser version.
    pub browser_version: Option<String>,
    /// Operating system, e.g. `Mac OSX`.
    pub os: Option<String>,
    /// `pc`, `smartphone`, `mobilephone`, `appliance`, `crawler`, `misc`, or `None`.
    pub category: Option<String>,
    /// "Browser on OS", or whichever of the two is known, or "Unknown device".
    pub label: String,
}

impl Device {
    /// What a user agent string says about the device (nothing, for none).
    pub fn from_user_agent(user_agent: Option<&str>) -> Self {
        let parsed = user_agent.and_then(|ua| woothee::parser::Parser::new().parse(ua));
        let known = |v: &str| (!v.is_empty() && v != UNKNOWN).then(|| v.to_owned());
        let (browser, browser_version, os, category) = match parsed {
            Some(r) => (
                known(r.name),
                known(r.version),
                known(r.os),
                known(r.category),
            ),
            None => (None, None, None, None),
        };
        let label = match (&browser, &os) {
            (Some(b), Some(o)) => format!("{b} on {o}"),
            (Some(b), None) => b.clone(),
            (None, Some(o)) => o.clone(),
            (None, None) => "Unknown device".to_owned(),
        };
        Self {
            browser,
            browser_version,
            os,
            category,
            label,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_desktop_chrome_is_labelled_with_browser_and_os() {
        let ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
                  (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
        let device = Device::from_user_agent(Some(ua));
        assert_eq!(device.browser.as_deref(), Some("Chrome"));
        assert_eq!(device.label, "Chrome on Windows 10");
        assert_eq!(device.category.as_deref(), Some("pc"));
    }

    #[test]
    fn an_iphone_safari_is_a_smartphone() {
        let ua = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 \
                  (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1";
        let device = Device::from_user_agent(Some(ua));
        assert_eq!(device.browser.as_deref(), Some("Safari"));
        assert_eq!(device.os.as_deref(), Some("iPhone"));
        assert_eq!(device.category.as_deref(), Some("smartphone"));
    }

    #[test]
    fn a_missing_or_unknown_user_agent_is_an_unknown_device() {
        assert_eq!(Device::from_user_agent(None).label, "Unknown device");
        let odd = Device::from_user_agent(Some("zz-not-a-browser"));
        assert_eq!(odd.browser, None);
        assert_eq!(odd.label, "Unknown device");
    }
}
