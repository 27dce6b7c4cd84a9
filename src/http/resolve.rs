//! Name resolution without a thread per request.
//!
//! ureq resolves the host before every request, even on a kept-alive
//! connection, and with a timeout set it does so on a new thread. For a
//! client that sends many small requests to one server that thread costs
//! more than the request. [`Resolver`] answers IP literals directly and
//! keeps names for [`CACHE_FOR`]; only a cache miss goes to ureq's own
//! resolver (with its timeout). A lookup that fails is marked
//! ([`is_lookup_failure`]), so the error can say it was DNS rather than a
//! refused connection: ureq reports both as I/O errors.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver as Resolve};
use ureq::unversioned::transport::NextTimeout;

/// How long a resolved name is reused.
pub(super) const CACHE_FOR: Duration = Duration::from_secs(30);

/// A resolver that skips the lookup for IP literals and caches names.
#[derive(Debug, Default)]
pub(super) struct Resolver {
    inner: DefaultResolver,
    cache: Mutex<HashMap<String, (Instant, ResolvedSocketAddrs)>>,
}

/// The port of a URI, or its scheme's default.
fn port_of(uri: &Uri) -> Option<u16> {
    uri.port_u16().or(match uri.scheme_str() {
        Some("https") => Some(443),
        Some("http") => Some(80),
        _ => None,
    })
}

impl Resolve for Resolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let (Some(host), Some(port)) = (uri.host(), port_of(uri)) else {
            return self.inner.resolve(uri, config, timeout).map_err(mark);
        };
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = literal.parse::<IpAddr>() {
            let mut out = self.empty();
            out.push(SocketAddr::new(ip, port));
            return Ok(out);
        }
        let key = format!("{host}:{port}");
        if let Ok(cache) = self.cache.lock() {
            if let Some((at, addrs)) = cache.get(&key) {
                if at.elapsed() < CACHE_FOR {
                    return Ok(addrs.clone());
                }
            }
        }
        let addrs = self.inner.resolve(uri, config, timeout).map_err(mark)?;
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(key, (Instant::now(), addrs.clone()));
        }
        Ok(addrs)
    }
}

/// A lookup failure under ureq's I/O error: shown as the resolver's own
/// words, recognised by [`is_lookup_failure`].
#[derive(Debug)]
struct LookupFailed(std::io::Error);

impl std::fmt::Display for LookupFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for LookupFailed {}

/// Mark the I/O error of a failed lookup; other errors pass unchanged.
fn mark(e: ureq::Error) -> ureq::Error {
    match e {
        ureq::Error::Io(io) => ureq::Error::Io(std::io::Error::new(io.kind(), LookupFailed(io))),
        other => other,
    }
}

/// `true` when `e` says a host name did not resolve (ureq's own
/// `HostNotFound`: no address; or a lookup [`Resolver`] saw fail).
pub(super) fn is_lookup_failure(e: &ureq::Error) -> bool {
    match e {
        ureq::Error::HostNotFound => true,
        ureq::Error::Io(io) => io.get_ref().is_some_and(|inner| inner.is::<LookupFailed>()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(r: &Resolver, url: &str) -> Vec<SocketAddr> {
        let uri: Uri = url.parse().unwrap();
        let config = ureq::config::Config::default();
        r.resolve(&uri, &config, NextTimeout::default())
            .unwrap()
            .iter()
            .copied()
            .collect()
    }

    #[test]
    fn literals_need_no_lookup() {
        let r = Resolver::default();
        assert_eq!(
            resolve(&r, "http://127.0.0.1:8200/v1/x"),
            vec!["127.0.0.1:8200".parse().unwrap()]
        );
        assert_eq!(
            resolve(&r, "https://[::1]/"),
            vec!["[::1]:443".parse().unwrap()]
        );
        assert!(r.cache.lock().unwrap().is_empty());
    }

    /// A label longer than 63 bytes: the system resolver refuses the name
    /// without sending a query.
    pub(crate) fn unresolvable_host() -> String {
        format!("{}.invalid", "a".repeat(64))
    }

    #[test]
    fn a_failed_lookup_is_marked_as_one() {
        let r = Resolver::default();
        let uri: Uri = format!("http://{}:8200/", unresolvable_host())
            .parse()
            .unwrap();
        let config = ureq::config::Config::default();
        let e = r
            .resolve(&uri, &config, NextTimeout::default())
            .unwrap_err();
        assert!(is_lookup_failure(&e), "{e:?}");
        // Shown as the resolver said it.
        match &e {
            ureq::Error::Io(io) => assert!(!io.to_string().contains("LookupFailed"), "{io}"),
            other => assert!(matches!(other, ureq::Error::HostNotFound), "{other:?}"),
        }
        let refused = ureq::Error::Io(std::io::ErrorKind::ConnectionRefused.into());
        assert!(!is_lookup_failure(&refused));
        assert!(is_lookup_failure(&ureq::Error::HostNotFound));
    }

    #[test]
    fn names_are_cached() {
        let r = Resolver::default();
        let first = resolve(&r, "http://localhost:8200/");
        assert!(!first.is_empty());
        assert_eq!(r.cache.lock().unwrap().len(), 1);
        assert_eq!(resolve(&r, "http://localhost:8200/other"), first);
    }
}
