//! The startup flow against a real OpenBao: restore on an empty disk,
//! migration, first start and races, crash safety, faults, compatibility
//! with the Python framework's storage, DID checks.

use crate::common;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::bao::Bao;
use common::{counting_proxy, json_ok, tmpdir};
use serde_json::{json, Value};

const AUTHOR: &str = "user@example.com";

/// A unique agent name per test, so tests can share one server.
fn agent(tag: &str) -> String {
    format!("{tag}-{}", &uuid::Uuid::new_v4().to_string()[..8])
}

fn vaultid(addr: &str, token: &str, name: &str, key_dir: &Path) -> Command {
    let mut c = common::agent_cmd(key_dir, AUTHOR, name);
    c.env("VAULT_ADDR", addr).env("VAULT_TOKEN", token);
    c
}

fn up(bao: &Bao, name: &str, key_dir: &Path) -> Command {
    let mut c = vaultid(bao.addr(), bao.token(), name, key_dir);
    c.arg("up");
    c
}

fn agent_id(name: &str) -> String {
    vaultid::identity::derive_agent_id(AUTHOR, name)
}

fn keys_path(name: &str) -> String {
    format!("bindu/agents/{}/did-keys", agent_id(name))
}

/// Current KV version of the agent's keys (0 when none).
fn version(bao: &Bao, name: &str) -> u64 {
    bao.client()
        .kv2("secret")
        .read_metadata(&keys_path(name))
        .unwrap()
        .map(|m| m.current_version)
        .unwrap_or(0)
}

fn local_public(dir: &Path) -> String {
    vaultid::cache::KeyDir::new(dir)
        .read_keys()
        .unwrap()
        .unwrap()
        .keys
        .public()
        .base58()
}

#[test]
fn two_pods_restore_one_identity_and_restarts_write_nothing() {
    let Some(bao) = Bao::shared() else { return };
    let name = agent("restart");
    let (pod_a, pod_b) = (tmpdir("a"), tmpdir("b"));
    let first = json_ok(&up(bao, &name, &pod_a).output().unwrap());
    assert_eq!(first["keys_source"], "generated");
    assert_eq!(first["vault"], "ok");
    assert_eq!(first["vault_version"], 1);
    let second = json_ok(&up(bao, &name, &pod_b).output().unwrap());
    assert_eq!(second["keys_source"], "vault");
    assert_eq!(second["did"], first["did"]);
    assert_eq!(second["public_key_base58"], first["public_key_base58"]);
    assert_eq!(local_public(&pod_b), first["public_key_base58"]);
    let mode = |p: PathBuf| {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    };
    assert_eq!(mode(pod_b.join("private.pem")), 0o600);
    for dir in [&pod_a, &pod_b, &pod_a] {
        let again = json_ok(&up(bao, &name, dir).output().unwrap());
        assert_eq!(again["keys_source"], "vault");
        assert_eq!(again["written"], json!([]), "{again}");
    }
    assert_eq!(version(bao, &name), 1);
}

#[test]
fn restore_and_warm_restart_take_one_vault_round_trip() {
    let Some(bao) = Bao::shared() else { return };
    let name = agent("trips");
    json_ok(&up(bao, &name, &tmpdir("seed")).output().unwrap());
    let proxy = counting_proxy(bao.addr());
    let dir = tmpdir("trips");
    let restored = json_ok(
        &vaultid(proxy.addr(), bao.token(), &name, &dir)
            .arg("up")
            .output()
            .unwrap(),
    );
    assert_eq!(restored["keys_source"], "vault");
    assert_eq!(proxy.seen().len(), 1, "{:?}", proxy.seen());
    json_ok(
        &vaultid(proxy.addr(), bao.token(), &name, &dir)
            .arg("up")
            .output()
            .unwrap(),
    );
    let seen = proxy.seen();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|s| s.method == "GET"));
    assert!(
        seen[1].path.ends_with(&keys_path(&name)),
        "{}",
        seen[1].path
    );
}

#[test]
fn local_keys_migrate_to_vault_with_cas_zero() {
    let Some(bao) = Bao::shared() else { return };
    let name = agent("migrate");
    let dir = tmpdir("migrate");
    // An existing deployment without Vault.
    let local = json_ok(
        &vaultid(bao.addr(), bao.token(), &name, &dir)
            .env("VAULT__ENABLED", "false")
            .arg("up")
            .output()
            .unwrap(),
    );
    assert_eq!(local["vault"], "disabled");
    let migrated = json_ok(&up(bao, &name, &dir).output().unwrap());
    assert_eq!(migrated["keys_source"], "local");
    assert_eq!(migrated["public_key_base58"], local["public_key_base58"]);
    assert_eq!(version(bao, &name), 1);
    let secret = bao
        .client()
        .kv2("secret")
        .read(&keys_path(&name), None)
        .unwrap()
        .unwrap();
    let keys: BTreeSet<_> = secret.data.keys().cloned().collect();
    assert_eq!(
        keys,
        ["did", "private_key", "public_key"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
    assert_eq!(
        secret.data["private_key"].as_str().unwrap(),
        fs::read_to_string(dir.join("private.pem")).unwrap()
    );
}

#[test]
fn vault_wins_over_a_differing_local_pair_which_is_kept_aside() {
    let Some(bao) = Bao::shared() else { return };
    let name = agent("differ");
    let vault_pod = tmpdir("v");
    let first = json_ok(&up(bao, &name, &vault_pod).output().unwrap());
    let other = tmpdir("other");
    let local = json_ok(
        &vaultid(bao.addr(), bao.token(), &name, &other)
            .env("VAULT__ENABLED", "false")
            .arg("up")
            .output()
            .unwrap(),
    );
    assert_ne!(local["public_key_base58"], first["public_key_base58"]);
    let old_private = fs::read_to_string(other.join("private.pem")).unwrap();
    let o = up(bao, &name, &other).output().unwrap();
    let out = json_ok(&o);
    assert_eq!(out["keys_source"], "vault");
    assert_eq!(out["public_key_base58"], first["public_key_base58"]);
    let warning = out["warnings"].to_string();
    assert!(
        warning.contains(local["public_key_base58"].as_str().unwrap())
            && warning.contains(first["public_key_base58"].as_str().unwrap()),
        "{warning}"
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("Vault wins"), "{stderr}");
    let aside: Vec<_> = out["set_aside"].as_array().unwrap().to_vec();
    assert_eq!(aside.len(), 2);
    let kept = aside
        .iter()
        .map(|p| p.as_str().unwrap())
        .find(|p| p.contains("private.pem.aside-"))
        .unwrap();
    assert_eq!(fs::read_to_string(kept).unwrap(), old_private);
    assert_eq!(version(bao, &name), 1);
}

#[test]
fn recreate_keys_replaces_the_pair_in_vault_with_cas() {
    let Some(bao) = Bao::shared() else { return };
    let name = agent("recreate");
    let dir = tmpdir("recreate");
    let first = json_ok(&up(bao, &name, &dir).output().unwrap());
    let second = json_ok(
        &up(bao, &name, &dir)
            .arg("--recreate-keys")
            .output()
            .unwrap(),
    );
    assert_eq!(second["keys_source"], "generated");
    assert_ne!(second["public_key_base58"], first["public_key_base58"]);
    assert_eq!(second["vault_version"], 2);
    assert_eq!(version(bao, &name), 2);
    assert_eq!(second["set_aside"].as_array().unwrap().len(), 2);
    // Another pod now restores the new pair.
    let pod = tmpdir("recreate-b");
    let third = json_ok(&up(bao, &name, &pod).output().unwrap());
    assert_eq!(third["public_key_base58"], second["public_key_base58"]);
    // Version 1 stays in history.
    let v1 = bao
        .client()
        .kv2("secret")
        .read(&keys_path(&name), Some(1))
        .unwrap()
        .unwrap();
    assert!(v1.data["public_key"].is_string());
}

#[test]
fn stored_did_mismatch_is_an_integrity_error() {
    let Some(bao) = Bao::shared() else { return };
    let name = agent("mismatch");
    let dir = tmpdir("mismatch");
    json_ok(&up(bao, &name, &dir).output().unwrap());
    // Someone stored keys under this agent id for another DID.
    let kv = bao.client();
    let kv = kv.kv2("secret");
    let mut s = kv.read(&keys_path(&name), None).unwrap().unwrap();
    s.data
        .insert("did".into(), "did:bindu:someone_else:x:y".into());
    kv.write(&keys_path(&name), &s.data, Some(1)).unwrap();
    let before = fs::read_to_string(dir.join("private.pem")).unwrap();
    let o = up(bao, &name, &tmpdir("mismatch-b")).output().unwrap();
    assert_eq!(o.status.code(), Some(4));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("did:bindu:someone_else:x:y"), "{err}");
    assert!(err.contains(&agent_id(&name)), "{err}");
    let o = up(bao, &name, &dir).output().unwrap();
    assert_eq!(o.status.code(), Some(4));
    assert_eq!(fs::read_to_string(dir.join("private.pem")).unwrap(), before);
    assert_eq!(version(bao, &name), 2);
}

#[test]
fn python_framework_storage_is_restored_and_ours_reads_back_plainly() {
    let Some(bao) = Bao::shared() else { return };
    let name = agent("compat");
    let id = vaultid::identity::Identity::new(AUTHOR, &name, None).unwrap();
    // PEMs as Python `cryptography` writes them (PKCS8 / SubjectPublicKeyInfo,
    // no encryption), which are byte-identical to OpenSSL's.
    let work = tmpdir("compat");
    let (private_pem, public_pem) = python_or_openssl_pems(&work);
    // Raw KV v2 HTTP, exactly as the Python client posts it.
    let body =
        json!({"data": {"private_key": private_pem, "public_key": public_pem, "did": id.did}});
    let resp = ureq::post(format!("{}/v1/secret/data/{}", bao.addr(), keys_path(&name)).as_str())
        .header("X-Vault-Token", bao.token())
        .send_json_like(&body);
    assert_eq!(resp, 200);
    let dir = tmpdir("compat-pod");
    let out = json_ok(&up(bao, &name, &dir).output().unwrap());
    assert_eq!(out["keys_source"], "vault");
    assert_eq!(out["did"], id.did);
    assert_eq!(
        fs::read_to_string(dir.join("private.pem")).unwrap(),
        private_pem
    );
    assert_eq!(
        fs::read_to_string(dir.join("public.pem")).unwrap(),
        public_pem
    );
    assert_eq!(version(bao, &name), 1);

    // The reverse: what vaultid writes, a plain KV v2 read returns with
    // exactly the three fields.
    let name2 = agent("compat-rev");
    let dir2 = tmpdir("compat-rev");
    let out = json_ok(&up(bao, &name2, &dir2).output().unwrap());
    let mut resp =
        ureq::get(format!("{}/v1/secret/data/{}", bao.addr(), keys_path(&name2)).as_str())
            .header("X-Vault-Token", bao.token())
            .call()
            .unwrap();
    let v: Value = serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap();
    let data = v["data"]["data"].as_object().unwrap();
    assert_eq!(data.len(), 3, "{data:?}");
    assert_eq!(data["did"], out["did"]);
    assert_eq!(
        data["private_key"].as_str().unwrap(),
        fs::read_to_string(dir2.join("private.pem")).unwrap()
    );
    assert_eq!(
        data["public_key"].as_str().unwrap(),
        fs::read_to_string(dir2.join("public.pem")).unwrap()
    );
}

trait SendJson {
    fn send_json_like(self, v: &Value) -> u16;
}

impl SendJson for ureq::RequestBuilder<ureq::typestate::WithBody> {
    fn send_json_like(self, v: &Value) -> u16 {
        self.header("Content-Type", "application/json")
            .send(v.to_string().as_bytes())
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    }
}

/// A fresh Ed25519 pair as PEM text, from Python `cryptography` when it is
/// installed, else from the openssl CLI (whose output is the same bytes).
fn python_or_openssl_pems(work: &Path) -> (String, String) {
    let py = r#"
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives import serialization as s
k = ed25519.Ed25519PrivateKey.generate()
print(k.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption()).decode(), end="")
print("--split--")
print(k.public_key().public_bytes(s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo).decode(), end="")
"#;
    if let Ok(o) = Command::new("python3").args(["-c", py]).output() {
        if o.status.success() {
            let text = String::from_utf8(o.stdout).unwrap();
            let (a, b) = text.split_once("--split--\n").unwrap();
            return (a.to_string(), b.to_string());
        }
    }
    let key = work.join("k.pem");
    let st = Command::new("openssl")
        .args(["genpkey", "-algorithm", "ed25519", "-out"])
        .arg(&key)
        .status()
        .expect("python3 cryptography or openssl is needed");
    assert!(st.success());
    let public = Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&key)
        .output()
        .unwrap();
    (
        fs::read_to_string(&key).unwrap(),
        String::from_utf8(public.stdout).unwrap(),
    )
}

#[test]
fn sixty_four_processes_on_eight_hosts_one_identity() {
    let Some(bao) = Bao::shared() else { return };
    let name = agent("race");
    let name = name.as_str();
    let hosts: Vec<PathBuf> = (0..8).map(|i| tmpdir(&format!("host{i}"))).collect();
    let children: Vec<_> = hosts
        .iter()
        .flat_map(|h| {
            (0..8).map(move |_| {
                up(bao, name, h)
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
        })
        .collect();
    let outs: Vec<Value> = children
        .into_iter()
        .map(|c| json_ok(&c.wait_with_output().unwrap()))
        .collect();
    assert_eq!(outs.len(), 64);
    let dids: BTreeSet<_> = outs.iter().map(|o| o["did"].to_string()).collect();
    let keys: BTreeSet<_> = outs
        .iter()
        .map(|o| o["public_key_base58"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(dids.len(), 1);
    assert_eq!(keys.len(), 1, "{keys:?}");
    let generated = outs
        .iter()
        .filter(|o| o["keys_source"] == "generated")
        .count();
    assert_eq!(generated, 1, "exactly one process may generate the pair");
    assert_eq!(version(bao, name), 1);
    let key = keys.into_iter().next().unwrap();
    for h in &hosts {
        assert_eq!(local_public(h), key, "{}", h.display());
    }
}

#[test]
fn sigkill_at_random_points_never_forks_the_identity() {
    let Some(bao) = Bao::shared() else { return };
    let name = agent("crash");
    let root = tmpdir("crash");
    let t = Instant::now();
    json_ok(
        &up(bao, &agent("probe"), &root.join("probe"))
            .output()
            .unwrap(),
    );
    let typical = t.elapsed();
    let mut vault_key: Option<String> = None;
    let rounds = 40u32;
    for i in 0..rounds {
        let dir = root.join(format!("k{i}"));
        let mut child = up(bao, &name, &dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Spread over a run, with a pseudo-random jitter.
        let jitter = (i as u64 * 7919) % 1000;
        std::thread::sleep(typical * i / rounds + Duration::from_micros(jitter));
        let _ = child.kill();
        let _ = child.wait();
        // Local: no partial file.
        if let Ok(p) = fs::read_to_string(dir.join("private.pem")) {
            assert!(
                p.ends_with("-----END PRIVATE KEY-----\n"),
                "partial private.pem"
            );
        }
        // Vault: at most one pair, ever.
        let v = version(bao, &name);
        assert!(v <= 1, "Vault holds {v} versions");
        if v == 1 {
            let s = bao
                .client()
                .kv2("secret")
                .read(&keys_path(&name), None)
                .unwrap()
                .unwrap();
            let k = s.data["public_key"].as_str().unwrap().to_string();
            if let Some(prev) = &vault_key {
                assert_eq!(prev, &k);
            }
            vault_key = Some(k);
        }
        // The next run succeeds and agrees with Vault.
        let out = json_ok(&up(bao, &name, &dir).output().unwrap());
        let s = bao
            .client()
            .kv2("secret")
            .read(&keys_path(&name), None)
            .unwrap()
            .unwrap();
        let vk = vaultid::identity::PublicKey::from_pem(s.data["public_key"].as_str().unwrap())
            .unwrap()
            .base58();
        assert_eq!(out["public_key_base58"], vk);
        assert_eq!(local_public(&dir), vk);
    }
    assert_eq!(version(bao, &name), 1);
}

/// Local keys for `name` in a new dir, created with Vault disabled.
fn local_only_keys(bao_addr: &str, name: &str) -> (PathBuf, Vec<u8>, Vec<u8>) {
    let dir = tmpdir("fault");
    json_ok(
        &vaultid(bao_addr, "unused", name, &dir)
            .env("VAULT__ENABLED", "false")
            .arg("up")
            .output()
            .unwrap(),
    );
    let p = fs::read(dir.join("private.pem")).unwrap();
    let q = fs::read(dir.join("public.pem")).unwrap();
    (dir, p, q)
}

/// With local keys: starts offline in bounded time, files untouched.
/// Without: exit 3, nothing generated.
fn assert_fault_outcome(addr: &str, token: &str, what: &str) {
    let name = agent(what);
    let (dir, p, q) = local_only_keys(addr, &name);
    let t = Instant::now();
    let out = json_ok(
        &vaultid(addr, token, &name, &dir)
            .arg("up")
            .output()
            .unwrap(),
    );
    let took = t.elapsed();
    assert_eq!(out["vault"], "unavailable", "{what}: {out}");
    assert_eq!(out["keys_source"], "local");
    assert!(out["vault_error"].is_string());
    assert!(took < Duration::from_secs(2), "{what}: took {took:?}");
    assert_eq!(fs::read(dir.join("private.pem")).unwrap(), p, "{what}");
    assert_eq!(fs::read(dir.join("public.pem")).unwrap(), q, "{what}");

    let empty = tmpdir("fault-empty");
    let t = Instant::now();
    let o = vaultid(addr, token, &name, &empty)
        .env("VAULT_CLIENT_TIMEOUT", "3s")
        .env("VAULT_MAX_RETRIES", "0")
        .arg("up")
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(3),
        "{what}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("fork the identity"), "{what}: {err}");
    assert!(!empty.join("private.pem").exists());
    assert!(t.elapsed() < Duration::from_secs(10), "{what}");

    // Opted in: generates locally and says so.
    let out = json_ok(
        &vaultid(addr, token, &name, &empty)
            .env("VAULT_CLIENT_TIMEOUT", "3s")
            .env("VAULT_MAX_RETRIES", "0")
            .args(["up", "--allow-offline-generate"])
            .output()
            .unwrap(),
    );
    assert_eq!(out["keys_source"], "generated", "{what}");
    assert_eq!(out["vault"], "unavailable");
}

#[test]
fn vault_stopped() {
    let Some(mut bao) = Bao::start() else { return };
    let addr = bao.addr().to_string();
    let token = bao.token().to_string();
    bao.stop();
    assert_fault_outcome(&addr, &token, "stopped");
}

#[test]
fn vault_sealed_then_backup_on_a_later_run() {
    let Some(bao) = Bao::start() else { return };
    let name = agent("sealed-later");
    let (dir, _, _) = local_only_keys(bao.addr(), &name);
    bao.bao(&["operator", "seal"]).unwrap();
    assert_fault_outcome(bao.addr(), bao.token(), "sealed");
    let out = json_ok(&up(&bao, &name, &dir).output().unwrap());
    assert_eq!(out["vault"], "unavailable");
    // Vault comes back (a fresh dev server stands in for the unsealed one):
    // the next run backs the local keys up.
    drop(bao);
    let Some(bao2) = Bao::start() else { return };
    let out2 = json_ok(&up(&bao2, &name, &dir).output().unwrap());
    assert_eq!(out2["vault"], "ok");
    assert_eq!(out2["keys_source"], "local");
    assert_eq!(out2["public_key_base58"], out["public_key_base58"]);
    assert_eq!(version(&bao2, &name), 1);
}

#[test]
fn vault_denies_by_policy() {
    let Some(bao) = Bao::shared() else { return };
    let policy = format!("deny-{}", uuid::Uuid::new_v4());
    bao.bao_with_input(
        &["policy", "write", &policy, "-"],
        Some("path \"secret/data/other/*\" { capabilities = [\"read\"] }\n"),
    )
    .unwrap();
    let token = bao
        .bao(&["token", "create", "-policy", &policy, "-field=token"])
        .unwrap();
    assert_fault_outcome(bao.addr(), token.trim(), "denied");
}

#[test]
fn vault_accepts_and_never_answers() {
    let addr = common::stalling_listener();
    assert_fault_outcome(&addr, "whatever", "blackhole");
}
