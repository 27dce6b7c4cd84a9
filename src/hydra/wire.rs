//! Encoders and parsers of Hydra's wire formats. The parsers take
//! untrusted bytes and never panic (they are fuzzed).

use std::time::Instant;

use serde_json::Value;

use crate::error::Result;
use crate::http::Request;
use crate::secret_string::{zeroize_string, SecretString};

use super::*;

/// Percent-encode `s` as one URL path segment: everything but RFC 3986
/// unreserved characters (`A-Z a-z 0-9 - . _ ~`) becomes `%XX`, so a DID's
/// `:` becomes `%3A` and a `/` cannot split the segment.
///
/// ```
/// # #[cfg(feature = "fuzzing")] {
/// use vaultid::fuzzing::hydra::encode_path_segment;
/// assert_eq!(encode_path_segment("did:bindu:a_b:x"), "did%3Abindu%3Aa_b%3Ax");
/// # }
/// ```
pub fn encode_path_segment(s: &str) -> String {
    percent_encode(s, false)
}

/// `application/x-www-form-urlencoded` encoding of one name or value:
/// like [`encode_path_segment`], with a space as `+`.
///
/// ```
/// # #[cfg(feature = "fuzzing")] {
/// use vaultid::fuzzing::hydra::form_urlencode;
/// assert_eq!(form_urlencode("a b+c:d"), "a+b%2Bc%3Ad");
/// # }
/// ```
pub fn form_urlencode(s: &str) -> String {
    percent_encode(s, true)
}

pub(super) fn percent_encode(s: &str, space_as_plus: bool) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else if b == b' ' && space_as_plus {
            out.push('+');
        } else {
            out.push('%');
            out.push(char::from(HEX[(b >> 4) as usize]));
            out.push(char::from(HEX[(b & 15) as usize]));
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Parsers (fuzzed: they never panic)

/// Parse one client (`oAuth2Client`). Fails with [`Error::Protocol`](crate::Error::Protocol) when
/// the bytes are not a JSON object of the right shape or the client id is
/// missing.
pub fn parse_client(body: &[u8]) -> Result<OAuthClient> {
    let c: OAuthClient =
        serde_json::from_slice(body).map_err(|e| protocol(format!("not an OAuth2 client: {e}")))?;
    if c.client_id.is_empty() {
        return Err(protocol("OAuth2 client without a client_id"));
    }
    Ok(c)
}

/// Parse a token endpoint answer: `access_token` (required, non-empty),
/// `token_type` (required), `expires_in` (seconds; a non-negative integer,
/// or a string of one), `scope`.
pub fn parse_token_response(body: &[u8]) -> Result<AccessToken> {
    let mut v: Value = serde_json::from_slice(body)
        .map_err(|e| protocol(format!("token response is not JSON: {e}")))?;
    let obj = v
        .as_object_mut()
        .ok_or_else(|| protocol("token response is not a JSON object"))?;
    let access_token = match obj.remove("access_token") {
        Some(Value::String(mut s)) if !s.is_empty() => {
            let t = SecretString::new(s.as_str());
            zeroize_string(&mut s);
            t
        }
        Some(Value::String(_)) => return Err(protocol("token response has an empty access_token")),
        _ => return Err(protocol("token response has no access_token string")),
    };
    let token_type = match obj.get("token_type") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => return Err(protocol("token response has no token_type")),
    };
    let expires_in = match obj.get("expires_in") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => match n.as_u64() {
            Some(s) => Some(s),
            None if n.as_i64().is_some() => Some(0),
            None => return Err(protocol("token response expires_in is not an integer")),
        },
        Some(Value::String(s)) => Some(
            s.trim()
                .parse::<u64>()
                .map_err(|_| protocol("token response expires_in is not an integer"))?,
        ),
        Some(_) => return Err(protocol("token response expires_in is not an integer")),
    };
    let scope = match obj.get("scope") {
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    };
    Ok(AccessToken {
        access_token,
        token_type,
        expires_in,
        scope,
        received_at: Instant::now(),
    })
}

/// Parse an introspection answer (`introspectedOAuth2Token`); `active` is required.
pub fn parse_introspection(body: &[u8]) -> Result<Introspection> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| protocol(format!("introspection is not JSON: {e}")))?;
    let active = v
        .get("active")
        .and_then(Value::as_bool)
        .ok_or_else(|| protocol("introspection has no boolean 'active'"))?;
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let n = |k: &str| v.get(k).and_then(Value::as_i64);
    Ok(Introspection {
        active,
        client_id: s("client_id"),
        sub: s("sub"),
        scope: s("scope"),
        exp: n("exp"),
        iat: n("iat"),
        token_use: s("token_use"),
    })
}

/// The messages in a Hydra error body, in Hydra's words. Reads both shapes
/// Hydra uses: `{"error": "...", "error_description": "...", "error_hint":
/// "..."}` (`errorOAuth2`) and `{"message": "...", "reason": "..."}`
/// (`genericError`, also nested as `{"error": {...}}`). A body that is
/// neither gives its first line of text; an empty body gives nothing.
/// Each message is cut to 500 characters.
pub fn parse_error(body: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => collect_error(&v, &mut out, 0),
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            if let Some(line) = text.lines().map(str::trim).find(|l| !l.is_empty()) {
                out.push(line.to_string());
            }
        }
    }
    out.into_iter().map(|m| truncate(&m)).collect()
}

pub(super) fn collect_error(v: &Value, out: &mut Vec<String>, depth: u32) {
    let Some(obj) = v.as_object() else {
        if let Some(s) = v.as_str().filter(|s| !s.is_empty()) {
            out.push(s.to_string());
        }
        return;
    };
    let s = |k: &str| obj.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
    match obj.get("error") {
        Some(Value::String(e)) => {
            let mut m = e.clone();
            if let Some(d) = s("error_description") {
                m.push_str(": ");
                m.push_str(d);
            }
            if let Some(h) = s("error_hint").filter(|h| !m.contains(h)) {
                m.push_str(" (");
                m.push_str(h);
                m.push(')');
            }
            out.push(m);
            return;
        }
        Some(inner @ Value::Object(_)) if depth < 4 => {
            collect_error(inner, out, depth + 1);
            return;
        }
        _ => {}
    }
    if let Some(msg) = s("message") {
        let mut m = msg.to_string();
        if let Some(r) = s("reason") {
            m.push_str(": ");
            m.push_str(r);
        }
        out.push(m);
    } else if let Some(r) = s("reason") {
        out.push(r.to_string());
    }
}

pub(super) fn truncate(m: &str) -> String {
    if m.chars().count() <= MAX_MESSAGE {
        m.to_string()
    } else {
        let mut t: String = m.chars().take(MAX_MESSAGE).collect();
        t.push('…');
        t
    }
}

/// An `application/x-www-form-urlencoded` body that is zeroed when dropped.
pub(super) struct FormBody(String);

impl FormBody {
    pub(super) fn new() -> FormBody {
        FormBody(String::new())
    }

    pub(super) fn push(&mut self, key: &str, value: &str) {
        if !self.0.is_empty() {
            self.0.push('&');
        }
        self.0.push_str(&form_urlencode(key));
        self.0.push('=');
        let mut v = form_urlencode(value);
        self.0.push_str(&v);
        zeroize_string(&mut v);
    }

    pub(super) fn into_request(mut self, path: &str) -> Request {
        let body = std::mem::take(&mut self.0).into_bytes();
        Request::new("POST", path).body(body, "application/x-www-form-urlencoded")
    }
}

impl Drop for FormBody {
    fn drop(&mut self) {
        zeroize_string(&mut self.0);
    }
}
