//! The `listener` object of the agent's configuration file, and the
//! settings it resolves to.
//!
//! ```json
//! "listener": {
//!   "socket": "/run/vaultid/gateway.sock", "mode": "0660",
//!   "max_connections": 256,
//!   "vault": {"token": "replace", "allow": ["secret/data/app/", "sys/health"]},
//!   "peers": {"billing": {"url": "https://billing.example.com"}}
//! }
//! ```
//!
//! Exactly one of `socket` (a Unix socket, the default: `gateway.sock` in
//! the key directory) and `tcp` (a loopback address such as
//! `127.0.0.1:8100`; any other address is refused) says where it listens.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::request::Limits;
use crate::config::parse_duration;
use crate::error::{Error, Result};

/// The agent's local gateway (`listener` in the configuration file).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ListenerConfig {
    /// A Unix socket to listen on (the default, `gateway.sock` in the key
    /// directory, when `tcp` is not set).
    #[serde(default)]
    pub socket: Option<PathBuf>,
    /// The socket's mode (default `"0600"`: only the agent's user;
    /// `"0660"` lets its group in).
    #[serde(default)]
    pub mode: Option<String>,
    /// A loopback address and port to listen on instead (`127.0.0.1:8100`,
    /// `[::1]:8100`, `localhost:8100`).
    #[serde(default)]
    pub tcp: Option<String>,
    /// Connections served at once (default 256); more are answered `503`.
    #[serde(default)]
    pub max_connections: Option<usize>,
    /// Time for a client to send a whole request head (default `"10s"`).
    #[serde(default)]
    pub header_timeout: Option<String>,
    /// Time for a client to send a whole body (default `"30s"`).
    #[serde(default)]
    pub body_timeout: Option<String>,
    /// How long a kept-alive connection may sit idle (default `"60s"`).
    #[serde(default)]
    pub idle_timeout: Option<String>,
    /// Largest request body, in bytes (default 2 MiB); larger ones get `413`.
    #[serde(default)]
    pub max_body: Option<u64>,
    /// `/v1/...`: the Vault API with the agent's token.
    #[serde(default)]
    pub vault: VaultRouteConfig,
    /// `/peers/NAME/...`: other agents, called with the agent's Hydra token
    /// and DID signature.
    #[serde(default)]
    pub peers: BTreeMap<String, PeerConfig>,
}

/// How `/v1/...` is forwarded to Vault.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct VaultRouteConfig {
    /// Serve `/v1/...` at all (default true).
    #[serde(default)]
    pub enabled: Option<bool>,
    /// `"replace"` (default): the agent's token replaces whatever token the
    /// application sent; `"pass"`: the application's own token (or none)
    /// is forwarded, and the agent adds none.
    #[serde(default)]
    pub token: Option<String>,
    /// Path prefixes under `/v1/` that may be requested (default: all).
    #[serde(default)]
    pub allow: Option<Vec<String>>,
}

/// One peer agent.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PeerConfig {
    /// The peer's base URL (`https://billing.example.com/agent`).
    pub url: String,
}

/// Where the gateway listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Listen {
    /// A Unix socket at this path, with this mode.
    Socket(PathBuf, u32),
    /// A loopback TCP address.
    Tcp(SocketAddr),
}

/// Whose token goes to Vault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenMode {
    /// The agent's, always.
    Replace,
    /// The application's own.
    Pass,
}

/// The listener's settings, checked.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) listen: Listen,
    pub(crate) max_connections: usize,
    pub(crate) header_timeout: Duration,
    pub(crate) body_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) limits: Limits,
    pub(crate) vault_enabled: bool,
    pub(crate) token_mode: TokenMode,
    pub(crate) allow: Option<Vec<String>>,
    /// Peer name -> base URL (no trailing slash).
    pub(crate) peers: BTreeMap<String, String>,
}

fn duration(v: Option<&str>, what: &str, default: Duration) -> Result<Duration> {
    match v {
        None => Ok(default),
        Some(s) => parse_duration(s)
            .filter(|d| !d.is_zero())
            .ok_or_else(|| Error::Config(format!("listener.{what}: {s:?} is not a duration"))),
    }
}

impl ListenerConfig {
    /// Check the settings; `key_dir` places the default socket.
    pub(crate) fn resolve(&self, key_dir: &Path) -> Result<Settings> {
        let bad = |what: String| Error::Config(format!("listener: {what}"));
        let listen = match (&self.socket, &self.tcp) {
            (Some(_), Some(_)) => return Err(bad("set `socket` or `tcp`, not both".into())),
            (socket, None) => {
                let mode = match &self.mode {
                    None => 0o600,
                    Some(m) => crate::util::parse_mode(m).ok_or_else(|| {
                        bad(format!("mode: {m:?} is not an octal mode (e.g. \"0600\")"))
                    })?,
                };
                let path = socket
                    .clone()
                    .unwrap_or_else(|| key_dir.join("gateway.sock"));
                Listen::Socket(path, mode)
            }
            (None, Some(addr)) => {
                if self.mode.is_some() {
                    return Err(bad("`mode` is for `socket`".into()));
                }
                Listen::Tcp(loopback(addr)?)
            }
        };
        let max_connections = self.max_connections.unwrap_or(256);
        if max_connections == 0 || max_connections > 4096 {
            return Err(bad("max_connections must be between 1 and 4096".into()));
        }
        let max_body = self.max_body.unwrap_or(Limits::default().max_body);
        if max_body > 64 * 1024 * 1024 {
            return Err(bad("max_body is at most 64 MiB".into()));
        }
        let token_mode = match self.vault.token.as_deref() {
            None | Some("replace") => TokenMode::Replace,
            Some("pass") => TokenMode::Pass,
            Some(other) => {
                return Err(bad(format!(
                    "vault.token: {other:?} is neither \"replace\" nor \"pass\""
                )))
            }
        };
        let allow = match &self.vault.allow {
            None => None,
            Some(list) => {
                let mut out = Vec::new();
                for p in list {
                    let p = p.trim_start_matches('/');
                    if p.is_empty() {
                        return Err(bad("vault.allow: an empty prefix would allow everything; leave `allow` out instead".into()));
                    }
                    out.push(p.to_string());
                }
                Some(out)
            }
        };
        let mut peers = BTreeMap::new();
        for (name, peer) in &self.peers {
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            {
                return Err(bad(format!(
                    "peers: {name:?} is not a peer name (letters, digits, - _ .)"
                )));
            }
            let url = peer.url.trim_end_matches('/');
            let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
            if !scheme_ok || url.contains(['?', '#']) || url.chars().any(char::is_whitespace) {
                return Err(bad(format!(
                    "peers.{name}.url: {:?} is not an http(s) base URL",
                    peer.url
                )));
            }
            peers.insert(name.clone(), url.to_string());
        }
        Ok(Settings {
            listen,
            max_connections,
            header_timeout: duration(
                self.header_timeout.as_deref(),
                "header_timeout",
                Duration::from_secs(10),
            )?,
            body_timeout: duration(
                self.body_timeout.as_deref(),
                "body_timeout",
                Duration::from_secs(30),
            )?,
            idle_timeout: duration(
                self.idle_timeout.as_deref(),
                "idle_timeout",
                Duration::from_secs(60),
            )?,
            limits: Limits {
                max_body,
                ..Limits::default()
            },
            vault_enabled: self.vault.enabled.unwrap_or(true),
            token_mode,
            allow,
            peers,
        })
    }
}

/// A loopback address: an IP literal on 127.0.0.0/8 or ::1, or
/// `localhost` (taken as 127.0.0.1, not resolved).
fn loopback(addr: &str) -> Result<SocketAddr> {
    let refused = || {
        Error::Config(format!(
            "listener.tcp: {addr:?} is not a loopback address and port (127.0.0.1:PORT or [::1]:PORT); the gateway never listens on another address"
        ))
    };
    let parsed = match addr.strip_prefix("localhost:") {
        Some(port) => {
            let port: u16 = port.parse().map_err(|_| refused())?;
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)
        }
        None => addr.parse::<SocketAddr>().map_err(|_| refused())?,
    };
    if !parsed.ip().is_loopback() {
        return Err(refused());
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Settings> {
        let c: ListenerConfig =
            serde_json::from_str(json).map_err(|e| Error::Config(e.to_string()))?;
        c.resolve(Path::new("/keys"))
    }

    #[test]
    fn defaults() {
        let s = parse("{}").unwrap();
        assert_eq!(
            s.listen,
            Listen::Socket(PathBuf::from("/keys/gateway.sock"), 0o600)
        );
        assert_eq!(s.max_connections, 256);
        assert_eq!(s.limits.max_body, 2 * 1024 * 1024);
        assert_eq!(s.token_mode, TokenMode::Replace);
        assert!(s.vault_enabled);
        assert_eq!(s.header_timeout, Duration::from_secs(10));
    }

    #[test]
    fn only_loopback_tcp() {
        for ok in [
            "127.0.0.1:8100",
            "127.9.9.9:1",
            "[::1]:8100",
            "localhost:8100",
        ] {
            let s = parse(&format!(r#"{{"tcp": "{ok}"}}"#)).unwrap();
            assert!(
                matches!(s.listen, Listen::Tcp(a) if a.ip().is_loopback()),
                "{ok}"
            );
        }
        for bad in [
            "0.0.0.0:8100",
            "[::]:8100",
            "10.0.0.1:80",
            "example.com:80",
            "8100",
            "localhost",
        ] {
            let e = parse(&format!(r#"{{"tcp": "{bad}"}}"#))
                .unwrap_err()
                .to_string();
            assert!(e.contains("not a loopback address"), "{bad}: {e}");
        }
        assert!(parse(r#"{"tcp": "127.0.0.1:1", "socket": "/s"}"#).is_err());
        assert!(parse(r#"{"tcp": "127.0.0.1:1", "mode": "0600"}"#).is_err());
    }

    #[test]
    fn bad_values_are_named() {
        for (json, word) in [
            (r#"{"mode": "rw"}"#, "mode"),
            (r#"{"max_connections": 0}"#, "max_connections"),
            (r#"{"header_timeout": "soon"}"#, "header_timeout"),
            (r#"{"vault": {"token": "mine"}}"#, "vault.token"),
            (r#"{"vault": {"allow": ["/"]}}"#, "vault.allow"),
            (r#"{"peers": {"a/b": {"url": "https://x"}}}"#, "peers"),
            (r#"{"peers": {"a": {"url": "ftp://x"}}}"#, "peers.a.url"),
            (
                r#"{"peers": {"a": {"url": "https://x/?q"}}}"#,
                "peers.a.url",
            ),
            (r#"{"max_body": 999999999999}"#, "max_body"),
        ] {
            let e = parse(json).unwrap_err().to_string();
            assert!(e.contains(word), "{json}: {e}");
        }
        assert!(
            parse(r#"{"sockett": "/x"}"#).is_err(),
            "unknown keys are errors"
        );
    }

    #[test]
    fn allow_prefixes_lose_their_slash() {
        let s = parse(r#"{"vault": {"allow": ["/secret/data/app/", "sys/health"]}}"#).unwrap();
        assert_eq!(s.allow.unwrap(), ["secret/data/app/", "sys/health"]);
    }
}
