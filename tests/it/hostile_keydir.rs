//! A hostile or unlucky host under the key directory: links, FIFOs, a full
//! disk (tmpfs mounts with `size=`), a read-only bind mount, a directory
//! owned by another user, a lock held while `show` wants to repair. The
//! property every test checks in the end: after any failure during `up`,
//! the key directory holds at least the complete pair it held before.
//!
//! Mounting and `useradd` need root. Without it a test says so and returns,
//! except under `CI=true`, where that is a failure.

use crate::common;

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::bao::Bao;
use common::{json_ok, tmpdir};
use vaultid::identity::KeyPair;

const AUTHOR: &str = "hostile@example.com";

fn vaultid(key_dir: &Path, name: &str) -> Command {
    let mut c = common::agent_cmd(key_dir, AUTHOR, name);
    c.stdin(Stdio::null());
    c
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn mode(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
}

/// `true` when running as root; otherwise says why the test stops (a
/// failure under `CI=true`).
fn root(what: &str) -> bool {
    // SAFETY: geteuid takes nothing and cannot fail.
    extern "C" {
        fn geteuid() -> u32;
    }
    if unsafe { geteuid() } == 0 {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{what} needs root (mount, useradd), which CI=true requires");
    }
    eprintln!("skipping {what}: needs root");
    false
}

fn sh(cmd: &str, args: &[&str]) {
    let st = Command::new(cmd).args(args).status().unwrap();
    assert!(st.success(), "{cmd} {args:?}");
}

/// A tmpfs of `size` bytes, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let p = tmpdir("tmpfs");
        sh(
            "mount",
            &[
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
                p.to_str().unwrap(),
            ],
        );
        Tmpfs(p)
    }

    /// Fill the rest of the file system; returns the filler's path.
    fn fill(&self) -> PathBuf {
        let filler = self.0.join("filler");
        let mut f = fs::File::create(&filler).unwrap();
        let block = [0u8; 4096];
        while f.write_all(&block).is_ok() {}
        let _ = f.sync_all();
        filler
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The pair at the canonical names, as `up` would read it.
fn pair_in(dir: &Path) -> Option<String> {
    vaultid::cache::KeyDir::new(dir)
        .read_keys()
        .ok()
        .flatten()
        .map(|l| l.keys.public().base58())
}

fn write_pair(dir: &Path, keys: &KeyPair) {
    vaultid::fuzzing::cache::write_keys(&vaultid::cache::KeyDir::new(dir), keys).unwrap();
}

#[test]
fn a_linked_private_key_is_refused_and_its_target_never_chmodded() {
    let root_dir = tmpdir("link");
    let dir = root_dir.join("keys");
    fs::create_dir_all(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
    let victim = root_dir.join("victim.pem");
    fs::write(&victim, KeyPair::generate().private_pem().expose()).unwrap();
    fs::set_permissions(&victim, fs::Permissions::from_mode(0o644)).unwrap();
    std::os::unix::fs::symlink(&victim, dir.join("private.pem")).unwrap();
    let o = vaultid(&dir, "link").arg("up").output().unwrap();
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(stderr(&o).contains("symbolic link"), "{}", stderr(&o));
    assert_eq!(
        mode(&victim),
        0o644,
        "up changed the mode of the link's target"
    );
    // A linked .lock is refused too; its target is never created.
    fs::remove_file(dir.join("private.pem")).unwrap();
    let target = root_dir.join("lock-target");
    let _ = fs::remove_file(dir.join(".lock"));
    std::os::unix::fs::symlink(&target, dir.join(".lock")).unwrap();
    let o = vaultid(&dir, "link").arg("up").output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(!target.exists(), "the lock's link was followed");
    fs::remove_dir_all(root_dir).unwrap();
}

#[test]
fn a_fifo_as_private_key_fails_fast_instead_of_hanging_under_the_lock() {
    let dir = tmpdir("fifo");
    sh("mkfifo", &[dir.join("private.pem").to_str().unwrap()]);
    let mut child = vaultid(&dir, "fifo")
        .arg("up")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break Some(st);
        }
        if start.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let status = status.expect("vaultid up hung on a FIFO private.pem");
    assert_eq!(status.code(), Some(4));
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_full_disk_never_costs_the_pair_recreate_or_replace() {
    if !root("a_full_disk_never_costs_the_pair") {
        return;
    }
    // The property, swept over how much room is left: 0, 1, 2 and 3
    // pages after the current pair.
    let (mut failed, mut replaced) = (0, 0);
    for free_pages in 0..4u64 {
        let fs_ = Tmpfs::mount("64k");
        let dir = fs_.0.join("keys");
        let old = KeyPair::generate();
        write_pair(&dir, &old);
        let filler = fs_.fill();
        let full = fs::metadata(&filler).unwrap().len();
        fs::remove_file(&filler).unwrap();
        let f = fs::File::create(&filler).unwrap();
        f.set_len(0).unwrap();
        let mut f = f;
        f.write_all(&vec![0u8; full.saturating_sub(free_pages * 4096) as usize])
            .unwrap();
        f.sync_all().unwrap();
        let o = vaultid(&dir, "full")
            .args(["up", "--recreate-keys"])
            .output()
            .unwrap();
        let now = pair_in(&dir).unwrap_or_else(|| {
            panic!(
                "{free_pages} free pages: no complete pair left (exit {:?}: {})",
                o.status.code(),
                stderr(&o)
            )
        });
        if o.status.success() {
            assert_ne!(now, old.public().base58());
            replaced += 1;
        } else {
            failed += 1;
            assert_eq!(now, old.public().base58(), "{free_pages}: {}", stderr(&o));
            assert!(stderr(&o).contains("No space left"), "{}", stderr(&o));
        }
    }
    assert!(
        failed > 0 && replaced > 0,
        "{failed} failed, {replaced} replaced: the sweep missed a side"
    );
}

#[test]
fn a_full_disk_while_repairing_public_pem_keeps_the_right_private_key() {
    if !root("a_full_disk_while_repairing_public_pem") {
        return;
    }
    let Some(bao) = Bao::shared() else { return };
    let name = format!("repair-{}", &uuid::Uuid::new_v4().to_string()[..8]);
    // First start: the pair lands in Vault and in a normal directory.
    let seed = tmpdir("repair-seed");
    let first = json_ok(
        &vaultid(&seed, &name)
            .env("VAULT_ADDR", bao.addr())
            .env("VAULT_TOKEN", bao.token())
            .arg("up")
            .output()
            .unwrap(),
    );
    // The same private key alone on a full disk.
    let fs_ = Tmpfs::mount("32k");
    let dir = fs_.0.join("keys");
    fs::create_dir_all(&dir).unwrap();
    fs::copy(seed.join("private.pem"), dir.join("private.pem")).unwrap();
    fs::write(dir.join(".lock"), "").unwrap();
    fs_.fill();
    let o = vaultid(&dir, &name)
        .env("VAULT_ADDR", bao.addr())
        .env("VAULT_TOKEN", bao.token())
        .arg("up")
        .output()
        .unwrap();
    let out = json_ok(&o);
    assert_eq!(out["public_key_base58"], first["public_key_base58"]);
    assert!(
        out["warnings"]
            .to_string()
            .contains("could not be rewritten"),
        "{out}"
    );
    assert_eq!(out["set_aside"], serde_json::json!([]));
    // The next offline start still has the key.
    let offline = json_ok(&vaultid(&dir, &name).arg("up").output().unwrap());
    assert_eq!(offline["public_key_base58"], first["public_key_base58"]);
    fs::remove_dir_all(seed).unwrap();
}

#[test]
fn a_read_only_key_dir_with_a_complete_pair_comes_up() {
    if !root("a_read_only_key_dir") {
        return;
    }
    for with_lock_file in [true, false] {
        let src = tmpdir("ro-src");
        let keys = KeyPair::generate();
        write_pair(&src, &keys);
        if !with_lock_file {
            let _ = fs::remove_file(src.join(".lock"));
        }
        let ro = tmpdir("ro");
        sh(
            "mount",
            &["--bind", src.to_str().unwrap(), ro.to_str().unwrap()],
        );
        sh("mount", &["-o", "remount,ro,bind", ro.to_str().unwrap()]);
        let o = vaultid(&ro, "ro").arg("up").output().unwrap();
        let _ = Command::new("umount").arg(&ro).status();
        let out = json_ok(&o);
        assert_eq!(out["keys_source"], "local", "{}", stderr(&o));
        assert_eq!(out["public_key_base58"], keys.public().base58());
        fs::remove_dir_all(&src).unwrap();
        fs::remove_dir_all(&ro).unwrap();
    }
}

#[test]
fn an_open_or_foreign_key_dir_is_reported_once_in_the_json_warnings() {
    let dir = tmpdir("open");
    json_ok(&vaultid(&dir, "open").arg("up").output().unwrap());
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
    let o = vaultid(&dir, "open").arg("up").output().unwrap();
    let out = json_ok(&o);
    let w = out["warnings"].to_string();
    assert!(w.contains("mode 777"), "{w}");
    assert_eq!(
        stderr(&o).matches("has mode 777").count(),
        1,
        "{}",
        stderr(&o)
    );
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
    if root("an_open_or_foreign_key_dir") {
        let user = "vaultid-foreign";
        let _ = Command::new("useradd")
            .args(["--system", "--no-create-home", user])
            .status();
        sh("chown", &[user, dir.to_str().unwrap()]);
        let out = json_ok(&vaultid(&dir, "open").arg("up").output().unwrap());
        let _ = Command::new("userdel").arg(user).status();
        let w = out["warnings"].to_string();
        assert!(w.contains("owned by uid"), "{w}");
    }
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn show_repairs_public_pem_only_under_the_lock() {
    let dir = tmpdir("show-lock");
    json_ok(&vaultid(&dir, "show").arg("up").output().unwrap());
    fs::remove_file(dir.join("public.pem")).unwrap();
    let kd = vaultid::cache::KeyDir::new(&dir);
    let held = vaultid::fuzzing::cache::lock(&kd, Duration::from_secs(5)).unwrap();
    let o = vaultid(&dir, "show")
        .env("VAULTID_LOCK_TIMEOUT", "300ms")
        .arg("show")
        .output()
        .unwrap();
    assert!(
        !dir.join("public.pem").exists(),
        "public.pem was rewritten while another process held the lock"
    );
    assert!(!o.status.success(), "{}", stderr(&o));
    drop(held);
    json_ok(&vaultid(&dir, "show").arg("show").output().unwrap());
    assert!(dir.join("public.pem").exists());
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_corrupt_credentials_file_is_kept_aside_with_other_agents_entries() {
    let dir = tmpdir("creds");
    let kd = vaultid::cache::KeyDir::new(&dir);
    let corrupt = r#"{"did:other":{"client_secret":"other-agents-secret"} trailing"#;
    fs::write(dir.join("oauth_credentials.json"), corrupt).unwrap();
    let creds = vaultid::fuzzing::cache::stored_credentials(
        "a",
        "did:me",
        vaultid::SecretString::new("mine"),
        "",
        vec![],
    );
    let w = vaultid::fuzzing::cache::write_credentials(&kd, "did:me", &creds)
        .unwrap()
        .unwrap();
    assert!(w.contains("kept aside"), "{w}");
    let kept: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.to_string_lossy()
                .contains("oauth_credentials.json.aside-")
        })
        .collect();
    assert_eq!(kept.len(), 1);
    assert_eq!(fs::read_to_string(&kept[0]).unwrap(), corrupt);
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_loose_credentials_file_is_reported_by_up_and_left_alone() {
    let hydra = crate::hydra_double::HydraDouble::start();
    let dir = tmpdir("loose-creds");
    let with_hydra = |c: &mut Command| {
        c.env("HYDRA__ADMIN_URL", hydra.admin_url())
            .env("HYDRA__PUBLIC_URL", hydra.public_url())
            .env("HYDRA__MAX_RETRIES", "0")
            .env("VAULTID_ALLOW_OFFLINE_GENERATE", "true");
    };
    let mut c = vaultid(&dir, "loose-creds");
    with_hydra(&mut c);
    json_ok(&c.arg("up").output().unwrap());
    let creds = dir.join("oauth_credentials.json");
    fs::set_permissions(&creds, fs::Permissions::from_mode(0o644)).unwrap();
    let mut c = vaultid(&dir, "loose-creds");
    with_hydra(&mut c);
    let out = json_ok(&c.arg("up").output().unwrap());
    let w = out["warnings"].to_string();
    assert!(
        w.contains("oauth_credentials.json") && w.contains("mode 644"),
        "{w}"
    );
    assert_eq!(mode(&creds), 0o644, "the mode was changed");
    fs::remove_dir_all(dir).unwrap();
}
