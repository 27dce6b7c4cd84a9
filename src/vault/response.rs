//! Vault's answers as values or errors: the request path, the status and
//! body mapping (the table in the module docs above), error text made one
//! line, and the shapes of `data` and `keys`. Pure functions of bytes: the
//! `vault_json` fuzz target runs them on arbitrary input.

use std::fmt;

use serde_json::Value;

use crate::error::{Error, Result, Service};

/// Turn a logical path (with an optional query string) into the request
/// path `/v1/...`, percent-encoding what may not appear in a URL path.
pub fn api_path(path: &str) -> String {
    match path.split_once('?') {
        Some((p, q)) => api_path_query(p, Some(q)),
        None => api_path_query(path, None),
    }
}

/// Like [`api_path`] for a path that may itself hold a `?` (a decoded
/// path, as the gateway forwards), with the query given apart.
pub(crate) fn api_path_query(p: &str, query: Option<&str>) -> String {
    let mut out = String::from("/v1/");
    for b in p.trim_start_matches('/').bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/:@!$&'()*+,;=".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// A Vault answer that is not a success (or not readable), before it is
/// given the request it answered. [`ApiError::into_error`] makes it an
/// [`Error`].
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// Vault's `errors` list (or a short excerpt of a non-JSON body).
    pub errors: Vec<String>,
    /// The body, when it was JSON. Some refusals carry data: a KV v2 read of
    /// a deleted version answers 404 with the version's metadata.
    pub body: Option<Value>,
    /// Set when a success answer was not a JSON object: what was wrong.
    pub invalid: Option<String>,
}

impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiError")
            .field("status", &self.status)
            .field("errors", &self.errors)
            .field("invalid", &self.invalid)
            .finish()
    }
}

impl ApiError {
    /// `true` when the errors mention a sealed Vault.
    pub fn is_sealed(&self) -> bool {
        let says = |what: &str| {
            self.errors
                .iter()
                .any(|e| e.to_ascii_lowercase().contains(what))
        };
        // Sealed only when the server says so: in its errors, or as
        // `sys/health` does (`"sealed": true`). Any other 503 (a proxy, a
        // cluster without a leader, maintenance) is just unavailable.
        says("vault is sealed")
            || self
                .body
                .as_ref()
                .and_then(|b| b.get("sealed"))
                .and_then(Value::as_bool)
                == Some(true)
    }

    /// `true` when Vault has nothing mounted at the path: a 404 saying
    /// `no handler for route` (a missing secret answers 404 without it).
    pub fn is_missing_mount(&self) -> bool {
        self.status == 404
            && self
                .errors
                .iter()
                .any(|e| e.contains("no handler for route"))
    }

    /// `true` for a check-and-set refusal.
    pub fn is_cas_mismatch(&self) -> bool {
        self.status == 400 && self.errors.iter().any(|e| e.contains("check-and-set"))
    }

    /// The [`Error`] for this answer to `method path`.
    pub fn into_error(self, method: &'static str, path: &str) -> Error {
        let path = crate::util::strip_query(path).to_string();
        if let Some(detail) = self.invalid {
            return Error::Protocol {
                service: Service::Vault,
                detail: format!("{method} {path} (HTTP {}): {detail}", self.status),
            };
        }
        if self.is_sealed() {
            return Error::Sealed { method, path };
        }
        if self.is_cas_mismatch() {
            return Error::CasMismatch { path, cas: None };
        }
        if self.is_missing_mount() {
            return Error::MountNotFound { method, path };
        }
        Error::from_status(Service::Vault, self.status, method, &path, self.errors)
    }
}

/// Read a Vault answer: `Ok(Some(json))` for a 2xx with a JSON object,
/// `Ok(None)` for a 2xx without a body (204), otherwise an [`ApiError`].
/// Pure, and never panics, whatever the bytes.
pub fn parse_response(status: u16, body: &[u8]) -> std::result::Result<Option<Value>, ApiError> {
    let trimmed = body.trim_ascii();
    let parsed: Option<std::result::Result<Value, String>> = if trimmed.is_empty() {
        None
    } else {
        Some(serde_json::from_slice::<Value>(trimmed).map_err(|e| e.to_string()))
    };
    if (200..300).contains(&status) {
        return match parsed {
            None => Ok(None),
            Some(Ok(v @ Value::Object(_))) => Ok(Some(v)),
            Some(Ok(_)) => Err(ApiError {
                status,
                errors: Vec::new(),
                body: None,
                invalid: Some("the answer is JSON but not an object".into()),
            }),
            Some(Err(e)) => Err(ApiError {
                status,
                errors: Vec::new(),
                body: None,
                invalid: Some(format!("the answer is not JSON: {e}")),
            }),
        };
    }
    match parsed {
        Some(Ok(v)) => Err(ApiError {
            status,
            errors: error_list(&v),
            body: Some(v),
            invalid: None,
        }),
        Some(Err(_)) => Err(ApiError {
            status,
            errors: vec![excerpt(trimmed)],
            body: None,
            invalid: None,
        }),
        None => Err(ApiError {
            status,
            errors: Vec::new(),
            body: None,
            invalid: None,
        }),
    }
}

/// Vault's `errors` array, as strings (at most 20, each at most 500 bytes).
fn error_list(v: &Value) -> Vec<String> {
    let Some(list) = v.get("errors").and_then(Value::as_array) else {
        return Vec::new();
    };
    list.iter()
        .take(20)
        .map(|e| {
            let s = match e {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            truncate(flatten_error(&s), 500)
        })
        .collect()
}

/// One line from one of Vault's error strings. Vault and OpenBao wrap
/// several causes as `"2 errors occurred:\n\t* a\n\t* b\n\n"`; that
/// becomes `"a; b"`. Other line breaks and tabs become spaces.
fn flatten_error(s: &str) -> String {
    let body = match s.split_once(" occurred:") {
        Some((head, rest)) if head.ends_with(" error") || head.ends_with(" errors") => rest,
        _ => s,
    };
    body.split("\n\t* ")
        .map(|part| {
            part.split(|c: char| c.is_whitespace() || c.is_control())
                .filter(|w| !w.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .map(|p| p.trim_start_matches("* ").to_string())
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// The start of a non-JSON body (an HTML error page from a proxy, say),
/// printable characters only.
fn excerpt(body: &[u8]) -> String {
    let s: String = String::from_utf8_lossy(&body[..body.len().min(200)])
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    format!("non-JSON answer: {}", s.trim())
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

/// `data.keys` of a LIST answer.
pub(crate) fn list_keys(v: Option<&Value>) -> Vec<String> {
    v.and_then(|v| v.get("data"))
        .and_then(|d| d.get("keys"))
        .and_then(Value::as_array)
        .map(|keys| {
            keys.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// `data` of an answer, as a typed value.
pub(crate) fn data_as<T: serde::de::DeserializeOwned>(v: Option<Value>, what: &str) -> Result<T> {
    let data = v
        .and_then(|mut v| v.get_mut("data").map(Value::take))
        .unwrap_or(Value::Null);
    serde_json::from_value(data).map_err(|e| Error::Protocol {
        service: Service::Vault,
        detail: format!("{what}: unexpected `data`: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Verdict;
    use crate::vault::cluster_verdict;

    fn err(status: u16, body: &str) -> Error {
        parse_response(status, body.as_bytes())
            .unwrap_err()
            .into_error("GET", "secret/data/x?version=1")
    }

    #[test]
    fn success() {
        assert_eq!(parse_response(204, b"").unwrap(), None);
        assert_eq!(
            parse_response(200, br#"{"data":{"a":1}}"#)
                .unwrap()
                .unwrap()["data"]["a"],
            1
        );
        assert!(matches!(err(200, "[1]"), Error::Protocol { .. }));
        assert!(matches!(err(200, "{"), Error::Protocol { .. }));
    }

    #[test]
    fn error_mapping() {
        match err(403, r#"{"errors":["permission denied"]}"#) {
            Error::PermissionDenied {
                status,
                errors,
                path,
                ..
            } => {
                assert_eq!(status, 403);
                assert_eq!(errors, vec!["permission denied"]);
                assert_eq!(path, "secret/data/x");
            }
            e => panic!("{e:?}"),
        }
        assert!(matches!(
            err(404, r#"{"errors":[]}"#),
            Error::NotFound { .. }
        ));
        assert!(matches!(
            err(503, r#"{"errors":["Vault is sealed"]}"#),
            Error::Sealed { .. }
        ));
        assert!(matches!(
            err(500, r#"{"errors":["Vault is sealed"]}"#),
            Error::Sealed { .. }
        ));
        assert!(matches!(
            err(503, r#"{"errors":["no active Vault instance found"]}"#),
            Error::Http { status: 503, .. }
        ));
        // A 503 is "sealed" only when the server says so.
        for body in [
            r#"{"errors":["maintenance"]}"#,
            r#"{"errors":[]}"#,
            "<html>busy</html>",
            "",
        ] {
            let e = err(503, body);
            assert!(
                matches!(e, Error::Http { status: 503, .. }),
                "{body}: {e:?}"
            );
            assert!(e.is_unavailable());
        }
        assert!(matches!(
            err(503, r#"{"sealed":true,"initialized":true}"#),
            Error::Sealed { .. }
        ));
        assert!(matches!(
            err(
                400,
                r#"{"errors":["check-and-set parameter did not match the current version"]}"#
            ),
            Error::CasMismatch { cas: None, .. }
        ));
        match err(502, "<html>Bad Gateway</html>") {
            Error::Http {
                status: 502,
                errors,
                ..
            } => {
                assert!(errors[0].contains("Bad Gateway"))
            }
            e => panic!("{e:?}"),
        }
        assert!(matches!(
            err(400, r#"{"errors":["bad"]}"#),
            Error::Http { status: 400, .. }
        ));
        assert!(matches!(err(500, ""), Error::Http { status: 500, .. }));
        let missing =
            r#"{"errors":["no handler for route \"nosuch/data/x\". route entry not found."]}"#;
        assert!(matches!(err(404, missing), Error::MountNotFound { .. }));
        assert!(err(404, missing)
            .to_string()
            .contains("mount does not exist"));
    }

    #[test]
    fn cluster_answers_are_sorted() {
        let v = |s, b: &str| cluster_verdict(s, b.as_bytes());
        assert_eq!(
            v(
                500,
                r#"{"errors":["local node not active but active cluster node not found"]}"#
            ),
            Verdict::Passing
        );
        assert_eq!(
            v(503, r#"{"errors":["no active Vault instance found"]}"#),
            Verdict::Passing
        );
        assert_eq!(
            v(503, r#"{"errors":["Vault is sealed"]}"#),
            Verdict::NodeDown
        );
        assert_eq!(v(500, r#"{"errors":["internal error"]}"#), Verdict::Generic);
        assert_eq!(v(400, "local node not active"), Verdict::Generic);
        assert_eq!(cluster_verdict(503, b"\xff\xfe"), Verdict::Generic);
    }

    #[test]
    fn never_panics_on_odd_bytes() {
        for body in [
            &b"\xff\xfe"[..],
            b"null",
            b"{\"errors\":7}",
            b"{\"errors\":[1,{\"a\":[]},null]}",
            b"   ",
        ] {
            for status in [0, 200, 204, 307, 400, 403, 404, 500, 503, 999] {
                let _ = parse_response(status, body).map_err(|e| e.into_error("GET", "p"));
            }
        }
    }

    #[test]
    fn multi_line_errors_become_one_line() {
        assert_eq!(
            flatten_error("1 error occurred:\n\t* permission denied\n\n"),
            "permission denied"
        );
        assert_eq!(
            flatten_error("2 errors occurred:\n\t* a b\n\t* c\n\n"),
            "a b; c"
        );
        assert_eq!(flatten_error("plain\ttext\r\nmore"), "plain text more");
        match err(
            403,
            r#"{"errors":["1 error occurred:\n\t* permission denied\n\n"]}"#,
        ) {
            Error::PermissionDenied { errors, .. } => assert_eq!(errors, ["permission denied"]),
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn paths_are_encoded() {
        assert_eq!(api_path("secret/data/a b"), "/v1/secret/data/a%20b");
        assert_eq!(
            api_path("/secret/data/did:x:y?version=2"),
            "/v1/secret/data/did:x:y?version=2"
        );
        assert_eq!(api_path("x/%/é"), "/v1/x/%25/%C3%A9");
    }
}
