//! With a local pair, a Vault that refuses connections decides at once:
//! every configured node is tried once, without a wait between them and
//! without a retry after a backoff. A listener that accepts and stalls
//! still gets the start-up deadline. Every address is on loopback.

use crate::common;

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{json_ok, tmpdir};

/// A loopback address nothing listens on.
fn refused_addr() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = format!("http://{}", l.local_addr().unwrap());
    drop(l);
    a
}

fn up(dir: &Path, name: &str, env: &[(&str, &str)]) -> Command {
    let mut c = common::agent_cmd(dir, "fast@example.com", name);
    c.env("VAULT_TOKEN", "unused")
        .envs(env.iter().copied())
        .arg("up");
    c
}

/// A key dir holding a pair made with Vault disabled.
fn local_pair(name: &str) -> std::path::PathBuf {
    let dir = tmpdir("fast-fallback");
    json_ok(
        &up(&dir, name, &[("VAULT__ENABLED", "false")])
            .output()
            .unwrap(),
    );
    dir
}

#[test]
fn refused_nodes_are_final_with_a_local_pair() {
    let name = format!("fast-{}", &uuid::Uuid::new_v4().to_string()[..8]);
    let dir = local_pair(&name);
    let addrs = [refused_addr(), refused_addr(), refused_addr()];
    for (what, env) in [
        ("one node", vec![("VAULT_ADDR", addrs[0].clone())]),
        (
            "three nodes",
            vec![
                ("VAULT_ADDR", addrs[0].clone()),
                ("VAULTID_VAULT_ADDRS", addrs.join(",")),
            ],
        ),
    ] {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let t = Instant::now();
        let out = json_ok(&up(&dir, &name, &env).output().unwrap());
        let took = t.elapsed();
        assert_eq!(out["keys_source"], "local", "{what}: {out}");
        assert_eq!(out["vault"], "unavailable", "{what}: {out}");
        // No backoff: one node reports no wait at all, three report the
        // moves from node to node, which wait nothing.
        match out["vault_waited"].as_str() {
            None => assert_eq!(what, "one node", "{out}"),
            Some(w) => assert!(w.starts_with("waited 0.0 s over 2 retries"), "{what}: {w}"),
        }
        // The old retry alone waited 250 ms or more; the process start and
        // the refused connects take a few ms (generous for a loaded machine).
        assert!(took < Duration::from_millis(240), "{what}: took {took:?}");
    }
}

#[test]
fn without_a_local_pair_refused_nodes_are_still_retried() {
    let name = format!("fast-none-{}", &uuid::Uuid::new_v4().to_string()[..8]);
    let dir = tmpdir("fast-fallback-empty");
    let o = up(
        &dir,
        &name,
        &[
            ("VAULT_ADDR", &refused_addr()),
            ("VAULT_MAX_RETRIES", "1"),
            ("VAULTID_LOG", "info"),
        ],
    )
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("retry 1"), "{err}");
    assert!(!dir.join("private.pem").exists());
}

#[test]
fn a_stalled_listener_still_gets_the_startup_deadline() {
    let addr = common::stalling_listener();
    let name = format!("fast-stall-{}", &uuid::Uuid::new_v4().to_string()[..8]);
    let dir = local_pair(&name);
    let t = Instant::now();
    let out = json_ok(
        &up(
            &dir,
            &name,
            &[("VAULT_ADDR", &addr), ("VAULTID_STARTUP_TIMEOUT", "700ms")],
        )
        .output()
        .unwrap(),
    );
    let took = t.elapsed();
    assert_eq!(out["keys_source"], "local", "{out}");
    assert_eq!(out["vault"], "unavailable", "{out}");
    // It waited for the answer that never came, up to the deadline.
    assert!(took >= Duration::from_millis(650), "took {took:?}");
    assert!(took < Duration::from_millis(2500), "took {took:?}");
}
