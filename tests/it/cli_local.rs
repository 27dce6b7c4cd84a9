//! The CLI on the embedded local default (no Vault, no Hydra): first run,
//! restarts, many processes at once, SIGKILL at any point, rejections.

use crate::common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{json_ok, tmpdir};
use serde_json::Value;

const AUTHOR: &str = "user@example.com";
const NAME: &str = "my-agent";
const DID: &str = "did:bindu:user_at_example_com:my-agent:fabb74f0-a028-4fe9-efd6-4efcbbd10d44";

/// A `vaultid` command with a clean environment (no Vault, no Hydra).
fn vaultid(key_dir: &Path) -> Command {
    common::agent_cmd(key_dir, AUTHOR, NAME)
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn first_run_generates_then_restarts_load() {
    let root = tmpdir("restart");
    let dir = root.join("keys");
    let first = json_ok(&vaultid(&dir).arg("up").output().unwrap());
    assert_eq!(first["did"], DID);
    assert_eq!(first["agent_id"], "fabb74f0-a028-4fe9-efd6-4efcbbd10d44");
    assert_eq!(first["keys_source"], "generated");
    assert_eq!(first["vault"], "disabled");
    assert!(first["elapsed_ms"].is_u64());
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("private.pem")), 0o600);
    assert_eq!(mode(&dir.join("public.pem")), 0o644);
    for _ in 0..3 {
        let again = json_ok(&vaultid(&dir).arg("up").output().unwrap());
        assert_eq!(again["keys_source"], "local");
        assert_eq!(again["public_key_base58"], first["public_key_base58"]);
        assert_eq!(again["written"], Value::Array(vec![]));
    }
    let show = json_ok(&vaultid(&dir).arg("show").output().unwrap());
    assert_eq!(show["public_key_base58"], first["public_key_base58"]);
    assert!(show["did_key"]
        .as_str()
        .unwrap()
        .starts_with("did:key:z6Mk"));
    fs::remove_dir_all(root).unwrap();
}

#[test]
fn recreate_keys_keeps_the_old_pair_aside() {
    let dir = tmpdir("recreate");
    let first = json_ok(&vaultid(&dir).arg("up").output().unwrap());
    let old_private = fs::read_to_string(dir.join("private.pem")).unwrap();
    let second = json_ok(
        &vaultid(&dir)
            .args(["up", "--recreate-keys"])
            .output()
            .unwrap(),
    );
    assert_eq!(second["keys_source"], "generated");
    assert_ne!(second["public_key_base58"], first["public_key_base58"]);
    let aside = second["set_aside"].as_array().unwrap();
    assert_eq!(aside.len(), 2, "{second}");
    let kept = aside
        .iter()
        .map(|p| PathBuf::from(p.as_str().unwrap()))
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("private.pem.aside-")
        })
        .unwrap();
    assert_eq!(fs::read_to_string(&kept).unwrap(), old_private);
    assert_eq!(mode(&kept), 0o600);
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn id_vectors_and_rejections() {
    let dir = tmpdir("id");
    let o = json_ok(
        &vaultid(&dir)
            .args([
                "id",
                "--author",
                "dutta.raahul@gmail.com",
                "--name",
                "postman",
            ])
            .output()
            .unwrap(),
    );
    assert_eq!(o["agent_id"], "640b6e9e-5e6e-c96d-c32c-6691db5b7944");
    assert_eq!(
        o["did"],
        "did:bindu:dutta_raahul_at_gmail_com:postman:640b6e9e-5e6e-c96d-c32c-6691db5b7944"
    );
    // `id` touches nothing.
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
    for (flag, value) in [
        ("--author", ""),
        ("--author", "a:b"),
        ("--name", "x/y"),
        ("--name", ".."),
        ("--name", "tab\there"),
        ("--agent-id", "not-a-uuid"),
    ] {
        let o = vaultid(&dir).args(["id", flag, value]).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{flag} {value:?}");
        assert!(o.stdout.is_empty());
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    let o = vaultid(&dir).args(["up", "--bogus"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let o = vaultid(&dir).args(["frobnicate"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn every_command_has_help() {
    let dir = tmpdir("help");
    for cmd in ["up", "id", "show", "did-document", "sign", "verify"] {
        let o = vaultid(&dir).args([cmd, "--help"]).output().unwrap();
        assert!(o.status.success(), "{cmd}");
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(text.contains("Usage: vaultid"), "{cmd}: {text}");
    }
    let o = vaultid(&dir).arg("--help").output().unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).contains("up"));
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn sign_verify_and_document() {
    let dir = tmpdir("sign");
    json_ok(&vaultid(&dir).arg("up").output().unwrap());
    let s = json_ok(
        &vaultid(&dir)
            .args(["sign", "hello agent"])
            .output()
            .unwrap(),
    );
    let sig = s["signature"].as_str().unwrap().to_string();
    let ok = json_ok(
        &vaultid(&dir)
            .args(["verify", "hello agent", &sig])
            .output()
            .unwrap(),
    );
    assert_eq!(ok["valid"], true);
    let bad = vaultid(&dir)
        .args(["verify", "hello agenT", &sig])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(4));
    // Verify against an explicit public key, without local keys.
    let other = tmpdir("sign-other");
    let ok = json_ok(
        &vaultid(&other)
            .args(["verify", "hello agent", &sig, "--public-key"])
            .arg(s["public_key_base58"].as_str().unwrap())
            .output()
            .unwrap(),
    );
    assert_eq!(ok["valid"], true);
    let doc = json_ok(&vaultid(&dir).arg("did-document").output().unwrap());
    assert_eq!(doc["id"], DID);
    assert_eq!(doc["authentication"][0]["id"], format!("{DID}#key-1"));
    assert_eq!(
        doc["authentication"][0]["type"],
        "Ed25519VerificationKey2020"
    );
    assert_eq!(
        doc["authentication"][0]["publicKeyBase58"],
        s["public_key_base58"]
    );
    fs::remove_dir_all(dir).unwrap();
    fs::remove_dir_all(other).unwrap();
}

#[test]
fn unreadable_local_key_is_never_overwritten() {
    let dir = tmpdir("corrupt");
    fs::write(
        dir.join("private.pem"),
        "-----BEGIN PRIVATE KEY-----\nnot base64!\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let o = vaultid(&dir).arg("up").output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(fs::read_to_string(dir.join("private.pem"))
        .unwrap()
        .contains("not base64!"));
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn thirty_two_processes_one_key_pair() {
    let dir = tmpdir("race").join("keys");
    let children: Vec<_> = (0..32)
        .map(|_| {
            vaultid(&dir)
                .arg("up")
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
    let keys: std::collections::BTreeSet<_> = outs
        .iter()
        .map(|o| o["public_key_base58"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(outs.iter().all(|o| o["did"] == DID));
    let generated = outs
        .iter()
        .filter(|o| o["keys_source"] == "generated")
        .count();
    assert_eq!(generated, 1);
    let mut names: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, vec![".lock", "private.pem", "public.pem"]);
    fs::remove_dir_all(dir.parent().unwrap()).unwrap();
}

/// Check the key dir after a kill: no key, or one complete valid pair
/// (a private key whose public half is present and matching, or absent
/// and restored by the next run).
fn assert_consistent(dir: &Path) -> Option<String> {
    let private = dir.join("private.pem");
    let public = dir.join("public.pem");
    if !private.exists() {
        return None;
    }
    let p = fs::read_to_string(&private).unwrap();
    assert!(
        p.starts_with("-----BEGIN PRIVATE KEY-----\n")
            && p.ends_with("-----END PRIVATE KEY-----\n"),
        "partial private.pem: {:?}",
        p.len()
    );
    assert_eq!(mode(&private), 0o600);
    if public.exists() {
        let q = fs::read_to_string(&public).unwrap();
        assert!(
            q.starts_with("-----BEGIN PUBLIC KEY-----\n")
                && q.ends_with("-----END PUBLIC KEY-----\n"),
            "partial public.pem"
        );
    }
    Some(p)
}

#[test]
fn sigkill_at_any_point_leaves_no_partial_key() {
    let root = tmpdir("crash");
    // Measure a typical run to spread the kill points over it.
    let t = Instant::now();
    json_ok(&vaultid(&root.join("probe")).arg("up").output().unwrap());
    let typical = t.elapsed().max(Duration::from_millis(2));
    let rounds = 60u32;
    let mut killed_with_key = 0;
    let mut killed_without_key = 0;
    for i in 0..rounds {
        let dir = root.join(format!("k{i}"));
        let mut child = vaultid(&dir)
            .arg("up")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(typical * i / rounds);
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let before = assert_consistent(&dir);
        match &before {
            Some(_) => killed_with_key += 1,
            None => killed_without_key += 1,
        }
        // The next run succeeds and keeps any key that was completed.
        let o = json_ok(&vaultid(&dir).arg("up").output().unwrap());
        assert_eq!(o["did"], DID);
        let after = assert_consistent(&dir).unwrap();
        if let Some(b) = before {
            assert_eq!(b, after, "a completed key was replaced");
        }
        let leftovers: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
    eprintln!("killed before any key: {killed_without_key}, after: {killed_with_key}");
    fs::remove_dir_all(root).unwrap();
}
