//! `vaultid agent`'s destination files against real files, a real tmpfs
//! and a real OpenBao: a FIFO, symbolic link, directory or device where a
//! file should go is an error for that source alone (the agent neither
//! hangs nor writes through the link, and still stops on `SIGTERM`); the
//! temporary files a killed agent left are removed; a write that failed on
//! a full disk is retried and what the status reports is what the file
//! holds; a certificate's key is renamed in before the certificate (watched
//! with inotify); `unchanged` re-reads are debug events.

use crate::agent::{kv_put, mode, root_env, unique, AgentProc};
use crate::common;

use std::fs;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::bao::Bao;
use serde_json::{json, Value};

fn sh(cmd: &str, args: &[&Path]) -> bool {
    Command::new(cmd)
        .args(args)
        .status()
        .is_ok_and(|s| s.success())
}

/// The last `error` event of `source`, as text.
fn last_error(agent: &AgentProc, source: &str) -> String {
    agent
        .events()
        .iter()
        .rev()
        .find(|e| e["event"] == "error" && e["source"] == source)
        .map(|e| e["error"].as_str().unwrap_or_default().to_string())
        .unwrap_or_default()
}

#[test]
fn a_fifo_link_directory_or_device_destination_fails_its_source_alone() {
    let Some(bao) = Bao::shared() else { return };
    let dir = common::tmpdir("agent-fifo");
    let path = unique("fifo");
    kv_put(bao, &path, json!({"v": "the-secret"}));
    let fifo = dir.join("fifo.json");
    assert!(sh("mkfifo", &[&fifo]), "mkfifo");
    let outside = dir.join("outside");
    fs::write(&outside, "outside content").unwrap();
    let link = dir.join("link.json");
    std::os::unix::fs::symlink(&outside, &link).unwrap();
    let sub = dir.join("sub.json");
    fs::create_dir(&sub).unwrap();
    // A character device (/dev/null's numbers), when this host lets us.
    let dev = dir.join("dev.json");
    let have_dev = Command::new("mknod")
        .arg(&dev)
        .args(["c", "1", "3"])
        .status()
        .is_ok_and(|s| s.success());
    if !have_dev {
        eprintln!("note: mknod refused; the device destination is not tried");
    }
    // A symbolic link as a directory of the path is followed (documented).
    let real = dir.join("real");
    fs::create_dir(&real).unwrap();
    std::os::unix::fs::symlink(&real, dir.join("linked")).unwrap();
    let via = dir.join("linked").join("via.json");
    let good = dir.join("good.json");

    let mut bad = vec![("fifo", &fifo), ("link", &link), ("sub", &sub)];
    if have_dev {
        bad.push(("dev", &dev));
    }
    let mut sources: Vec<Value> = bad
        .iter()
        .map(|(name, p)| json!({"name": name, "kv": path, "files": [{"path": p}]}))
        .collect();
    sources.push(json!({"name": "good", "kv": path, "files": [{"path": good}]}));
    sources.push(json!({"name": "via", "kv": path, "files": [{"path": via}]}));
    let agent = AgentProc::start(
        &dir,
        &json!({"restore_identity": false, "backoff_max": "1s",
                "status_file": dir.join("status.json"), "sources": sources}),
        &root_env(bao),
    );
    agent.wait_for("the good files", Duration::from_secs(10), |_| {
        good.exists() && real.join("via.json").exists()
    });
    assert!(fs::read_to_string(&good).unwrap().contains("the-secret"));
    // Each bad destination fails, again and again, naming its path.
    agent.wait_for(
        "retries of every bad source",
        Duration::from_secs(10),
        |a| {
            bad.iter()
                .all(|(name, _)| a.count("error", Some(name)) >= 2)
        },
    );
    for (name, p) in &bad {
        let e = last_error(&agent, name);
        assert!(e.contains(&p.display().to_string()), "{name}: {e}");
        let what = match *name {
            "link" => "symbolic link",
            "sub" => "directory",
            "fifo" => "FIFO",
            _ => "device",
        };
        assert!(e.contains(what), "{name}: {e}");
    }
    // Nothing was replaced or written through.
    assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(fs::read_to_string(&outside).unwrap(), "outside content");
    assert!(fs::symlink_metadata(&sub).unwrap().is_dir());
    if have_dev {
        assert!(fs::symlink_metadata(&dev)
            .unwrap()
            .file_type()
            .is_char_device());
    }
    let (_, status) = agent.status();
    assert!(
        status["sources"]["fifo"]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("fifo.json")),
        "{status}"
    );
    assert_eq!(status["sources"]["good"]["last_error"], Value::Null);
    let t = Instant::now();
    let (code, log) = agent.stop();
    assert_eq!(code, 0, "{log}");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert!(
        !log.contains("the-secret"),
        "a secret value reached the log"
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn temporary_files_a_killed_agent_left_are_removed_at_start_and_before_a_write() {
    let Some(bao) = Bao::shared() else { return };
    let dir = common::tmpdir("agent-stale");
    let path = unique("stale");
    kv_put(bao, &path, json!({"password": "v1"}));
    let file = dir.join("db.env");
    let sink = dir.join("token");
    // What a SIGKILL during a write leaves: `.NAME.tmp-PID-NANOS`.
    let stale = [
        dir.join(".db.env.tmp-4242-123456789"),
        dir.join(".token.tmp-4242-1"),
    ];
    for s in &stale {
        fs::write(s, "export PASSWORD='old secret'\n").unwrap();
    }
    // Not ours: another name, not the exact pattern, a link, a directory.
    let kept = [
        dir.join(".other.env.tmp-1-2"),
        dir.join(".db.env.tmp-4242-12x"),
        dir.join(".db.env.tmp-"),
        dir.join("db.env.tmp-1-2"),
    ];
    for k in &kept {
        fs::write(k, "not ours").unwrap();
    }
    let outside = dir.join("outside");
    fs::write(&outside, "outside content").unwrap();
    let link = dir.join(".db.env.tmp-7-8");
    std::os::unix::fs::symlink(&outside, &link).unwrap();
    let subdir = dir.join(".db.env.tmp-9-10");
    fs::create_dir(&subdir).unwrap();

    let agent = AgentProc::start(
        &dir,
        &json!({"restore_identity": false, "token": {"sink": sink},
                "sources": [{"name": "db", "kv": path, "interval": "1s",
                  "files": [{"path": file, "format": "env"}]}]}),
        &root_env(bao),
    );
    agent.wait_for("the file", Duration::from_secs(10), |_| file.exists());
    for s in &stale {
        assert!(!s.exists(), "{} is still there", s.display());
    }
    for k in &kept {
        assert_eq!(
            fs::read_to_string(k).unwrap(),
            "not ours",
            "{}",
            k.display()
        );
    }
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(fs::read_to_string(&outside).unwrap(), "outside content");
    assert!(subdir.is_dir());
    // One left while the agent runs (another writer killed) goes before
    // the next write of that file.
    let later = dir.join(".db.env.tmp-31337-1");
    fs::write(&later, "export PASSWORD='older secret'\n").unwrap();
    kv_put(bao, &path, json!({"password": "v2"}));
    agent.wait_for("v2 in the file", Duration::from_secs(10), |_| {
        fs::read_to_string(&file).unwrap().contains("v2")
    });
    assert!(!later.exists(), "{} is still there", later.display());
    let (code, log) = agent.stop();
    assert_eq!(code, 0, "{log}");
    fs::remove_dir_all(&dir).unwrap();
}

/// A tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mount a tmpfs of `size` on `dir`; `None` (the test is skipped, with
    /// the reason printed) when this host does not allow it, a failure
    /// under `CI=true`.
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output();
        let why = match out {
            Ok(o) if o.status.success() => return Some(Tmpfs(dir.to_path_buf())),
            Ok(o) => String::from_utf8_lossy(&o.stderr).trim().to_string(),
            Err(e) => e.to_string(),
        };
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("mounting a tmpfs is required under CI=true (run as root): {why}");
        }
        eprintln!("note: cannot mount a tmpfs ({why}); skipping this test");
        None
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Write to `path` until the file system is full; the bytes written.
fn fill(path: &Path) -> usize {
    use std::io::Write;
    let mut f = fs::File::create(path).unwrap();
    let chunk = [0x5au8; 1024];
    let mut n = 0;
    while f.write_all(&chunk).is_ok() {
        n += chunk.len();
        assert!(n < 16 << 20, "the tmpfs does not fill up");
    }
    let _ = f.sync_all();
    n
}

#[test]
fn a_write_that_failed_on_a_full_disk_is_retried_and_the_status_says_what_is_on_disk() {
    let Some(bao) = Bao::shared() else { return };
    let dir = common::tmpdir("agent-full");
    let Some(mnt) = Tmpfs::mount(&dir.join("mnt"), "64k") else {
        return;
    };
    let path = unique("full");
    kv_put(bao, &path, json!({"password": "version-one"}));
    let file = mnt.0.join("db.json");
    let status = dir.join("status.json");
    let agent = AgentProc::start(
        &dir,
        &json!({"restore_identity": false, "backoff_max": "1s", "status_file": status,
                "sources": [{"name": "db", "kv": path, "interval": "1s",
                  "files": [{"path": file}]}]}),
        &root_env(bao),
    );
    agent.wait_for("v1 in the file", Duration::from_secs(10), |_| {
        file.exists() && fs::read_to_string(&file).unwrap().contains("version-one")
    });
    let filler = mnt.0.join("filler");
    let filled = fill(&filler);
    kv_put(bao, &path, json!({"password": "version-two"}));
    agent.wait_for("failed writes", Duration::from_secs(10), |a| {
        a.count("error", Some("db")) >= 2
    });
    let e = last_error(&agent, "db");
    assert!(e.contains("db.json") && e.contains("space"), "{e}");
    // The file and the status agree: version 1, the last attempt failed.
    assert!(fs::read_to_string(&file).unwrap().contains("version-one"));
    let (code, doc) = agent.status();
    assert_eq!(code, 3, "{doc}");
    let db = &doc["sources"]["db"];
    assert_eq!(db["detail"]["version"], 1, "{doc}");
    assert!(
        db["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("space")),
        "{doc}"
    );
    assert_ne!(db["failures"], 0, "{doc}");
    assert!(
        !agent
            .events()
            .iter()
            .any(|e| e["source"] == "db" && e["detail"]["version"] == 2),
        "an event reported version 2 before it was written:\n{}",
        agent.log_text()
    );
    // Space again: the next retry writes version 2, and only now is it
    // reported.
    fs::remove_file(&filler).unwrap();
    agent.wait_for("v2 in the file", Duration::from_secs(10), |_| {
        fs::read_to_string(&file).unwrap().contains("version-two")
    });
    agent.wait_for("a healthy status", Duration::from_secs(5), |a| {
        a.status().0 == 0
    });
    let (_, doc) = agent.status();
    assert_eq!(doc["sources"]["db"]["detail"]["version"], 2, "{doc}");
    assert_eq!(doc["sources"]["db"]["last_error"], Value::Null, "{doc}");
    assert_eq!(mode(&file), 0o600);
    let leftovers: Vec<_> = fs::read_dir(&mnt.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let (code, log) = agent.stop();
    assert_eq!(code, 0, "{log}");
    assert!(
        !log.contains("version-two"),
        "a secret value reached the log"
    );
    eprintln!("full disk: filled {filled} bytes of a 64 KiB tmpfs");
    drop(mnt);
    fs::remove_dir_all(&dir).unwrap();
}

/// The names renamed into a directory, in order, from inotify
/// (`IN_MOVED_TO`), collected by a thread until a file named `stop` is
/// renamed in.
struct MovedTo {
    names: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    dir: PathBuf,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MovedTo {
    fn watch(dir: &Path) -> MovedTo {
        use std::io::Read;
        use std::os::fd::FromRawFd;
        use std::os::unix::ffi::OsStrExt;
        extern "C" {
            fn inotify_init1(flags: i32) -> i32;
            fn inotify_add_watch(fd: i32, path: *const std::ffi::c_char, mask: u32) -> i32;
        }
        const IN_MOVED_TO: u32 = 0x80;
        const IN_CLOEXEC: i32 = 0o2000000;
        // SAFETY: plain system calls; the path is a NUL-terminated copy.
        let fd = unsafe { inotify_init1(IN_CLOEXEC) };
        assert!(fd >= 0, "inotify_init1");
        let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).unwrap();
        let wd = unsafe { inotify_add_watch(fd, c.as_ptr(), IN_MOVED_TO) };
        assert!(wd >= 0, "inotify_add_watch");
        // SAFETY: fd is ours alone from here on.
        let mut f = unsafe { fs::File::from_raw_fd(fd) };
        let names = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let out = names.clone();
        let thread = std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = match f.read(&mut buf) {
                    Ok(n) if n > 0 => n,
                    _ => return,
                };
                let mut at = 0;
                while at + 16 <= n {
                    let len =
                        u32::from_ne_bytes(buf[at + 12..at + 16].try_into().unwrap()) as usize;
                    let raw = &buf[at + 16..(at + 16 + len).min(n)];
                    let name =
                        String::from_utf8_lossy(raw.split(|b| *b == 0).next().unwrap_or(&[]))
                            .into_owned();
                    at += 16 + len;
                    if name == "stop" {
                        return;
                    }
                    out.lock().unwrap().push(name);
                }
            }
        });
        MovedTo {
            names,
            dir: dir.to_path_buf(),
            thread: Some(thread),
        }
    }

    fn names(&self) -> Vec<String> {
        self.names.lock().unwrap().clone()
    }
}

impl Drop for MovedTo {
    fn drop(&mut self) {
        let tmp = self.dir.join(".stop");
        if fs::write(&tmp, "").is_ok() && fs::rename(&tmp, self.dir.join("stop")).is_ok() {
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }
}

#[test]
fn a_certificate_is_renamed_in_after_its_key_so_a_new_certificate_has_its_key() {
    let Some(bao) = Bao::shared() else { return };
    let mount = unique("pkiorder");
    crate::agent::pki_mount(bao, &mount, "order test CA");
    let dir = common::tmpdir("agent-pki-order");
    let tls = dir.join("tls");
    fs::create_dir(&tls).unwrap();
    let (cert, key, ca) = (
        tls.join("cert.pem"),
        tls.join("key.pem"),
        tls.join("ca.pem"),
    );
    let watch = MovedTo::watch(&tls);
    // The certificate is listed first: the order of the configuration is
    // not the order of the renames.
    let agent = AgentProc::start(
        &dir,
        &json!({"restore_identity": false,
                "sources": [{"name": "tls", "pki": {"mount": mount, "role": "agent",
                    "common_name": "order.example.test", "ttl": "6s"},
                  "files": [
                    {"path": cert, "format": "raw", "field": "certificate", "mode": "0644"},
                    {"path": key, "format": "raw", "field": "private_key"},
                    {"path": ca, "format": "raw", "field": "issuing_ca", "mode": "0644"}]}]}),
        &root_env(bao),
    );
    // The first rendering and two re-issues.
    agent.wait_for("two re-issues", Duration::from_secs(25), |a| {
        a.count("reissued", Some("tls")) >= 2
    });
    let (code, log) = agent.stop();
    assert_eq!(code, 0, "{log}");
    let pair: Vec<String> = watch
        .names()
        .into_iter()
        .filter(|n| n == "cert.pem" || n == "key.pem")
        .collect();
    drop(watch);
    assert!(pair.len() >= 6, "{pair:?}");
    for two in pair.chunks(2) {
        assert_eq!(two, ["key.pem", "cert.pem"], "renames: {pair:?}");
    }
    // And what is left is a matching pair.
    let public = |args: &[&str], p: &Path| {
        let out = Command::new("openssl").args(args).arg(p).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    assert_eq!(
        public(&["x509", "-noout", "-pubkey", "-in"], &cert),
        public(&["pkey", "-pubout", "-in"], &key)
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unchanged_re_reads_are_debug_events() {
    let Some(bao) = Bao::shared() else { return };
    let path = unique("quiet");
    kv_put(bao, &path, json!({"k": "v"}));
    let start = |tag: &str, level: &str| {
        let dir = common::tmpdir(tag);
        let file = dir.join("k");
        let mut env = root_env(bao);
        env.push(("VAULTID_LOG", level.to_string()));
        let a = AgentProc::start(
            &dir,
            &json!({"restore_identity": false,
                    "sources": [{"name": "k", "kv": path, "interval": "200ms",
                      "files": [{"path": file, "format": "raw", "field": "k"}]}]}),
            &env,
        );
        (a, file, dir)
    };
    let (quiet, quiet_file, quiet_dir) = start("agent-quiet", "warn");
    let (chatty, _, chatty_dir) = start("agent-chatty", "debug");
    chatty.wait_for("unchanged debug events", Duration::from_secs(10), |a| {
        a.count("unchanged", Some("k")) >= 5
    });
    quiet.wait_for("the file", Duration::from_secs(5), |_| quiet_file.exists());
    // The quiet agent checked as often, and said nothing about it.
    kv_put(bao, &path, json!({"k": "w"}));
    quiet.wait_for("the new version", Duration::from_secs(5), |_| {
        fs::read_to_string(&quiet_file).unwrap() == "w"
    });
    assert_eq!(quiet.count("unchanged", None), 0, "{}", quiet.log_text());
    let said = quiet
        .events()
        .iter()
        .filter(|e| e["event"] != "log")
        .count();
    assert!(said <= 4, "{}", quiet.log_text());
    for (a, dir) in [(quiet, quiet_dir), (chatty, chatty_dir)] {
        let (code, log) = a.stop();
        assert_eq!(code, 0, "{log}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
