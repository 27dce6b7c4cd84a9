//! Where a request may go: directly, or through a proxy.
//!
//! The one place that decides it ([`ProxyPolicy::proxy_for`]); ureq's own
//! reading of the environment is switched off. The rules follow the
//! convention of Go's `net/http` and curl:
//!
//! - The proxy for an `https://` URL is `HTTPS_PROXY` (or `https_proxy`),
//!   for an `http://` URL `HTTP_PROXY` (or `http_proxy`); `ALL_PROXY` (or
//!   `all_proxy`) is the fallback for both. The upper-case name wins when
//!   both are set; an empty value means no proxy. `HTTP_PROXY` is ignored
//!   when `REQUEST_METHOD` is set (a CGI environment, where any client can
//!   set it: "httpoxy").
//! - A proxy value is `http://[user:password@]host[:port]`; without a
//!   scheme, `http://` is assumed; the port defaults to 80. Other schemes
//!   (`https://`, `socks5://`) are a configuration error naming the
//!   variable. The password is never printed.
//! - Loopback is never proxied: `localhost`, `*.localhost`, `127.0.0.0/8`,
//!   `::1`.
//! - `NO_PROXY` (or `no_proxy`): comma- or space-separated entries, each
//!   - `*`: no proxy for anything;
//!   - an IP address (`10.1.2.3`, `::1`, `[::1]`) or a CIDR block
//!     (`10.0.0.0/8`, `fd00::/8`);
//!   - a domain: `example.com`, `.example.com` and `*.example.com` each
//!     match `example.com` and every name under it (as curl reads them);
//!   - any of the above with `:port`: matches that port only.
//!
//!   Names are compared case-insensitively, without a trailing dot. An
//!   entry that is none of these (`10.0.0.0/99`) matches nothing.

use std::fmt;
use std::net::IpAddr;

use crate::error::{Error, Result};

/// One `NO_PROXY` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    /// `*`.
    All,
    /// An address block; an address is a block of full length.
    Cidr {
        net: IpAddr,
        bits: u8,
        port: Option<u16>,
    },
    /// A domain and every name under it.
    Domain { name: String, port: Option<u16> },
}

/// A parsed `NO_PROXY` list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoProxy {
    entries: Vec<Entry>,
}

impl NoProxy {
    /// Parse a `NO_PROXY` value. Never fails: an entry that cannot be read
    /// matches nothing.
    pub fn parse(value: &str) -> NoProxy {
        let entries = value
            .split([',', ' ', '\t', '\n'])
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .filter_map(parse_entry)
            .collect();
        NoProxy { entries }
    }

    /// `true` when `host` (a name or an IP literal, brackets allowed) at
    /// `port` must be reached directly.
    pub fn matches(&self, host: &str, port: u16) -> bool {
        let host = normalize_host(host);
        let ip = host.parse::<IpAddr>().ok();
        self.entries.iter().any(|e| match e {
            Entry::All => true,
            Entry::Cidr { net, bits, port: p } => {
                p.is_none_or(|p| p == port) && ip.is_some_and(|ip| in_block(ip, *net, *bits))
            }
            Entry::Domain { name, port: p } => {
                p.is_none_or(|p| p == port)
                    && ip.is_none()
                    && (host == *name
                        || (host.len() > name.len()
                            && host.ends_with(name.as_str())
                            && host.as_bytes()[host.len() - name.len() - 1] == b'.'))
            }
        })
    }
}

/// Lower case, no brackets, no trailing dot.
fn normalize_host(host: &str) -> String {
    let h = host.trim();
    let h = h
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(h);
    h.trim_end_matches('.').to_ascii_lowercase()
}

/// Split a trailing `:port` off an entry; IPv6 literals need brackets for it.
fn split_port(entry: &str) -> (&str, Option<u16>) {
    if let Some(rest) = entry.strip_prefix('[') {
        if let Some((host, after)) = rest.split_once(']') {
            let port = after.strip_prefix(':').and_then(|p| p.parse().ok());
            return (host, port);
        }
        return (entry, None);
    }
    match entry.rsplit_once(':') {
        // More than one colon and no brackets: a bare IPv6 address (or block).
        Some((host, _)) if host.contains(':') => (entry, None),
        Some((host, port)) => match port.parse::<u16>() {
            Ok(p) => (host, Some(p)),
            Err(_) => (entry, None),
        },
        None => (entry, None),
    }
}

fn parse_entry(entry: &str) -> Option<Entry> {
    if entry == "*" {
        return Some(Entry::All);
    }
    let (host, port) = split_port(entry);
    if let Some((net, bits)) = host.split_once('/') {
        let net: IpAddr = net.parse().ok()?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let bits: u8 = bits.parse().ok().filter(|b| *b <= max)?;
        return Some(Entry::Cidr { net, bits, port });
    }
    let host = normalize_host(host);
    if let Ok(ip) = host.parse::<IpAddr>() {
        let bits = if ip.is_ipv4() { 32 } else { 128 };
        return Some(Entry::Cidr {
            net: ip,
            bits,
            port,
        });
    }
    let name = host
        .strip_prefix("*.")
        .or_else(|| host.strip_prefix('.'))
        .unwrap_or(&host)
        .to_string();
    if name.is_empty() || name.contains(['*', '/', '@', '[', ']']) {
        return None;
    }
    Some(Entry::Domain { name, port })
}

fn in_block(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) if net.is_ipv4() => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => return false,
        },
        other => other,
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// `true` for `localhost`, `*.localhost` and loopback addresses.
pub fn is_loopback(host: &str) -> bool {
    let host = normalize_host(host);
    if host == "localhost" || host.ends_with(".localhost") {
        return true;
    }
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.is_loopback(),
        Ok(IpAddr::V6(v6)) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Err(_) => false,
    }
}

/// A proxy chosen for a URL: the ureq proxy, and the variable it came from.
#[derive(Clone)]
pub struct ChosenProxy {
    /// The environment variable that named it.
    pub variable: &'static str,
    /// `host:port` of the proxy (no credentials).
    pub address: String,
    pub(crate) proxy: ureq::Proxy,
}

impl fmt::Debug for ChosenProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChosenProxy")
            .field("variable", &self.variable)
            .field("address", &self.address)
            .finish()
    }
}

/// The proxy settings of the environment, read once per client.
#[derive(Debug, Clone, Default)]
pub struct ProxyPolicy {
    http: Option<ChosenProxy>,
    https: Option<ChosenProxy>,
    /// Why the variable for `http://` (`https://`) URLs cannot be used:
    /// an error only for a URL that would go through it ([`ProxyPolicy::check`]).
    http_bad: Option<String>,
    https_bad: Option<String>,
    no_proxy: NoProxy,
}

impl ProxyPolicy {
    /// Read the process environment. A proxy variable whose value is not
    /// valid UTF-8 is a bad value (an error for a URL that would use it);
    /// such a `NO_PROXY` is an error at once, since it speaks for every URL.
    pub fn from_env() -> Result<ProxyPolicy> {
        ProxyPolicy::from_lookup_os(|k| std::env::var_os(k))
    }

    /// Read the variables through `get` (a table in tests and fuzz targets).
    #[cfg(any(test, feature = "fuzzing"))]
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<ProxyPolicy> {
        ProxyPolicy::from_lookup_os(|k| get(k).map(std::ffi::OsString::from))
    }

    /// [`ProxyPolicy::from_lookup`] over values as the operating system
    /// holds them.
    fn from_lookup_os(get: impl Fn(&str) -> Option<std::ffi::OsString>) -> Result<ProxyPolicy> {
        type Found = (&'static str, Option<String>);
        // The first variable set, with its trimmed value (`None`: not UTF-8).
        let first = |names: &[&'static str]| -> Option<Found> {
            names.iter().find_map(|n| {
                get(n).map(|v| (*n, v.into_string().ok().map(|v| v.trim().to_string())))
            })
        };
        let cgi = get("REQUEST_METHOD").is_some();
        let all = first(&["ALL_PROXY", "all_proxy"]);
        let http = if cgi {
            first(&["http_proxy"])
        } else {
            first(&["HTTP_PROXY", "http_proxy"])
        }
        .or_else(|| all.clone());
        let https = first(&["HTTPS_PROXY", "https_proxy"]).or(all);
        let no_proxy = match first(&["NO_PROXY", "no_proxy"]) {
            None => NoProxy::default(),
            Some((_, Some(v))) => NoProxy::parse(&v),
            Some((name, None)) => return Err(crate::Error::not_utf8(name)),
        };
        let split = |v: Option<Found>| match v {
            None => (None, None),
            Some((name, None)) => (None, Some(crate::Error::not_utf8(name).to_string())),
            Some((name, Some(value))) => match chosen((name, value)) {
                Ok(None) => (None, None),
                Ok(Some(c)) => (Some(c), None),
                Err(e) => (None, Some(e.to_string())),
            },
        };
        let (http, http_bad) = split(http);
        let (https, https_bad) = split(https);
        Ok(ProxyPolicy {
            http,
            https,
            http_bad,
            https_bad,
            no_proxy,
        })
    }

    /// Fails with [`Error::Config`] when `url` would go through a proxy
    /// variable that cannot be used (`socks5://`, a malformed value). A bad
    /// variable that no configured address would use is no error: a
    /// system-wide `ALL_PROXY=socks5://...` does not stop a loopback Vault.
    pub fn check(&self, url: &str) -> Result<()> {
        let Some((scheme, host, port)) = url_host_port(url) else {
            return Ok(());
        };
        if is_loopback(host) || self.no_proxy.matches(host, port) {
            return Ok(());
        }
        let bad = match scheme {
            "https" => &self.https_bad,
            _ => &self.http_bad,
        };
        match bad {
            Some(m) => Err(Error::Config(
                m.strip_prefix("configuration: ").unwrap_or(m).to_string(),
            )),
            None => Ok(()),
        }
    }

    /// The proxy a request to `scheme://host:port` goes through, or `None`
    /// for a direct connection.
    pub fn proxy_for(&self, scheme: &str, host: &str, port: u16) -> Option<&ChosenProxy> {
        if is_loopback(host) || self.no_proxy.matches(host, port) {
            return None;
        }
        match scheme {
            "https" => self.https.as_ref(),
            "http" => self.http.as_ref(),
            _ => None,
        }
    }

    /// Like [`ProxyPolicy::proxy_for`] for an absolute `http(s)` URL.
    pub fn proxy_for_url(&self, url: &str) -> Option<&ChosenProxy> {
        let (scheme, host, port) = url_host_port(url)?;
        self.proxy_for(scheme, host, port)
    }
}

/// Scheme, host (brackets kept for IPv6) and port of an absolute URL.
pub(crate) fn url_host_port(url: &str) -> Option<(&str, &str, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let default = match scheme {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let (host, port) = if authority.starts_with('[') {
        let end = authority.find(']')?;
        let port = authority[end + 1..].strip_prefix(':');
        (&authority[..=end], port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port = match port {
        None | Some("") => default,
        Some(p) => p.parse().ok()?,
    };
    if host.is_empty() {
        return None;
    }
    Some((scheme, host, port))
}

/// Build the proxy named by `variable`; an empty value is no proxy.
fn chosen((variable, value): (&'static str, String)) -> Result<Option<ChosenProxy>> {
    if value.is_empty() {
        return Ok(None);
    }
    let url = if value.contains("://") {
        value.clone()
    } else {
        format!("http://{value}")
    };
    let bad = |why: &str| {
        Error::Config(format!(
            "{variable}={}: {why}",
            crate::util::redact_url(&value)
        ))
    };
    let (scheme, host, port) =
        url_host_port(&url).ok_or_else(|| bad("not a proxy URL (http://host:port)"))?;
    if scheme != "http" {
        return Err(bad(
            "only http:// proxies are supported (the connection to the server is tunnelled with CONNECT)",
        ));
    }
    let rest = &url["http://".len()..];
    if rest.trim_end_matches('/').contains(['/', '?', '#']) {
        return Err(bad("a proxy URL has no path"));
    }
    let proxy = ureq::Proxy::new(&url).map_err(|_| bad("not a proxy URL (http://host:port)"))?;
    Ok(Some(ChosenProxy {
        variable,
        address: format!("{host}:{port}"),
        proxy,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(vars: &[(&str, &str)]) -> ProxyPolicy {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ProxyPolicy::from_lookup(|k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
            .unwrap()
    }

    fn via(p: &ProxyPolicy, url: &str) -> Option<&'static str> {
        p.proxy_for_url(url).map(|c| c.variable)
    }

    #[test]
    fn a_proxy_variable_that_is_not_utf8_is_a_bad_value_naming_it() {
        use std::os::unix::ffi::OsStringExt;
        let raw = |pairs: &'static [(&'static str, &'static [u8])]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| std::ffi::OsString::from_vec(v.to_vec()))
            }
        };
        let p =
            ProxyPolicy::from_lookup_os(raw(&[("HTTPS_PROXY", b"http://u:pw\xff@p:1")])).unwrap();
        // Never used for loopback, so no error there; elsewhere it is one.
        assert!(p.check("https://127.0.0.1:8200").is_ok());
        let e = p
            .check("https://vault.example:8200")
            .unwrap_err()
            .to_string();
        assert!(e.contains("HTTPS_PROXY is not valid UTF-8"), "{e}");
        assert!(!e.contains("pw"), "{e}");
        assert!(p.proxy_for_url("https://vault.example:8200").is_none());
        // NO_PROXY speaks for every URL: refused at once.
        let e = ProxyPolicy::from_lookup_os(raw(&[("no_proxy", b"vault.example,\xff")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no_proxy is not valid UTF-8"), "{e}");
    }

    #[test]
    fn scheme_specific_variables_and_fallback() {
        let p = policy(&[("HTTPS_PROXY", "p1:3128"), ("http_proxy", "http://p2:8080")]);
        assert_eq!(
            via(&p, "https://vault.example:8200/v1/x"),
            Some("HTTPS_PROXY")
        );
        assert_eq!(
            via(&p, "http://vault.example:8200/v1/x"),
            Some("http_proxy")
        );
        let p = policy(&[("all_proxy", "p3:1")]);
        assert_eq!(via(&p, "https://v.example"), Some("all_proxy"));
        assert_eq!(via(&p, "http://v.example"), Some("all_proxy"));
        let p = policy(&[("HTTP_PROXY", "u:1"), ("http_proxy", "l:1")]);
        assert_eq!(p.proxy_for_url("http://v.example").unwrap().address, "u:1");
        assert_eq!(via(&p, "https://v.example"), None);
        // An empty value is no proxy.
        assert_eq!(
            via(&policy(&[("HTTPS_PROXY", "")]), "https://v.example"),
            None
        );
        // httpoxy: HTTP_PROXY is not read in a CGI environment.
        let p = policy(&[("HTTP_PROXY", "evil:1"), ("REQUEST_METHOD", "GET")]);
        assert_eq!(via(&p, "http://v.example"), None);
    }

    #[test]
    fn loopback_is_never_proxied() {
        let p = policy(&[("ALL_PROXY", "p:1")]);
        for url in [
            "http://127.0.0.1:8200",
            "https://127.9.8.7",
            "http://[::1]:8200/v1",
            "http://localhost:8200",
            "http://LOCALHOST.:1",
            "http://vault.localhost",
            "http://[::ffff:127.0.0.1]:1",
        ] {
            assert_eq!(via(&p, url), None, "{url}");
        }
        assert_eq!(via(&p, "http://10.0.0.1"), Some("ALL_PROXY"));
        assert_eq!(via(&p, "http://notlocalhost"), Some("ALL_PROXY"));
    }

    #[test]
    fn no_proxy_forms() {
        let p = policy(&[
            ("HTTPS_PROXY", "p:1"),
            (
                "no_proxy",
                "Example.COM, .corp.test,*.wild.test 10.0.0.0/8,192.168.1.7,fd00::/8,[2001:db8::1]:8200,api.test:8443",
            ),
        ]);
        for url in [
            "https://example.com",
            "https://a.b.example.com",
            "https://corp.test",
            "https://vault.corp.test",
            "https://wild.test",
            "https://x.wild.test",
            "https://10.20.30.40:8200",
            "https://192.168.1.7",
            "https://[fd12::5]",
            "https://[2001:db8::1]:8200",
            "https://api.test:8443",
            "https://example.com.:1",
        ] {
            assert_eq!(via(&p, url), None, "{url}");
        }
        for url in [
            "https://badexample.com",
            "https://example.com.evil",
            "https://11.0.0.1",
            "https://192.168.1.8",
            "https://[2001:db8::1]:8201",
            "https://api.test",
            "https://api.test:443",
        ] {
            assert_eq!(via(&p, url), Some("HTTPS_PROXY"), "{url}");
        }
        let p = policy(&[("HTTPS_PROXY", "p:1"), ("NO_PROXY", "*")]);
        assert_eq!(via(&p, "https://anything.example"), None);
        // Upper case wins over lower case.
        let p = policy(&[
            ("HTTPS_PROXY", "p:1"),
            ("NO_PROXY", "a.test"),
            ("no_proxy", "*"),
        ]);
        assert_eq!(via(&p, "https://b.test"), Some("HTTPS_PROXY"));
    }

    #[test]
    fn malformed_no_proxy_entries_match_nothing() {
        let n = NoProxy::parse("10.0.0.0/99,*x*,::1/129,[,:,/,@,a..b:99999");
        for (h, port) in [("10.1.1.1", 1), ("x", 1), ("::1", 1), ("a..b", 99)] {
            assert!(!n.matches(h, port), "{h}");
        }
        assert!(NoProxy::parse("").entries.is_empty());
    }

    #[test]
    fn proxy_values_are_checked_and_passwords_not_echoed() {
        let get = |v: &'static str| move |k: &str| (k == "HTTPS_PROXY").then(|| v.to_string());
        for bad in [
            "socks5://p:1",
            "https://p:1",
            "http://user:hunter2@p:1/path",
            "http://:1",
            "http://p:notaport",
        ] {
            let p = ProxyPolicy::from_lookup(get(bad)).unwrap();
            let e = p.check("https://v.example").unwrap_err();
            assert_eq!(e.exit_code(), 2);
            let e = e.to_string();
            assert!(e.contains("HTTPS_PROXY"), "{e}");
            assert!(!e.contains("hunter2"), "{e}");
            assert!(!format!("{p:?}").contains("hunter2"));
            // Addresses the variable does not apply to are not stopped by it.
            p.check("https://127.0.0.1:8200").unwrap();
            p.check("http://v.example").unwrap();
            assert!(p.proxy_for_url("https://v.example").is_none());
        }
        let p = ProxyPolicy::from_lookup(get("http://user:hunter2@proxy.test:3128/")).unwrap();
        let c = p.proxy_for_url("https://v.example").unwrap();
        assert_eq!(c.address, "proxy.test:3128");
        assert!(!format!("{p:?}").contains("hunter2"));
    }
}
