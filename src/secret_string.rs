//! [`SecretString`]: a string that never shows itself.

use std::fmt;

/// A secret value (token, client secret, secret id, PEM private key).
///
/// `Debug` and `Display` print `[redacted]`; the bytes are overwritten with
/// zeros when the value is dropped. Read it with [`SecretString::expose`]
/// only where the secret has to go on the wire or to disk.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SecretString(String);

impl SecretString {
    /// Wrap a secret.
    pub fn new(s: impl Into<String>) -> SecretString {
        SecretString(s.into())
    }

    /// The secret itself. Call sites are where secrets leave the type: keep
    /// them few.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Take bytes read from a file or stdin as a secret: `None` (the bytes
    /// overwritten with zeros) when they are not UTF-8.
    pub(crate) fn from_utf8(bytes: Vec<u8>) -> Option<SecretString> {
        match String::from_utf8(bytes) {
            Ok(s) => Some(SecretString(s)),
            Err(e) => {
                zeroize_bytes(&mut e.into_bytes());
                None
            }
        }
    }

    /// `true` when the secret is the empty string.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for SecretString {
    fn from(s: String) -> Self {
        SecretString(s)
    }
}

impl From<&str> for SecretString {
    fn from(s: &str) -> Self {
        SecretString(s.to_string())
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Drop for SecretString {
    fn drop(&mut self) {
        zeroize_string(&mut self.0);
    }
}

/// Overwrite a string's bytes (its whole capacity) with zeros in a way the
/// compiler may not elide, then empty it.
pub fn zeroize_string(s: &mut String) {
    // The same allocation as bytes and back: an empty vector is UTF-8.
    let mut v = std::mem::take(s).into_bytes();
    zeroize_bytes(&mut v);
    v.clear();
    *s = String::from_utf8(v).unwrap_or_default();
}

/// Overwrite a byte vector's contents (its whole capacity) with zeros in a
/// way the compiler may not elide.
pub fn zeroize_bytes(v: &mut Vec<u8>) {
    crate::sys::zeroize_vec(v);
}

/// Overwrite every string inside a JSON value (a KV secret's data, a
/// request body) with zeros.
pub fn zeroize_json(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) => zeroize_string(s),
        serde_json::Value::Array(a) => a.iter_mut().for_each(zeroize_json),
        serde_json::Value::Object(m) => m.values_mut().for_each(zeroize_json),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_redact() {
        let s = SecretString::new("hvs.canary-token");
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert_eq!(format!("{s}"), "[redacted]");
        assert_eq!(s.expose(), "hvs.canary-token");
    }

    #[test]
    fn zeroize_clears() {
        let mut s = String::from("secret");
        zeroize_string(&mut s);
        assert!(s.is_empty());
    }
}
