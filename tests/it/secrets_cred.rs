//! The credential store against a real OpenBao: create, verify, rotate,
//! delete, what is stored, the CLI, and timing.

use crate::common;

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use common::bao::Bao;
use serde_json::Value;
use vaultid::fuzzing::secrets::{constant_time_eq, secret_sha256_hex, CredentialStore};

fn agent() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[test]
fn create_verify_rotate_delete() {
    let Some(bao) = Bao::shared() else { return };
    let client = bao.client();
    let store = CredentialStore::new(&client, "secret", "bindu");
    let agent = agent();
    let c = store.create(&agent).unwrap();
    assert_eq!(
        uuid::Uuid::parse_str(&c.credential_id)
            .unwrap()
            .get_version_num(),
        4
    );
    assert_eq!(c.secret.expose().len(), 43);
    assert!(!format!("{c:?}").contains(c.secret.expose()));

    // What Vault holds: the hash and the time, never the secret.
    let path = format!("bindu/agents/{agent}/credentials/{}", c.credential_id);
    let stored = client.kv2("secret").read(&path, None).unwrap().unwrap();
    assert_eq!(
        stored.data["secret_sha256"],
        secret_sha256_hex(c.secret.expose())
    );
    assert!(stored.data["created_at"]
        .as_str()
        .unwrap()
        .ends_with("+00:00"));
    assert!(!serde_json::to_string(&stored.data)
        .unwrap()
        .contains(c.secret.expose()));

    assert!(store
        .verify(&agent, &c.credential_id, c.secret.expose())
        .unwrap());
    assert!(!store.verify(&agent, &c.credential_id, "wrong").unwrap());
    assert!(!store.verify(&agent, &c.credential_id, "").unwrap());
    let mut almost = c.secret.expose().to_string();
    almost.pop();
    assert!(!store.verify(&agent, &c.credential_id, &almost).unwrap());
    // Another agent's path does not verify it.
    assert!(!store
        .verify(&self::agent(), &c.credential_id, c.secret.expose())
        .unwrap());

    let r = store.rotate(&agent, &c.credential_id).unwrap();
    assert_eq!(r.credential_id, c.credential_id);
    assert_eq!(r.version, 2);
    assert_ne!(r.secret.expose(), c.secret.expose());
    assert!(
        !store
            .verify(&agent, &c.credential_id, c.secret.expose())
            .unwrap(),
        "old secret fails"
    );
    assert!(
        store
            .verify(&agent, &c.credential_id, r.secret.expose())
            .unwrap(),
        "new secret works"
    );
    // The old version stays in the history.
    let v1 = client.kv2("secret").read(&path, Some(1)).unwrap().unwrap();
    assert_eq!(
        v1.data["secret_sha256"],
        secret_sha256_hex(c.secret.expose())
    );
    assert_eq!(store.list(&agent).unwrap(), vec![c.credential_id.clone()]);

    assert!(store.delete(&agent, &c.credential_id).unwrap());
    assert!(
        client.kv2("secret").read_metadata(&path).unwrap().is_none(),
        "metadata gone"
    );
    assert!(
        client.kv2("secret").read(&path, Some(1)).unwrap().is_none(),
        "history gone"
    );
    assert!(!store
        .verify(&agent, &c.credential_id, r.secret.expose())
        .unwrap());
    assert!(!store.delete(&agent, &c.credential_id).unwrap());
    assert!(matches!(
        store.rotate(&agent, &c.credential_id),
        Err(vaultid::Error::NotFound { .. })
    ));
    // Path injection is refused.
    assert!(store.create("../x").is_err());
    assert!(store.verify(&agent, "../../x", "s").is_err());
}

fn vaultid(bao: &Bao, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vaultid"))
        .args(args)
        .env("VAULT_ADDR", bao.addr())
        .env("VAULT_TOKEN", bao.token())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn json_out(o: &Output) -> Value {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn cli_cred_commands() {
    let Some(bao) = Bao::shared() else { return };
    let agent = agent();
    let c = json_out(&vaultid(bao, &["cred", "create", &agent], ""));
    let id = c["credential_id"].as_str().unwrap().to_string();
    let secret = c["secret"].as_str().unwrap().to_string();

    let ok = json_out(&vaultid(
        bao,
        &["cred", "verify", &agent, &id],
        &format!("{secret}\n"),
    ));
    assert_eq!(ok["valid"], true);
    assert!(!ok.to_string().contains(&secret));
    let bad = vaultid(bao, &["cred", "verify", &agent, &id], "nope\n");
    assert_eq!(bad.status.code(), Some(4));
    assert!(bad.stdout.is_empty());

    let r = json_out(&vaultid(bao, &["cred", "rotate", &agent, &id], ""));
    let new_secret = r["secret"].as_str().unwrap().to_string();
    assert_eq!(
        vaultid(bao, &["cred", "verify", &agent, &id], &secret)
            .status
            .code(),
        Some(4)
    );
    let o = Command::new(env!("CARGO_BIN_EXE_vaultid"))
        .args([
            "cred",
            "verify",
            &agent,
            &id,
            "--secret-env",
            "AGENT_SECRET",
        ])
        .env("VAULT_ADDR", bao.addr())
        .env("VAULT_TOKEN", bao.token())
        .env("AGENT_SECRET", &new_secret)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let l = json_out(&vaultid(bao, &["cred", "list", &agent], ""));
    assert_eq!(l["credential_ids"], serde_json::json!([id]));
    let d = json_out(&vaultid(bao, &["cred", "delete", &agent, &id], ""));
    assert_eq!(d["existed"], true);
    assert_eq!(
        vaultid(bao, &["cred", "verify", &agent, &id], &new_secret)
            .status
            .code(),
        Some(4)
    );
    assert_eq!(
        vaultid(bao, &["cred", "frobnicate", &agent], "")
            .status
            .code(),
        Some(2)
    );
    assert!(vaultid(bao, &["cred", "--help"], "").status.success());
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// A wrong secret that shares a long prefix with the right one takes no
/// longer to reject than one that differs at the first byte. Measured
/// through Vault, interleaved, medians, loose bound: a noisy 2-core machine
/// does not fail it, and the hash comparison gives nothing away anyway.
#[test]
fn verify_time_does_not_depend_on_a_shared_prefix() {
    let Some(bao) = Bao::shared() else { return };
    let client = bao.client();
    let store = CredentialStore::new(&client, "secret", "bindu");
    let agent = agent();
    let c = store.create(&agent).unwrap();
    let right = c.secret.expose().to_string();
    let mut late = right.clone();
    late.pop();
    late.push(if right.ends_with('A') { 'B' } else { 'A' });
    let early = format!(
        "{}{}",
        if right.starts_with('A') { 'B' } else { 'A' },
        &right[1..]
    );
    let time = |s: &str| {
        let t = Instant::now();
        assert!(!store.verify(&agent, &c.credential_id, s).unwrap());
        t.elapsed().as_nanos() as f64
    };
    for _ in 0..5 {
        time(&late);
        time(&early);
    }
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..40 {
        a.push(time(&late));
        b.push(time(&early));
    }
    let (ma, mb) = (median(a), median(b));
    let ratio = ma.max(mb) / ma.min(mb);
    assert!(ratio < 2.0, "shared prefix {ma} ns vs first byte {mb} ns");
    store.delete(&agent, &c.credential_id).unwrap();
}

/// The comparison itself, on inputs large enough that an early-exit
/// comparison (`==`) shows a difference of orders of magnitude between
/// "differs at the last byte" and "differs at the first": the detector is
/// checked against `==` first, then applied to `constant_time_eq`.
#[test]
fn constant_time_eq_passes_a_test_that_catches_early_exit() {
    let n = 1 << 20;
    let base = vec![7u8; n];
    let mut late = base.clone();
    late[n - 1] = 8;
    let mut early = base.clone();
    early[0] = 8;
    let measure = |f: &dyn Fn(&[u8], &[u8]) -> bool, iters: usize| {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..11 {
            for (other, out) in [(&late, &mut a), (&early, &mut b)] {
                let t = Instant::now();
                for _ in 0..iters {
                    assert!(!f(std::hint::black_box(&base), std::hint::black_box(other)));
                }
                out.push(t.elapsed().as_nanos() as f64);
            }
        }
        (median(a), median(b))
    };
    let naive = |x: &[u8], y: &[u8]| x == y;
    let (late_ns, early_ns) = measure(&naive, 50);
    assert!(
        late_ns > 5.0 * early_ns,
        "the detector sees early exit: late {late_ns} ns, early {early_ns} ns"
    );
    let (late_ns, early_ns) = measure(&constant_time_eq, 2);
    let ratio = late_ns.max(early_ns) / late_ns.min(early_ns);
    assert!(
        ratio < 2.0,
        "late {late_ns} ns vs early {early_ns} ns (ratio {ratio})"
    );
}
