//! The framework's DID-signed envelope, against the framework's own code:
//! its `bindu/utils/did/signature.py` (from the bindu 2026.36.7 wheel, with
//! base58 and PyNaCl) run through `scripts/bindu_oracle.py`.
//!
//! - the canonical string is byte-identical to the framework's for every
//!   body (ASCII, every JSON escape, every control character,
//!   U+2028/U+2029, U+FFFF, above U+FFFF, empty, 70 KB, 2 MB, random
//!   Unicode);
//! - vaultid signs, the framework's `verify_signature` accepts; the
//!   framework signs (PyNaCl over its payload), vaultid accepts; both refuse
//!   the same tampered requests for the same reasons;
//! - `vaultid call` against a loopback server that decides as the
//!   framework's Hydra middleware does (introspection at the Hydra double,
//!   `metadata.public_key`, the framework's verify), before and after a
//!   restart on an empty disk (identity from a real OpenBao) and after
//!   `--recreate-keys`; five calls cost at most one token request.

use crate::common;
use crate::hydra_double;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::bao::Bao;
use common::bindu::{b64, Oracle};
use common::framework::FrameworkServer;
use common::{json_ok, tmpdir, TestServer};
use hydra_double::HydraDouble;
use serde_json::{json, Value};
use vaultid::fuzzing::codec::pem;
use vaultid::identity::{did_key, Identity, KeyPair};
use vaultid::signing::{
    canonical_payload, sign_request, verify_request, SignatureHeaders, VerifyOptions,
};

const AUTHOR: &str = "sign@example.com";

/// A small deterministic generator (xorshift), so every run sends the same bodies.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A character from a class chosen at random: printable ASCII, an
    /// escape, a control character, Latin, CJK, U+2028/9, the ends of the
    /// BMP, the astral planes.
    fn char(&mut self) -> char {
        let pick = |r: &mut Rng, lo: u32, hi: u32| {
            char::from_u32(lo + r.below(u64::from(hi - lo + 1)) as u32).unwrap_or('?')
        };
        match self.below(10) {
            0..=3 => pick(self, 0x20, 0x7e),
            4 => ['"', '\\', '/', '\u{8}', '\u{c}', '\n', '\r', '\t'][self.below(8) as usize],
            5 => pick(self, 0x00, 0x1f),
            6 => pick(self, 0x80, 0x7ff),
            7 => [
                '\u{2028}', '\u{2029}', '\u{ffff}', '\u{fffe}', '\u{feff}', '\u{7f}', '\u{d7ff}',
                '\u{e000}',
            ][self.below(8) as usize],
            8 => pick(self, 0x4e00, 0x9fff),
            _ => pick(self, 0x10000, 0x10ffff),
        }
    }
}

/// The bodies both ways: more than 200, every class the envelope's
/// escaping distinguishes, and the sizes the framework accepts.
fn bodies() -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"hello".to_vec(),
        br#"{"jsonrpc":"2.0","method":"message/send","params":{"message":{"role":"user","parts":[{"kind":"text","text":"hi"}]}},"id":1}"#.to_vec(),
        b"{\"a\": [1, 2.5, null, true], \"b\": {\"c\": \"d\"}}".to_vec(),
        b"a=1&b=two%20words".to_vec(),
        b" leading and trailing spaces ".to_vec(),
        b"/path/with/slashes/ and <html> & 'quotes'".to_vec(),
    ];
    // Every JSON escape, alone and together.
    for s in [
        "\"",
        "\\",
        "/",
        "\u{8}",
        "\u{c}",
        "\n",
        "\r",
        "\t",
        "\"\\/\u{8}\u{c}\n\r\t",
        "\\u0041",
        "\\\"",
    ] {
        out.push(s.as_bytes().to_vec());
    }
    // Every control character, and DEL.
    for c in (0u32..0x20).chain([0x7f]) {
        out.push(format!("x{}y", char::from_u32(c).unwrap()).into_bytes());
    }
    for s in [
        "\u{2028}",
        "\u{2029}",
        "a\u{2028}b\u{2029}c",
        "\u{ffff}",
        "\u{fffe}",
        "\u{feff}bom",
        "\u{80}",
        "\u{7ff}",
        "\u{800}",
        "\u{d7ff}",
        "\u{e000}",
        "\u{10000}",
        "\u{10ffff}",
        "😀",
        "👩‍👩‍👧",
        "𝄞 music",
        "é",
        "e\u{301}",
        "日本語のテキスト",
        "Ελληνικά",
        "עברית",
        "\u{202e}rtl",
        "\u{0}\u{0}",
        "\r\n\r\n",
    ] {
        out.push(s.as_bytes().to_vec());
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    while out.len() < 230 {
        let len = rng.below(200) as usize;
        let s: String = (0..len).map(|_| rng.char()).collect();
        out.push(s.into_bytes());
    }
    // 70 KB of mixed text, and 2 MB (the framework's limit) of JSON-ish text.
    let mixed: String = (0..30_000).map(|_| rng.char()).collect();
    let mut big = mixed.into_bytes();
    big.truncate(70 * 1024);
    while std::str::from_utf8(&big).is_err() {
        big.pop();
    }
    out.push(big);
    let unit = "{\"k\":\"v\\u00e9 \u{e9} \u{1F600}\",\"n\":[1,2,3]}\n";
    let mut two_mb = unit.repeat(2 * 1024 * 1024 / unit.len()).into_bytes();
    two_mb.resize(2 * 1024 * 1024, b' ');
    out.push(two_mb);
    out
}

fn dids() -> Vec<String> {
    let keys = KeyPair::generate();
    vec![
        Identity::new(AUTHOR, "agent", None).unwrap().did,
        did_key(&keys.public()),
        // Odd but possible in a header: escaping applies to the DID too.
        "did:bindu:émile_at_example_com:bøt:5f0c9d0e-0000-4000-8000-000000000000".into(),
    ]
}

/// A key pair and its seed (hex) for PyNaCl.
fn key_with_seed() -> (KeyPair, String) {
    let mut seed = [0u8; 32];
    seed[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    seed[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    let keys = KeyPair::from_pem(pem::encode_private_key(&seed).expose()).unwrap();
    let hex: String = seed.iter().map(|b| format!("{b:02x}")).collect();
    (keys, hex)
}

#[test]
fn the_canonical_string_is_the_frameworks_byte_for_byte() {
    let Some(mut py) = Oracle::start() else {
        return;
    };
    let bodies = bodies();
    assert!(bodies.len() >= 200);
    let dids = dids();
    let items: Vec<(Vec<u8>, String, i64)> = bodies
        .iter()
        .enumerate()
        .map(|(i, b)| {
            (
                b.clone(),
                dids[i % dids.len()].clone(),
                [0, 1_700_000_000, -7, i64::from(i as u32)][i % 4],
            )
        })
        .collect();
    let req = json!({"op": "payloads", "items": items.iter().map(|(b, d, t)| json!({"body_b64": b64(b), "did": d, "timestamp": t})).collect::<Vec<_>>()});
    let answer = py.ask(&req);
    let theirs = answer["payloads"].as_array().unwrap();
    assert_eq!(theirs.len(), items.len());
    for (i, ((b, d, t), p)) in items.iter().zip(theirs).enumerate() {
        let ours = canonical_payload(std::str::from_utf8(b).unwrap(), d, *t);
        assert!(
            ours == p.as_str().unwrap(),
            "body #{i} ({} bytes): vaultid {:?}... differs from the framework's {:?}...",
            b.len(),
            &ours[..ours.len().min(120)],
            &p.as_str().unwrap()[..p.as_str().unwrap().len().min(120)]
        );
    }
}

#[test]
fn vaultid_signs_and_the_framework_verifies() {
    let Some(mut py) = Oracle::start() else {
        return;
    };
    let (keys, _) = key_with_seed();
    let now = py.now();
    let bodies = bodies();
    let dids = dids();
    let mut items = Vec::new();
    for (i, b) in bodies.iter().enumerate() {
        let did = &dids[i % dids.len()];
        let h = sign_request(&keys, did, b, now).unwrap();
        items.push(
            json!({"body_b64": b64(b), "signature": h.signature, "did": h.did,
                          "timestamp": h.timestamp, "public_key": keys.public().base58()}),
        );
    }
    let n = items.len();
    // Tampered copies the framework must refuse, each for its reason.
    let mut refused = Vec::new();
    let first = sign_request(&keys, &dids[0], b"{\"amount\": 10}", now).unwrap();
    let base = json!({"body_b64": b64(b"{\"amount\": 10}"), "signature": first.signature,
                      "did": first.did, "timestamp": now, "public_key": keys.public().base58()});
    for (field, value, reason) in [
        (
            "body_b64",
            json!(b64(b"{\"amount\": 1000}")),
            "crypto_mismatch",
        ),
        ("did", json!(dids[1]), "crypto_mismatch"),
        ("timestamp", json!(now + 1), "crypto_mismatch"),
        ("timestamp", json!(now - 301), "timestamp_out_of_window"),
        (
            "public_key",
            json!(KeyPair::generate().public().base58()),
            "crypto_mismatch",
        ),
        ("signature", json!("0OIl"), "malformed_input"),
    ] {
        let mut t = base.clone();
        t[field] = value;
        items.push(t);
        refused.push(reason);
    }
    let answer = py.ask(&json!({"op": "verify", "items": items}));
    let results = answer["results"].as_array().unwrap();
    for (i, r) in results[..n].iter().enumerate() {
        assert_eq!(
            r,
            true,
            "body #{i} ({} bytes): the framework refused vaultid's signature ({})",
            bodies[i].len(),
            answer["reasons"][i]
        );
    }
    for (j, reason) in refused.iter().enumerate() {
        assert_eq!(results[n + j], false, "tampered #{j}");
        assert_eq!(answer["reasons"][n + j], *reason, "tampered #{j}");
    }
    // The command line signs the same way: a few bodies through
    // `vaultid sign-request --file`, checked by the framework.
    let dir = tmpdir("sign-cli");
    let mut c = common::agent_cmd(&dir, AUTHOR, "agent");
    c.env("VAULTID_ALLOW_OFFLINE_GENERATE", "true").arg("up");
    let up = json_ok(&c.output().unwrap());
    let public = up["public_key_base58"].as_str().unwrap().to_string();
    let mut cli_items = Vec::new();
    for b in [
        &bodies[0],
        &bodies[20],
        &bodies[60],
        &bodies[bodies.len() - 2],
    ] {
        let f = dir.join("body");
        std::fs::write(&f, b).unwrap();
        let mut c = common::agent_cmd(&dir, AUTHOR, "agent");
        c.args(["sign-request", "--file"]).arg(&f);
        let h = json_ok(&c.output().unwrap());
        cli_items.push(json!({"body_b64": b64(b), "signature": h["X-DID-Signature"], "did": h["X-DID"],
                              "timestamp": h["X-DID-Timestamp"].as_str().unwrap().parse::<i64>().unwrap(),
                              "public_key": public}));
    }
    let answer = py.ask(&json!({"op": "verify", "items": cli_items}));
    assert_eq!(
        answer["results"],
        json!([true, true, true, true]),
        "{answer}"
    );
}

#[test]
fn the_framework_signs_and_vaultid_verifies() {
    let Some(mut py) = Oracle::start() else {
        return;
    };
    let (keys, seed) = key_with_seed();
    let now = py.now();
    let bodies = bodies();
    let dids = dids();
    let items: Vec<Value> = bodies
        .iter()
        .enumerate()
        .map(|(i, b)| json!({"body_b64": b64(b), "did": dids[i % dids.len()], "timestamp": now}))
        .collect();
    let answer = py.ask(&json!({"op": "sign", "seed_hex": seed, "items": items}));
    let sigs = answer["signatures"].as_array().unwrap();
    assert_eq!(sigs.len(), bodies.len());
    let pk = keys.public();
    let options = VerifyOptions::at(now);
    for (i, (b, s)) in bodies.iter().zip(sigs).enumerate() {
        let did = &dids[i % dids.len()];
        let h = SignatureHeaders::parse(did, s.as_str().unwrap(), &now.to_string()).unwrap();
        verify_request(&h, b, &pk, &options.clone().expecting(did))
            .unwrap_or_else(|e| panic!("body #{i} ({} bytes): {e}", b.len()));
        // Deterministic Ed25519: the same bytes signed, the same signature.
        assert_eq!(
            sign_request(&keys, did, b, now).unwrap().signature,
            s.as_str().unwrap(),
            "body #{i}"
        );
        // One flipped byte of the body is refused.
        if !b.is_empty() && b[0].is_ascii() {
            let mut t = b.clone();
            t[0] = if t[0] == b'a' { b'b' } else { b'a' };
            let r = verify_request(&h, &t, &pk, &options).unwrap_err();
            assert_eq!(r.reason(), "crypto_mismatch", "body #{i}");
        }
    }
    // A window edge the two agree on: exactly 300 s is accepted, 301 is not.
    let old = json!({"body_b64": b64(b"x"), "did": dids[0], "timestamp": now - 300});
    let s =
        py.ask(&json!({"op": "sign", "seed_hex": seed, "items": [old]}))["signatures"][0].clone();
    let h =
        SignatureHeaders::parse(&dids[0], s.as_str().unwrap(), &(now - 300).to_string()).unwrap();
    verify_request(&h, b"x", &pk, &VerifyOptions::at(now)).unwrap();
    let e = verify_request(&h, b"x", &pk, &VerifyOptions::at(now + 1)).unwrap_err();
    assert_eq!(e.reason(), "timestamp_out_of_window");
}

// ---------------------------------------------------------------------------
// `vaultid call` against a server that decides as the framework does

// The server: `common::framework::FrameworkServer`.

fn agent(vault: Option<&Bao>, hydra: &HydraDouble, name: &str, dir: &Path) -> Command {
    let mut c = common::agent_cmd(dir, AUTHOR, name);
    c.env("HYDRA__ADMIN_URL", hydra.admin_url())
        .env("HYDRA__PUBLIC_URL", hydra.public_url())
        .env("HYDRA__MAX_RETRIES", "0")
        .env("HYDRA__TIMEOUT", "3s");
    match vault {
        Some(b) => {
            c.env("VAULT_ADDR", b.addr()).env("VAULT_TOKEN", b.token());
        }
        None => {
            c.env("VAULTID_ALLOW_OFFLINE_GENERATE", "true");
        }
    }
    c
}

fn run(mut c: Command, args: &[&str]) -> Output {
    c.args(args).stdin(Stdio::null()).output().unwrap()
}

/// Send `body` to `url` with `token` and `headers`, as any HTTP client.
fn send(url: &str, token: &str, headers: &[(&str, String)], body: &[u8]) -> u16 {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut r = ureq::http::Request::builder()
        .method("POST")
        .uri(url)
        .header("authorization", format!("Bearer {token}"));
    for (n, v) in headers {
        r = r.header(*n, v.as_str());
    }
    agent
        .run(r.body(body.to_vec()).unwrap())
        .unwrap()
        .status()
        .as_u16()
}

fn pairs(h: &SignatureHeaders) -> Vec<(&'static str, String)> {
    h.to_pairs().to_vec()
}

#[test]
fn calls_are_accepted_across_restarts_and_refused_when_tampered() {
    let Some(bao) = Bao::shared() else { return };
    let Some(oracle) = Oracle::start() else {
        return;
    };
    let hydra = HydraDouble::start();
    let peer = FrameworkServer::start(&hydra, oracle);
    let name = format!("caller-{}", &uuid::Uuid::new_v4().to_string()[..8]);
    let did = Identity::new(AUTHOR, &name, None).unwrap().did;
    let body = "{\"jsonrpc\":\"2.0\",\"method\":\"message/send\",\"params\":{\"text\":\"h\u{e9}llo \u{1F600} \\n\"},\"id\":1}";
    let call = |dir: &Path| {
        run(
            agent(Some(bao), &hydra, &name, dir),
            &["call", &peer.url("/a2a"), "-d", body],
        )
    };

    // Before a restart.
    let a = tmpdir("call-a");
    json_ok(&run(agent(Some(bao), &hydra, &name, &a), &["up"]));
    let o = call(&a);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{} / {}",
        peer.last(),
        String::from_utf8_lossy(&o.stderr)
    );
    let echoed: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(echoed["echo"], body, "the exact bytes were sent and signed");
    let old_keys =
        KeyPair::from_pem(&std::fs::read_to_string(a.join("private.pem")).unwrap()).unwrap();

    // After a restart with an empty disk: the identity comes back from
    // Vault, and five calls cost at most one token request.
    let b = tmpdir("call-b");
    json_ok(&run(agent(Some(bao), &hydra, &name, &b), &["up"]));
    let before = hydra.count("oauth2TokenExchange");
    for i in 0..5 {
        let o = call(&b);
        assert_eq!(
            o.status.code(),
            Some(0),
            "call {i}: {} / {}",
            peer.last(),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let fetched = hydra.count("oauth2TokenExchange") - before;
    assert!(fetched <= 1, "five calls asked for {fetched} tokens");
    assert_eq!(fetched, 1, "the empty disk held no token");
    let cache = b.join("hydra_token.json");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // `vaultid token` reuses the same token too.
    let t = json_ok(&run(agent(Some(bao), &hydra, &name, &b), &["token"]));
    assert_eq!(hydra.count("oauth2TokenExchange") - before, 1);
    let token = t["access_token"].as_str().unwrap().to_string();

    // Refused: a body changed after signing, a stale timestamp, a wrong
    // DID, no signature at all.
    let signed = |extra: &[&str], body: &str| {
        let o = run(
            agent(Some(bao), &hydra, &name, &b),
            &[&["sign-request", body][..], extra].concat(),
        );
        let v = json_ok(&o);
        SignatureHeaders::parse(
            v["X-DID"].as_str().unwrap(),
            v["X-DID-Signature"].as_str().unwrap(),
            v["X-DID-Timestamp"].as_str().unwrap(),
        )
        .unwrap()
    };
    let url = peer.url("/a2a");
    let h = signed(&[], body);
    assert_eq!(
        send(&url, &token, &pairs(&h), body.as_bytes()),
        200,
        "{}",
        peer.last()
    );
    assert_eq!(
        send(
            &url,
            &token,
            &pairs(&h),
            body.replace("llo", "LLO").as_bytes()
        ),
        403
    );
    assert_eq!(peer.last(), "crypto_mismatch");
    let stale = (h.timestamp - 301).to_string();
    let h_old = signed(&["--timestamp", &stale], body);
    assert_eq!(send(&url, &token, &pairs(&h_old), body.as_bytes()), 403);
    assert_eq!(peer.last(), "timestamp_out_of_window");
    let keys_now =
        KeyPair::from_pem(&std::fs::read_to_string(b.join("private.pem")).unwrap()).unwrap();
    let other_did = Identity::new(AUTHOR, "someone-else", None).unwrap().did;
    let wrong = sign_request(&keys_now, &other_did, body.as_bytes(), h.timestamp).unwrap();
    assert_eq!(send(&url, &token, &pairs(&wrong), body.as_bytes()), 403);
    assert_eq!(peer.last(), "did_mismatch");
    assert_eq!(send(&url, &token, &[], body.as_bytes()), 403);
    assert_eq!(peer.last(), "missing_signature_headers");
    assert_eq!(send(&url, "not-a-token", &pairs(&h), body.as_bytes()), 401);

    // After --recreate-keys: the new key is registered and accepted; a
    // request signed with the old key is refused.
    let re = json_ok(&run(
        agent(Some(bao), &hydra, &name, &b),
        &["up", "--recreate-keys"],
    ));
    assert_ne!(re["public_key_base58"], old_keys.public().base58());
    assert_eq!(
        hydra.client(&did).unwrap()["metadata"]["public_key"],
        re["public_key_base58"]
    );
    let o = call(&b);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{} / {}",
        peer.last(),
        String::from_utf8_lossy(&o.stderr)
    );
    let now = h.timestamp;
    let by_old = sign_request(&old_keys, &did, body.as_bytes(), now).unwrap();
    assert_eq!(send(&url, &token, &pairs(&by_old), body.as_bytes()), 403);
    assert_eq!(peer.last(), "crypto_mismatch");
    // The old pod's disk still has the old key: its call is refused (5).
    let o = run(agent(None, &hydra, &name, &a), &["call", &url, "-d", body]);
    assert_eq!(
        o.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(peer.last(), "crypto_mismatch");
}

#[test]
fn call_exit_codes_headers_and_redirects() {
    let hydra = HydraDouble::start();
    let dir = tmpdir("call-codes");
    let name = "codes";
    json_ok(&run(agent(None, &hydra, name, &dir), &["up"]));
    // Another origin (another port) that must see nothing.
    let elsewhere = TestServer::start(|_, _| common::answer(200, &[], "{}"));
    let target = format!("{}/stolen", elsewhere.addr());
    let server = TestServer::start(move |req, _| match req.path.as_str() {
        "/ok" => common::answer(200, &[("X-Reply", "yes")], "{\"fine\":true}"),
        "/denied" => common::answer(403, &[], "{\"error\":\"Invalid DID signature\"}"),
        "/broken" => common::answer(500, &[], "oops"),
        "/moved" => common::answer(307, &[("Location", target.as_str())], ""),
        _ => common::answer(404, &[], ""),
    });
    let url = |p: &str| format!("{}{p}", server.addr());
    let call = |args: &[&str]| {
        run(
            agent(None, &hydra, name, &dir),
            &[&["call"][..], args].concat(),
        )
    };
    let o = call(&[
        "-X",
        "put",
        &url("/ok"),
        "-d",
        "{\"a\":1}",
        "-H",
        "X-Trace: 7",
        "--include",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert!(
        out.contains("x-reply: yes\r\n") && out.ends_with("\r\n\r\n{\"fine\":true}"),
        "{out}"
    );
    let seen = server.seen().pop().unwrap();
    assert_eq!(seen.method, "PUT");
    assert_eq!(seen.header("x-trace"), Some("7"));
    assert_eq!(seen.header("content-type"), Some("application/json"));
    assert!(seen
        .header("authorization")
        .unwrap()
        .starts_with("Bearer ory_at_"));
    let h =
        SignatureHeaders::from_headers(seen.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .unwrap();
    let keys =
        KeyPair::from_pem(&std::fs::read_to_string(dir.join("private.pem")).unwrap()).unwrap();
    verify_request(&h, &seen.body, &keys.public(), &VerifyOptions::default()).unwrap();
    // A GET without a body signs the empty body.
    let o = call(&[&url("/ok")]);
    assert_eq!(o.status.code(), Some(0));
    let seen = server.seen().pop().unwrap();
    assert_eq!((seen.method.as_str(), seen.body.len()), ("GET", 0));
    let h =
        SignatureHeaders::from_headers(seen.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .unwrap();
    verify_request(&h, b"", &keys.public(), &VerifyOptions::default()).unwrap();
    // Body from a file and from stdin.
    let f = dir.join("body.json");
    std::fs::write(&f, "{\"from\":\"file\"}").unwrap();
    assert_eq!(
        call(&[&url("/ok"), "--data-file", f.to_str().unwrap()])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(server.seen().pop().unwrap().body, b"{\"from\":\"file\"}");
    let mut c = agent(None, &hydra, name, &dir);
    c.args(["call", &url("/ok"), "--data-file", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"{\"from\":\"stdin\"}")
        .unwrap();
    assert_eq!(child.wait_with_output().unwrap().status.code(), Some(0));
    assert_eq!(server.seen().pop().unwrap().body, b"{\"from\":\"stdin\"}");
    // Exit codes: 5 on 403, 1 on 500, 3 when nothing answers.
    let o = call(&[&url("/denied"), "-d", "{}"]);
    assert_eq!(o.status.code(), Some(5));
    assert_eq!(
        o.stdout, b"{\"error\":\"Invalid DID signature\"}",
        "the body is printed"
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("HTTP 403"));
    assert_eq!(call(&[&url("/broken")]).status.code(), Some(1));
    assert_eq!(call(&["http://127.0.0.1:1/x"]).status.code(), Some(3));
    // A redirect to another origin is not followed: the token and the
    // body stay where they were sent.
    let o = call(&[&url("/moved"), "-d", "{\"secret\":1}"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        elsewhere.seen().is_empty(),
        "the other origin was contacted"
    );
    // Usage errors: exit 2, naming the problem.
    for args in [
        &["http://h/", "-H", "Authorization: Bearer x"][..],
        &["http://h/", "-H", "X-DID: did:x"],
        &["http://h/", "-d", "a", "--data-file", "f"],
        &["ftp://h/"],
        &["http://h/", "-X", "GE T"],
        &[],
    ] {
        let o = call(args);
        assert_eq!(
            o.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    // A body that is not UTF-8 cannot be signed.
    std::fs::write(&f, b"\xff\xfe").unwrap();
    let o = call(&[&url("/ok"), "--data-file", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not UTF-8"));
}

#[test]
fn verify_request_reads_keys_from_every_source() {
    let hydra = HydraDouble::start();
    let dir = tmpdir("verify-cli");
    let name = "verifier";
    let up = json_ok(&run(agent(None, &hydra, name, &dir), &["up"]));
    let did = up["did"].as_str().unwrap().to_string();
    let public = up["public_key_base58"].as_str().unwrap().to_string();
    let body = "{\"q\": \"\u{2028}\"}";
    let h = json_ok(&run(
        agent(None, &hydra, name, &dir),
        &["sign-request", body],
    ));
    let sig = h["X-DID-Signature"].as_str().unwrap().to_string();
    let ts = h["X-DID-Timestamp"].as_str().unwrap().to_string();
    // -format=headers prints the same three as lines.
    let o = run(
        agent(None, &hydra, name, &dir),
        &["sign-request", body, "--timestamp", &ts, "-format=headers"],
    );
    assert_eq!(
        String::from_utf8(o.stdout).unwrap(),
        format!("X-DID: {did}\nX-DID-Signature: {sig}\nX-DID-Timestamp: {ts}\n")
    );
    let doc = dir.join("doc.json");
    std::fs::write(
        &doc,
        run(agent(None, &hydra, name, &dir), &["did-document"]).stdout,
    )
    .unwrap();
    let verify = |extra: &[&str], body: &str| {
        run(
            agent(None, &hydra, name, &dir),
            &[
                &[
                    "verify-request",
                    body,
                    "--did",
                    &did,
                    "--signature",
                    &sig,
                    "--timestamp",
                    &ts,
                ][..],
                extra,
            ]
            .concat(),
        )
    };
    for extra in [
        &["--public-key", public.as_str()][..],
        &["--did-document", doc.to_str().unwrap()],
        &["--hydra"],
    ] {
        let v = json_ok(&verify(extra, body));
        assert_eq!(v["valid"], true, "{extra:?}");
        assert_eq!(v["public_key_base58"], public.as_str());
        let o = verify(extra, "{\"q\": \"x\"}");
        assert_eq!(o.status.code(), Some(4), "{extra:?}");
        assert!(String::from_utf8_lossy(&o.stderr).contains("crypto_mismatch"));
    }
    let o = verify(&["--public-key", &public, "--window", "0"], body);
    // Signed at most a second or two ago: a zero window may refuse it, and
    // then for its timestamp.
    if !o.status.success() {
        assert!(String::from_utf8_lossy(&o.stderr).contains("timestamp_out_of_window"));
    }
    // No key source for a did:bindu DID is a usage error; a did:key DID is its own key.
    assert_eq!(verify(&[], body).status.code(), Some(2));
    let keys = KeyPair::generate();
    let dk = did_key(&keys.public());
    let s = sign_request(&keys, &dk, b"hi", vaultid_now()).unwrap();
    let o = run(
        agent(None, &hydra, name, &dir),
        &[
            "verify-request",
            "hi",
            "--did",
            &dk,
            "--signature",
            &s.signature,
            "--timestamp",
            &s.timestamp.to_string(),
        ],
    );
    assert_eq!(json_ok(&o)["valid"], true);
    // An unknown client in Hydra: public_key_unavailable, exit 4.
    let other = Identity::new(AUTHOR, "nobody", None).unwrap().did;
    let s = sign_request(&keys, &other, b"hi", vaultid_now()).unwrap();
    let o = run(
        agent(None, &hydra, name, &dir),
        &[
            "verify-request",
            "hi",
            "--did",
            &other,
            "--signature",
            &s.signature,
            "--timestamp",
            &s.timestamp.to_string(),
            "--hydra",
        ],
    );
    assert_eq!(o.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&o.stderr).contains("public_key_unavailable"));
    // Malformed headers: exit 4, malformed_input.
    let o = run(
        agent(None, &hydra, name, &dir),
        &[
            "verify-request",
            "hi",
            "--did",
            &did,
            "--signature",
            "0OIl",
            "--timestamp",
            &ts,
            "--public-key",
            &public,
        ],
    );
    assert_eq!(o.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&o.stderr).contains("malformed_input"));
}

fn vaultid_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}
