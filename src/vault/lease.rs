//! Leases of dynamic secrets: renew and revoke (`sys/leases/*`).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::Client;
use crate::error::{Error, Result, Service};

/// A lease as Vault reports it after a renewal.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LeaseInfo {
    /// The lease id.
    #[serde(default)]
    pub lease_id: String,
    /// Seconds the lease now lasts.
    #[serde(default)]
    pub lease_duration: u64,
    /// Whether it can be renewed again.
    #[serde(default)]
    pub renewable: bool,
}

impl LeaseInfo {
    /// The lease duration as a [`Duration`].
    pub fn ttl(&self) -> Duration {
        Duration::from_secs(self.lease_duration)
    }
}

impl Client {
    /// Renew a lease, asking for `increment` more time (Vault may grant
    /// less, up to the lease's maximum TTL).
    pub fn renew_lease(&self, lease_id: &str, increment: Option<Duration>) -> Result<LeaseInfo> {
        let mut body = json!({ "lease_id": lease_id });
        if let Some(i) = increment {
            body["increment"] = Value::from(i.as_secs());
        }
        let answer = self.request("PUT", "sys/leases/renew", Some(&body))?;
        let answer = answer.ok_or_else(|| Error::Protocol {
            service: Service::Vault,
            detail: "PUT sys/leases/renew: empty answer".into(),
        })?;
        serde_json::from_value(answer).map_err(|e| Error::Protocol {
            service: Service::Vault,
            detail: format!("PUT sys/leases/renew: {e}"),
        })
    }

    /// Revoke a lease now: the secret it covers stops working.
    pub fn revoke_lease(&self, lease_id: &str) -> Result<()> {
        self.request(
            "PUT",
            "sys/leases/revoke",
            Some(&json!({ "lease_id": lease_id })),
        )
        .map(drop)
    }
}
