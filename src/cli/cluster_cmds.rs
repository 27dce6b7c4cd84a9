//! `health` and `unseal`: every configured Vault node at once.

use std::io::Read;

use crate::vault::cluster::{self, NodeState};
use crate::{Error, SecretString};
use serde_json::{json, Value};

use super::connect::vault_config;
use super::{emit, opt, parse_or_help, switch, Flag, VAULT_FLAGS};

/// Exit code of `health` when the cluster serves but not every node is
/// well (a node sealed, unreachable or uninitialised, or no active node).
pub(crate) const EXIT_DEGRADED: u8 = 6;

/// Largest key-share input read (file or stdin).
const MAX_SHARES_INPUT: u64 = 64 * 1024;

const HEALTH_SPEC: &[Flag] = &[
    opt("format", "json (default) or table (same as --human)"),
    switch("human", "print a readable form instead of JSON"),
    switch("help", "show this help"),
];

/// Run `vaultid health`: every configured node's state and its view of the
/// leader. Exit 0 healthy, 6 degraded, 3 no node can serve.
pub(crate) fn health(rest: &[String]) -> Result<u8, Error> {
    let usage = "vaultid health [-format json|table] [--human]";
    let Some(a) = parse_or_help(
        rest,
        &[HEALTH_SPEC, VAULT_FLAGS].concat(),
        usage,
        "The health of every configured Vault node (VAULT_ADDR, VAULTID_VAULT_ADDRS): active, \
         standby, sealed, uninitialized or unreachable, and the leader as each node sees it. \
         Needs no token. Exit 0: every node unsealed and one active; 6: the cluster serves but \
         a node is sealed, unreachable or uninitialised, or none is active; 3: no node can serve.",
    )?
    else {
        return Ok(0);
    };
    a.exactly(0, usage)?;
    let human = a.human()?;
    let config = vault_config(&a)?;
    let nodes = cluster::survey(&config);
    if nodes.iter().all(|n| n.state == NodeState::Unreachable) {
        let why: Vec<String> = nodes
            .iter()
            .map(|n| format!("{}: {}", n.addr, n.error.as_deref().unwrap_or("no answer")))
            .collect();
        return Err(Error::Unavailable(format!(
            "no Vault node answered ({})",
            why.join("; ")
        )));
    }
    let serving = |s: NodeState| matches!(s, NodeState::Active | NodeState::Standby);
    let active = nodes.iter().find(|n| n.state == NodeState::Active);
    let main = active
        .or_else(|| nodes.iter().find(|n| n.health.is_some()))
        .and_then(|n| n.health.clone())
        .unwrap_or_default();
    let any_serving = nodes.iter().any(|n| serving(n.state));
    let all_serving = nodes.iter().all(|n| serving(n.state));
    // One address may be a load balancer: a standby answering is healthy.
    let healthy = all_serving && (nodes.len() == 1 || active.is_some());
    let (status, code) = if healthy {
        ("healthy", 0)
    } else if any_serving {
        ("degraded", EXIT_DEGRADED)
    } else {
        ("down", 3)
    };
    let mut out = serde_json::to_value(&main).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut out {
        m.insert("status".into(), json!(status));
        m.insert("active".into(), json!(active.map(|n| n.addr.clone())));
        m.insert(
            "nodes".into(),
            serde_json::to_value(&nodes).unwrap_or(Value::Null),
        );
    }
    emit(&out, human);
    Ok(code)
}

const UNSEAL_SPEC: &[Flag] = &[
    opt("format", "json (default) or table (same as --human)"),
    opt(
        "key-file",
        "file with the key shares, one per line (mode 0600 or stricter); `-` or none: stdin",
    ),
    opt(
        "node",
        "unseal only this configured node (default: every configured node)",
    ),
    switch("human", "print a readable form instead of JSON"),
    switch("help", "show this help"),
];

/// Run `vaultid unseal`: submit key shares to sealed nodes until each
/// reports unsealed. Exit 0 when every target is unsealed, else 3.
pub(crate) fn unseal(rest: &[String]) -> Result<u8, Error> {
    let usage = "vaultid unseal [--key-file PATH] [--node URL] [-format json|table] [--human]";
    let Some(a) = parse_or_help(
        rest,
        &[UNSEAL_SPEC, VAULT_FLAGS].concat(),
        usage,
        "Submit unseal key shares (one per line, from a 0600 file or stdin) to every configured \
         Vault node that is sealed, or to --node, until each reports unsealed; prints each \
         node's seal state, never a share. Needs no token. Exit 0 when every node is unsealed, \
         3 otherwise.",
    )?
    else {
        return Ok(0);
    };
    a.exactly(0, usage)?;
    let human = a.human()?;
    let config = vault_config(&a)?;
    let all = cluster::addresses(&config);
    let targets = match a.value("node") {
        Some(n) => {
            let n = n.trim_end_matches('/');
            if !all.iter().any(|x| x == n) {
                return Err(Error::Config(format!(
                    "--node {n:?} is not a configured Vault address (VAULT_ADDR, VAULTID_VAULT_ADDRS): {}",
                    all.join(", ")
                )));
            }
            vec![n.to_string()]
        }
        None => all,
    };
    let shares = read_shares(a.value("key-file"))?;
    let reports = cluster::unseal(&config, &targets, &shares);
    let ok = reports.iter().all(|r| r.sealed == Some(false));
    emit(
        &json!({ "nodes": serde_json::to_value(&reports).unwrap_or(Value::Null) }),
        human,
    );
    Ok(if ok { 0 } else { 3 })
}

/// The key shares, one per non-empty line, from `path` (or stdin for
/// `None` and `-`). A file must be readable by its owner only.
fn read_shares(path: Option<&str>) -> Result<Vec<SecretString>, Error> {
    let mut raw = Vec::new();
    match path.filter(|p| *p != "-") {
        Some(p) => {
            let path = std::path::Path::new(p);
            let meta = std::fs::symlink_metadata(path)
                .map_err(|e| Error::io(format!("reading key shares from {p}"), e))?;
            if !meta.is_file() {
                return Err(Error::Config(format!(
                    "key-share file {p} is not a regular file"
                )));
            }
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(Error::Config(format!(
                    "key-share file {p} has mode {mode:o}: others can read it; chmod 600 it first"
                )));
            }
            std::fs::File::open(path)
                .and_then(|f| f.take(MAX_SHARES_INPUT + 1).read_to_end(&mut raw))
                .map_err(|e| Error::io(format!("reading key shares from {p}"), e))?;
        }
        None => {
            std::io::stdin()
                .lock()
                .take(MAX_SHARES_INPUT + 1)
                .read_to_end(&mut raw)
                .map_err(|e| Error::io("reading key shares from stdin", e))?;
        }
    }
    let too_big = raw.len() as u64 > MAX_SHARES_INPUT;
    let shares: Option<Vec<SecretString>> = SecretString::from_utf8(raw).map(|text| {
        text.expose()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(SecretString::new)
            .collect()
    });
    let Some(shares) = shares else {
        return Err(Error::Config("key-share input is not UTF-8 text".into()));
    };
    if too_big {
        return Err(Error::Config(format!(
            "key-share input is larger than {MAX_SHARES_INPUT} bytes"
        )));
    }
    if shares.is_empty() {
        return Err(Error::Config(
            "no key share given: one share per line in --key-file or on stdin".into(),
        ));
    }
    Ok(shares)
}
