//! `secrets::rotate` and `vaultid rotate` against a real OpenBao: concurrent
//! rotators and writers never lose an update.

use crate::common;

use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};

use common::bao::Bao;
use serde_json::{json, Map, Value};
use vaultid::fuzzing::secrets::{rotate_field, NewValue};
use vaultid::fuzzing::vault::{KvAdmin, MetadataUpdate};
use vaultid::SecretString;

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

fn unique(name: &str) -> String {
    format!("rotatetest/{name}-{}", uuid::Uuid::new_v4())
}

#[test]
fn two_rotators_at_once_lose_nothing() {
    let Some(bao) = Bao::shared() else { return };
    let path = unique("race");
    bao.client()
        .kv2("secret")
        .write(&path, &obj(json!({"k": "initial", "other": "kept"})), None)
        .unwrap();
    // Keep every version (the mount's default keeps 10).
    bao.client()
        .kv2("secret")
        .write_metadata(
            &path,
            &MetadataUpdate {
                max_versions: Some(100),
                ..MetadataUpdate::default()
            },
        )
        .unwrap();
    const ROUNDS: usize = 8;
    let barrier = Arc::new(Barrier::new(2));
    let handles: Vec<_> = (0..2)
        .map(|t| {
            let (barrier, path) = (Arc::clone(&barrier), path.clone());
            let client = bao.client();
            std::thread::spawn(move || {
                barrier.wait();
                let mut written = Vec::new();
                for i in 0..ROUNDS {
                    let v = NewValue::Given(SecretString::new(format!("t{t}-{i}")));
                    let r = rotate_field(&client, "secret", &path, "k", &v, 50, false).unwrap();
                    written.push((r.version, r.value.expose().to_string(), r.conflicts));
                }
                written
            })
        })
        .collect();
    let results: Vec<_> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let client = bao.client();
    let kv = client.kv2("secret");
    let meta = kv.read_metadata(&path).unwrap().unwrap();
    assert_eq!(meta.current_version as usize, 1 + 2 * ROUNDS);
    // Every rotation got its own version, holding exactly its value, and
    // the other field survived every one of them.
    let versions: HashSet<u64> = results.iter().map(|r| r.0).collect();
    assert_eq!(versions.len(), 2 * ROUNDS);
    for (version, value, _) in &results {
        let s = kv.read(&path, Some(*version)).unwrap().unwrap();
        assert_eq!(s.data["k"], *value, "version {version}");
        assert_eq!(s.data["other"], "kept", "version {version}");
    }
    let conflicts: u32 = results.iter().map(|r| r.2).sum();
    eprintln!("check-and-set conflicts retried: {conflicts}");
}

#[test]
fn a_rotator_and_another_writer_keep_each_others_changes() {
    let Some(bao) = Bao::shared() else { return };
    let path = unique("mixed");
    bao.client()
        .kv2("secret")
        .write(&path, &obj(json!({"password": "p0", "counter": 0})), None)
        .unwrap();
    const N: u64 = 10;
    let barrier = Arc::new(Barrier::new(2));
    let rotator = {
        let (barrier, path, client) = (Arc::clone(&barrier), path.clone(), bao.client());
        std::thread::spawn(move || {
            barrier.wait();
            let mut last = String::new();
            for _ in 0..N {
                let r = rotate_field(
                    &client,
                    "secret",
                    &path,
                    "password",
                    &NewValue::Random(16),
                    50,
                    false,
                )
                .unwrap();
                last = r.value.expose().to_string();
            }
            last
        })
    };
    let counter = {
        let (barrier, path, client) = (Arc::clone(&barrier), path.clone(), bao.client());
        std::thread::spawn(move || {
            barrier.wait();
            let kv = client.kv2("secret");
            for _ in 0..N {
                loop {
                    let cur = kv.read(&path, None).unwrap().unwrap();
                    let mut data = cur.data.clone();
                    let n = data["counter"].as_u64().unwrap();
                    data.insert("counter".into(), json!(n + 1));
                    match kv.write(&path, &data, Some(cur.metadata.version)) {
                        Ok(_) => break,
                        Err(vaultid::Error::CasMismatch { .. }) => continue,
                        Err(e) => panic!("{e}"),
                    }
                }
            }
        })
    };
    let last_password = rotator.join().unwrap();
    counter.join().unwrap();
    let latest = bao
        .client()
        .kv2("secret")
        .read(&path, None)
        .unwrap()
        .unwrap();
    assert_eq!(latest.data["counter"], N, "no increment lost");
    assert_eq!(
        latest.data["password"],
        last_password.as_str(),
        "no rotation lost"
    );
    assert_eq!(latest.metadata.version, 1 + 2 * N);
}

fn vaultid(bao: &Bao, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vaultid"));
    c.args(args)
        .env("VAULT_ADDR", bao.addr())
        .env("VAULT_TOKEN", bao.token())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    if let Some(text) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    } else {
        drop(child.stdin.take());
    }
    child.wait_with_output().unwrap()
}

#[test]
fn cli_rotate_prints_the_version_and_the_value_only_when_asked() {
    let Some(bao) = Bao::shared() else { return };
    let path = unique("cli");
    let client = bao.client();
    let kv = client.kv2("secret");
    kv.write(&path, &obj(json!({"api_key": "old", "user": "svc"})), None)
        .unwrap();

    let o = vaultid(bao, &["rotate", &format!("secret/{path}"), "api_key"], None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["version"], 2);
    assert_eq!(v["path"], format!("secret/{path}"));
    assert_eq!(v["key"], "api_key");
    assert!(v.get("value").is_none(), "{v}");
    let s = kv.read(&path, None).unwrap().unwrap();
    let generated = s.data["api_key"].as_str().unwrap();
    assert_eq!(generated.len(), 43, "32 random bytes, URL-safe base64");
    assert!(!String::from_utf8_lossy(&o.stdout).contains(generated));
    assert_eq!(s.data["user"], "svc");

    let o = vaultid(
        bao,
        &["rotate", &path, "api_key", "--length", "8", "--print"],
        None,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["version"], 3);
    let printed = v["value"].as_str().unwrap();
    assert_eq!(printed.len(), 11);
    assert_eq!(
        kv.read(&path, None).unwrap().unwrap().data["api_key"],
        printed
    );

    let o = vaultid(
        bao,
        &["rotate", &path, "api_key", "--value", "-"],
        Some("from stdin\n"),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        kv.read(&path, None).unwrap().unwrap().data["api_key"],
        "from stdin"
    );
    // Old versions stay in the history.
    assert_eq!(
        kv.read(&path, Some(1)).unwrap().unwrap().data["api_key"],
        "old"
    );

    let o = vaultid(bao, &["rotate", &unique("missing"), "k"], None);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = vaultid(
        bao,
        &["rotate", &path, "k", "--value", "x", "--length", "3"],
        None,
    );
    assert_eq!(o.status.code(), Some(2));
    let o = vaultid(bao, &["rotate", "--help"], None);
    assert!(o.status.success());
}
