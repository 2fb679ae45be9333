//! HTTP Basic authentication, as the proxy in front of NiFi would do it.

use base64::Engine as _;
use sha2::{Digest, Sha256};

/// The one user the receiver accepts.
#[derive(Clone, PartialEq, Eq)]
pub struct BasicCredentials {
    pub username: String,
    pub password: String,
}

impl BasicCredentials {
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            password: password.into(),
        }
    }

    /// Whether an `Authorization` header value carries these credentials.
    pub(crate) fn accepts(&self, authorization: Option<&[u8]>) -> bool {
        let Some(value) = authorization else {
            return false;
        };
        let Some(encoded) = strip_scheme(value) else {
            return false;
        };
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim_ascii())
        else {
            return false;
        };
        let expected = format!("{}:{}", self.username, self.password);
        // Comparing fixed-size digests keeps the time independent of where, and whether by length, the values differ.
        let a = Sha256::digest(&decoded);
        let b = Sha256::digest(expected.as_bytes());
        a.iter()
            .zip(b.iter())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
    }
}

fn strip_scheme(value: &[u8]) -> Option<&[u8]> {
    let value = value.trim_ascii();
    let (scheme, rest) = value.split_at_checked(6)?;
    scheme.eq_ignore_ascii_case(b"basic ").then_some(rest)
}

impl std::fmt::Debug for BasicCredentials {
    // The password must never reach a log line, even through `{:?}` of a config.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicCredentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(user_pass: &str) -> Vec<u8> {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_pass)
        )
        .into_bytes()
    }

    #[test]
    fn accepts_only_the_configured_pair() {
        let creds = BasicCredentials::new("nifi", "s3cret");
        assert!(creds.accepts(Some(&header("nifi:s3cret"))));
        assert!(creds.accepts(Some(b"basic bmlmaTpzM2NyZXQ=")));
        assert!(!creds.accepts(Some(&header("nifi:s3cre"))));
        assert!(!creds.accepts(Some(&header("nifi:s3cret:"))));
        assert!(!creds.accepts(Some(&header("other:s3cret"))));
        assert!(!creds.accepts(Some(b"Bearer x")));
        assert!(!creds.accepts(Some(b"Basic !!!")));
        assert!(!creds.accepts(None));
    }

    #[test]
    fn debug_hides_the_password() {
        let shown = format!("{:?}", BasicCredentials::new("nifi", "s3cret"));
        assert!(!shown.contains("s3cret"), "{shown}");
    }
}
