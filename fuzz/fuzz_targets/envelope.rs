//! The canonical string of the framework's signed envelope, on any body,
//! DID and timestamp: never a panic; always ASCII; read back as JSON it is
//! exactly `{"body": body, "did": did, "timestamp": timestamp}` (serde_json
//! decodes the `\uXXXX` escapes and surrogate pairs independently); and
//! what is signed verifies, while a changed body does not.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use vaultid::identity::KeyPair;
use vaultid::signing::{canonical_payload, sign_request, verify_request, VerifyOptions};

fn keys() -> &'static KeyPair {
    static KEYS: OnceLock<KeyPair> = OnceLock::new();
    KEYS.get_or_init(KeyPair::generate)
}

fuzz_target!(|data: &[u8]| {
    let (head, rest) = data.split_at(data.len().min(8));
    let mut ts = [0u8; 8];
    ts[..head.len()].copy_from_slice(head);
    let timestamp = i64::from_le_bytes(ts);
    let text = String::from_utf8_lossy(rest);
    let (did, body) = text.split_once('\n').unwrap_or(("did:bindu:a:b:c", &text));

    let payload = canonical_payload(body, did, timestamp);
    assert!(payload.is_ascii(), "ensure_ascii output is ASCII");
    let v: Value = serde_json::from_str(&payload).expect("the canonical string is JSON");
    assert_eq!(v["body"].as_str(), Some(body));
    assert_eq!(v["did"].as_str(), Some(did));
    assert_eq!(v["timestamp"].as_i64(), Some(timestamp));
    assert_eq!(v.as_object().map(|m| m.len()), Some(3));

    // Raw bytes as the body: signed only when UTF-8, and then it verifies.
    let options = VerifyOptions::at(timestamp);
    match sign_request(keys(), did, rest, timestamp) {
        Ok(h) => {
            assert!(std::str::from_utf8(rest).is_ok());
            verify_request(&h, rest, &keys().public(), &options).expect("sign -> verify");
            let mut changed = rest.to_vec();
            changed.push(b'x');
            assert!(verify_request(&h, &changed, &keys().public(), &options).is_err());
        }
        Err(e) => {
            assert!(std::str::from_utf8(rest).is_err());
            assert_eq!(e.reason(), "malformed_input");
        }
    }
});
