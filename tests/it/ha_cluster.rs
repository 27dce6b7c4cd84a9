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
    // `up` with no local keys and a 2 s wait for the cluster at `addr`.
    let patient_up = |addr: &str| {
        let t = Instant::now();
        let o = Command::new(env!("CARGO_BIN_EXE_vaultid"))
            .env_clear()
            .env("HOME", &empty)
            .env("VAULTID_AUTHOR", AUTHOR)
            .env("VAULTID_AGENT_NAME", "patient")
            .env("VAULTID_KEY_DIR", &empty)
            .env("VAULT_ADDR", addr)
            .env("VAULT_TOKEN", "t")
            .env("VAULTID_VAULT_WAIT", "2s")
            .arg("up")
            .output()
            .unwrap();
        (o, t.elapsed())
    };
    let (o, took) = patient_up(server.addr());
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(took < Duration::from_millis(2500), "took {took:?}");
    assert!(err.contains("deadline") && err.contains("503"), "{err}");

    // A plain 503 is waited out with backoff until that deadline, and the
    // log says what was waited for.
    let busy = common::TestServer::start(|_, _| common::answer(503, &[], ""));
    let (o, took) = patient_up(busy.addr());
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    // At least the first two waits (250 ms and 500 ms before jitter): the
    // third (750-1125 ms) is skipped when it would not fit the 2 s budget,
    // which can end the request after as little as 750 ms of waiting.
    assert!(took > Duration::from_millis(750), "took {took:?}");
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

/// A child token of `ttl`, created through the active node.
fn short_token(c: &Cluster, ttl: &str) -> String {
    let a = c.active().expect("an active node");
    let (s, v) = call(
        &c.nodes[a].addr,
        "POST",
        "auth/token/create",
        Some(&c.token),
        Some(&json!({"ttl": ttl, "explicit_max_ttl": "10m", "renewable": true})),
    )
    .unwrap();
    assert_eq!(s, 200, "{v}");
    v["auth"]["client_token"].as_str().unwrap().to_string()
}

/// A library client for every node, `first` first, with `token`.
fn client(c: &Cluster, first: usize, token: &str) -> vaultid::vault::Client {
    let addrs = from(c, first);
    let mut cfg = vaultid::config::VaultConfig::new(&addrs[0], Some(token.into()));
    cfg.other_addrs = addrs[1..].to_vec();
    vaultid::vault::Client::new(&cfg).unwrap()
}

/// A `kv put --cas` loop through the CLI: each value `k` is written once,
/// on top of the version read before; a refused check-and-set (exit 4) is
/// read again and retried. Returns the values written, in order, and the
/// exit codes other than 0 and 4.
fn cas_loop(
    c: &Cluster,
    path: &str,
    dir: &Path,
    stop: &std::sync::atomic::AtomicBool,
) -> (Vec<u64>, Vec<String>) {
    let addrs = c.addrs();
    let mut written = Vec::new();
    let mut failures = Vec::new();
    let mut k = 1u64;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let o = vaultid(c, &addrs, dir)
            .args(["kv", "get", path])
            .output()
            .unwrap();
        if !o.status.success() {
            failures.push(format!("get: {}", String::from_utf8_lossy(&o.stderr)));
            continue;
        }
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        let version = v["metadata"]["version"].as_u64().unwrap();
        let o = vaultid(c, &addrs, dir)
            .env("VAULTID_LOG", "info")
            .args(["kv", "put", "--cas", &version.to_string(), path])
            .arg(format!("k={k}"))
            .output()
            .unwrap();
        match o.status.code() {
            Some(0) => {
                written.push(k);
                k += 1;
            }
            Some(4) => {
                eprintln!(
                    "cas loop: k={k} cas={version} refused: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                );
            }
            other => failures.push(format!(
                "put exit {other:?}: {}",
                String::from_utf8_lossy(&o.stderr)
            )),
        }
    }
    (written, failures)
}

/// Restarts (when down) and unseals node `.1` when dropped, also when the
/// test panics, so the shared cluster stays whole for the other tests.
struct Revive<'a>(&'a Cluster, usize);

impl Drop for Revive<'_> {
    fn drop(&mut self) {
        if !self.0.running(self.1) {
            self.0.restart(self.1);
        }
        if self.0.health(self.1) != Some(200) && self.0.health(self.1) != Some(429) {
            self.0.unseal(self.1);
        }
        self.0.wait_voters(Duration::from_secs(60));
    }
}

/// The leader is killed (SIGKILL) while 16 new agents start for the first
/// time, a `kv put --cas` loop runs and a 12 s token is renewed: no forked
/// identity, every `up` exits 0 within the wait, no CAS write lost or
/// applied twice, the token stays valid.
#[test]
fn leader_sigkill_under_load_is_invisible_but_for_latency() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let Some(c) = Cluster::shared() else { return };
    let _g = Cluster::lock();
    let root = common::tmpdir("ha-kill");
    let leader = c.wait_active(Duration::from_secs(30));

    // The CAS loop's secret, version 1 = k=0, every version kept.
    let path = format!("secret/ha/counter-{}", uuid::Uuid::new_v4());
    let (s, _) = call(
        &c.nodes[leader].addr,
        "POST",
        &format!("secret/metadata/{}", path.trim_start_matches("secret/")),
        Some(&c.token),
        Some(&json!({"max_versions": 1000})),
    )
    .unwrap();
    assert!(s == 204 || s == 200);
    let o = vaultid(c, &c.addrs(), &root)
        .args(["kv", "put", "--cas", "0", &path, "k=0"])
        .output()
        .unwrap();
    json(&o);

    // The renewing token, through a client that starts at the leader.
    let token = short_token(c, "12s");
    let renewing = std::sync::Arc::new(client(c, leader, &token));
    let renewer = renewing.start_renewer();

    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let looper = s.spawn(|| cas_loop(c, &path, &root, &stop));
        std::thread::sleep(Duration::from_secs(2));

        // Kill the leader, then start 16 new agents at once, each with the
        // address list in another order (some start at the dead node).
        let killed_at = Instant::now();
        let _revive = Revive(c, leader);
        c.kill(leader, "-9");
        let mut children = Vec::new();
        for i in 0..16 {
            let dir = root.join(format!("agent{i}"));
            std::fs::create_dir_all(&dir).unwrap();
            let child = up(c, &from(c, i % 3), &format!("new-{i}"), &dir)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            children.push((i, dir, child));
        }
        let mut first_ok = None;
        let mut outcomes = Vec::new();
        for (i, dir, child) in children {
            let o = child.wait_with_output().unwrap();
            let took = killed_at.elapsed();
            assert!(
                o.status.success(),
                "agent {i} exit {:?} after {took:?}: {}",
                o.status.code(),
                String::from_utf8_lossy(&o.stderr)
            );
            first_ok.get_or_insert(took);
            assert!(took < Duration::from_secs(30), "agent {i} took {took:?}");
            outcomes.push((i, dir, json(&o)));
        }
        let new_active = c.wait_active(Duration::from_secs(30));
        eprintln!(
            "leader node{leader} killed; node{new_active} active; all 16 first starts done {:?} after the kill",
            killed_at.elapsed()
        );
        // Let the loop and the renewer run on the new leader a while.
        std::thread::sleep(Duration::from_secs(4));
        stop.store(true, Ordering::Relaxed);
        let (written, failures) = looper.join().unwrap();
        assert!(failures.is_empty(), "{failures:#?}");
        assert!(written.len() >= 3, "{written:?}");

        // 0 lost or doubled: version n holds k = n - 1, nothing else.
        let a = c.active().unwrap();
        let (_, meta) = call(
            &c.nodes[a].addr,
            "GET",
            &format!("secret/metadata/{}", path.trim_start_matches("secret/")),
            Some(&c.token),
            None,
        )
        .unwrap();
        let current = meta["data"]["current_version"].as_u64().unwrap();
        assert_eq!(current, written.len() as u64 + 1, "{written:?}");
        for version in 1..=current {
            let (_, v) = call(
                &c.nodes[a].addr,
                "GET",
                &format!(
                    "secret/data/{}?version={version}",
                    path.trim_start_matches("secret/")
                ),
                Some(&c.token),
                None,
            )
            .unwrap();
            assert_eq!(
                v["data"]["data"]["k"],
                (version - 1).to_string(),
                "version {version}"
            );
        }

        // 0 forked identities: each agent's key is Vault's, at version 1.
        for (i, dir, v) in outcomes {
            let again = json(
                &up(c, &c.addrs(), &format!("new-{i}"), &dir)
                    .output()
                    .unwrap(),
            );
            assert_eq!(again["keys_source"], "vault", "agent {i}: {again}");
            assert_eq!(again["public_key_base58"], v["public_key_base58"]);
            let m = metadata(c, v["agent_id"].as_str().unwrap());
            assert_eq!(m["data"]["current_version"], 1, "agent {i}: {m}");
        }
    });

    // The token outlived its 12 s TTL across the election.
    assert!(renewer.is_running());
    let info = renewing.lookup_self().unwrap();
    assert!(info.ttl > 0);
    renewer.stop();
}

/// `vaultid health` over every node: its JSON and exit code.
fn health(c: &Cluster, addrs: &[String]) -> (Option<i32>, Value) {
    let dir = common::tmpdir("ha-health");
    let o = vaultid(c, addrs, &dir).arg("health").output().unwrap();
    let v = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    (o.status.code(), v)
}

/// `vaultid unseal` with the key file, for `node` or every node.
fn unseal(c: &Cluster, node: Option<usize>) -> (Option<i32>, Value, String) {
    let dir = common::tmpdir("ha-unseal");
    let mut cmd = vaultid(c, &c.addrs(), &dir);
    cmd.env_remove("VAULT_TOKEN")
        .env("VAULTID_LOG", "debug")
        .args(["unseal", "--key-file"])
        .arg(&c.unseal_key_file);
    if let Some(i) = node {
        cmd.args(["--node", &c.nodes[i].addr]);
    }
    let o = cmd.output().unwrap();
    let v = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    (
        o.status.code(),
        v,
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A restarted node comes back sealed: `health` says so (exit 6), `up`
/// through a list that starts with it goes on to the next node, and
/// `vaultid unseal` (key file, never echoed) unseals it (health exit 0).
#[test]
fn a_restarted_sealed_node_is_skipped_reported_and_unsealed() {
    let Some(c) = Cluster::shared() else { return };
    let _g = Cluster::lock();
    let (code, v) = health(c, &c.addrs());
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["status"], "healthy");
    assert_eq!(v["nodes"].as_array().unwrap().len(), 3);
    let active = c.wait_active(Duration::from_secs(30));
    let standby = (active + 1) % 3;
    for n in v["nodes"].as_array().unwrap() {
        let leader = n["leader"].as_str().unwrap();
        assert_eq!(leader, c.nodes[active].addr, "{n}");
    }

    let _revive = Revive(c, standby);
    c.kill(standby, "-15");
    let (code, v) = health(c, &c.addrs());
    assert_eq!(code, Some(6), "{v}");
    assert_eq!(v["nodes"][standby]["state"], "unreachable", "{v}");
    c.restart(standby);
    let (code, v) = health(c, &c.addrs());
    assert_eq!(code, Some(6), "{v}");
    assert_eq!(v["nodes"][standby]["state"], "sealed", "{v}");
    assert_eq!(v["status"], "degraded");

    // A first start through the sealed node first.
    let dir = common::tmpdir("ha-sealed-first");
    let v = json(
        &up(c, &from(c, standby), "sealed-first", &dir)
            .output()
            .unwrap(),
    );
    assert_eq!(v["vault"], "ok", "{v}");

    // The sealed node alone: health exit 3, kv exit 3.
    let alone = vec![c.nodes[standby].addr.clone()];
    let (code, v) = health(c, &alone);
    assert_eq!(code, Some(3), "{v}");
    assert_eq!(v["sealed"], true, "{v}");

    let (code, v, err) = unseal(c, None);
    assert_eq!(code, Some(0), "{v} {err}");
    assert!(!err.contains(&c.unseal_key), "a share reached the log");
    assert!(!v.to_string().contains(&c.unseal_key));
    let nodes = v["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3);
    assert!(nodes.iter().all(|n| n["sealed"] == false), "{v}");
    assert_eq!(nodes[standby]["submitted"], 1, "{v}");
    assert_eq!(nodes[active]["submitted"], 0, "{v}");
    c.wait_voters(Duration::from_secs(60));
    let (code, v) = health(c, &c.addrs());
    assert_eq!(code, Some(0), "{v}");
}

/// A key file others can read is refused before anything is sent.
#[test]
fn unseal_refuses_a_readable_key_file() {
    use std::os::unix::fs::PermissionsExt;
    let server = common::TestServer::start(|_, _| common::answer(500, &[], ""));
    let dir = common::tmpdir("ha-unseal-mode");
    let file = dir.join("shares");
    std::fs::write(&file, "share-canary\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_vaultid"))
        .env_clear()
        .env("HOME", &dir)
        .env("VAULT_ADDR", server.addr())
        .args(["unseal", "--key-file"])
        .arg(&file)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("chmod 600") && !err.contains("canary"),
        "{err}"
    );
    assert!(server.seen().is_empty());
}

/// All three nodes restarted one by one (each unsealed with `vaultid
/// unseal --node`) while a 10 s token is renewed and warm restarts run:
/// the token never lapses, every `up` succeeds.
#[test]
fn rolling_restart_of_every_node_while_a_token_renews() {
    let Some(c) = Cluster::shared() else { return };
    let _g = Cluster::lock();
    c.wait_voters(Duration::from_secs(60));
    let token = short_token(c, "10s");
    let renewing = std::sync::Arc::new(client(c, 0, &token));
    let renewer = renewing.start_renewer();
    let dir = common::tmpdir("ha-rolling");
    let first = json(&up(c, &c.addrs(), "rolling", &dir).output().unwrap());
    // Every node has applied the first start's write before the restarts
    // (a warm start that reads a lagging standby is the racing tests').
    let path = format!(
        "secret/data/bindu/agents/{}/did-keys",
        first["agent_id"].as_str().unwrap()
    );
    for i in 0..3 {
        let t = Instant::now();
        while call(&c.nodes[i].addr, "GET", &path, Some(&c.token), None)
            .unwrap()
            .0
            != 200
        {
            assert!(t.elapsed() < Duration::from_secs(10));
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let start = Instant::now();
    for i in 0..3 {
        let _revive = Revive(c, i);
        c.kill(i, "-15");
        let v = json(&up(c, &from(c, i), "rolling", &dir).output().unwrap());
        assert_eq!(v["public_key_base58"], first["public_key_base58"]);
        assert_eq!(v["vault"], "ok", "node{i} down: {v}");
        c.restart(i);
        let (code, v, err) = unseal(c, Some(i));
        assert_eq!(code, Some(0), "node{i}: {v} {err}");
        assert_eq!(v["nodes"][0]["sealed"], false);
        c.wait_voters(Duration::from_secs(60));
        let info = renewing.lookup_self().unwrap();
        assert!(info.ttl > 0, "token lapsed after node{i}");
    }
    // Past the token's first TTL, and still valid.
    while start.elapsed() < Duration::from_secs(12) {
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(renewing.lookup_self().unwrap().ttl > 0);
    assert!(renewer.is_running());
    renewer.stop();
}

/// Kill the active node of `c` and start a new agent at once; returns
/// (time until a survivor reports active, time until the `up` succeeded).
fn election_vs_first_start(c: &Cluster, name: &str) -> (Duration, Duration) {
    let leader = c.wait_active(Duration::from_secs(60));
    let dir = common::tmpdir("ha-election");
    let killed_at = Instant::now();
    c.kill(leader, "-9");
    let elected = std::thread::scope(|s| {
        let watcher = s.spawn(|| loop {
            if (0..3).any(|i| i != leader && c.health(i) == Some(200)) {
                return killed_at.elapsed();
            }
            std::thread::sleep(Duration::from_millis(20));
        });
        // The default wait (30 s) covers an idle default-timing election
        // (9-15 s); a loaded test machine can stretch it, so this test
        // gives it more and checks the start follows the election closely.
        let o = up(c, &from(c, leader), name, &dir)
            .env("VAULTID_VAULT_WAIT", "60s")
            .output()
            .unwrap();
        let took = killed_at.elapsed();
        let v = json(&o);
        assert_eq!(v["vault"], "ok", "{v}");
        assert_eq!(v["keys_source"], "generated", "{v}");
        (watcher.join().unwrap(), took)
    });
    c.restart(leader);
    c.unseal(leader);
    elected
}

/// At OpenBao's default Raft timing (elections of 5-15 s) a first start
/// during the election waits it out and succeeds inside the 30 s wait.
#[test]
fn a_first_start_during_a_default_timing_election() {
    use common::cluster::Timing;
    let _g = Cluster::lock();
    let Some(c) = Cluster::start(Timing::Default) else {
        return;
    };
    let (elected, up_ok) = election_vs_first_start(&c, "default-timing");
    eprintln!(
        "default timing: new leader after {:.2} s, first `up` done after {:.2} s",
        elected.as_secs_f64(),
        up_ok.as_secs_f64()
    );
    assert!(
        up_ok < elected + Duration::from_secs(5),
        "up {up_ok:?}, election {elected:?}"
    );
}

/// A warm restart through a standby costs one Vault request, as through
/// the active node (standbys serve reads themselves).
#[test]
fn a_warm_restart_through_a_standby_is_one_request() {
    let Some(c) = Cluster::shared() else { return };
    let _g = Cluster::lock();
    let active = c.wait_active(Duration::from_secs(30));
    let standby = (active + 1) % 3;
    let dir = common::tmpdir("ha-warm");
    let v = json(&up(c, &c.addrs(), "warm", &dir).output().unwrap());
    // Once the standby has applied the first start's write (a fresh write
    // is 404 there for ~100 ms: that case is the racing test's).
    let path = format!(
        "secret/data/bindu/agents/{}/did-keys",
        v["agent_id"].as_str().unwrap()
    );
    let t = Instant::now();
    while call(&c.nodes[standby].addr, "GET", &path, Some(&c.token), None)
        .unwrap()
        .0
        != 200
    {
        assert!(t.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(20));
    }
    let proxy = common::counting_proxy(&c.nodes[standby].addr);
    let v = json(
        &up(c, &[proxy.addr().to_string()], "warm", &dir)
            .output()
            .unwrap(),
    );
    assert_eq!(v["keys_source"], "vault", "{v}");
    assert!(v["written"].as_array().unwrap().is_empty(), "{v}");
    let seen = proxy.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0].path.contains("/did-keys"), "{seen:?}");
}

/// `vaultid env --dynamic` keeps a child's PostgreSQL credentials alive
/// while the active node is SIGKILLed: the lease is renewed through the
/// new leader and the child logs in every half second without a failure.
#[test]
fn env_dynamic_child_keeps_its_credentials_across_a_leader_kill() {
    use crate::secrets_lease::{role_app, Postgres};
    let Some(c) = Cluster::shared() else { return };
    let Some(pg) = Postgres::start() else { return };
    let _g = Cluster::lock();
    c.wait_voters(Duration::from_secs(60));
    let leader = c.wait_active(Duration::from_secs(30));
    let node = &c.nodes[leader].addr;
    let mount = format!("db-{}", uuid::Uuid::new_v4().simple());
    let ok = |(s, v): (u16, Value)| assert!(s == 200 || s == 204, "HTTP {s}: {v}");
    ok(call(
        node,
        "POST",
        &format!("sys/mounts/{mount}"),
        Some(&c.token),
        Some(&json!({"type": "database"})),
    )
    .unwrap());
    ok(call(
        node,
        "POST",
        &format!("{mount}/config/pg"),
        Some(&c.token),
        Some(&pg.engine_config()),
    )
    .unwrap());
    ok(call(
        node,
        "POST",
        &format!("{mount}/roles/app"),
        Some(&c.token),
        Some(&role_app(10, 120)),
    )
    .unwrap());
    let dir = common::tmpdir("ha-env");
    // 40 logins, one every half second; the exit code counts failures.
    let script = r#"fails=0
i=0
while [ $i -lt 40 ]; do
  psql -w -tAc 'select 1' > /dev/null 2>&1 || fails=$((fails+1))
  sleep 0.5
  i=$((i+1))
done
exit $fails"#;
    let child = vaultid(c, &from(c, leader), &dir)
        .args(["env", "--dynamic"])
        .arg(format!(
            "{mount}/creds/app#username=PGUSER,password=PGPASSWORD"
        ))
        .args(["--", "sh", "-c", script])
        .env("PGHOST", "127.0.0.1")
        .env("PGPORT", pg.port.to_string())
        .env("PGDATABASE", "postgres")
        .env("PGCONNECT_TIMEOUT", "5")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(4));
    let revive = Revive(c, leader);
    c.kill(leader, "-9");
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "failed logins: {err}");
    assert!(!err.to_lowercase().contains("password="), "{err}");
    drop(revive);
}

/// A check-and-set write whose first try was applied but got no answer
/// (the connection dropped) is sent again, refused, and recognised: version
/// n + 1 holds exactly its data, so it reports that version, once. With
/// other data at n + 1 the refusal stands.
#[test]
fn a_resent_cas_write_that_landed_is_recognised() {
    use common::Reply;
    for (stored, expect_ok) in [("mine", true), ("theirs", false)] {
        let server = common::TestServer::start_with(Duration::from_secs(5), move |req, i| {
            let ans = |s: String| Reply::Answer(s.into_bytes());
            match (req.method.as_str(), i) {
                ("POST", 0) => Reply::Hangup,
                ("POST", _) => ans(common::answer(
                    400,
                    &[],
                    r#"{"errors":["check-and-set parameter did not match the current version"]}"#,
                )),
                _ => ans(common::answer(
                    200,
                    &[],
                    &format!(
                        r#"{{"data":{{"data":{{"k":"{stored}"}},"metadata":{{"version":4,"created_time":"t"}}}}}}"#
                    ),
                )),
            }
        });
        let cfg = vaultid::config::VaultConfig::new(server.addr(), Some("t".into()));
        let client = vaultid::vault::Client::new(&cfg).unwrap();
        let mut data = serde_json::Map::new();
        data.insert("k".into(), "mine".into());
        let r = client.kv2("secret").write("x", &data, Some(3));
        let posts = server.seen().iter().filter(|s| s.method == "POST").count();
        assert_eq!(posts, 2, "{stored}");
        if expect_ok {
            assert_eq!(r.unwrap().version, 4);
        } else {
            assert!(
                matches!(r, Err(vaultid::Error::CasMismatch { cas: Some(3), .. })),
                "{r:?}"
            );
        }
    }
}

/// A standby redirecting a write to another configured node on another
/// host (a leader's `api_addr`) is followed with the body and token: that
/// node is in the configured set. An unlisted host still gets nothing.
#[test]
fn a_redirect_to_another_configured_node_is_followed() {
    let write_ok = r#"{"data":{"version":1,"created_time":"t"}}"#;
    let leader =
        common::TestServer::start_on("127.0.0.2", move |_, _| common::answer(200, &[], write_ok));
    let leader_addr = leader.addr().to_string();
    let standby = common::TestServer::start(move |req, _| {
        let location = format!("{leader_addr}{}", req.path);
        common::answer(307, &[("Location", location.as_str())], "")
    });
    let mut data = serde_json::Map::new();
    data.insert("k".into(), "v".into());
    // Only the standby configured: the other host is not followed.
    let cfg = vaultid::config::VaultConfig::new(standby.addr(), Some("tok".into()));
    let client = vaultid::vault::Client::new(&cfg).unwrap();
    assert!(client.kv2("secret").write("x", &data, None).is_err());
    assert!(leader.seen().is_empty());
    // Both configured: followed, with the body and the token.
    let mut cfg = vaultid::config::VaultConfig::new(standby.addr(), Some("tok".into()));
    cfg.other_addrs = vec![leader.addr().to_string()];
    let client = vaultid::vault::Client::new(&cfg).unwrap();
    let m = client.kv2("secret").write("x", &data, None).unwrap();
    assert_eq!(m.version, 1);
    let seen = leader.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].header("x-vault-token"), Some("tok"));
    assert!(String::from_utf8_lossy(&seen[0].body).contains("\"k\""));
}
