//! The startup flow with Hydra: a real OpenBao and the Hydra test double
//! (a stateful stand-in whose every exchange is checked against Hydra's
//! OpenAPI document). One client and one secret across restarts, key
//! recreation, deleted clients, replica races, Hydra outages.

use crate::common;
use crate::hydra_double;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::bao::Bao;
use common::{counting_proxy, json_ok, tmpdir};
use hydra_double::{assert_all_valid, HydraDouble};
use serde_json::Value;
use vaultid::hydra::TokenClient;
use vaultid::SecretString;

const AUTHOR: &str = "user@example.com";

fn agent(tag: &str) -> String {
    format!("{tag}-{}", &uuid::Uuid::new_v4().to_string()[..8])
}

fn did(name: &str) -> String {
    vaultid::identity::Identity::new(AUTHOR, name, None)
        .unwrap()
        .did
}

fn up(vault_addr: &str, token: &str, hydra: &HydraDouble, name: &str, dir: &Path) -> Command {
    let mut c = vaultid(vault_addr, token, hydra, name, dir);
    c.arg("up");
    c
}

/// `vaultid` with the environment of an agent using Vault and Hydra.
fn vaultid(vault_addr: &str, token: &str, hydra: &HydraDouble, name: &str, dir: &Path) -> Command {
    let mut c = common::agent_cmd(dir, AUTHOR, name);
    c.env("VAULT_ADDR", vault_addr)
        .env("VAULT_TOKEN", token)
        .env("HYDRA__ADMIN_URL", hydra.admin_url())
        .env("HYDRA__PUBLIC_URL", hydra.public_url())
        .env("HYDRA__MAX_RETRIES", "0")
        .env("HYDRA__TIMEOUT", "3s");
    c
}

fn vault_creds(bao: &Bao, name: &str) -> Option<(String, u64)> {
    bao.client()
        .kv2("secret")
        .read(&format!("bindu/hydra/credentials/{}", did(name)), None)
        .unwrap()
        .map(|s| {
            (
                s.data["client_secret"].as_str().unwrap().to_string(),
                s.metadata.version,
            )
        })
}

fn local_secret(dir: &Path, name: &str) -> String {
    let text = fs::read_to_string(dir.join("oauth_credentials.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    v[did(name)]["client_secret"].as_str().unwrap().to_string()
}

fn token_works(hydra: &HydraDouble, name: &str, secret: &str) -> bool {
    TokenClient::new(&hydra.config(), &did(name), SecretString::new(secret))
        .and_then(|t| t.token())
        .is_ok()
}

#[test]
fn restarts_keep_one_client_and_one_secret() {
    let Some(bao) = Bao::shared() else { return };
    let hydra = HydraDouble::start();
    let name = agent("restart");
    let (a, b) = (tmpdir("a"), tmpdir("b"));
    let first = json_ok(
        &up(bao.addr(), bao.token(), &hydra, &name, &a)
            .output()
            .unwrap(),
    );
    assert_eq!(first["hydra"]["status"], "ok");
    assert_eq!(first["hydra"]["client"], "created");
    assert_eq!(first["hydra"]["credentials_source"], "generated");
    let (secret, v) = vault_creds(bao, &name).unwrap();
    assert_eq!(v, 1);
    assert_eq!(hydra.client_secret(&did(&name)).unwrap(), secret);
    assert_eq!(local_secret(&a, &name), secret);
    let mode = fs::metadata(a.join("oauth_credentials.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // Pod B, empty disk.
    let second = json_ok(
        &up(bao.addr(), bao.token(), &hydra, &name, &b)
            .output()
            .unwrap(),
    );
    assert_eq!(second["hydra"]["client"], "reused");
    assert_eq!(second["hydra"]["credentials_source"], "vault");
    assert_eq!(local_secret(&b, &name), secret);
    // Warm restart: nothing written anywhere.
    let third = json_ok(
        &up(bao.addr(), bao.token(), &hydra, &name, &a)
            .output()
            .unwrap(),
    );
    assert_eq!(third["written"], serde_json::json!([]), "{third}");
    assert_eq!(hydra.count("createOAuth2Client"), 1);
    assert_eq!(hydra.count("setOAuth2Client"), 0);
    assert_eq!(hydra.count("deleteOAuth2Client"), 0);
    assert_eq!(vault_creds(bao, &name).unwrap().1, 1);
    assert_eq!(hydra.client_ids(), vec![did(&name)]);
    assert!(token_works(&hydra, &name, &secret));
    // The registration body is the Python framework's.
    let c = hydra.client(&did(&name)).unwrap();
    assert_eq!(c["client_name"], name);
    assert_eq!(c["token_endpoint_auth_method"], "client_secret_post");
    assert_eq!(c["scope"], "openid offline agent:read agent:write");
    assert_eq!(c["metadata"]["public_key"], first["public_key_base58"]);
    assert_eq!(c["metadata"]["key_type"], "Ed25519");
    assert_eq!(c["metadata"]["hybrid_auth"], true);
    assert_all_valid(&hydra);
}

#[test]
fn warm_restart_is_three_round_trips() {
    let Some(bao) = Bao::shared() else { return };
    let hydra = HydraDouble::start();
    let name = agent("trips");
    let dir = tmpdir("trips");
    json_ok(
        &up(bao.addr(), bao.token(), &hydra, &name, &dir)
            .output()
            .unwrap(),
    );
    let before = hydra.total_requests();
    let proxy = counting_proxy(bao.addr());
    json_ok(
        &up(proxy.addr(), bao.token(), &hydra, &name, &dir)
            .output()
            .unwrap(),
    );
    let vault_trips = proxy.seen().len();
    let hydra_trips = hydra.total_requests() - before;
    assert_eq!(vault_trips, 2, "{:?}", proxy.seen());
    assert_eq!(hydra_trips, 1);
}

#[test]
fn recreate_keys_updates_the_client_in_place() {
    let Some(bao) = Bao::shared() else { return };
    let hydra = HydraDouble::start();
    let name = agent("recreate");
    let dir = tmpdir("recreate");
    json_ok(
        &up(bao.addr(), bao.token(), &hydra, &name, &dir)
            .output()
            .unwrap(),
    );
    let (secret, _) = vault_creds(bao, &name).unwrap();
    let out = json_ok(
        &up(bao.addr(), bao.token(), &hydra, &name, &dir)
            .arg("--recreate-keys")
            .output()
            .unwrap(),
    );
    assert_eq!(out["hydra"]["client"], "updated");
    let c = hydra.client(&did(&name)).unwrap();
    assert_eq!(c["metadata"]["public_key"], out["public_key_base58"]);
    assert_eq!(hydra.client_secret(&did(&name)).unwrap(), secret);
    assert_eq!(hydra.count("createOAuth2Client"), 1);
    assert_eq!(hydra.count("deleteOAuth2Client"), 0);
    assert_eq!(vault_creds(bao, &name).unwrap(), (secret.clone(), 1));
    assert!(token_works(&hydra, &name, &secret));
    assert_all_valid(&hydra);
}

#[test]
fn a_deleted_client_comes_back_with_the_same_id_and_secret() {
    let Some(bao) = Bao::shared() else { return };
    let hydra = HydraDouble::start();
    let name = agent("deleted");
    json_ok(
        &up(bao.addr(), bao.token(), &hydra, &name, &tmpdir("d1"))
            .output()
            .unwrap(),
    );
    let (secret, _) = vault_creds(bao, &name).unwrap();
    // An administrator deletes the client in Hydra.
    let url = format!(
        "{}/admin/clients/{}",
        hydra.admin_url(),
        hydra_double::codec::percent_encode(&did(&name))
    );
    assert_eq!(ureq::delete(&url).call().unwrap().status().as_u16(), 204);
    let out = json_ok(
        &up(bao.addr(), bao.token(), &hydra, &name, &tmpdir("d2"))
            .output()
            .unwrap(),
    );
    assert_eq!(out["hydra"]["client"], "created");
    assert_eq!(out["hydra"]["credentials_source"], "vault");
    assert_eq!(hydra.client_secret(&did(&name)).unwrap(), secret);
    assert_eq!(vault_creds(bao, &name).unwrap(), (secret.clone(), 1));
    assert!(token_works(&hydra, &name, &secret));
    assert_all_valid(&hydra);
}

#[test]
fn a_client_without_any_held_secret_gets_a_new_one_in_place() {
    let Some(bao) = Bao::shared() else { return };
    let hydra = HydraDouble::start();
    let name = agent("orphan");
    // Registered by someone else; no secret in Vault or on disk.
    hydra.seed_client(serde_json::json!({
        "client_id": did(&name),
        "client_secret": "unknown-secret-000",
        "scope": "openid offline agent:read agent:write",
        "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "client_secret_post"
    }));
    let out = json_ok(
        &up(bao.addr(), bao.token(), &hydra, &name, &tmpdir("o"))
            .output()
            .unwrap(),
    );
    assert_eq!(out["hydra"]["client"], "secret_reset");
    let (secret, _) = vault_creds(bao, &name).unwrap();
    assert_eq!(hydra.client_secret(&did(&name)).unwrap(), secret);
    assert_eq!(hydra.count("deleteOAuth2Client"), 0);
    assert!(token_works(&hydra, &name, &secret));
    assert_all_valid(&hydra);
}

#[test]
fn eight_replicas_race_to_one_client_and_one_secret() {
    let Some(bao) = Bao::shared() else { return };
    let hydra = HydraDouble::start();
    let name = agent("race");
    let name = name.as_str();
    let dirs: Vec<PathBuf> = (0..8).map(|i| tmpdir(&format!("r{i}"))).collect();
    let children: Vec<_> = dirs
        .iter()
        .map(|d| {
            up(bao.addr(), bao.token(), &hydra, name, d)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outs: Vec<Value> = children
        .into_iter()
        .map(|c| json_ok(&c.wait_with_output().unwrap()))
        .collect();
    assert!(
        outs.iter().all(|o| o["hydra"]["status"] == "ok"),
        "{outs:?}"
    );
    assert_eq!(hydra.client_ids(), vec![did(name)]);
    let (secret, v) = vault_creds(bao, name).unwrap();
    assert_eq!(v, 1, "one secret in Vault");
    assert_eq!(hydra.client_secret(&did(name)).unwrap(), secret);
    let held: BTreeSet<String> = dirs.iter().map(|d| local_secret(d, name)).collect();
    assert_eq!(held.len(), 1);
    assert!(held.contains(&secret));
    for _ in &dirs {
        assert!(token_works(&hydra, name, &secret));
    }
    assert_eq!(hydra.count("deleteOAuth2Client"), 0);
    assert_all_valid(&hydra);
}

#[test]
fn hydra_down_the_identity_still_comes_up_and_the_next_run_registers() {
    let Some(bao) = Bao::shared() else { return };
    let mut hydra = HydraDouble::start();
    let name = agent("down");
    let dir = tmpdir("down");
    hydra.fail_with(503);
    let out = json_ok(
        &up(bao.addr(), bao.token(), &hydra, &name, &dir)
            .output()
            .unwrap(),
    );
    assert_eq!(out["hydra"]["status"], "unavailable");
    assert_eq!(out["vault"], "ok");
    assert!(dir.join("private.pem").exists());
    // With --require-hydra the same situation exits 3.
    let o = up(bao.addr(), bao.token(), &hydra, &name, &dir)
        .arg("--require-hydra")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3));
    // A failure prints no success object, and one error line on stderr
    // (after the warnings logged on the way).
    assert!(
        o.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let err = String::from_utf8_lossy(&o.stderr);
    let errors: Vec<&str> = err
        .lines()
        .filter(|l| !l.starts_with("vaultid: warn: "))
        .collect();
    assert_eq!(errors.len(), 1, "{err}");
    assert!(errors[0].contains("--require-hydra"), "{err}");
    hydra.clear_faults();
    let out = json_ok(
        &up(bao.addr(), bao.token(), &hydra, &name, &dir)
            .output()
            .unwrap(),
    );
    assert_eq!(out["hydra"]["status"], "ok");
    assert_eq!(out["hydra"]["client"], "created");
    let (secret, _) = vault_creds(bao, &name).unwrap();
    assert!(token_works(&hydra, &name, &secret));
    // Nothing listening at all.
    let stopped_addr = hydra.admin_url();
    hydra.shutdown();
    let mut c = up(bao.addr(), bao.token(), &hydra, &name, &dir);
    c.env("HYDRA__ADMIN_URL", &stopped_addr);
    let out = json_ok(&c.output().unwrap());
    assert_eq!(out["hydra"]["status"], "unavailable");
    assert_eq!(out["keys_source"], "vault");
}

#[test]
fn credentials_file_is_never_readable_by_others_and_secrets_stay_out_of_logs() {
    let Some(bao) = Bao::shared() else { return };
    let hydra = HydraDouble::start();
    let name = agent("hygiene");
    let dir = tmpdir("hygiene");
    // Watch every file in the key dir while the runs write them.
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (stop, dir) = (stop.clone(), dir.clone());
        std::thread::spawn(move || {
            let mut bad = Vec::new();
            let mut looks = 0u64;
            while !stop.load(Ordering::SeqCst) {
                if let Ok(entries) = fs::read_dir(&dir) {
                    for e in entries.flatten() {
                        let n = e.file_name().to_string_lossy().into_owned();
                        if n.contains("oauth_credentials") || n.contains("private.pem") {
                            if let Ok(m) = e.metadata() {
                                looks += 1;
                                if m.permissions().mode() & 0o077 != 0 {
                                    bad.push(n);
                                }
                            }
                        }
                    }
                }
            }
            (bad, looks)
        })
    };
    let mut stderr = String::new();
    for i in 0..6 {
        let mut c = up(bao.addr(), bao.token(), &hydra, &name, &dir);
        c.env("VAULTID_LOG", "debug");
        if i == 3 {
            // Lose the local file: it is rewritten from Vault.
            let _ = fs::remove_file(dir.join("oauth_credentials.json"));
        }
        let o = c.output().unwrap();
        json_ok(&o);
        stderr.push_str(&String::from_utf8_lossy(&o.stderr));
        stderr.push_str(&String::from_utf8_lossy(&o.stdout));
    }
    stop.store(true, Ordering::SeqCst);
    let (bad, looks) = watcher.join().unwrap();
    assert!(bad.is_empty(), "readable by others at some moment: {bad:?}");
    assert!(looks > 0);
    let (secret, _) = vault_creds(bao, &name).unwrap();
    let private = fs::read_to_string(dir.join("private.pem")).unwrap();
    let key_body = private.lines().nth(1).unwrap();
    assert!(!stderr.contains(&secret), "client secret leaked");
    assert!(!stderr.contains(key_body), "private key leaked");
    assert!(!stderr.contains(bao.token()), "Vault token leaked");
}

#[test]
fn token_command_uses_the_restored_credentials() {
    let Some(bao) = Bao::shared() else { return };
    let hydra = HydraDouble::start();
    let name = agent("token");
    let dir = tmpdir("token");
    json_ok(
        &up(bao.addr(), bao.token(), &hydra, &name, &dir)
            .output()
            .unwrap(),
    );
    let token = |dir: &Path, args: &[&str]| {
        vaultid(bao.addr(), bao.token(), &hydra, &name, dir)
            .arg("token")
            .args(args)
            .output()
            .unwrap()
    };
    let t = json_ok(&token(&dir, &[]));
    assert!(!t["access_token"].as_str().unwrap().is_empty());
    assert_eq!(t["token_type"], "bearer");
    assert!(t["expires_in"].as_u64().unwrap() > 0);
    let t = json_ok(&token(&dir, &["--scope", "agent:read", "--introspect"]));
    assert_eq!(t["scope"], "agent:read");
    assert_eq!(t["active"], true);
    assert_eq!(t["client_id"], did(&name));
    // A fresh pod without local credentials reads them from Vault.
    let t = json_ok(&token(&tmpdir("token-empty"), &[]));
    assert!(!t["access_token"].as_str().unwrap().is_empty());
    assert_all_valid(&hydra);
}

#[test]
fn sigkill_during_registration_never_splits_the_secret() {
    let Some(bao) = Bao::shared() else { return };
    let hydra = HydraDouble::start();
    let t = std::time::Instant::now();
    json_ok(
        &up(
            bao.addr(),
            bao.token(),
            &hydra,
            &agent("probe"),
            &tmpdir("probe"),
        )
        .output()
        .unwrap(),
    );
    let typical = t.elapsed();
    let rounds = 24u32;
    for i in 0..rounds {
        let name = agent("kill");
        // Half the rounds start from a client nobody holds a secret for.
        if i % 2 == 1 {
            hydra.seed_client(serde_json::json!({
                "client_id": did(&name),
                "client_secret": "unknown-secret-000",
                "scope": "openid offline agent:read agent:write",
                "grant_types": ["client_credentials"],
                "token_endpoint_auth_method": "client_secret_post"
            }));
        }
        let dir = tmpdir("kill");
        let mut child = up(bao.addr(), bao.token(), &hydra, &name, &dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(typical * (i / 2) / (rounds / 2));
        let _ = child.kill();
        let _ = child.wait();
        // The next run (another pod) completes, and what Vault holds is
        // what Hydra accepts.
        let out = json_ok(
            &up(bao.addr(), bao.token(), &hydra, &name, &tmpdir("after"))
                .output()
                .unwrap(),
        );
        assert_eq!(out["hydra"]["status"], "ok", "{out}");
        let (secret, _) = vault_creds(bao, &name).unwrap();
        assert_eq!(
            hydra.client_secret(&did(&name)).unwrap(),
            secret,
            "round {i}: {out}"
        );
        assert!(token_works(&hydra, &name, &secret));
    }
    assert_eq!(hydra.count("deleteOAuth2Client"), 0);
    assert_all_valid(&hydra);
}

/// `HYDRA__TOKEN_AUTH_METHOD=client_secret_basic` (documented): `up`
/// registers the client for Basic, so `vaultid token`, which then uses
/// Basic, gets a token (Hydra, like the double, refuses a method the client
/// was not registered with). A client registered for `client_secret_post`
/// by an earlier run is updated in place (PUT), never deleted.
#[test]
fn the_configured_token_auth_method_is_the_registered_one() {
    let Some(bao) = Bao::shared() else { return };
    let hydra = HydraDouble::start();
    let name = agent("basic");
    let dir = tmpdir("basic");
    // First with the default (post), then switched to Basic.
    let first = json_ok(
        &up(bao.addr(), bao.token(), &hydra, &name, &dir)
            .output()
            .unwrap(),
    );
    assert_eq!(first["hydra"]["client"], "created");
    let c = hydra.client(&did(&name)).unwrap();
    assert_eq!(c["token_endpoint_auth_method"], "client_secret_post");
    let secret = hydra.client_secret(&did(&name)).unwrap();
    let basic = |args: &[&str]| {
        let mut c = vaultid(bao.addr(), bao.token(), &hydra, &name, &dir);
        c.env("HYDRA__TOKEN_AUTH_METHOD", "client_secret_basic")
            .args(args);
        c.output().unwrap()
    };
    let second = json_ok(&basic(&["up"]));
    assert_eq!(second["hydra"]["client"], "updated", "{second}");
    let c = hydra.client(&did(&name)).unwrap();
    assert_eq!(c["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(
        hydra.client_secret(&did(&name)).unwrap(),
        secret,
        "secret kept"
    );
    assert_eq!(hydra.count("deleteOAuth2Client"), 0);
    let t = json_ok(&basic(&["token"]));
    assert_eq!(t["token_type"], "bearer");
    let ex = hydra.exchanges();
    let last = ex
        .iter()
        .rev()
        .find(|e| e.operation == Some("oauth2TokenExchange"))
        .unwrap();
    assert_eq!(last.status, 200);
    assert!(last.header("authorization").unwrap().starts_with("Basic "));
    // A new agent configured for Basic from the start.
    let other = agent("basic-new");
    let dir2 = tmpdir("basic-new");
    let mut c = vaultid(bao.addr(), bao.token(), &hydra, &other, &dir2);
    c.env("HYDRA__TOKEN_AUTH_METHOD", "client_secret_basic")
        .arg("up");
    json_ok(&c.output().unwrap());
    assert_eq!(
        hydra.client(&did(&other)).unwrap()["token_endpoint_auth_method"],
        "client_secret_basic"
    );
    let mut c = vaultid(bao.addr(), bao.token(), &hydra, &other, &dir2);
    c.env("HYDRA__TOKEN_AUTH_METHOD", "client_secret_basic")
        .arg("token");
    json_ok(&c.output().unwrap());
    assert_all_valid(&hydra);
}
