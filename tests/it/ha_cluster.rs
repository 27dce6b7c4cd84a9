//! Vault HA against a real 3-node OpenBao Raft cluster: racing first
//! starts, elections, sealed and restarted nodes, several addresses.

use crate::common;

use std::path::Path;
use std::process::{Command, Output};
#[allow(unused_imports)]
use std::time::{Duration, Instant};

use common::cluster::{call, Cluster};
#[allow(unused_imports)]
use serde_json::{json, Value};

const AUTHOR: &str = "ha@example.com";

/// `vaultid` with the cluster's root token and the given addresses.
fn vaultid(c: &Cluster, addrs: &[String], key_dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vaultid"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", key_dir)
        .env("VAULTID_AUTHOR", AUTHOR)
        .env("VAULTID_KEY_DIR", key_dir)
        .env("VAULT_TOKEN", &c.token)
        .env("VAULTID_VAULT_ADDRS", addrs.join(","));
    cmd
}

fn up(c: &Cluster, addrs: &[String], name: &str, key_dir: &Path) -> Command {
    let mut cmd = vaultid(c, addrs, key_dir);
    cmd.env("VAULTID_AGENT_NAME", name).arg("up");
    cmd
}

fn json(o: &Output) -> Value {
    common::json_ok(o)
}

fn metadata(c: &Cluster, agent_id: &str) -> Value {
    let a = c.active().expect("an active node");
    let (s, v) = call(
        &c.nodes[a].addr,
        "GET",
        &format!("secret/metadata/bindu/agents/{agent_id}/did-keys"),
        Some(&c.token),
        None,
    )
    .unwrap();
    assert_eq!(s, 200, "{v}");
    v
}

/// The addresses rotated so that node `first` comes first.
#[allow(dead_code)]
fn from(c: &Cluster, first: usize) -> Vec<String> {
    let mut a = c.addrs();
    a.rotate_left(first);
    a
}

#[test]
fn cluster_forms_with_one_active_node() {
    let Some(c) = Cluster::shared() else { return };
    let _g = Cluster::lock();
    let active: Vec<usize> = (0..3).filter(|&i| c.health(i) == Some(200)).collect();
    assert_eq!(active.len(), 1, "{active:?}");
    let standbys = (0..3).filter(|&i| c.health(i) == Some(429)).count();
    assert_eq!(standbys, 2);
    let (s, v) = call(&c.nodes[0].addr, "GET", "sys/leader", None, None).unwrap();
    assert_eq!(s, 200);
    assert_eq!(v["ha_enabled"], true, "{v}");
}

/// 8 key dirs x 4 processes of one agent, spread over the three nodes of an
/// empty cluster: one key pair, KV version 1, every process exits 0.
#[test]
fn racing_first_starts_over_three_nodes_make_one_identity() {
    let Some(c) = Cluster::shared() else { return };
    let _g = Cluster::lock();
    let name = format!("racer-{}", uuid::Uuid::new_v4());
    let root = common::tmpdir("ha-race");
    let mut children = Vec::new();
    for host in 0..8 {
        let dir = root.join(format!("host{host}"));
        std::fs::create_dir_all(&dir).unwrap();
        for p in 0..4 {
            // Each process talks to one node first (VAULT_ADDR-like).
            let addrs = vec![c.nodes[(host + p) % 3].addr.clone()];
            let child = up(c, &addrs, &name, &dir)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            children.push(child);
        }
    }
    let mut keys = std::collections::BTreeSet::new();
    let mut agent_id = String::new();
    for child in children {
        let o = child.wait_with_output().unwrap();
        let v = json(&o);
        keys.insert(v["public_key_base58"].as_str().unwrap().to_string());
        agent_id = v["agent_id"].as_str().unwrap().to_string();
    }
    assert_eq!(keys.len(), 1, "forked identities: {keys:?}");
    for host in 0..8 {
        let pem = std::fs::read_to_string(root.join(format!("host{host}/public.pem"))).unwrap();
        assert!(pem.contains("PUBLIC KEY"));
    }
    let m = metadata(c, &agent_id);
    assert_eq!(m["data"]["current_version"], 1, "{m}");
}

/// A `Retry-After` longer than the deadline is never slept: with local
/// keys and a 500 ms start-up deadline, a `503 Retry-After: 30` ends the
/// wait at once and the agent starts from its local keys.
#[test]
fn retry_after_never_outlasts_the_startup_deadline() {
    let server = common::TestServer::start(|_, _| {
        common::answer(503, &[("Retry-After", "30")], r#"{"errors":["busy"]}"#)
    });
    let dir = common::tmpdir("ha-retry-after");
    let local = Command::new(env!("CARGO_BIN_EXE_vaultid"))
        .env_clear()
        .env("HOME", &dir)
        .env("VAULTID_AUTHOR", AUTHOR)
        .env("VAULTID_AGENT_NAME", "patient")
        .env("VAULTID_KEY_DIR", &dir)
        .env("VAULT__ENABLED", "false")
        .arg("up")
        .output()
        .unwrap();
    json(&local);
    let t = Instant::now();
    let o = Command::new(env!("CARGO_BIN_EXE_vaultid"))
        .env_clear()
        .env("HOME", &dir)
        .env("VAULTID_AUTHOR", AUTHOR)
        .env("VAULTID_AGENT_NAME", "patient")
        .env("VAULTID_KEY_DIR", &dir)
        .env("VAULT_ADDR", server.addr())
        .env("VAULT_TOKEN", "t")
        .env("VAULTID_STARTUP_TIMEOUT", "500ms")
        .arg("up")
        .output()
        .unwrap();
    let took = t.elapsed();
    let v = json(&o);
    assert_eq!(v["vault"], "unavailable", "{v}");
    assert_eq!(v["keys_source"], "local", "{v}");
    assert!(took < Duration::from_millis(1500), "took {took:?}");

    // Without local keys: the wait for the cluster (VAULTID_VAULT_WAIT)
    // decides, then exit 3 naming what was waited for.
    let empty = common::tmpdir("ha-retry-after-empty");
    let t = Instant::now();
    let o = Command::new(env!("CARGO_BIN_EXE_vaultid"))
        .env_clear()
        .env("HOME", &empty)
        .env("VAULTID_AUTHOR", AUTHOR)
        .env("VAULTID_AGENT_NAME", "patient")
        .env("VAULTID_KEY_DIR", &empty)
        .env("VAULT_ADDR", server.addr())
        .env("VAULT_TOKEN", "t")
        .env("VAULTID_VAULT_WAIT", "2s")
        .arg("up")
        .output()
        .unwrap();
    let took = t.elapsed();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(took < Duration::from_millis(2500), "took {took:?}");
    assert!(err.contains("deadline") && err.contains("503"), "{err}");

    // A plain 503 is waited out with backoff until that deadline, and the
    // log says what was waited for.
    let busy = common::TestServer::start(|_, _| common::answer(503, &[], ""));
    let t = Instant::now();
    let o = Command::new(env!("CARGO_BIN_EXE_vaultid"))
        .env_clear()
        .env("HOME", &empty)
        .env("VAULTID_AUTHOR", AUTHOR)
        .env("VAULTID_AGENT_NAME", "patient")
        .env("VAULTID_KEY_DIR", &empty)
        .env("VAULT_ADDR", busy.addr())
        .env("VAULT_TOKEN", "t")
        .env("VAULTID_VAULT_WAIT", "2s")
        .arg("up")
        .output()
        .unwrap();
    let took = t.elapsed();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(took > Duration::from_millis(1000), "took {took:?}");
    assert!(took < Duration::from_millis(2500), "took {took:?}");
    assert!(err.contains("waited") && err.contains("HTTP 503"), "{err}");
    assert!(busy.seen().len() >= 3, "{}", busy.seen().len());
}

/// An address list whose first node is dead: the next node answers, and
/// the token never reaches anything but the configured nodes.
#[test]
fn an_address_list_whose_first_node_is_dead() {
    let Some(c) = Cluster::shared() else { return };
    let _g = Cluster::lock();
    let dead = format!("http://127.0.0.1:{}", common::bao::free_port());
    let mut addrs = vec![dead];
    addrs.extend(c.addrs());
    let dir = common::tmpdir("ha-dead-first");
    let t = Instant::now();
    let v = json(&up(c, &addrs, "dead-first", &dir).output().unwrap());
    assert_eq!(v["vault"], "ok", "{v}");
    assert_eq!(v["keys_source"], "generated", "{v}");
    assert!(t.elapsed() < Duration::from_secs(5));
    // A warm restart through the same list.
    let v2 = json(&up(c, &addrs, "dead-first", &dir).output().unwrap());
    assert_eq!(v2["keys_source"], "vault");
    assert_eq!(v2["public_key_base58"], v["public_key_base58"]);
}
