//! `sys/health`: is the server initialised, sealed, a standby?

use serde::{Deserialize, Serialize};

use super::Client;
use crate::error::{Error, Result, Service};

/// The request path: every state answers 200, so the body tells.
pub(crate) const HEALTH_PATH: &str =
    "sys/health?standbyok=true&perfstandbyok=true&sealedcode=200&uninitcode=200";

/// What `sys/health` says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Health {
    /// The server has been initialised.
    #[serde(default)]
    pub initialized: bool,
    /// The server is sealed: it can answer nothing else until unsealed.
    #[serde(default)]
    pub sealed: bool,
    /// The node is a standby (it forwards or redirects to the active node).
    #[serde(default)]
    pub standby: bool,
    /// The node is a performance standby.
    #[serde(default)]
    pub performance_standby: bool,
    /// Server version, e.g. `1.15.2` or `2.0.0`.
    #[serde(default)]
    pub version: String,
    /// Server clock, seconds since the Unix epoch.
    #[serde(default)]
    pub server_time_utc: u64,
    /// Cluster name, once unsealed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_name: Option<String>,
    /// Cluster id, once unsealed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    /// Performance replication mode (`disabled`, `primary`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication_performance_mode: Option<String>,
    /// Disaster-recovery replication mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication_dr_mode: Option<String>,
}

/// Read a `sys/health` answer. Besides 200, Vault's own status codes for
/// the default query are understood: 429 (standby), 472 (DR secondary),
/// 473 (performance standby), 501 (not initialised), 503 (sealed); the
/// body is the same JSON in every case. Pure, and never panics.
pub fn parse_health(status: u16, body: &[u8]) -> Result<Health> {
    if !matches!(status, 200 | 429 | 472 | 473 | 501 | 503) {
        return Err(Error::Http {
            service: Service::Vault,
            method: "GET",
            path: "sys/health".into(),
            status,
            errors: Vec::new(),
        });
    }
    let mut h: Health = serde_json::from_slice(body).map_err(|e| Error::Protocol {
        service: Service::Vault,
        detail: format!("GET sys/health (HTTP {status}): {e}"),
    })?;
    match status {
        429 | 473 => h.standby = true,
        501 => h.initialized = false,
        503 => h.sealed = true,
        _ => {}
    }
    if status == 473 {
        h.performance_standby = true;
    }
    Ok(h)
}

impl Client {
    /// The server's health. Needs no token. A sealed or standby server is
    /// `Ok` with the matching flags set.
    pub fn health(&self) -> Result<Health> {
        let req = crate::http::Request::get(&super::api_path(HEALTH_PATH));
        let resp = self.http().request(req)?;
        parse_health(resp.status, &resp.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_states() {
        let body = br#"{"initialized":true,"sealed":true,"standby":true,"version":"2.7.2","server_time_utc":1}"#;
        let h = parse_health(200, body).unwrap();
        assert!(h.sealed && h.initialized && h.standby);
        assert_eq!(h.version, "2.7.2");
        let h = parse_health(503, br#"{"initialized":true}"#).unwrap();
        assert!(h.sealed);
        let h = parse_health(429, b"{}").unwrap();
        assert!(h.standby && !h.sealed);
        assert!(matches!(
            parse_health(200, b"nope"),
            Err(Error::Protocol { .. })
        ));
        assert!(matches!(
            parse_health(500, b"{}"),
            Err(Error::Http { status: 500, .. })
        ));
        assert!(parse_health(200, br#"{"sealed":"yes"}"#).is_err());
    }
}
