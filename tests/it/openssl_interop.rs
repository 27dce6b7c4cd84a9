//! Interoperability with the `openssl` command-line tool (OpenSSL 3) and,
//! where installed, Python `cryptography`: keys written by one side load on
//! the other, public key PEMs are byte-identical, and signatures verify.
//!
//! Without `openssl` on the PATH these tests fail under `CI=true` and are
//! skipped (with a printed reason) otherwise.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use vaultid::fuzzing::codec::{base58, pem};
use vaultid::identity::{KeyPair, PublicKey};

/// A scratch directory under the system temp dir, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "vaultid-openssl-{name}-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Scratch(dir)
    }

    fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }

    fn write(&self, file: &str, data: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(file);
        std::fs::write(&p, data).expect("write scratch file");
        p
    }

    fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.path(file)).expect("read scratch file")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// `true` when `openssl` can be run. Panics under `CI=true` when it cannot.
fn have_openssl() -> bool {
    let ok = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        if in_ci() {
            panic!("the `openssl` command is required for these tests under CI=true; install OpenSSL 3");
        }
        eprintln!("skipping: the `openssl` command is not installed");
    }
    ok
}

/// Run `openssl` with `args`; panic with its stderr on failure.
fn openssl(args: &[&dyn AsRef<std::ffi::OsStr>]) -> String {
    let out = Command::new("openssl")
        .args(args.iter().map(|a| a.as_ref()))
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {:?} failed: {}",
        args.iter().map(|a| a.as_ref()).collect::<Vec<_>>(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("openssl output is UTF-8")
}

fn pubout(private: &Path) -> String {
    openssl(&[&"pkey", &"-in", &private, &"-pubout"])
}

#[test]
fn openssl_generated_key_loads_and_public_pem_is_identical() {
    if !have_openssl() {
        return;
    }
    let dir = Scratch::new("genpkey");
    let private = dir.path("private.pem");
    openssl(&[&"genpkey", &"-algorithm", &"ed25519", &"-out", &private]);
    let private_text = dir.read("private.pem");

    let keys = KeyPair::from_pem(&private_text).expect("OpenSSL's key loads");
    assert_eq!(keys.public_pem(), pubout(&private));
    // Writing it back gives OpenSSL's own bytes.
    assert_eq!(keys.private_pem().expose(), private_text);

    let public = PublicKey::from_pem(&pubout(&private)).unwrap();
    assert_eq!(public, keys.public());
    vaultid::fuzzing::codec::key_pair_from_pems(&private_text, &pubout(&private)).unwrap();
}

#[test]
fn our_private_key_loads_in_openssl() {
    if !have_openssl() {
        return;
    }
    let dir = Scratch::new("ours");
    let keys = KeyPair::generate();
    let private = dir.write("private.pem", keys.private_pem().expose());
    assert_eq!(pubout(&private), keys.public_pem());
    // OpenSSL re-encoding our key gives the same bytes.
    assert_eq!(
        openssl(&[&"pkey", &"-in", &private]),
        keys.private_pem().expose()
    );
    // And it parses it as an Ed25519 PKCS#8 key.
    let text = openssl(&[&"pkey", &"-in", &private, &"-noout", &"-text"]);
    assert!(text.contains("ED25519 Private-Key"), "{text}");
}

#[test]
fn our_signature_verifies_with_openssl() {
    if !have_openssl() {
        return;
    }
    let dir = Scratch::new("sign");
    let keys = KeyPair::generate();
    let msg = b"did:bindu:user_at_example_com:my-agent:fabb74f0-a028-4fe9-efd6-4efcbbd10d44";
    let sig = base58::decode(&keys.sign(msg)).unwrap();
    assert_eq!(sig.len(), 64);
    let public = dir.write("pub.pem", keys.public_pem());
    let msg_file = dir.write("msg", msg);
    let sig_file = dir.write("sig", &sig);
    let out = openssl(&[
        &"pkeyutl",
        &"-verify",
        &"-pubin",
        &"-inkey",
        &public,
        &"-rawin",
        &"-in",
        &msg_file,
        &"-sigfile",
        &sig_file,
    ]);
    assert!(out.contains("Signature Verified Successfully"), "{out}");

    // OpenSSL's signature with our key is byte-identical (Ed25519 is
    // deterministic) and verifies with our code.
    let private = dir.write("private.pem", keys.private_pem().expose());
    let theirs = dir.path("theirs.sig");
    openssl(&[
        &"pkeyutl", &"-sign", &"-inkey", &private, &"-rawin", &"-in", &msg_file, &"-out", &theirs,
    ]);
    let theirs = std::fs::read(theirs).unwrap();
    assert_eq!(theirs, sig);
    keys.public().verify(msg, &base58::encode(&theirs)).unwrap();

    // A tampered message does not verify on either side.
    let bad_msg = dir.write("bad", b"tampered");
    let status = Command::new("openssl")
        .args(["pkeyutl", "-verify", "-pubin", "-inkey"])
        .arg(&public)
        .args(["-rawin", "-in"])
        .arg(&bad_msg)
        .arg("-sigfile")
        .arg(&sig_file)
        .output()
        .unwrap()
        .status;
    assert!(!status.success());
    assert!(keys.public().verify(b"tampered", &keys.sign(msg)).is_err());
}

/// A PKCS#8 v2 (OneAsymmetricKey) DER with the public key, in the layout
/// `ring`'s `Ed25519KeyPair::generate_pkcs8` writes (`[1] IMPLICIT BIT
/// STRING`). `openssl genpkey` writes v1 only, and neither OpenSSL 3.0 nor
/// Python `cryptography` reads v2, so the structure is built by hand.
fn pkcs8_v2(seed: &[u8], public: &[u8]) -> Vec<u8> {
    let mut der = vec![0x30, 0x51, 0x02, 0x01, 0x01];
    der.extend_from_slice(&[0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70]);
    der.extend_from_slice(&[0x04, 0x22, 0x04, 0x20]);
    der.extend_from_slice(seed);
    der.extend_from_slice(&[0x81, 0x21, 0x00]);
    der.extend_from_slice(public);
    der
}

#[test]
fn pkcs8_v2_key_of_an_openssl_key_loads() {
    if !have_openssl() {
        return;
    }
    let dir = Scratch::new("v2");
    let private = dir.path("private.pem");
    openssl(&[&"genpkey", &"-algorithm", &"ed25519", &"-out", &private]);
    let v1 = pem::decode(&dir.read("private.pem")).unwrap();
    assert_eq!(v1.der.len(), 48);
    let seed = &v1.der[16..];
    let public = PublicKey::from_pem(&pubout(&private)).unwrap();

    let v2_pem = pem::encode("PRIVATE KEY", &pkcs8_v2(seed, public.as_bytes()));
    let keys = KeyPair::from_pem(&v2_pem).expect("PKCS#8 v2 loads");
    assert_eq!(keys.public(), public);
    // We write v1, identical to OpenSSL's file.
    assert_eq!(keys.private_pem().expose(), dir.read("private.pem"));

    // A v2 key whose public key belongs to another key is an integrity error.
    let other = KeyPair::generate();
    let bad = pem::encode("PRIVATE KEY", &pkcs8_v2(seed, other.public().as_bytes()));
    assert!(matches!(
        KeyPair::from_pem(&bad),
        Err(vaultid::Error::Integrity(_))
    ));
}

#[test]
fn python_cryptography_style_pem_loads() {
    if !have_openssl() {
        return;
    }
    let dir = Scratch::new("python");
    // Python `cryptography` serialises Ed25519 keys as PKCS#8 v1 / SPKI PEM,
    // byte-identical to OpenSSL's (it is OpenSSL underneath). Use it when
    // installed; otherwise OpenSSL's output stands in for it.
    let script = "from cryptography.hazmat.primitives.asymmetric import ed25519\n\
                  from cryptography.hazmat.primitives import serialization as s\n\
                  import sys\n\
                  k = ed25519.Ed25519PrivateKey.generate()\n\
                  open(sys.argv[1], 'wb').write(k.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption()))\n\
                  open(sys.argv[2], 'wb').write(k.public_key().public_bytes(s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo))\n\
                  msg = b'hello from python'\n\
                  open(sys.argv[3], 'wb').write(k.sign(msg))\n";
    let (private, public) = (dir.path("private.pem"), dir.path("public.pem"));
    let sig_path = dir.path("sig");
    let python = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&private)
        .arg(&public)
        .arg(&sig_path)
        .output();
    match python {
        Ok(out) if out.status.success() => {
            let keys = vaultid::fuzzing::codec::key_pair_from_pems(
                &dir.read("private.pem"),
                &dir.read("public.pem"),
            )
            .expect("Python cryptography's keys load");
            assert_eq!(keys.public_pem(), dir.read("public.pem"));
            assert_eq!(keys.private_pem().expose(), dir.read("private.pem"));
            let sig = std::fs::read(&sig_path).unwrap();
            keys.public()
                .verify(b"hello from python", &base58::encode(&sig))
                .unwrap();
            assert_eq!(keys.sign(b"hello from python"), base58::encode(&sig));
        }
        _ => {
            eprintln!(
                "note: Python `cryptography` is not available; using OpenSSL's PEM, which it matches byte for byte"
            );
            openssl(&[&"genpkey", &"-algorithm", &"ed25519", &"-out", &private]);
            let public_text = pubout(&private);
            let keys =
                vaultid::fuzzing::codec::key_pair_from_pems(&dir.read("private.pem"), &public_text)
                    .unwrap();
            assert_eq!(keys.public_pem(), public_text);
        }
    }
}

#[test]
fn other_openssl_key_types_are_named() {
    if !have_openssl() {
        return;
    }
    let dir = Scratch::new("others");
    for (args, needle) in [
        (&["-algorithm", "x25519"][..], "X25519 (1.3.101.110)"),
        (&["-algorithm", "ed448"][..], "Ed448 (1.3.101.113)"),
        (
            &["-algorithm", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"][..],
            "id-ecPublicKey (1.2.840.10045.2.1)",
        ),
    ] {
        let path = dir.path("k.pem");
        let mut cmd: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![&"genpkey"];
        for a in args {
            cmd.push(a);
        }
        cmd.push(&"-out");
        cmd.push(&path);
        openssl(&cmd);
        match KeyPair::from_pem(&dir.read("k.pem")) {
            Err(vaultid::Error::InvalidKey(m)) => assert!(m.contains(needle), "{m}"),
            other => panic!("expected InvalidKey for {args:?}, got {other:?}"),
        }
        match PublicKey::from_pem(&pubout(&path)) {
            Err(vaultid::Error::InvalidKey(m)) => assert!(m.contains(needle), "{m}"),
            other => panic!("expected InvalidKey for {args:?} public key, got {other:?}"),
        }
    }

    // An encrypted key names the way out.
    let ed = dir.path("ed.pem");
    openssl(&[&"genpkey", &"-algorithm", &"ed25519", &"-out", &ed]);
    let enc = dir.path("enc.pem");
    openssl(&[
        &"pkey",
        &"-in",
        &ed,
        &"-aes256",
        &"-passout",
        &"pass:test",
        &"-out",
        &enc,
    ]);
    match KeyPair::from_pem(&dir.read("enc.pem")) {
        Err(vaultid::Error::InvalidKey(m)) => {
            assert!(m.contains("encrypted") && m.contains("openssl pkey"), "{m}")
        }
        other => panic!("expected InvalidKey for an encrypted key, got {other:?}"),
    }
}
