//! Replacing the key pair (`up --recreate-keys`) as another process sees
//! it. The Python agent framework, sharing the key directory, makes a new
//! pair at start-up when either `private.pem` or `public.pem` is missing,
//! which would fork the identity; so at no instant, and after no crash, may
//! a name be missing, and after any crash the directory holds at least the
//! complete pair it held before.
//!
//! The crash is real: `VAULTID_FAULT_KILL_AT=STEP` (compiled only with the
//! `fuzzing` feature, which the crate's tests turn on) makes `vaultid`
//! SIGKILL itself at that step of the replacement. The concurrent reader is
//! real too: a thread polling the files while another thread replaces the
//! pair again and again.

use crate::common;

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{json_ok, tmpdir};
use vaultid::cache::KeyDir;
use vaultid::identity::KeyPair;

const AUTHOR: &str = "swap@example.com";

fn up(dir: &Path) -> std::process::Command {
    let mut c = common::agent_cmd(dir, AUTHOR, "swap");
    c.arg("up").stdin(std::process::Stdio::null());
    c
}

/// Every private key in the directory (`private.pem` and the aside
/// copies), as base58 public keys.
fn private_keys_in(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("private.pem"))
        .filter_map(|e| fs::read_to_string(e.path()).ok())
        .filter_map(|pem| KeyPair::from_pem(&pem).ok())
        .map(|k| k.public().base58())
        .collect()
}

fn public_at(dir: &Path, name: &str) -> Option<String> {
    let pem = fs::read_to_string(dir.join(name)).ok()?;
    vaultid::identity::PublicKey::from_pem(&pem)
        .ok()
        .map(|p| p.base58())
}

#[test]
fn a_kill_at_each_step_of_recreate_leaves_both_names_and_the_old_pair() {
    // (step, which pair the next start uses: the old or the new one)
    let steps = [
        ("written", false),
        ("kept-aside", false),
        ("private-in", true),
        ("public-in", true),
    ];
    for (step, new_wins) in steps {
        let dir = tmpdir("swap-kill");
        let first = json_ok(&up(&dir).output().unwrap());
        let old = first["public_key_base58"].as_str().unwrap().to_string();
        let t = Instant::now();
        let o = up(&dir)
            .arg("--recreate-keys")
            .env("VAULTID_FAULT_KILL_AT", step)
            .output()
            .unwrap();
        assert_eq!(
            o.status.signal(),
            Some(9),
            "{step}: vaultid was not killed there (exit {:?}: {})",
            o.status.code(),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(t.elapsed() < Duration::from_secs(10), "{step}: too slow");
        // What the framework checks at its start-up: both names exist.
        let private = dir.join("private.pem");
        let public = dir.join("public.pem");
        assert!(
            private.is_file() && public.is_file(),
            "{step}: a name is missing after the kill: {:?}",
            fs::read_dir(&dir)
                .unwrap()
                .flatten()
                .map(|e| e.file_name())
                .collect::<Vec<_>>()
        );
        // The pair held before is complete in the directory.
        assert!(
            private_keys_in(&dir).contains(&old),
            "{step}: the old private key is gone"
        );
        let now_private = KeyPair::from_pem(&fs::read_to_string(&private).unwrap())
            .unwrap()
            .public()
            .base58();
        let now_public = public_at(&dir, "public.pem").unwrap();
        // Only a kill between the two renames leaves the new private key
        // beside the old public key.
        assert_eq!(
            now_private == now_public,
            step != "private-in",
            "{step}: private {now_private}, public {now_public}, old {old}"
        );
        // The next start repairs and uses the pair the kill left: the old
        // one before the private key was renamed in, the new one after.
        let next = json_ok(&up(&dir).output().unwrap());
        let used = next["public_key_base58"].as_str().unwrap();
        assert_eq!(used == old, !new_wins, "{step}: {next}");
        assert_eq!(used, now_private, "{step}: the private key decides");
        assert_eq!(
            public_at(&dir, "public.pem").as_deref(),
            Some(used),
            "{step}: public.pem was not repaired"
        );
        if step == "private-in" {
            assert!(
                next["warnings"]
                    .to_string()
                    .contains("interrupted replacement"),
                "{step}: {next}"
            );
        }
        // No temporary file (the new private key among them) is left.
        let left: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp-"))
            .collect();
        assert!(left.is_empty(), "{step}: {left:?}");
        fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn a_reader_polling_during_repeated_replacements_never_finds_a_name_missing() {
    let dir = tmpdir("swap-reader");
    let kd = KeyDir::new(&dir);
    vaultid::fuzzing::cache::write_keys(&kd, &KeyPair::generate()).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (dir, stop) = (dir.clone(), stop.clone());
        std::thread::spawn(move || {
            let (mut polls, mut missing, mut mismatched) = (0u64, Vec::new(), 0u64);
            while !stop.load(Ordering::Relaxed) {
                polls += 1;
                // The framework's own test, name by name.
                for name in ["private.pem", "public.pem"] {
                    if fs::symlink_metadata(dir.join(name)).is_err() {
                        missing.push(name);
                    }
                }
                // Now and then, a reader that loads both (private first):
                // a mix is possible, never a gap.
                if polls % 64 != 0 {
                    continue;
                }
                let (Ok(p), Ok(q)) = (
                    fs::read_to_string(dir.join("private.pem")),
                    fs::read_to_string(dir.join("public.pem")),
                ) else {
                    missing.push("(read)");
                    continue;
                };
                if vaultid::fuzzing::codec::key_pair_from_pems(&p, &q).is_err() {
                    mismatched += 1;
                }
            }
            (polls, missing, mismatched)
        })
    };
    let t = Instant::now();
    let mut swaps = 0;
    while swaps < 300 && t.elapsed() < Duration::from_secs(4) {
        vaultid::fuzzing::cache::write_keys(&kd, &KeyPair::generate()).unwrap();
        swaps += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let (polls, missing, mismatched) = reader.join().unwrap();
    eprintln!("{swaps} replacements, {polls} polls, {mismatched} mixed pairs seen");
    assert!(swaps >= 20 && polls > swaps, "{swaps} swaps, {polls} polls");
    assert!(
        missing.is_empty(),
        "{} polls found a name missing (first: {:?}) during {swaps} replacements",
        missing.len(),
        missing.first()
    );
    // Every replacement ends with a matching pair.
    let l = kd.read_keys().unwrap().unwrap();
    assert!(!l.public_missing);
    fs::remove_dir_all(&dir).unwrap();
}
