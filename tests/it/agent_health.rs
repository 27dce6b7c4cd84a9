//! `vaultid agent`'s own health against a real OpenBao: what the status
//! file and the events say when the token is revoked, expires or its login
//! is refused (exit 5, not an outage), how often it tries again (1 s
//! doubling to `backoff_max`, seen by a recording proxy in front of
//! OpenBao), what it refuses at start (exit 2), how long `SIGTERM` takes
//! while OpenBao is stopped (within `vault_wait`), and the readable
//! `agent status --human`.
//!
//! As in `agent.rs`, every case runs its own agent process and mostly
//! waits: the one `#[test]` runs them all at once in threads.
//! `VAULTID_AGENT_CASES=name,name` runs only the cases whose names contain
//! one of those words.

use crate::agent::{kv_put, root_env, unique, AgentProc};
use crate::common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::bao::Bao;
use serde_json::{json, Value};

/// A renewable orphan token of `ttl` that reads `secret/*`.
fn given_token(bao: &Bao, ttl: &str) -> String {
    let c = bao.client();
    c.write(
        "sys/policies/acl/agent-health",
        &json!({"policy": "path \"secret/*\" { capabilities = [\"read\", \"list\"] }"}),
    )
    .unwrap();
    c.write(
        "auth/token/create",
        &json!({"ttl": ttl, "renewable": true, "no_parent": true,
                "policies": ["agent-health"]}),
    )
    .unwrap()
    .unwrap()["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_string()
}

fn revoke(bao: &Bao, token: &str) {
    bao.client()
        .write("auth/token/revoke", &json!({ "token": token }))
        .unwrap();
}

/// Whether OpenBao still accepts `token`.
fn works(bao: &Bao, token: &str) -> bool {
    let mut cfg = bao.config();
    cfg.token = Some(token.trim().into());
    vaultid::vault::Client::new(&cfg)
        .unwrap()
        .lookup_self()
        .is_ok()
}

/// An AppRole at a fresh mount whose tokens last `ttl`, with its secret id
/// in a file (`VAULT_SECRET_ID_FILE`, read at each login); the agent's
/// environment (Vault at `addr`), the mount and the secret id file.
fn approle_with_file(
    bao: &Bao,
    dir: &Path,
    ttl: &str,
    addr: &str,
) -> (Vec<(&'static str, String)>, String, std::path::PathBuf) {
    let mount = unique("approle");
    let c = bao.client();
    c.write(&format!("sys/auth/{mount}"), &json!({"type": "approle"}))
        .unwrap();
    // The agent keeps trying a refused login; OpenBao's user lockout (5
    // refused logins lock the role out for 15 minutes, answering 403)
    // would then refuse the new secret id too.
    c.write(
        &format!("sys/mounts/auth/{mount}/tune"),
        &json!({"user_lockout_config": {"lockout_disable": true}}),
    )
    .unwrap();
    c.write(
        "sys/policies/acl/agent-health",
        &json!({"policy": "path \"secret/*\" { capabilities = [\"read\", \"list\"] }"}),
    )
    .unwrap();
    c.write(
        &format!("auth/{mount}/role/agent"),
        &json!({"token_ttl": ttl, "token_max_ttl": "1h", "token_policies": ["agent-health"]}),
    )
    .unwrap();
    let role_id = c
        .read(&format!("auth/{mount}/role/agent/role-id"))
        .unwrap()
        .unwrap()["data"]["role_id"]
        .as_str()
        .unwrap()
        .to_string();
    let file = dir.join("secret-id");
    new_secret_id(bao, &mount, &file);
    let env = vec![
        ("VAULT_ADDR", addr.to_string()),
        ("VAULT_AUTH_METHOD", "approle".into()),
        ("VAULT_AUTH_MOUNT", mount.clone()),
        ("VAULT_ROLE_ID", role_id),
        ("VAULT_SECRET_ID_FILE", file.display().to_string()),
    ];
    (env, mount, file)
}

/// A new secret id for the role, written to `file` whole (rename).
fn new_secret_id(bao: &Bao, mount: &str, file: &Path) -> String {
    let secret = bao
        .client()
        .write(&format!("auth/{mount}/role/agent/secret-id"), &json!({}))
        .unwrap()
        .unwrap()["data"]["secret_id"]
        .as_str()
        .unwrap()
        .to_string();
    let tmp = file.with_extension("tmp");
    std::fs::write(&tmp, &secret).unwrap();
    std::fs::rename(&tmp, file).unwrap();
    secret
}

/// When the proxy received requests whose path ends with one of `ends`,
/// after `after`.
fn arrivals(proxy: &common::TestServer, ends: &[&str], after: Instant) -> Vec<Instant> {
    proxy
        .seen()
        .iter()
        .filter(|r| r.at > after && ends.iter().any(|e| r.path.ends_with(e)))
        .map(|r| r.at)
        .collect()
}

fn gaps(times: &[Instant]) -> Vec<Duration> {
    times.windows(2).map(|w| w[1] - w[0]).collect()
}

fn a_revoked_given_token_is_denied_and_checked_with_backoff() {
    let Some(bao) = Bao::shared() else { return };
    let proxy = common::counting_proxy(bao.addr());
    let dir = common::tmpdir("health-revoked");
    let path = unique("revoked");
    kv_put(bao, &path, json!({"v": "1"}));
    let token = given_token(bao, "10s");
    let agent = AgentProc::start(
        &dir,
        &json!({"restore_identity": false, "status_file": dir.join("status.json"),
                "backoff_max": "2s",
                "sources": [{"name": "kv", "kv": path, "interval": "1s",
                  "files": [{"path": dir.join("kv.json")}]}]}),
        &[
            ("VAULT_ADDR", proxy.addr().to_string()),
            ("VAULT_TOKEN", token.clone()),
        ],
    );
    agent.wait_for("a healthy status", Duration::from_secs(10), |a| {
        a.status().0 == 0
    });
    assert_eq!(agent.status().1["token"]["state"], "ok");
    let revoked = Instant::now();
    revoke(bao, &token);
    // Not an outage: a refused token, exit 5, with what to do.
    agent.wait_for("exit code 5", Duration::from_secs(10), |a| {
        a.status().0 == 5
    });
    let (_, doc) = agent.status();
    let t = &doc["token"];
    assert_eq!(t["state"], "denied", "{doc}");
    assert_eq!(t["method"], "token", "{doc}");
    assert_eq!(t["can_login"], false, "{doc}");
    assert!(
        t["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("permission denied")),
        "{doc}"
    );
    assert!(
        t["note"]
            .as_str()
            .is_some_and(|n| n.contains("cannot log in again")),
        "{doc}"
    );
    assert!(
        doc["healthy"]["denied"]
            .as_array()
            .is_some_and(|d| !d.is_empty()),
        "{doc}"
    );
    assert!(
        agent.count("token_error", None) >= 1,
        "{}",
        agent.log_text()
    );
    // It keeps looking, 1 s doubling to backoff_max (2 s), less jitter:
    // never once a second for ever.
    std::thread::sleep(
        (revoked + Duration::from_secs(14)).saturating_duration_since(Instant::now()),
    );
    let checks = arrivals(
        &proxy,
        &["/v1/auth/token/lookup-self", "/v1/auth/token/renew-self"],
        revoked,
    );
    let g = gaps(&checks);
    eprintln!("revoked token: {} checks in 14 s, gaps {g:?}", checks.len());
    assert!(checks.len() >= 5, "{g:?}\n{}", agent.log_text());
    assert!(
        g.iter()
            .all(|d| *d >= Duration::from_millis(750) && *d <= Duration::from_millis(2600)),
        "{g:?}"
    );
    assert!(
        g[g.len() - 3..]
            .iter()
            .all(|d| *d >= Duration::from_millis(1550)),
        "not at the cap: {g:?}"
    );
    let (code, log) = agent.stop();
    assert_eq!(code, 0, "{log}");
    assert!(!log.contains(&token), "the token reached the log");
}

fn approle_logs_in_again_and_a_refused_login_is_denied_until_a_new_secret_id() {
    let Some(bao) = Bao::shared() else { return };
    let proxy = common::counting_proxy(bao.addr());
    let dir = common::tmpdir("health-approle");
    let (env, mount, secret_file) = approle_with_file(bao, &dir, "10s", proxy.addr());
    let sink = dir.join("token");
    let read_sink = || std::fs::read_to_string(&sink).unwrap_or_default();
    let agent = AgentProc::start(
        &dir,
        &json!({"restore_identity": false, "status_file": dir.join("status.json"),
                "backoff_max": "2s", "token": {"sink": sink}}),
        &env,
    );
    agent.wait_for(
        "the sink and a healthy status",
        Duration::from_secs(10),
        |a| sink.exists() && a.status().0 == 0,
    );
    // A revoked token: the agent logs in again.
    let first = read_sink();
    revoke(bao, &first);
    agent.wait_for("a new token in the sink", Duration::from_secs(15), |_| {
        let t = read_sink();
        !t.is_empty() && t != first
    });
    let second = read_sink();
    assert!(works(bao, &second));
    agent.wait_for("a healthy status", Duration::from_secs(5), |a| {
        a.status().0 == 0
    });
    // The secret id destroyed and the token revoked: the login is refused,
    // and the status says so (exit 5), not "unreachable".
    let secret = std::fs::read_to_string(&secret_file).unwrap();
    bao.client()
        .write(
            &format!("auth/{mount}/role/agent/secret-id/destroy"),
            &json!({ "secret_id": secret }),
        )
        .unwrap();
    revoke(bao, &second);
    agent.wait_for("exit code 5", Duration::from_secs(15), |a| {
        a.status().0 == 5
    });
    let denied = Instant::now();
    let (_, doc) = agent.status();
    let t = &doc["token"];
    assert_eq!(t["state"], "denied", "{doc}");
    assert_eq!(t["method"], "approle", "{doc}");
    assert_eq!(t["can_login"], true, "{doc}");
    assert!(
        t["last_error"]
            .as_str()
            .is_some_and(|e| e.contains(&format!("auth/{mount}/login"))),
        "{doc}"
    );
    // Logins are retried 1 s doubling to backoff_max (2 s), not every 5 s.
    std::thread::sleep(Duration::from_secs(7));
    let logins = arrivals(&proxy, &[&format!("/v1/auth/{mount}/login")], denied);
    let g = gaps(&logins);
    eprintln!("refused login: {} logins in 7 s, gaps {g:?}", logins.len());
    assert!(logins.len() >= 4, "{g:?}\n{}", agent.log_text());
    assert!(
        g.iter()
            .all(|d| *d >= Duration::from_millis(750) && *d <= Duration::from_millis(2600)),
        "{g:?}"
    );
    // A new secret id in the file: the next try logs in.
    new_secret_id(bao, &mount, &secret_file);
    agent.wait_for("a healthy status again", Duration::from_secs(6), |a| {
        a.status().0 == 0
    });
    let third = read_sink();
    assert_ne!(third, second);
    assert!(works(bao, &third));
    assert_eq!(agent.status().1["token"]["state"], "ok");
    assert!(agent.count("token_error", None) >= 1);
    let (code, log) = agent.stop();
    assert_eq!(code, 0, "{log}");
    for t in [&first, &second, &third, &secret] {
        assert!(!log.contains(t.trim()), "a secret reached the log");
    }
}

/// `vaultid agent ARGS` with only `env` (and `PATH`, `HOME`): its exit code
/// and stderr, or a panic when it runs for more than 10 s.
fn agent_exit(args: &[&str], dir: &Path, env: &[(&str, &str)]) -> (i32, String) {
    let err = dir.join(format!("err-{}", uuid::Uuid::new_v4().simple()));
    let mut c = Command::new(env!("CARGO_BIN_EXE_vaultid"));
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err).unwrap());
    for (k, v) in env {
        c.env(k, v);
    }
    let mut child = c.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return (
                s.code().unwrap_or(-1),
                std::fs::read_to_string(&err).unwrap_or_default(),
            );
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "vaultid {args:?} still ran after 10 s; stderr: {}",
                std::fs::read_to_string(&err).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn a_hydra_token_source_without_hydra_and_a_missing_config_are_refused_at_start() {
    let dir = common::tmpdir("health-refused");
    let cfg = dir.join("agent.json");
    std::fs::write(
        &cfg,
        serde_json::to_vec(&json!({"restore_identity": false,
            "sources": [{"name": "oauth", "hydra_token": {},
              "files": [{"path": dir.join("access_token"), "format": "raw"}]}]}))
        .unwrap(),
    )
    .unwrap();
    let cfg_s = cfg.to_str().unwrap();
    let vault = [
        ("VAULT_ADDR", "http://127.0.0.1:9"),
        ("VAULT_TOKEN", "unused"),
    ];
    let identity = [
        ("VAULTID_AUTHOR", "health@example.com"),
        ("VAULTID_AGENT_NAME", "health"),
    ];
    let hydra_admin = [("HYDRA__ADMIN_URL", "http://127.0.0.1:9")];
    let hydra_public = [("HYDRA__PUBLIC_URL", "http://127.0.0.1:9")];
    type Env<'a> = Vec<(&'a str, &'a str)>;
    let cases: Vec<(Env, &[&str])> = vec![
        // No Hydra at all.
        (
            [&vault[..], &identity[..]].concat(),
            &["\"oauth\"", "HYDRA__PUBLIC_URL"],
        ),
        // An admin URL but no public one: no token endpoint.
        (
            [&vault[..], &identity[..], &hydra_admin[..]].concat(),
            &["\"oauth\"", "HYDRA__PUBLIC_URL"],
        ),
        // Hydra, but no identity to ask a token for.
        (
            [&vault[..], &hydra_admin[..], &hydra_public[..]].concat(),
            &["\"oauth\"", "VAULTID_AUTHOR"],
        ),
    ];
    for (env, needles) in cases {
        let (code, err) = agent_exit(&["agent", "--config", cfg_s], &dir, &env);
        assert_eq!(code, 2, "{env:?}: {err}");
        for n in needles {
            assert!(err.contains(n), "{env:?}: {n} not in {err}");
        }
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    // A configuration file that is not there is a usage error naming it.
    let missing = dir.join("nowhere/agent.json");
    let missing_s = missing.to_str().unwrap();
    for args in [
        &["agent", "--config", missing_s][..],
        &["agent", "status", "--config", missing_s][..],
    ] {
        let (code, err) = agent_exit(args, &dir, &vault);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(missing_s), "{args:?}: {err}");
    }
}

fn sigterm_during_an_outage_stops_within_vault_wait() {
    let Some(mut bao) = Bao::start() else { return };
    let dir = common::tmpdir("health-sigterm");
    let path = unique("sigterm");
    kv_put(&bao, &path, json!({"v": "1"}));
    let (mut env, _, _) = approle_with_file(&bao, &dir, "1h", bao.addr());
    // Each request is bounded by vault_wait alone.
    env.push(("VAULT_CLIENT_TIMEOUT", "30s".into()));
    let file = dir.join("kv.json");
    let agent = AgentProc::start(
        &dir,
        &json!({"restore_identity": false, "vault_wait": "3s", "backoff_max": "1s",
                "token": {"revoke_on_exit": true},
                "exec": {"command": ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done"]},
                "sources": [{"name": "kv", "kv": path, "interval": "1s",
                  "files": [{"path": file}]}]}),
        &env,
    );
    agent.wait_for("the child", Duration::from_secs(10), |a| {
        a.count("child_started", None) == 1
    });
    let pid = bao.pid().to_string();
    let signal_bao = |sig: &str| {
        assert!(Command::new("kill")
            .args([sig, &pid])
            .status()
            .unwrap()
            .success());
    };
    signal_bao("-STOP");
    // Wait for a failed check, then SIGTERM 0.4 s into the next one, which
    // stalls for the whole vault_wait.
    let deadline = Instant::now() + Duration::from_secs(15);
    let failed = loop {
        let errors: Vec<Value> = agent
            .events()
            .into_iter()
            .filter(|e| e["event"] == "error" && e["source"] == "kv")
            .collect();
        if let Some(e) = errors.last() {
            break e.clone();
        }
        assert!(Instant::now() < deadline, "{}", agent.log_text());
        std::thread::sleep(Duration::from_millis(10));
    };
    let retry = Duration::from_millis(failed["retry_in_ms"].as_u64().unwrap());
    std::thread::sleep(retry + Duration::from_millis(400));
    let t = Instant::now();
    let (code, log) = agent.stop();
    let took = t.elapsed();
    signal_bao("-CONT");
    eprintln!("SIGTERM during an outage: stopped in {took:?} (vault_wait 3 s)");
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("\"child_stopped\""), "{log}");
    assert!(log.contains("\"token_revoke_failed\""), "{log}");
    assert!(
        took < Duration::from_millis(3800),
        "SIGTERM took {took:?}, past vault_wait (3 s) and a 0.8 s margin:\n{log}"
    );
    bao.stop();
}

fn agent_status_human_is_a_readable_summary() {
    let Some(bao) = Bao::shared() else { return };
    let dir = common::tmpdir("health-human");
    let path = unique("human");
    kv_put(bao, &path, json!({"v": "1"}));
    kv_put(bao, &path, json!({"v": "2"}));
    let status_file = dir.join("status.json");
    let agent = AgentProc::start(
        &dir,
        &json!({"restore_identity": false, "status_file": status_file,
                "exec": {"command": ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done"]},
                "sources": [{"name": "db", "kv": path, "files": [{"path": dir.join("db.json")}]}]}),
        &root_env(bao),
    );
    agent.wait_for("a healthy status", Duration::from_secs(10), |a| {
        a.status().0 == 0 && a.count("child_started", None) == 1
    });
    let out = Command::new(env!("CARGO_BIN_EXE_vaultid"))
        .args(["agent", "status", "--human", "--status-file"])
        .arg(&status_file)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{text}");
    eprintln!("agent status --human:\n{text}");
    assert!(
        !text.contains('{') && !text.contains('['),
        "raw JSON in the readable status:\n{text}"
    );
    let line = |start: &str| {
        text.lines()
            .find(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("no line starting {start:?}:\n{text}"))
            .to_string()
    };
    assert!(line("agent:").contains("healthy"), "{text}");
    assert!(line("token:").contains("ok"), "{text}");
    let db = line("source db");
    assert!(
        db.contains("kv") && db.contains("version 2") && db.contains("rendered"),
        "{text}"
    );
    assert!(line("child:").contains("pid"), "{text}");
    // JSON stays the default.
    let (code, doc) = agent.status();
    assert_eq!(code, 0);
    assert_eq!(doc["sources"]["db"]["detail"]["version"], 2);
    let (code, _) = agent.stop();
    assert_eq!(code, 0);
}

#[test]
fn agent_health_cases_in_parallel() {
    let cases: Vec<(&str, fn())> = vec![
        (
            "a_revoked_given_token_is_denied_and_checked_with_backoff",
            a_revoked_given_token_is_denied_and_checked_with_backoff as fn(),
        ),
        (
            "approle_logs_in_again_and_a_refused_login_is_denied_until_a_new_secret_id",
            approle_logs_in_again_and_a_refused_login_is_denied_until_a_new_secret_id as fn(),
        ),
        (
            "a_hydra_token_source_without_hydra_and_a_missing_config_are_refused_at_start",
            a_hydra_token_source_without_hydra_and_a_missing_config_are_refused_at_start as fn(),
        ),
        (
            "sigterm_during_an_outage_stops_within_vault_wait",
            sigterm_during_an_outage_stops_within_vault_wait as fn(),
        ),
        (
            "agent_status_human_is_a_readable_summary",
            agent_status_human_is_a_readable_summary as fn(),
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
    let failed: Vec<&str> = handles
        .into_iter()
        .filter_map(|(name, h)| h.join().is_err().then_some(name))
        .collect();
    assert!(
        failed.is_empty(),
        "failed agent health cases: {failed:?} (their panics are above)"
    );
}
