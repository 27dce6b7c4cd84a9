//! Wrong clocks: an OpenBao TLS listener whose certificate is valid only
//! from tomorrow (what a board that booted in the past sees) and one whose
//! certificate expired. The error names the system clock's reading and
//! says it is probably wrong; with local keys `up` starts from them.
//! Certificates are made here with the `openssl` CLI (`openssl ca` with
//! explicit start and end dates).

use crate::common;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::bao::Bao;
use common::{json_ok, tmpdir};
use vaultid::vault::Client;
use vaultid::Error;

const DAY: u64 = 86_400;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `YYYYMMDDHHMMSSZ`, the form `openssl ca -startdate/-enddate` takes.
fn asn1_time(unix: u64) -> String {
    let iso = vaultid::fuzzing::codec::format_iso8601(unix, 0);
    let digits: String = iso.chars().filter(char::is_ascii_digit).take(14).collect();
    format!("{digits}Z")
}

fn openssl(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl (apt-get install openssl, or run scripts/setup.sh)");
    assert!(
        o.status.success(),
        "openssl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A CA valid now and, signed by it, a certificate for 127.0.0.1 valid from
/// `start` to `end` (Unix seconds): `ca.pem`, `server.pem`, `server-key.pem`.
fn make_pki(dir: &Path, start: u64, end: u64) {
    fs::create_dir_all(dir).unwrap();
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca-key.pem",
            "-out",
            "ca.pem",
            "-subj",
            "/CN=clock-test-ca",
            "-days",
            "30",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "server-key.pem",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    fs::write(dir.join("index.txt"), "").unwrap();
    fs::write(dir.join("serial"), "01\n").unwrap();
    let d = dir.display();
    fs::write(
        dir.join("ca.cnf"),
        format!(
            "[ca]\ndefault_ca = c\n[c]\ndatabase = {d}/index.txt\nnew_certs_dir = {d}\n\
             serial = {d}/serial\ncertificate = {d}/ca.pem\nprivate_key = {d}/ca-key.pem\n\
             default_md = sha256\npolicy = p\nx509_extensions = ext\nunique_subject = no\n\
             [p]\ncommonName = supplied\n\
             [ext]\nbasicConstraints = CA:FALSE\nkeyUsage = digitalSignature\n\
             extendedKeyUsage = serverAuth\nsubjectAltName = IP:127.0.0.1,DNS:localhost\n"
        ),
    )
    .unwrap();
    openssl(
        dir,
        &[
            "ca",
            "-batch",
            "-config",
            "ca.cnf",
            "-in",
            "server.csr",
            "-out",
            "server.pem",
            "-notext",
            "-startdate",
            &asn1_time(start),
            "-enddate",
            &asn1_time(end),
        ],
    );
}

/// A dev server with an extra TLS listener that serves a certificate valid
/// from `start` to `end`; its `https://` address and the CA file.
fn bao_with_cert(tag: &str, start: u64, end: u64) -> Option<(Bao, String, std::path::PathBuf)> {
    let dir = tmpdir(tag);
    make_pki(&dir, start, end);
    let port = common::bao::free_port();
    let hcl = format!(
        "listener \"tcp\" {{\n  address = \"127.0.0.1:{port}\"\n  \
         tls_cert_file = \"{d}/server.pem\"\n  tls_key_file = \"{d}/server-key.pem\"\n}}\n",
        d = dir.display()
    );
    let bao = Bao::start_with_config(&hcl)?;
    Some((bao, format!("https://127.0.0.1:{port}"), dir.join("ca.pem")))
}

/// The clock error: what the clock reads (this year, as the test's own
/// clock says), the certificate's date, "probably wrong".
fn assert_clock_error(detail: &str, cert_date: u64) {
    let year = &vaultid::fuzzing::codec::format_iso8601(now(), 0)[..4];
    assert!(detail.contains("this system's clock reads "), "{detail}");
    assert!(detail.contains(&format!("clock reads {year}-")), "{detail}");
    assert!(detail.contains("probably wrong"), "{detail}");
    let date = &vaultid::fuzzing::codec::format_iso8601(cert_date, 0)[..10];
    assert!(detail.contains(date), "certificate date {date}: {detail}");
}

fn check(tag: &str, start: u64, end: u64, cert_date: u64, what: &str) {
    let Some((bao, addr, ca)) = bao_with_cert(tag, start, end) else {
        return;
    };

    // The library's error.
    let mut cfg = bao.config();
    cfg.addr = addr.clone();
    cfg.tls.ca_cert = Some(ca.clone());
    match Client::new(&cfg).unwrap().health() {
        Err(Error::Unreachable { detail, .. }) => {
            assert!(detail.contains(what), "{detail}");
            assert_clock_error(&detail, cert_date);
        }
        other => panic!("{tag}: {other:?}"),
    }

    let run = |dir: &Path, enabled: bool| {
        let mut c = common::agent_cmd(dir, "clock@example.com", &format!("clock-{tag}"));
        c.env("VAULT_ADDR", &addr)
            .env("VAULT_CACERT", &ca)
            .env("VAULT_TOKEN", bao.token())
            .arg("up");
        if !enabled {
            c.env("VAULT__ENABLED", "false");
        }
        c.output().unwrap()
    };

    // With local keys, `up` starts from them, saying why Vault was not used.
    let keys = tmpdir(&format!("{tag}-keys"));
    json_ok(&run(&keys, false));
    let private = fs::read(keys.join("private.pem")).unwrap();
    let t = Instant::now();
    let out = json_ok(&run(&keys, true));
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert_eq!(out["vault"], "unavailable", "{out}");
    assert_eq!(out["keys_source"], "local", "{out}");
    assert_clock_error(out["vault_error"].as_str().unwrap(), cert_date);
    assert_eq!(fs::read(keys.join("private.pem")).unwrap(), private);

    // Without, it fails (exit 3) and the message on stderr names the clock.
    let empty = tmpdir(&format!("{tag}-empty"));
    let o = run(&empty, true);
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    assert_clock_error(&String::from_utf8_lossy(&o.stderr), cert_date);
    assert!(!empty.join("private.pem").exists());
}

#[test]
fn certificate_valid_only_from_tomorrow() {
    let start = now() + DAY;
    check(
        "not-yet",
        start,
        start + 30 * DAY,
        start,
        "not valid before",
    );
}

#[test]
fn certificate_expired_yesterday() {
    let end = now() - DAY;
    check("expired", end - 30 * DAY, end, end, "expired at");
}
