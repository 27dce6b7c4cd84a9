//! Every node of a cluster at once: [`survey`] asks each configured node
//! for its state and its view of the Raft leader; [`unseal`] submits key
//! shares to sealed nodes until they report unsealed.
//!
//! Each node is asked on its own (no failover, no retries beyond the
//! node's own short wait), so one dead node cannot hide the others.
//! Neither needs a token; a key share goes only in the body of
//! `PUT sys/unseal` to a configured node and never into a log, an error or
//! a `Debug` output.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::Client;
use crate::config::VaultConfig;
use crate::error::{Error, Result};
use crate::secret_string::{zeroize_json, SecretString};

/// What one node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum NodeState {
    /// Unsealed and active: serves reads and writes.
    Active,
    /// Unsealed standby: serves reads, forwards writes.
    Standby,
    /// Sealed: serves nothing until unsealed.
    Sealed,
    /// Not initialised.
    Uninitialized,
    /// Did not answer (refused, timed out, not Vault).
    Unreachable,
}

/// One node's answer to [`survey`].
#[derive(Debug, Clone, Serialize)]
pub(crate) struct NodeReport {
    /// The configured address.
    pub addr: String,
    /// Its state.
    pub state: NodeState,
    /// The active node's address as this node sees it (`sys/leader`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leader: Option<String>,
    /// This node's Raft indexes (committed, applied), when it says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raft_committed_index: Option<u64>,
    /// See `raft_committed_index`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raft_applied_index: Option<u64>,
    /// Server version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Why it is unreachable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The node's full `sys/health`, when it answered.
    #[serde(skip)]
    pub health: Option<super::Health>,
}

/// `sys/leader`, the parts that matter here.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Leader {
    /// The active node's API address (empty when none is known).
    #[serde(default)]
    pub leader_address: String,
    /// Raft commit index.
    #[serde(default)]
    pub raft_committed_index: Option<u64>,
    /// Raft applied index.
    #[serde(default)]
    pub raft_applied_index: Option<u64>,
}

/// `sys/seal-status` (and the answer to `sys/unseal`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealStatus {
    /// Sealed.
    #[serde(default)]
    pub sealed: bool,
    /// Initialised.
    #[serde(default)]
    pub initialized: bool,
    /// Shares needed.
    #[serde(default, rename(deserialize = "t"))]
    pub threshold: u32,
    /// Shares submitted so far.
    #[serde(default)]
    pub progress: u32,
}

/// A client for exactly one node: no other address, no retries, a short
/// wait.
fn node_client(config: &VaultConfig, addr: &str) -> Result<Client> {
    let mut c = config.clone();
    c.addr = addr.to_string();
    c.other_addrs.clear();
    c.max_retries = 0;
    c.wait = c.wait.min(Duration::from_secs(5));
    c.timeout = c.timeout.min(Duration::from_secs(5));
    Client::new(&c)
}

/// Every configured address, `addr` first.
pub(crate) fn addresses(config: &VaultConfig) -> Vec<String> {
    let mut all = vec![config.addr.clone()];
    for a in &config.other_addrs {
        if !all.contains(a) {
            all.push(a.clone());
        }
    }
    all
}

impl Client {
    /// `sys/leader` of the node in use. Needs no token.
    pub(crate) fn leader(&self) -> Result<Leader> {
        let v = self.exchange_as("GET", "sys/leader", None, None)?;
        let v = v.map_err(|e| e.into_error("GET", "sys/leader"))?;
        serde_json::from_value(v.unwrap_or_default()).map_err(|e| Error::Protocol {
            service: crate::error::Service::Vault,
            detail: format!("GET sys/leader: {e}"),
        })
    }

    /// `sys/seal-status` of the node in use. Needs no token.
    pub(crate) fn seal_status(&self) -> Result<SealStatus> {
        let v = self.exchange_as("GET", "sys/seal-status", None, None)?;
        let v = v.map_err(|e| e.into_error("GET", "sys/seal-status"))?;
        parse_seal_status(v)
    }

    /// Submit one key share to the node in use (`PUT sys/unseal`). The
    /// share is in the body only, overwritten once sent.
    pub(crate) fn submit_unseal_share(&self, share: &SecretString) -> Result<SealStatus> {
        let mut body = json!({ "key": share.expose() });
        let r = self.exchange_as("PUT", "sys/unseal", Some(&body), None);
        zeroize_json(&mut body);
        let v = r?.map_err(|e| e.into_error("PUT", "sys/unseal"))?;
        parse_seal_status(v)
    }
}

fn parse_seal_status(v: Option<serde_json::Value>) -> Result<SealStatus> {
    serde_json::from_value(v.unwrap_or_default()).map_err(|e| Error::Protocol {
        service: crate::error::Service::Vault,
        detail: format!("seal status: {e}"),
    })
}

/// Ask every configured node for its state and its view of the leader.
pub(crate) fn survey(config: &VaultConfig) -> Vec<NodeReport> {
    let addrs = addresses(config);
    let handles: Vec<_> = addrs
        .into_iter()
        .map(|addr| {
            let config = config.clone();
            std::thread::spawn(move || survey_one(&config, &addr))
        })
        .collect();
    handles.into_iter().filter_map(|h| h.join().ok()).collect()
}

fn survey_one(config: &VaultConfig, addr: &str) -> NodeReport {
    let mut report = NodeReport {
        addr: addr.to_string(),
        state: NodeState::Unreachable,
        leader: None,
        raft_committed_index: None,
        raft_applied_index: None,
        version: None,
        error: None,
        health: None,
    };
    let client = match node_client(config, addr) {
        Ok(c) => c,
        Err(e) => {
            report.error = Some(e.to_string());
            return report;
        }
    };
    let h = match client.health() {
        Ok(h) => h,
        Err(e) => {
            report.error = Some(e.to_string());
            return report;
        }
    };
    report.state = if !h.initialized {
        NodeState::Uninitialized
    } else if h.sealed {
        NodeState::Sealed
    } else if h.standby {
        NodeState::Standby
    } else {
        NodeState::Active
    };
    report.version = Some(h.version.clone()).filter(|v| !v.is_empty());
    report.health = Some(h);
    if matches!(report.state, NodeState::Active | NodeState::Standby) {
        if let Ok(l) = client.leader() {
            report.leader = Some(l.leader_address).filter(|a| !a.is_empty());
            report.raft_committed_index = l.raft_committed_index;
            report.raft_applied_index = l.raft_applied_index;
        }
    }
    report
}

/// One node's answer to [`unseal`].
#[derive(Debug, Clone, Serialize)]
pub(crate) struct UnsealReport {
    /// The configured address.
    pub addr: String,
    /// Sealed after the shares were submitted (`None`: unknown).
    pub sealed: Option<bool>,
    /// Shares the node holds towards the threshold.
    pub progress: u32,
    /// Shares needed.
    pub threshold: u32,
    /// Shares this run submitted to the node.
    pub submitted: u32,
    /// What went wrong, if anything.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Submit `shares` to each of `addrs` that is sealed, in order, until it
/// reports unsealed; then wait (within `config.wait`) for nodes that
/// unseal themselves a moment later (a Raft node joining its cluster).
/// A node that is not initialised yet (still joining) is asked again
/// until the wait ends.
pub(crate) fn unseal(
    config: &VaultConfig,
    addrs: &[String],
    shares: &[SecretString],
) -> Vec<UnsealReport> {
    addrs
        .iter()
        .map(|addr| unseal_one(config, addr, shares))
        .collect()
}

fn unseal_one(config: &VaultConfig, addr: &str, shares: &[SecretString]) -> UnsealReport {
    let mut report = UnsealReport {
        addr: addr.to_string(),
        sealed: None,
        progress: 0,
        threshold: 0,
        submitted: 0,
        error: None,
    };
    let client = match node_client(config, addr) {
        Ok(c) => c,
        Err(e) => {
            report.error = Some(e.to_string());
            return report;
        }
    };
    let end = Instant::now() + config.wait;
    let mut next = 0usize;
    loop {
        let status = match client.seal_status() {
            Ok(s) => s,
            Err(e) => {
                report.error = Some(e.to_string());
                if Instant::now() + Duration::from_millis(250) >= end {
                    return report;
                }
                std::thread::sleep(Duration::from_millis(250));
                continue;
            }
        };
        report.error = None;
        report.sealed = Some(status.sealed);
        report.progress = status.progress;
        report.threshold = status.threshold;
        if !status.sealed {
            return report;
        }
        let submit = status.initialized && next < shares.len();
        if submit {
            match client.submit_unseal_share(&shares[next]) {
                Ok(s) => {
                    next += 1;
                    report.submitted += 1;
                    report.sealed = Some(s.sealed);
                    report.progress = s.progress;
                    if !s.sealed {
                        return report;
                    }
                    // A full set of shares: the node unseals itself soon.
                    continue;
                }
                Err(e) => report.error = Some(e.to_string()),
            }
        }
        if Instant::now() + Duration::from_millis(200) >= end {
            if report.error.is_none() {
                report.error = Some(if next >= shares.len() {
                    format!(
                        "still sealed after {} share(s) (progress {}/{})",
                        report.submitted, report.progress, report.threshold
                    )
                } else {
                    "not initialised (is it joined to its cluster?)".to_string()
                });
            }
            return report;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_status_parses() {
        let s = parse_seal_status(Some(
            json!({"sealed": true, "initialized": true, "t": 3, "n": 5, "progress": 1}),
        ))
        .unwrap();
        assert_eq!(
            s,
            SealStatus {
                sealed: true,
                initialized: true,
                threshold: 3,
                progress: 1
            }
        );
        assert!(parse_seal_status(Some(json!({"sealed": "no"}))).is_err());
        assert!(parse_seal_status(None).is_err());
    }

    #[test]
    fn addresses_are_the_configured_set() {
        let mut c = VaultConfig::new("http://a:1", None);
        c.other_addrs = vec!["http://b:1".into(), "http://a:1".into()];
        assert_eq!(addresses(&c), ["http://a:1", "http://b:1"]);
    }
}
