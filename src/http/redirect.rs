//! Redirects, as the [HTTP layer](super) follows them: where a 307/308
//! leads ([`redirect_target`]: never from `https` to `http`), whose
//! [`Origin`] it is, and whether a request may cross to it
//! ([`cross_origin_refusal`]: never a body, never a token over plain
//! `http`, to an origin outside the configured nodes). The attempt that
//! follows one redirect is here too ([`HttpClient::attempt`]); the rule
//! itself is told in the [module docs](super#redirects).

use std::time::Instant;

use super::{proxy, strip_query, Attempt, HttpClient, Request};

impl HttpClient {
    /// One attempt at `base`, following one 307/308 answer.
    pub(super) fn attempt(&self, base: &str, req: &Request, deadline: Instant) -> Attempt {
        let url = format!("{base}{}", req.path);
        let resp = match self.send_once(&url, req, deadline) {
            Ok(r) => r,
            Err(e) => return Attempt::NodeFailed(e),
        };
        if !matches!(resp.status, 307 | 308) {
            return Attempt::Answer(resp);
        }
        let Some(target) = resp
            .header("location")
            .and_then(|loc| redirect_target(&url, loc))
        else {
            log::debug!(
                "{} {} {}: redirect not followed",
                self.service,
                req.method,
                req.path_only()
            );
            return Attempt::Answer(resp);
        };
        // A configured node may get what the node itself gets: the
        // cross-origin rule guards origins outside the configured set.
        let configured = self.is_configured(&target);
        let refused = if configured {
            None
        } else if self.same_origin_redirects {
            Some(None)
        } else {
            cross_origin_refusal(&url, &target, req).map(Some)
        };
        if let Some(why) = refused {
            let why = why.map(|w| format!(": {w}")).unwrap_or_default();
            log::debug!(
                "{} {} {}: {} to another origin ({}) not followed{why}",
                self.service,
                req.method,
                req.path_only(),
                resp.status,
                strip_query(&target)
            );
            return Attempt::Answer(resp);
        }
        log::debug!(
            "{} {} {}: following {} to {}",
            self.service,
            req.method,
            req.path_only(),
            resp.status,
            strip_query(&target)
        );
        match self.send_once(&target, req, deadline) {
            Ok(r) => Attempt::Answer(r),
            Err(e) => Attempt::TargetFailed(e),
        }
    }

    /// `true` when `url` has the [`Origin`] of one of the configured base
    /// URLs (same scheme, host and port).
    fn is_configured(&self, url: &str) -> bool {
        let Some(target) = Origin::of(url) else {
            return false;
        };
        self.bases
            .iter()
            .any(|b| Origin::of(b).as_ref() == Some(&target))
    }
}

/// Where a 307/308 answer from `from` with this `Location` leads, or `None`
/// when it must not be followed: an unparsable or relative-path location,
/// or a step down from `https` to `http`.
pub fn redirect_target(from: &str, location: &str) -> Option<String> {
    let location = location.trim();
    let (scheme, authority, _) = split_url(from)?;
    let target = if location.starts_with("http://") || location.starts_with("https://") {
        location.to_string()
    } else if let Some(rest) = location.strip_prefix("//") {
        format!("{scheme}://{rest}")
    } else if location.starts_with('/') {
        format!("{scheme}://{authority}{location}")
    } else {
        return None;
    };
    let (target_scheme, target_authority, _) = split_url(&target)?;
    if target_authority.is_empty() || (scheme == "https" && target_scheme != "https") {
        return None;
    }
    Some(target)
}

/// Where a URL's requests go, as far as secrets are concerned: scheme,
/// host and port. The host is compared in lower case without a trailing
/// dot (IPv6 literals keep their brackets); a port the URL leaves out is
/// the scheme's (`http` 80, `https` 443), so `http://h` and `http://h:80`
/// are one origin and `http://h:8200` another. Spellings that name the same
/// place differently (`[::1]` and `[0::1]`) count as different origins:
/// the rule errs on the side of sending nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

impl Origin {
    /// The origin of an absolute `http(s)` URL; `None` for anything else.
    pub(crate) fn of(url: &str) -> Option<Origin> {
        let (scheme, host, port) = proxy::url_host_port(url)?;
        Some(Origin {
            scheme: scheme.to_string(),
            host: host.trim_end_matches('.').to_ascii_lowercase(),
            port,
        })
    }
}

/// Why a redirect from `from` to `target` must not be followed with `req`,
/// or `None` when it may (the same [`Origin`], or nothing secret at stake).
pub(super) fn cross_origin_refusal(
    from: &str,
    target: &str,
    req: &Request,
) -> Option<&'static str> {
    let from = Origin::of(from);
    if from.is_some() && from == Origin::of(target) {
        return None;
    }
    if !req.body.is_empty() {
        return Some("the request has a body, which may hold secrets");
    }
    if target.starts_with("http://") && req.has_secret_header() {
        return Some("the token is never sent to another origin over plain http");
    }
    None
}

/// Split an absolute `http(s)` URL into scheme, authority and the rest
/// (path and query, possibly empty).
pub(super) fn split_url(url: &str) -> Option<(&str, &str, &str)> {
    let (scheme, rest) = if let Some(r) = url.strip_prefix("https://") {
        ("https", r)
    } else if let Some(r) = url.strip_prefix("http://") {
        ("http", r)
    } else {
        return None;
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    if authority.is_empty() {
        return None;
    }
    Some((scheme, authority, path))
}

#[cfg(test)]
mod tests {
    use super::super::{HttpConfig, ProxyPolicy};
    use super::*;
    use crate::error::Service;

    #[test]
    fn redirect_rules() {
        let from = "https://a.example:8200/v1/secret/data/x?version=1";
        assert_eq!(
            redirect_target(from, "https://b.example:8200/v1/secret/data/x").as_deref(),
            Some("https://b.example:8200/v1/secret/data/x")
        );
        assert_eq!(
            redirect_target(from, "/v1/other").as_deref(),
            Some("https://a.example:8200/v1/other")
        );
        assert_eq!(
            redirect_target(from, "//c.example/v1/x").as_deref(),
            Some("https://c.example/v1/x")
        );
        assert_eq!(redirect_target(from, "http://b.example/v1/x"), None);
        assert_eq!(redirect_target(from, "relative/path"), None);
        assert_eq!(redirect_target(from, "ftp://b.example/"), None);
        assert_eq!(redirect_target(from, "https://"), None);
        assert_eq!(
            redirect_target("http://a:1/v1/x", "https://b:2/v1/x").as_deref(),
            Some("https://b:2/v1/x")
        );
    }

    #[test]
    fn an_origin_is_scheme_host_and_port() {
        let o = |u: &str| Origin::of(u).unwrap();
        assert_eq!(
            o("http://Vault.Example./v1/x"),
            o("http://vault.example:80")
        );
        assert_eq!(o("https://h/v1"), o("https://h:443/other?q=1"));
        assert_eq!(o("http://u@h:8200/"), o("http://h:8200"));
        assert_ne!(o("http://127.0.0.1:8200"), o("http://127.0.0.1:8201"));
        assert_ne!(o("http://h"), o("https://h"));
        assert_ne!(o("http://h:443"), o("https://h"));
        assert_ne!(o("http://[::1]:1"), o("http://127.0.0.1:1"));
        assert_eq!(Origin::of("ftp://h/"), None);
    }

    #[test]
    fn secrets_cross_to_another_port_only_when_nothing_is_at_stake() {
        let from = "http://127.0.0.1:8200/v1/secret/data/x";
        let token = || Request::get("/v1/x").secret_header("X-Vault-Token", "t".into());
        let body = || Request::new("POST", "/v1/x").json(&serde_json::json!({"k": "v"}));
        // The same origin, however spelt: followed with everything.
        for same in [
            "http://127.0.0.1:8200/v1/other",
            "http://127.0.0.1.:8200/v1/other",
        ] {
            assert_eq!(cross_origin_refusal(from, same, &token()), None, "{same}");
            assert_eq!(cross_origin_refusal(from, same, &body()), None, "{same}");
        }
        assert_eq!(
            cross_origin_refusal("http://h/v1/x", "http://h:80/v1/y", &body()),
            None
        );
        // Another port, another host: no body, no plain-http token.
        for other in [
            "http://127.0.0.1:8201/v1/x",
            "http://127.0.0.2:8200/v1/x",
            "http://127.0.0.1/v1/x",
        ] {
            assert!(
                cross_origin_refusal(from, other, &body()).is_some(),
                "{other}"
            );
            assert!(
                cross_origin_refusal(from, other, &token()).is_some(),
                "{other}"
            );
            assert_eq!(
                cross_origin_refusal(from, other, &Request::get("/v1/x")),
                None
            );
        }
        // Over https a token-only read may go (TLS names the other end).
        assert_eq!(
            cross_origin_refusal("https://a:1/v1/x", "https://a:2/v1/x", &token()),
            None
        );
        assert!(cross_origin_refusal("https://a:1/v1/x", "https://a:2/v1/x", &body()).is_some());
    }

    #[test]
    fn a_configured_node_is_matched_by_its_full_origin() {
        let mut c = HttpConfig::new(Service::Vault, "http://127.0.0.1:8200");
        c.other_urls = vec!["http://Node2.example".into()];
        c.proxy = Some(ProxyPolicy::default());
        let c = HttpClient::new(&c).unwrap();
        assert!(c.is_configured("http://127.0.0.1:8200/v1/x"));
        assert!(c.is_configured("http://node2.example:80/v1/x"));
        assert!(!c.is_configured("http://127.0.0.1:8201/v1/x"));
        assert!(!c.is_configured("https://127.0.0.1:8200/v1/x"));
        assert!(!c.is_configured("http://node2.example:8080/v1/x"));
    }
}
