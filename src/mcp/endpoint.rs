//! Endpoint URLs: validation (no key over clear text) and a display form
//! that carries no credentials.

use std::net::IpAddr;
use url::Url;

/// A validated MCP endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    url: Url,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointError {
    Invalid(String),
    InsecureRemote(String),
}

impl std::fmt::Display for EndpointError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EndpointError::Invalid(why) => write!(f, "invalid endpoint URL: {why}"),
            EndpointError::InsecureRemote(host) => write!(
                f,
                "refusing plain http:// to {host}: the API key would travel in clear text. \
                 Use https://, or allow it explicitly with --allow-insecure-http \
                 (AZURE_SANDBOX_ALLOW_INSECURE_HTTP=1)"
            ),
        }
    }
}

impl std::error::Error for EndpointError {}

impl Endpoint {
    /// Parses and checks an endpoint. Plain `http://` is accepted only for
    /// loopback hosts unless `allow_insecure_http` is set.
    pub fn parse(raw: &str, allow_insecure_http: bool) -> Result<Self, EndpointError> {
        let url = Url::parse(raw.trim()).map_err(|e| EndpointError::Invalid(e.to_string()))?;
        match url.scheme() {
            "https" => {}
            "http" => {
                if !allow_insecure_http && !is_loopback(&url) {
                    return Err(EndpointError::InsecureRemote(url.host_str().unwrap_or_default().to_owned()));
                }
            }
            other => return Err(EndpointError::Invalid(format!("unsupported scheme `{other}`"))),
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(EndpointError::Invalid("no host".into()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(EndpointError::Invalid(
                "credentials in the URL are not supported; use the API key setting".into(),
            ));
        }
        Ok(Self { url })
    }

    pub fn url(&self) -> &Url {
        &self.url
    }

    /// True for 127.0.0.0/8, ::1 and `localhost`.
    pub fn is_loopback(&self) -> bool {
        is_loopback(&self.url)
    }

    /// scheme://host[:port]/path, without query or fragment, for messages.
    pub fn display(&self) -> String {
        let mut shown = self.url.clone();
        shown.set_query(None);
        shown.set_fragment(None);
        shown.to_string()
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display())
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_is_always_fine() {
        assert!(Endpoint::parse("https://eastus.dynamicsessions.io/subscriptions/x/mcp", false).is_ok());
    }

    #[test]
    fn plain_http_only_to_loopback() {
        for ok in ["http://127.0.0.1:8080/mcp", "http://127.1.2.3/mcp", "http://[::1]:1/mcp", "http://localhost/mcp"] {
            assert!(Endpoint::parse(ok, false).is_ok(), "{ok}");
        }
        let err = Endpoint::parse("http://example.com/mcp", false).unwrap_err();
        assert!(matches!(err, EndpointError::InsecureRemote(_)));
        assert!(err.to_string().contains("clear text"));
        assert!(Endpoint::parse("http://10.0.0.5/mcp", false).is_err());
        assert!(Endpoint::parse("http://example.com/mcp", true).is_ok());
    }

    #[test]
    fn rejects_other_schemes_and_credentials() {
        assert!(Endpoint::parse("ftp://x/mcp", false).is_err());
        assert!(Endpoint::parse("not a url", false).is_err());
        assert!(Endpoint::parse("https://user:pw@host/mcp", false).is_err());
    }

    #[test]
    fn display_drops_query() {
        let e = Endpoint::parse("https://h/mcp?code=secret#x", false).unwrap();
        assert_eq!(e.display(), "https://h/mcp");
    }
}
