//! The API key, and the one place that knows how to keep it out of text.
//!
//! Architecture invariant: the key is only ever read through
//! [`ApiKey::expose`], which the MCP client calls to set the `x-ms-apikey`
//! header and the local sandbox calls to compare it. Everything that turns
//! into text (errors, logs, `Debug`) goes through [`redact`] or never sees it.

use std::fmt;

/// An API key for the sandbox endpoint. `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

/// What replaces the key wherever it would otherwise appear in text.
pub const REDACTED: &str = "[redacted]";

impl ApiKey {
    /// Wraps a key, trimming the whitespace a pasted key often carries.
    pub fn new(key: impl Into<String>) -> Option<Self> {
        let key = key.into().trim().to_owned();
        (!key.is_empty()).then_some(Self(key))
    }

    /// A fresh random key (32 bytes of OS randomness, hex), for the local sandbox.
    pub fn generate() -> Self {
        let bytes: [u8; 32] = rand::random();
        Self(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The key itself. Call only to put it on the wire or to compare it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Compares against a presented key in time independent of where they differ.
    pub fn matches(&self, presented: &[u8]) -> bool {
        constant_time_eq(self.0.as_bytes(), presented)
    }

    /// Removes every occurrence of this key from `text`.
    pub fn redact(&self, text: &str) -> String {
        redact(text, Some(self))
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// Replaces the key (if any) in `text`. Cheap when the key is absent.
pub fn redact(text: &str, key: Option<&ApiKey>) -> String {
    match key {
        Some(key) if !key.0.is_empty() && text.contains(key.0.as_str()) => text.replace(key.0.as_str(), REDACTED),
        _ => text.to_owned(),
    }
}

fn constant_time_eq(expected: &[u8], presented: &[u8]) -> bool {
    // Fold over the expected length so the time does not depend on where the
    // bytes differ; a length mismatch still walks the whole expected key.
    let mut diff = (expected.len() ^ presented.len()) as u64;
    for (i, byte) in expected.iter().enumerate() {
        let other = presented.get(i).copied().unwrap_or(!byte);
        diff |= u64::from(byte ^ other);
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_key() {
        let key = ApiKey::new("s3cr3t-value").unwrap();
        assert_eq!(format!("{key:?}"), REDACTED);
        assert_eq!(format!("{key}"), REDACTED);
        assert!(!format!("{:?}", Some(&key)).contains("s3cr3t"));
    }

    #[test]
    fn redact_replaces_every_occurrence() {
        let key = ApiKey::new("abc123").unwrap();
        assert_eq!(key.redact("x abc123 y abc123"), "x [redacted] y [redacted]");
        assert_eq!(redact("nothing here", Some(&key)), "nothing here");
        assert_eq!(redact("abc123", None), "abc123");
    }

    #[test]
    fn comparison_is_exact() {
        let key = ApiKey::new("abc123").unwrap();
        assert!(key.matches(b"abc123"));
        assert!(!key.matches(b"abc12"));
        assert!(!key.matches(b"abc1234"));
        assert!(!key.matches(b"abc124"));
        assert!(!key.matches(b""));
    }

    #[test]
    fn empty_or_blank_keys_are_no_keys() {
        assert!(ApiKey::new("  \n").is_none());
        assert_eq!(ApiKey::new(" k \n").unwrap().expose(), "k");
    }

    #[test]
    fn generated_keys_are_long_and_distinct() {
        let (a, b) = (ApiKey::generate(), ApiKey::generate());
        assert_eq!(a.expose().len(), 64);
        assert_ne!(a, b);
    }
}
