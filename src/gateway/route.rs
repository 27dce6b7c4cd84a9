//! Where a request goes, decided from its path and the configuration
//! alone (pure).
//!
//! The path is percent-decoded once and judged decoded: a dot segment
//! (`.`/`..`, also as `%2e`), an encoded NUL or control character, or an
//! invalid escape is refused, so a prefix in the allow-list cannot be
//! escaped with `../` and what is forwarded is the path that was judged
//! (re-encoded by the Vault client).

use super::config::Settings;

/// A request's destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    /// `/v1/{path}`: Vault, `path` decoded, without the leading `/v1/`.
    Vault(String),
    /// `/peers/{name}/{rest}`: a configured peer; `rest` as sent (still
    /// encoded), starting with `/` (or empty).
    Peer {
        /// The peer's name.
        name: String,
        /// The base URL it maps to.
        base: String,
        /// What follows the name, as sent.
        rest: String,
    },
    /// `/metrics`.
    Metrics,
    /// `/healthz`.
    Healthz,
}

/// Why a path has no route: the status and a message for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NoRoute {
    pub(crate) status: u16,
    pub(crate) message: String,
}

fn no(status: u16, message: impl Into<String>) -> NoRoute {
    NoRoute {
        status,
        message: message.into(),
    }
}

/// Decodes `%XX` escapes; `None` for a malformed escape or a decoded byte
/// that is a control character.
pub fn percent_decode(path: &str) -> Option<String> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let s = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(s, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let s = String::from_utf8(out).ok()?;
    (!s.chars().any(char::is_control)).then_some(s)
}

fn has_dot_segment(path: &str) -> bool {
    path.split('/').any(|s| s == "." || s == "..")
}

/// The route for `path` (without its query).
pub(crate) fn route(path: &str, settings: &Settings) -> Result<Route, NoRoute> {
    match path {
        "/metrics" => return Ok(Route::Metrics),
        "/healthz" => return Ok(Route::Healthz),
        _ => {}
    }
    if let Some(rest) = path.strip_prefix("/v1/") {
        if !settings.vault_enabled {
            return Err(no(404, "the Vault API is not served by this gateway"));
        }
        let decoded = percent_decode(rest).ok_or_else(|| no(400, "malformed path"))?;
        if has_dot_segment(&decoded) {
            return Err(no(400, "dot segments are not allowed in a path"));
        }
        if let Some(allow) = &settings.allow {
            if !allow.iter().any(|p| decoded.starts_with(p.as_str())) {
                return Err(no(403, "path not allowed by the gateway's allow-list"));
            }
        }
        return Ok(Route::Vault(decoded));
    }
    if let Some(rest) = path.strip_prefix("/peers/") {
        let (name, rest) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let base = settings
            .peers
            .get(name)
            .ok_or_else(|| no(404, "no such peer in the gateway's configuration"))?;
        let decoded = percent_decode(rest).ok_or_else(|| no(400, "malformed path"))?;
        if has_dot_segment(&decoded) {
            return Err(no(400, "dot segments are not allowed in a path"));
        }
        return Ok(Route::Peer {
            name: name.to_string(),
            base: base.clone(),
            rest: rest.to_string(),
        });
    }
    Err(no(
        404,
        "not found: the gateway serves /v1/, /peers/NAME/, /metrics and /healthz",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::config::ListenerConfig;

    fn settings(json: &str) -> Settings {
        let c: ListenerConfig = serde_json::from_str(json).unwrap();
        c.resolve(std::path::Path::new("/k")).unwrap()
    }

    #[test]
    fn routes() {
        let s = settings(r#"{"peers": {"billing": {"url": "https://b.example/x/"}}}"#);
        assert_eq!(route("/metrics", &s), Ok(Route::Metrics));
        assert_eq!(route("/healthz", &s), Ok(Route::Healthz));
        assert_eq!(
            route("/v1/secret/data/a%20b", &s),
            Ok(Route::Vault("secret/data/a b".into()))
        );
        assert_eq!(
            route("/peers/billing/api/a%2Fb", &s),
            Ok(Route::Peer {
                name: "billing".into(),
                base: "https://b.example/x".into(),
                rest: "/api/a%2Fb".into()
            })
        );
        assert_eq!(route("/peers/other/x", &s).unwrap_err().status, 404);
        assert_eq!(route("/v2/x", &s).unwrap_err().status, 404);
        assert_eq!(route("/metricsx", &s).unwrap_err().status, 404);
    }

    #[test]
    fn the_allow_list_cannot_be_escaped() {
        let s = settings(r#"{"vault": {"allow": ["secret/data/app/"]}}"#);
        assert!(route("/v1/secret/data/app/db", &s).is_ok());
        for bad in [
            "/v1/sys/mounts",
            "/v1/secret/data/app/../../../sys/mounts",
            "/v1/secret/data/app/%2e%2e/%2E%2e/x",
            "/v1/secret/data/app/..%2f..%2fsys",
            "/v1/secret/data/appx",
            "/v1/secret/data/app/%00",
            "/v1/secret/data/app/%zz",
            "/v1/secret/data/app/%ff",
        ] {
            let e = route(bad, &s).unwrap_err();
            assert!(matches!(e.status, 400 | 403), "{bad}: {e:?}");
        }
    }

    #[test]
    fn vault_can_be_turned_off() {
        let s = settings(r#"{"vault": {"enabled": false}}"#);
        assert_eq!(route("/v1/sys/health", &s).unwrap_err().status, 404);
    }
}
