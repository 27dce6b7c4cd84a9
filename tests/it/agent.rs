//! `vaultid agent` against a real OpenBao (and a real PostgreSQL for the
//! dynamic source): the token sink used by another process, KV rotation
//! reaching the file with exactly one signal and no write for unchanged
//! re-reads, SIGHUP, an outage of 20 s, dynamic credentials with real
//! logins and revocation, short-lived PKI certificates checked with
//! `openssl verify`, hostile values in every format, strict configuration,
//! and a bounded soak that fails on RSS or fd growth.
//!
//! Each case runs its own agent process, and they mostly wait: the one
//! `#[test]`, [`agent_cases_in_parallel`], runs them all at once in threads
//! (about 75 s of wall time whatever the test harness's thread count).
//! `VAULTID_AGENT_CASES=name,name` runs only the cases whose names contain
//! one of those words.

use crate::common;
use crate::secrets_lease::{setup_engine, Postgres};

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::bao::Bao;
use serde_json::{json, Value};

/// A running `vaultid agent`, stopped (SIGTERM) when dropped.
pub(crate) struct AgentProc {
    child: Child,
    dir: PathBuf,
    log: PathBuf,
}

impl AgentProc {
    /// Start an agent with `config` (written to its directory) and `env`.
    pub(crate) fn start(dir: &Path, config: &Value, env: &[(&str, String)]) -> AgentProc {
        let cfg = dir.join("agent.json");
        std::fs::write(&cfg, serde_json::to_vec_pretty(config).unwrap()).unwrap();
        let log = dir.join("agent.log");
        let mut c = Command::new(env!("CARGO_BIN_EXE_vaultid"));
        c.args(["agent", "--config"])
            .arg(&cfg)
            .env_remove("VAULT_TOKEN")
            .env_remove("VAULT_AUTH_METHOD")
            .env("HOME", dir)
            .env("VAULT_CLIENT_TIMEOUT", "2s")
            .env("VAULT_MAX_RETRIES", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        for (k, v) in env {
            c.env(k, v);
        }
        AgentProc {
            child: c.spawn().unwrap(),
            dir: dir.to_path_buf(),
            log,
        }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Every event logged so far (each stderr line must be JSON).
    pub(crate) fn events(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}"))
            })
            .collect()
    }

    pub(crate) fn count(&self, event: &str, source: Option<&str>) -> usize {
        self.events()
            .iter()
            .filter(|e| e["event"] == event && source.is_none_or(|s| e["source"] == s))
            .count()
    }

    /// Wait until `f` holds, up to `limit`; panics with the log otherwise.
    pub(crate) fn wait_for(&self, what: &str, limit: Duration, f: impl Fn(&AgentProc) -> bool) {
        let deadline = Instant::now() + limit;
        while !f(self) {
            if Instant::now() > deadline {
                panic!(
                    "timed out waiting for {what}; agent log:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub(crate) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub(crate) fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.pid().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig}");
    }

    /// SIGTERM and wait; the exit code.
    pub(crate) fn stop(mut self) -> (i32, String) {
        self.signal("TERM");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                let log = self.log_text();
                return (s.code().unwrap_or(-1), log);
            }
            assert!(Instant::now() < deadline, "agent did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub(crate) fn status(&self) -> (i32, Value) {
        let out = Command::new(env!("CARGO_BIN_EXE_vaultid"))
            .args(["agent", "status", "--status-file"])
            .arg(self.dir.join("status.json"))
            .output()
            .unwrap();
        let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (out.status.code().unwrap_or(-1), v)
    }
}

impl Drop for AgentProc {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn unique(tag: &str) -> String {
    format!("agent-{tag}-{}", uuid::Uuid::new_v4().simple())
}

pub(crate) fn root_env(bao: &Bao) -> Vec<(&'static str, String)> {
    vec![
        ("VAULT_ADDR", bao.addr().to_string()),
        ("VAULT_TOKEN", bao.token().to_string()),
    ]
}

/// An AppRole at a fresh mount whose tokens last `ttl` (max `max_ttl`)
/// with a policy reading `secret/*`; the agent's environment for it.
fn approle_env(bao: &Bao, ttl: &str, max_ttl: &str) -> Vec<(&'static str, String)> {
    let mount = unique("approle");
    let c = bao.client();
    c.write(&format!("sys/auth/{mount}"), &json!({"type": "approle"}))
        .unwrap();
    c.write(
        "sys/policies/acl/agent-test",
        &json!({"policy": "path \"secret/*\" { capabilities = [\"read\", \"list\"] }\n\
                  path \"sys/wrapping/wrap\" { capabilities = [\"update\"] }"}),
    )
    .unwrap();
    c.write(
        &format!("auth/{mount}/role/agent"),
        &json!({"token_ttl": ttl, "token_max_ttl": max_ttl, "token_policies": ["agent-test"]}),
    )
    .unwrap();
    let role_id = c
        .read(&format!("auth/{mount}/role/agent/role-id"))
        .unwrap()
        .unwrap()["data"]["role_id"]
        .as_str()
        .unwrap()
        .to_string();
    let secret_id = c
        .write(&format!("auth/{mount}/role/agent/secret-id"), &json!({}))
        .unwrap()
        .unwrap()["data"]["secret_id"]
        .as_str()
        .unwrap()
        .to_string();
    vec![
        ("VAULT_ADDR", bao.addr().to_string()),
        ("VAULT_AUTH_METHOD", "approle".into()),
        ("VAULT_AUTH_MOUNT", mount),
        ("VAULT_ROLE_ID", role_id),
        ("VAULT_SECRET_ID", secret_id),
    ]
}

pub(crate) fn kv_put(bao: &Bao, path: &str, data: Value) {
    bao.client()
        .kv2("secret")
        .write(path, data.as_object().unwrap(), None)
        .unwrap();
}

pub(crate) fn stamp(p: &Path) -> (u64, i64, i64) {
    let m = std::fs::metadata(p).unwrap();
    (m.ino(), m.mtime(), m.mtime_nsec())
}

pub(crate) fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn vaultid(args: &[&str], env: &[(&str, String)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vaultid"));
    c.args(args).env_remove("VAULT_TOKEN");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn a_four_second_token_stays_usable_through_the_sink_for_a_minute() {
    let Some(bao) = Bao::shared() else { return };
    let dir = common::tmpdir("agent-sink");
    let path = unique("sink");
    kv_put(bao, &path, json!({"v": "1"}));
    let sink = dir.join("token");
    let env = approle_env(bao, "4s", "10s");
    let agent = AgentProc::start(
        &dir,
        &json!({"restore_identity": false, "status_file": dir.join("status.json"),
                "token": {"sink": sink, "revoke_on_exit": true}}),
        &env,
    );
    agent.wait_for("the sink", Duration::from_secs(10), |_| sink.exists());
    assert_eq!(mode(&sink), 0o600);
    // Another process reads the sink once a second for 60 s and reads a KV
    // secret with the token it finds there.
    let script = r#"i=0; ok=0
while [ $i -lt 60 ]; do
  VAULT_TOKEN="$(cat "$SINK")" "$VAULTID" kv get "$KVPATH" >/dev/null 2>>"$ERRS" && ok=$((ok+1))
  i=$((i+1)); sleep 1
done
echo "$ok""#;
    let out = Command::new("sh")
        .args(["-c", script])
        .env("SINK", &sink)
        .env("VAULTID", env!("CARGO_BIN_EXE_vaultid"))
        .env("KVPATH", format!("secret/{path}"))
        .env("ERRS", dir.join("reader.err"))
        .env("VAULT_ADDR", bao.addr())
        .output()
        .unwrap();
    let ok: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert_eq!(
        ok,
        60,
        "reader failures: {}\nagent log:\n{}",
        std::fs::read_to_string(dir.join("reader.err")).unwrap_or_default(),
        agent.log_text()
    );
    // The 10 s max TTL forced new logins: the sink was rewritten.
    assert!(
        agent.count("token_written", None) >= 4,
        "{}",
        agent.log_text()
    );
    let last = std::fs::read_to_string(&sink).unwrap();
    let (code, log) = agent.stop();
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("\"token_revoked\""), "{log}");
    // Revoked on exit: the last token no longer works.
    let mut cfg = bao.config();
    cfg.token = Some(last.trim().into());
    let e = vaultid::vault::Client::new(&cfg)
        .unwrap()
        .lookup_self()
        .unwrap_err();
    assert_eq!(e.exit_code(), 5, "{e}");
    assert!(!log.contains(last.trim()), "the token reached the log");
}

fn a_rotated_kv_secret_reaches_the_file_and_signals_the_child_once() {
    let Some(bao) = Bao::shared() else { return };
    let dir = common::tmpdir("agent-kv");
    let path = unique("kv");
    kv_put(bao, &path, json!({"password": "first", "user": "app"}));
    let env_file = dir.join("app.env");
    let hups = dir.join("hups");
    let child = format!(
        "trap 'echo hup >> {}' HUP; while :; do sleep 0.1; done",
        hups.display()
    );
    let agent = AgentProc::start(
        &dir,
        &json!({"restore_identity": false, "status_file": dir.join("status.json"),
                "exec": {"command": ["sh", "-c", child]},
                "sources": [{"name": "db", "kv": path, "interval": "1s",
                  "files": [{"path": env_file, "format": "env"}],
                  "notify": {"signal": "HUP"}}]}),
        // `unchanged` events are debug events.
        &[root_env(bao), vec![("VAULTID_LOG", "debug".to_string())]].concat(),
    );
    agent.wait_for("the child", Duration::from_secs(10), |a| {
        a.count("child_started", None) == 1
    });
    let before = stamp(&env_file);
    // Unchanged re-reads: no write, no signal.
    agent.wait_for("3 unchanged re-reads", Duration::from_secs(10), |a| {
        a.count("unchanged", Some("db")) >= 3
    });
    assert_eq!(
        stamp(&env_file),
        before,
        "an unchanged re-read wrote the file"
    );
    assert!(!hups.exists(), "an unchanged re-read signalled the child");
    assert_eq!(agent.status().0, 0);

    let rotated = vaultid(&["rotate", &path, "password", "--print"], &root_env(bao));
    let new = common::json_ok(&rotated)["value"]
        .as_str()
        .unwrap()
        .to_string();
    let t = Instant::now();
    agent.wait_for(
        "the new password in the file",
        Duration::from_secs(5),
        |_| std::fs::read_to_string(&env_file).unwrap().contains(&new),
    );
    assert!(
        t.elapsed() < Duration::from_millis(2500),
        "{:?}",
        t.elapsed()
    );
    // A few more intervals: exactly one signal, one write.
    let after = stamp(&env_file);
    let n = agent.count("unchanged", Some("db"));
    agent.wait_for("3 more re-reads", Duration::from_secs(10), |a| {
        a.count("unchanged", Some("db")) >= n + 3
    });
    assert_eq!(stamp(&env_file), after);
    assert_eq!(std::fs::read_to_string(&hups).unwrap(), "hup\n");
    assert_eq!(agent.count("notified", Some("db")), 1);
    assert_eq!(mode(&env_file), 0o600);
    let (code, log) = agent.stop();
    assert_eq!(code, 0);
    assert!(!log.contains(&new), "a secret value reached the log");
    assert!(!log.contains("first"), "a secret value reached the log");
    // Files stay after exit by default.
    assert!(env_file.exists());
}

fn sighup_rereads_now() {
    let Some(bao) = Bao::shared() else { return };
    let dir = common::tmpdir("agent-hup");
    let path = unique("hup");
    kv_put(bao, &path, json!({"k": "one"}));
    let file = dir.join("k");
    let agent = AgentProc::start(
        &dir,
        &json!({"restore_identity": false, "kv_interval": "1h",
                "sources": [{"name": "k", "kv": path,
                  "files": [{"path": file, "format": "raw", "field": "k"}]}]}),
        &root_env(bao),
    );
    agent.wait_for("the file", Duration::from_secs(10), |_| file.exists());
    kv_put(bao, &path, json!({"k": "two"}));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "one");
    agent.signal("HUP");
    agent.wait_for("the re-read", Duration::from_secs(3), |_| {
        std::fs::read_to_string(&file).unwrap() == "two"
    });
    let (code, _) = agent.stop();
    assert_eq!(code, 0);
}

fn an_outage_of_twenty_seconds_leaves_files_alone_and_the_agent_recovers() {
    let Some(bao) = Bao::start() else { return };
    let dir = common::tmpdir("agent-outage");
    let path = unique("outage");
    kv_put(&bao, &path, json!({"password": "before"}));
    let file = dir.join("db.json");
    let sink = dir.join("token");
    let env = approle_env(&bao, "4s", "1h");
    let agent = AgentProc::start(
        &dir,
        &json!({"restore_identity": false, "status_file": dir.join("status.json"),
                "backoff_max": "2s", "token": {"sink": sink},
                "sources": [{"name": "db", "kv": path, "interval": "1s",
                  "files": [{"path": file}]}]}),
        &env,
    );
    agent.wait_for("the file", Duration::from_secs(10), |_| file.exists());
    let (content, st, token) = (
        std::fs::read(&file).unwrap(),
        stamp(&file),
        std::fs::read_to_string(&sink).unwrap(),
    );
    let pid = bao.pid().to_string();
    assert!(Command::new("kill")
        .args(["-STOP", &pid])
        .status()
        .unwrap()
        .success());
    let paused = Instant::now();
    let mut degraded = false;
    while paused.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(std::fs::read(&file).unwrap(), content);
        assert_eq!(stamp(&file), st, "the file was rewritten during the outage");
        assert_eq!(std::fs::read_to_string(&sink).unwrap(), token);
        degraded |= agent.status().0 == 3;
    }
    assert!(degraded, "status never reported the outage");
    assert!(agent.count("error", Some("db")) >= 3);
    assert!(Command::new("kill")
        .args(["-CONT", &pid])
        .status()
        .unwrap()
        .success());
    // The old token ran out meanwhile: a new login, a new sink, and a new
    // version reaches the file again.
    agent.wait_for("a new token in the sink", Duration::from_secs(20), |_| {
        std::fs::read_to_string(&sink).unwrap() != token
    });
    kv_put(&bao, &path, json!({"password": "after"}));
    agent.wait_for("the new version", Duration::from_secs(10), |_| {
        std::fs::read_to_string(&file).unwrap().contains("after")
    });
    agent.wait_for("a healthy status", Duration::from_secs(10), |a| {
        a.status().0 == 0
    });
    let mut cfg = bao.config();
    cfg.token = Some(std::fs::read_to_string(&sink).unwrap().trim().into());
    assert!(vaultid::vault::Client::new(&cfg)
        .unwrap()
        .lookup_self()
        .is_ok());
    let (code, _) = agent.stop();
    assert_eq!(code, 0);
}

fn dynamic_db_credentials_log_in_through_the_file_and_are_revoked_on_sigterm() {
    let Some(bao) = Bao::start() else { return };
    let Some(pg) = Postgres::start() else { return };
    setup_engine(&bao, &pg);
    let dir = common::tmpdir("agent-db");
    let file = dir.join("pg.env");
    let agent = AgentProc::start(
        &dir,
        &json!({"restore_identity": false, "backoff_max": "2s",
                "sources": [{"name": "pg", "dynamic": "database/creds/app",
                  "files": [{"path": file, "format": "env",
                    "fields": {"username": "PGUSER", "password": "PGPASSWORD"}}]}]}),
        &root_env(&bao),
    );
    agent.wait_for("the file", Duration::from_secs(15), |_| file.exists());
    // Log in with whatever the file holds, once a second, through the max
    // TTL (16 s) and past it.
    let script = format!(
        ". '{}'; PGCONNECT_TIMEOUT=5 psql -h 127.0.0.1 -p {} -d postgres -w -tAc 'select current_user'",
        file.display(),
        pg.port
    );
    let mut users = std::collections::BTreeSet::new();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(22) {
        let out = Command::new("sh").args(["-c", &script]).output().unwrap();
        assert!(
            out.status.success(),
            "psql login failed after {:?}: {}\n{}",
            start.elapsed(),
            String::from_utf8_lossy(&out.stderr),
            agent.log_text()
        );
        users.insert(String::from_utf8_lossy(&out.stdout).trim().to_string());
        std::thread::sleep(Duration::from_secs(1));
    }
    assert!(
        agent.count("renewed", Some("pg")) >= 1,
        "{}",
        agent.log_text()
    );
    assert!(
        agent.count("reissued", Some("pg")) >= 1,
        "{}",
        agent.log_text()
    );
    assert!(users.len() >= 2, "{users:?}");
    let (code, log) = agent.stop();
    assert_eq!(code, 0);
    assert!(log.contains("\"revoked\""), "{log}");
    for u in &users {
        assert!(!pg.role_exists(u), "{u} is still in pg_roles after SIGTERM");
    }
}

/// Mount a PKI engine at `mount` with a root CA named `ca_name` and a role
/// `agent` that issues any name (EC P-256, at most 1 h).
pub(crate) fn pki_mount(bao: &Bao, mount: &str, ca_name: &str) {
    let c = bao.client();
    c.write(
        &format!("sys/mounts/{mount}"),
        &json!({"type": "pki", "config": {"max_lease_ttl": "1h"}}),
    )
    .unwrap();
    c.write(
        &format!("{mount}/root/generate/internal"),
        &json!({"common_name": ca_name, "ttl": "1h"}),
    )
    .unwrap();
    c.write(
        &format!("{mount}/roles/agent"),
        &json!({"allow_any_name": true, "max_ttl": "1h", "key_type": "ec", "key_bits": 256}),
    )
    .unwrap();
}

fn short_lived_pki_certificates_are_reissued_before_expiry() {
    let Some(bao) = Bao::shared() else { return };
    let mount = unique("pki");
    pki_mount(bao, &mount, "agents test CA");
    let dir = common::tmpdir("agent-pki");
    let (cert, key, ca) = (
        dir.join("cert.pem"),
        dir.join("key.pem"),
        dir.join("ca.pem"),
    );
    let agent = AgentProc::start(
        &dir,
        &json!({"restore_identity": false,
                "sources": [{"name": "tls", "pki": {"mount": mount, "role": "agent",
                    "common_name": "agent.example.test", "ttl": "20s"},
                  "files": [
                    {"path": cert, "format": "raw", "field": "certificate", "mode": "0644"},
                    {"path": key, "format": "raw", "field": "private_key"},
                    {"path": ca, "format": "raw", "field": "issuing_ca", "mode": "0644"}]}]}),
        &root_env(bao),
    );
    let verify = |cert: &Path| {
        let out = Command::new("openssl")
            .arg("verify")
            .arg("-CAfile")
            .arg(&ca)
            .arg(cert)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let not_after = |cert: &Path| {
        let out = Command::new("openssl")
            .args(["x509", "-noout", "-enddate", "-serial", "-in"])
            .arg(cert)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    agent.wait_for("the certificate", Duration::from_secs(10), |_| {
        cert.exists() && ca.exists()
    });
    assert_eq!(mode(&key), 0o600);
    verify(&cert);
    let mut previous = (
        std::fs::read(&cert).unwrap(),
        not_after(&cert),
        Instant::now(),
    );
    for _ in 0..2 {
        agent.wait_for("a new certificate", Duration::from_secs(25), |_| {
            std::fs::read(&cert).unwrap() != previous.0
        });
        // Re-issued before the previous one (20 s) expired.
        assert!(
            previous.2.elapsed() < Duration::from_secs(19),
            "{:?}",
            previous.2.elapsed()
        );
        verify(&cert);
        assert_eq!(mode(&key), 0o600);
        let info = not_after(&cert);
        assert_ne!(info, previous.1);
        previous = (std::fs::read(&cert).unwrap(), info, Instant::now());
    }
    assert!(agent.count("reissued", Some("tls")) >= 2);
    let (code, log) = agent.stop();
    assert_eq!(code, 0);
    assert!(!log.contains("PRIVATE KEY"), "a key reached the log");
}

fn hostile_values_survive_every_format_and_bad_names_are_refused_or_normalised() {
    let Some(bao) = Bao::shared() else { return };
    let dir = common::tmpdir("agent-hostile");
    let path = unique("hostile");
    let hostile = "it's \"quoted\" $HOME `id` $(id) \\ \\n\n\ttab\r\nend\n\n";
    let binary: String = (1u8..=127).map(char::from).chain("é€😀".chars()).collect();
    kv_put(
        bao,
        &path,
        json!({"value": hostile, "bin": binary, "api-key": "k"}),
    );
    let (envf, jsonf, rawf, normf, badf) = (
        dir.join("a.env"),
        dir.join("a.json"),
        dir.join("a.raw"),
        dir.join("n.env"),
        dir.join("bad.env"),
    );
    let agent = AgentProc::start(
        &dir,
        &json!({"restore_identity": false, "backoff_max": "1s",
                "sources": [
                  {"name": "good", "kv": path, "files": [
                    {"path": envf, "format": "env", "fields": {"value": "VALUE", "bin": "BIN"}},
                    {"path": jsonf, "format": "json"},
                    {"path": rawf, "format": "raw", "field": "value"},
                    {"path": normf, "format": "env", "normalize": true}]},
                  {"name": "bad", "kv": path, "files": [{"path": badf, "format": "env"}]}]}),
        &root_env(bao),
    );
    agent.wait_for("the files", Duration::from_secs(10), |_| normf.exists());
    // sh reads the env file back byte for byte (printf, not echo).
    for (var, want) in [("VALUE", hostile), ("BIN", binary.as_str())] {
        let out = Command::new("sh")
            .args([
                "-c",
                &format!(". '{}'; printf '%s' \"${var}\"", envf.display()),
            ])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), want, "{var}");
    }
    let back: Value = serde_json::from_slice(&std::fs::read(&jsonf).unwrap()).unwrap();
    assert_eq!(back["value"], hostile);
    assert_eq!(back["bin"], binary.as_str());
    assert_eq!(std::fs::read_to_string(&rawf).unwrap(), hostile);
    let out = Command::new("sh")
        .args([
            "-c",
            &format!(". '{}'; printf '%s' \"$API_KEY\"", normf.display()),
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "k");
    // Without `normalize`, the invalid name is refused and nothing written.
    agent.wait_for("the refusal", Duration::from_secs(10), |a| {
        a.count("error", Some("bad")) >= 1
    });
    assert!(agent.log_text().contains("api-key"));
    assert!(!badf.exists());
    let (code, log) = agent.stop();
    assert_eq!(code, 0);
    assert!(!log.contains("quoted"), "a secret value reached the log");
}

fn strict_configuration_errors_name_the_key_and_the_file() {
    let dir = common::tmpdir("agent-config");
    let cfg = dir.join("bad.json");
    let cases = [
        (r#"{"restore_identity": false, "sorces": []}"#, "sorces"),
        (
            r#"{"sources": [{"name": "a", "kv": "x", "files": [{"path": "/tmp/x", "mod": "0600"}]}]}"#,
            "mod",
        ),
        (
            r#"{"sources": [{"name": "a", "kv": "x", "dynamic": "d", "files": [{"path": "/tmp/x"}]}]}"#,
            "exactly one",
        ),
        (r#"{"kv_interval": "often"}"#, "often"),
    ];
    for (text, needle) in cases {
        std::fs::write(&cfg, text).unwrap();
        let out = vaultid(
            &["agent", "--config", cfg.to_str().unwrap()],
            &[("VAULT_ADDR", "http://127.0.0.1:9".into())],
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text}: {err}");
        assert!(
            err.contains(needle) && err.contains("bad.json"),
            "{text}: {err}"
        );
    }
    let out = vaultid(
        &["agent", "status", "--status-file", "/nonexistent/s.json"],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
}

/// VmRSS in kB and the number of open fds of `pid`.
fn footprint(pid: u32) -> (u64, usize) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count();
    (rss, fds)
}

fn soak_with_short_ttls_keeps_rss_and_fds_flat() {
    let Some(bao) = Bao::shared() else { return };
    let mount = unique("soakpki");
    let c = bao.client();
    c.write(&format!("sys/mounts/{mount}"), &json!({"type": "pki"}))
        .unwrap();
    c.write(
        &format!("{mount}/root/generate/internal"),
        &json!({"common_name": "soak CA", "ttl": "1h"}),
    )
    .unwrap();
    c.write(
        &format!("{mount}/roles/agent"),
        &json!({"allow_any_name": true, "key_type": "ec", "key_bits": 256}),
    )
    .unwrap();
    c.write(
        "sys/policies/acl/agent-soak",
        &json!({"policy": format!("path \"secret/*\" {{ capabilities = [\"read\"] }}\n\
                  path \"{mount}/issue/agent\" {{ capabilities = [\"update\"] }}")}),
    )
    .unwrap();
    let path = unique("soak");
    kv_put(bao, &path, json!({"n": "0"}));
    let dir = common::tmpdir("agent-soak");
    let env = approle_env(bao, "2s", "6s");
    // approle_env's policy is agent-test; add the soak policy's paths by
    // pointing the role at both.
    let auth_mount = &env
        .iter()
        .find(|(k, _)| *k == "VAULT_AUTH_MOUNT")
        .unwrap()
        .1;
    c.write(
        &format!("auth/{auth_mount}/role/agent"),
        &json!({"token_ttl": "2s", "token_max_ttl": "6s",
                "token_policies": ["agent-test", "agent-soak"]}),
    )
    .unwrap();
    let agent = AgentProc::start(
        &dir,
        &json!({"restore_identity": false, "status_file": dir.join("status.json"),
                "token": {"sink": dir.join("token")},
                "sources": [
                  {"name": "kv", "kv": path, "interval": "200ms",
                   "files": [{"path": dir.join("kv.env"), "format": "env"}],
                   "notify": {"command": ["true"]}},
                  {"name": "tls", "pki": {"mount": mount, "role": "agent",
                     "common_name": "soak.test", "ttl": "3s"},
                   "files": [{"path": dir.join("c.pem"), "format": "raw", "field": "certificate"}]}]}),
        &env,
    );
    agent.wait_for("the files", Duration::from_secs(10), |_| {
        dir.join("c.pem").exists() && dir.join("kv.env").exists()
    });
    // Warm up, then sample while KV versions change every 2 s.
    let start = Instant::now();
    let mut samples = Vec::new();
    let mut n = 0;
    while start.elapsed() < Duration::from_secs(70) {
        n += 1;
        kv_put(bao, &path, json!({"n": n.to_string()}));
        std::thread::sleep(Duration::from_secs(2));
        if start.elapsed() > Duration::from_secs(10) {
            samples.push(footprint(agent.pid()));
        }
    }
    let (rss0, fd0) = samples[0];
    let (rss_max, fd_max) = (
        samples.iter().map(|s| s.0).max().unwrap(),
        samples.iter().map(|s| s.1).max().unwrap(),
    );
    let last = *samples.last().unwrap();
    eprintln!(
        "soak: rss {rss0} kB -> {} kB (max {rss_max}), fds {fd0} -> {} (max {fd_max}), {} samples",
        last.0,
        last.1,
        samples.len()
    );
    assert!(fd_max <= fd0 + 2, "fds grew: {samples:?}");
    assert!(last.1 <= fd0, "fds grew: {samples:?}");
    assert!(
        rss_max <= rss0 + 512,
        "RSS grew by more than 512 kB: {samples:?}"
    );
    assert!(
        agent.count("reissued", Some("tls")) >= 15,
        "{}",
        agent.log_text()
    );
    assert!(agent.count("read", Some("kv")) >= 25);
    assert!(agent.count("token_written", None) >= 8);
    let (code, _) = agent.stop();
    assert_eq!(code, 0);
}

fn the_hydra_access_token_is_kept_fresh_after_the_identity_is_restored() {
    use crate::hydra_double::HydraDouble;
    let Some(bao) = Bao::shared() else { return };
    let hydra = HydraDouble::start();
    hydra.set_token_lifespan(Duration::from_secs(6));
    let dir = common::tmpdir("agent-hydra");
    let keys = dir.join("keys");
    let name = unique("hydra");
    let token_file = dir.join("access_token");
    let mut env = root_env(bao);
    env.extend([
        ("VAULTID_AUTHOR", "agent-tests@example.com".to_string()),
        ("VAULTID_AGENT_NAME", name.clone()),
        ("VAULTID_KEY_DIR", keys.display().to_string()),
        ("HYDRA__ADMIN_URL", hydra.admin_url()),
        ("HYDRA__PUBLIC_URL", hydra.public_url()),
        ("HYDRA__MAX_RETRIES", "0".to_string()),
    ]);
    let agent = AgentProc::start(
        &dir,
        &json!({"restore_identity": true,
                "sources": [{"name": "hydra", "hydra_token": {},
                  "files": [{"path": token_file, "format": "raw"}]}]}),
        &env,
    );
    agent.wait_for("the token file", Duration::from_secs(15), |_| {
        token_file.exists()
    });
    assert_eq!(agent.count("identity_restored", None), 1);
    assert!(keys.join("private.pem").exists());
    let did = vaultid::identity::Identity::new("agent-tests@example.com", &name, None)
        .unwrap()
        .did;
    let creds: Value = serde_json::from_str(
        &std::fs::read_to_string(keys.join("oauth_credentials.json")).unwrap(),
    )
    .unwrap();
    let secret = creds[&did]["client_secret"].as_str().unwrap().to_string();
    let client = vaultid::hydra::TokenClient::new(
        &hydra.config(),
        &did,
        vaultid::SecretString::new(secret.as_str()),
    )
    .unwrap();
    let mut seen = std::collections::BTreeSet::new();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(14) {
        let t = std::fs::read_to_string(&token_file).unwrap();
        let active = client
            .introspect(&vaultid::SecretString::new(t.as_str()))
            .unwrap()
            .active;
        assert!(
            active,
            "the file held an inactive token after {:?}",
            start.elapsed()
        );
        seen.insert(t);
        std::thread::sleep(Duration::from_millis(500));
    }
    // 6 s tokens over 14 s: refreshed before each expiry.
    assert!(seen.len() >= 3, "{} tokens", seen.len());
    assert_eq!(mode(&token_file), 0o600);
    let (code, log) = agent.stop();
    assert_eq!(code, 0);
    for t in &seen {
        assert!(!log.contains(t.as_str()), "a token reached the log");
    }
}

fn a_wrapped_token_sink_unwraps_once_to_the_token() {
    let Some(bao) = Bao::shared() else { return };
    let dir = common::tmpdir("agent-wrap");
    let sink = dir.join("wrapped");
    let agent = AgentProc::start(
        &dir,
        &json!({"restore_identity": false,
                "token": {"sink": sink, "wrap_ttl": "60s", "sink_mode": "0640"}}),
        &root_env(bao),
    );
    agent.wait_for("the sink", Duration::from_secs(10), |_| sink.exists());
    assert_eq!(mode(&sink), 0o640);
    let wrapping = std::fs::read_to_string(&sink).unwrap();
    assert_ne!(wrapping.trim(), bao.token());
    let c = bao.client();
    let w = vaultid::SecretString::new(wrapping.trim());
    let answer = c.unwrap_response(&w).unwrap().unwrap();
    assert_eq!(answer["data"]["token"], bao.token());
    assert!(
        c.unwrap_response(&w).is_err(),
        "a wrapping token works once"
    );
    let (code, log) = agent.stop();
    assert_eq!(code, 0);
    assert!(!log.contains(bao.token()));
}

#[test]
fn agent_cases_in_parallel() {
    let cases: Vec<(&str, fn())> = vec![
        (
            "a_four_second_token_stays_usable_through_the_sink_for_a_minute",
            a_four_second_token_stays_usable_through_the_sink_for_a_minute as fn(),
        ),
        (
            "a_rotated_kv_secret_reaches_the_file_and_signals_the_child_once",
            a_rotated_kv_secret_reaches_the_file_and_signals_the_child_once as fn(),
        ),
        ("sighup_rereads_now", sighup_rereads_now as fn()),
        (
            "an_outage_of_twenty_seconds_leaves_files_alone_and_the_agent_recovers",
            an_outage_of_twenty_seconds_leaves_files_alone_and_the_agent_recovers as fn(),
        ),
        (
            "dynamic_db_credentials_log_in_through_the_file_and_are_revoked_on_sigterm",
            dynamic_db_credentials_log_in_through_the_file_and_are_revoked_on_sigterm as fn(),
        ),
        (
            "short_lived_pki_certificates_are_reissued_before_expiry",
            short_lived_pki_certificates_are_reissued_before_expiry as fn(),
        ),
        (
            "hostile_values_survive_every_format_and_bad_names_are_refused_or_normalised",
            hostile_values_survive_every_format_and_bad_names_are_refused_or_normalised as fn(),
        ),
        (
            "strict_configuration_errors_name_the_key_and_the_file",
            strict_configuration_errors_name_the_key_and_the_file as fn(),
        ),
        (
            "soak_with_short_ttls_keeps_rss_and_fds_flat",
            soak_with_short_ttls_keeps_rss_and_fds_flat as fn(),
        ),
        (
            "the_hydra_access_token_is_kept_fresh_after_the_identity_is_restored",
            the_hydra_access_token_is_kept_fresh_after_the_identity_is_restored as fn(),
        ),
        (
            "a_wrapped_token_sink_unwraps_once_to_the_token",
            a_wrapped_token_sink_unwraps_once_to_the_token as fn(),
        ),
    ];
    let only = std::env::var("VAULTID_AGENT_CASES").unwrap_or_default();
    let wanted =
        |name: &str| only.is_empty() || only.split(',').any(|w| !w.is_empty() && name.contains(w));
    let handles: Vec<_> = cases
        .into_iter()
        .filter(|(name, _)| wanted(name))
        .map(|(name, case)| {
            let h = std::thread::Builder::new()
                .name(name.to_string())
                .spawn(case)
                .unwrap();
            (name, h)
        })
        .collect();
    assert!(
        !handles.is_empty(),
        "no case matches VAULTID_AGENT_CASES={only}"
    );
    let failed: Vec<&str> = handles
        .into_iter()
        .filter_map(|(name, h)| h.join().is_err().then_some(name))
        .collect();
    assert!(
        failed.is_empty(),
        "failed agent cases: {failed:?} (their panics are above)"
    );
}
