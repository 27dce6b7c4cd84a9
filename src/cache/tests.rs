//! The key directory's tests: modes, links and special files, the key
//! swap and a swap stopped between its renames, the lock, the
//! credentials file.

use super::*;
use std::time::UNIX_EPOCH;

fn tmpdir(tag: &str) -> PathBuf {
    crate::util::fs::test_path(&format!("cache-{tag}"))
}

#[test]
fn timestamps() {
    assert_eq!(file_timestamp(UNIX_EPOCH), "19700101T000000Z");
    let t = UNIX_EPOCH + Duration::from_secs(1_795_322_022);
    assert_eq!(file_timestamp(t), "20261122T043342Z");
    let t = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
    assert_eq!(file_timestamp(t), "20000229T000000Z");
}

#[test]
fn modes_and_roundtrip() {
    let d = KeyDir::new(tmpdir("modes").join("nested"));
    assert!(d.read_keys().unwrap().is_none());
    let kp = KeyPair::generate();
    d.write_keys(&kp).unwrap();
    let mode = |n: &str| fs::metadata(d.file(n)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(PRIVATE_PEM), 0o600);
    assert_eq!(mode(PUBLIC_PEM), 0o644);
    assert_eq!(
        fs::metadata(d.path()).unwrap().permissions().mode() & 0o777,
        0o700
    );
    let back = d.read_keys().unwrap().unwrap();
    assert_eq!(back.keys.public().base58(), kp.public().base58());
    assert!(back.repaired.is_empty());
    // No temporary files are left behind.
    let names: Vec<_> = fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(names.iter().all(|n| !n.contains(".tmp-")), "{names:?}");
    fs::remove_dir_all(d.path().parent().unwrap()).unwrap();
}

#[test]
fn loose_private_key_is_reported_not_chmodded_and_missing_public_restored() {
    let d = KeyDir::new(tmpdir("loose"));
    let kp = KeyPair::generate();
    d.write_keys(&kp).unwrap();
    fs::set_permissions(d.file(PRIVATE_PEM), fs::Permissions::from_mode(0o644)).unwrap();
    fs::remove_file(d.file(PUBLIC_PEM)).unwrap();
    let back = d.read_keys().unwrap().unwrap();
    assert_eq!(back.repaired.len(), 1, "{:?}", back.repaired);
    assert!(back.repaired[0].contains("mode 644"), "{:?}", back.repaired);
    assert!(back.public_missing);
    // Reading writes nothing and changes no mode.
    assert!(!d.file(PUBLIC_PEM).exists());
    let mode = |n: &str| fs::metadata(d.file(n)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(PRIVATE_PEM), 0o644);
    let lock = d.lock(Duration::from_secs(1)).unwrap();
    assert!(d.restore_public(&back.keys, &lock).contains("rewritten"));
    assert_eq!(
        fs::read_to_string(d.file(PUBLIC_PEM)).unwrap(),
        kp.public_pem()
    );
    drop(lock);
    fs::remove_dir_all(d.path()).unwrap();
}

#[test]
fn links_and_special_files_are_refused_and_never_followed() {
    let d = KeyDir::new(tmpdir("links"));
    d.ensure_dir().unwrap();
    // A private.pem that is a link to a loose file elsewhere.
    let outside = tmpdir("links-target");
    fs::create_dir_all(&outside).unwrap();
    let target = outside.join("victim.pem");
    let kp = KeyPair::generate();
    fs::write(&target, kp.private_pem().expose()).unwrap();
    fs::set_permissions(&target, fs::Permissions::from_mode(0o644)).unwrap();
    std::os::unix::fs::symlink(&target, d.file(PRIVATE_PEM)).unwrap();
    let e = d.read_keys().unwrap_err();
    assert!(matches!(e, Error::InvalidKey(_)), "{e}");
    assert!(e.to_string().contains("symbolic link"), "{e}");
    assert_eq!(
        fs::metadata(&target).unwrap().permissions().mode() & 0o777,
        0o644,
        "the link's target was touched"
    );
    // Replacing keeps the link aside (as a link) and leaves the target alone.
    let aside = d.replace_keys(&KeyPair::generate()).unwrap();
    assert_eq!(aside.len(), 1);
    assert!(fs::symlink_metadata(&aside[0])
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(
        fs::read_to_string(&target).unwrap(),
        kp.private_pem().expose()
    );
    // A link as .lock is refused, and nothing is created at its target.
    let lock_target = outside.join("created-by-lock");
    std::os::unix::fs::symlink(&lock_target, d.file(LOCK_FILE)).unwrap();
    let e = d.lock(Duration::from_millis(100)).unwrap_err();
    assert_eq!(e.exit_code(), 2, "{e}");
    assert!(!lock_target.exists());
    fs::remove_file(d.file(LOCK_FILE)).unwrap();
    // A directory as public.pem.
    fs::remove_file(d.file(PUBLIC_PEM)).unwrap();
    fs::create_dir(d.file(PUBLIC_PEM)).unwrap();
    let e = d.read_keys().unwrap_err();
    assert!(e.to_string().contains("not a regular file"), "{e}");
    fs::remove_dir_all(d.path()).unwrap();
    fs::remove_dir_all(outside).unwrap();
}

#[test]
fn a_fifo_does_not_hang_and_big_files_are_refused() {
    let d = KeyDir::new(tmpdir("fifo"));
    d.ensure_dir().unwrap();
    let st = std::process::Command::new("mkfifo")
        .arg(d.file(PRIVATE_PEM))
        .status()
        .unwrap();
    assert!(st.success());
    let t = Instant::now();
    let e = d.read_keys().unwrap_err();
    assert!(e.to_string().contains("not a regular file"), "{e}");
    assert!(t.elapsed() < Duration::from_secs(2));
    fs::remove_file(d.file(PRIVATE_PEM)).unwrap();
    let f = File::create(d.file(PRIVATE_PEM)).unwrap();
    f.set_len(MAX_FILE + 1).unwrap();
    let e = d.read_keys().unwrap_err();
    assert!(e.to_string().contains("larger than"), "{e}");
    fs::remove_dir_all(d.path()).unwrap();
}

#[test]
fn replace_keeps_the_old_pair_aside_and_puts_the_new_one_in_place() {
    let d = KeyDir::new(tmpdir("replace"));
    let old = KeyPair::generate();
    d.write_keys(&old).unwrap();
    let new = KeyPair::generate();
    let aside = d.replace_keys(&new).unwrap();
    assert_eq!(aside.len(), 2);
    assert_eq!(
        fs::read_to_string(&aside[0]).unwrap(),
        old.private_pem().expose()
    );
    let back = d.read_keys().unwrap().unwrap();
    assert_eq!(back.keys.public(), new.public());
    assert_eq!(
        fs::metadata(d.file(PRIVATE_PEM))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    let names: Vec<_> = fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(names.iter().all(|n| !n.contains(".tmp-")), "{names:?}");
    fs::remove_dir_all(d.path()).unwrap();
}

/// The state a replacement leaves when it stops between its two
/// renames: the new private key beside the old public key, the old
/// pair linked aside.
fn stopped_between_renames(d: &KeyDir, old: &KeyPair, new: &KeyPair) {
    d.write_keys(old).unwrap();
    for name in [PRIVATE_PEM, PUBLIC_PEM] {
        fs::hard_link(
            d.file(name),
            d.file(&format!("{name}.aside-20260101T000000Z")),
        )
        .unwrap();
    }
    write_atomic(
        &d.file(PRIVATE_PEM),
        new.private_pem().expose().as_bytes(),
        0o600,
    )
    .unwrap();
}

#[test]
fn a_replacement_stopped_between_its_renames_is_recognised_and_repaired() {
    let d = KeyDir::new(tmpdir("stopped"));
    let (old, new) = (KeyPair::generate(), KeyPair::generate());
    stopped_between_renames(&d, &old, &new);
    let l = d.read_keys().unwrap().unwrap();
    assert_eq!(
        l.keys.public(),
        new.public(),
        "the private key is the current one"
    );
    assert!(l.public_missing, "the old public.pem is to be rewritten");
    let lock = d.lock(Duration::from_secs(1)).unwrap();
    let note = d.restore_public(&l.keys, &lock);
    assert!(note.contains("interrupted replacement"), "{note}");
    drop(lock);
    let l = d.read_keys().unwrap().unwrap();
    assert!(!l.public_missing);
    assert_eq!(l.keys.public(), new.public());
    // The old pair is still complete aside.
    let aside = fs::read_to_string(d.file("private.pem.aside-20260101T000000Z")).unwrap();
    assert_eq!(KeyPair::from_pem(&aside).unwrap().public(), old.public());
    fs::remove_dir_all(d.path()).unwrap();
}

#[test]
fn a_mismatch_no_pair_aside_explains_stays_an_integrity_error() {
    let d = KeyDir::new(tmpdir("unexplained"));
    let (old, new) = (KeyPair::generate(), KeyPair::generate());
    stopped_between_renames(&d, &old, &new);
    // The aside private key no longer pairs with public.pem.
    fs::write(
        d.file("private.pem.aside-20260101T000000Z"),
        KeyPair::generate().private_pem().expose(),
    )
    .unwrap();
    let e = d.read_keys().unwrap_err();
    assert_eq!(e.exit_code(), 4, "{e}");
    // The command's reader retries under the lock, then reports it.
    let e = d
        .read_keys_locked_repair(Duration::from_secs(1))
        .unwrap_err();
    assert_eq!(e.exit_code(), 4, "{e}");
    fs::remove_dir_all(d.path()).unwrap();
}

#[test]
fn mismatched_pair_is_integrity_error() {
    let d = KeyDir::new(tmpdir("mismatch"));
    d.write_keys(&KeyPair::generate()).unwrap();
    let other = KeyPair::generate();
    fs::write(d.file(PUBLIC_PEM), other.public_pem()).unwrap();
    let e = d.read_keys().unwrap_err();
    assert_eq!(e.exit_code(), 4, "{e}");
    fs::remove_dir_all(d.path()).unwrap();
}

#[test]
fn set_aside_keeps_files() {
    let d = KeyDir::new(tmpdir("aside"));
    let kp = KeyPair::generate();
    d.write_keys(&kp).unwrap();
    let moved = d.set_keys_aside().unwrap();
    assert_eq!(moved.len(), 2);
    assert!(d.read_keys().unwrap().is_none());
    let text = fs::read_to_string(&moved[0]).unwrap();
    assert_eq!(text, kp.private_pem().expose());
    // A second set-aside in the same second does not overwrite the first.
    d.write_keys(&KeyPair::generate()).unwrap();
    let moved2 = d.set_keys_aside().unwrap();
    assert_ne!(moved[0], moved2[0]);
    assert!(moved[0].exists() && moved2[0].exists());
    fs::remove_dir_all(d.path()).unwrap();
}

#[test]
fn lock_times_out_while_held() {
    let d = KeyDir::new(tmpdir("lock"));
    let g = d.lock(Duration::from_secs(1)).unwrap();
    // A second open file description cannot take it.
    let t = Instant::now();
    let e = d.lock(Duration::from_millis(200)).unwrap_err();
    assert!(matches!(e, Error::LockTimeout { .. }), "{e}");
    assert!(t.elapsed() >= Duration::from_millis(200));
    assert!(t.elapsed() < Duration::from_secs(2));
    drop(g);
    d.lock(Duration::from_millis(200)).unwrap();
    fs::remove_dir_all(d.path()).unwrap();
}

fn creds(secret: &str) -> StoredCredentials {
    StoredCredentials {
        agent_id: "a".into(),
        client_id: "did:bindu:x:y:a".into(),
        client_secret: SecretString::new(secret),
        created_at: "2026-01-01T00:00:00+00:00".into(),
        scopes: vec!["openid".into()],
    }
}

#[test]
fn credentials_file_keeps_other_entries() {
    let d = KeyDir::new(tmpdir("creds"));
    d.ensure_dir().unwrap();
    fs::write(
            d.file(CREDENTIALS_FILE),
            r#"{"did:other":{"agent_id":"o","client_id":"did:other","client_secret":"s","created_at":"","scopes":[]}}"#,
        )
        .unwrap();
    assert!(d
        .write_credentials("did:me", &creds("s3cr3t"))
        .unwrap()
        .is_none());
    let all = d.read_credentials_file().unwrap().unwrap();
    assert!(all.contains_key("did:other") && all.contains_key("did:me"));
    assert_eq!(
        d.read_credentials("did:me").unwrap().unwrap(),
        creds("s3cr3t")
    );
    assert_eq!(
        fs::metadata(d.file(CREDENTIALS_FILE))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    fs::remove_dir_all(d.path()).unwrap();
}

#[test]
fn corrupt_credentials_file_is_set_aside_not_dropped() {
    let d = KeyDir::new(tmpdir("corrupt"));
    d.ensure_dir().unwrap();
    let corrupt = r#"{"did:other":{"agent_id":"o","client_secret":"keep-me" "#;
    fs::write(d.file(CREDENTIALS_FILE), corrupt).unwrap();
    assert!(d.read_credentials("did:me").is_err());
    let w = d.write_credentials("did:me", &creds("x")).unwrap().unwrap();
    assert!(
        w.contains("not valid JSON") && w.contains("kept aside"),
        "{w}"
    );
    assert_eq!(d.read_credentials("did:me").unwrap().unwrap(), creds("x"));
    let aside: Vec<_> = fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains(".aside-"))
        .collect();
    assert_eq!(aside.len(), 1);
    assert_eq!(fs::read_to_string(&aside[0]).unwrap(), corrupt);
    fs::remove_dir_all(d.path()).unwrap();
}

#[test]
fn loose_credentials_file_is_reported() {
    let d = KeyDir::new(tmpdir("loose-creds"));
    d.ensure_dir().unwrap();
    d.write_credentials("did:me", &creds("x")).unwrap();
    fs::set_permissions(d.file(CREDENTIALS_FILE), fs::Permissions::from_mode(0o644)).unwrap();
    let (_, loose) = d.read_credentials_checked().unwrap().unwrap();
    assert!(loose.unwrap().contains("mode 644"));
    fs::remove_dir_all(d.path()).unwrap();
}

#[test]
fn open_key_dir_is_reported() {
    let d = KeyDir::new(tmpdir("opendir"));
    d.ensure_dir().unwrap();
    assert!(d.inspect().is_empty());
    fs::set_permissions(d.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let w = d.inspect();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains("mode 777") && w[0].contains("replace"),
        "{w:?}"
    );
    fs::remove_dir_all(d.path()).unwrap();
}

#[test]
fn credentials_parser_rejects_non_objects() {
    for bad in [&b"[]"[..], b"1", b"", b"\xff"] {
        assert!(parse_credentials_file(bad).is_err());
    }
    let m: Map<String, Value> =
        serde_json::from_str(r#"{"agent_id":"a","client_id":"c"}"#).unwrap();
    let e = StoredCredentials::from_json(&m).unwrap_err().to_string();
    assert!(e.contains("client_secret"), "{e}");
}
