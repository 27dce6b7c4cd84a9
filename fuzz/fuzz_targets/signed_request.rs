//! What a verifier reads from outside: the three signature headers (split
//! from the input at newlines, also as a header list), a DID document, a
//! base58 key, and the body. Never a panic, never a verification of
//! something that was not signed, and the replay guard stays bounded.
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use vaultid::identity::KeyPair;
use vaultid::signing::{
    public_key_from_base58, public_key_from_did, public_key_from_did_document, verify_request,
    ReplayGuard, SignatureHeaders, VerifyOptions,
};

fn keys() -> &'static KeyPair {
    static KEYS: OnceLock<KeyPair> = OnceLock::new();
    KEYS.get_or_init(KeyPair::generate)
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.splitn(4, '\n');
    let did = lines.next().unwrap_or("");
    let sig = lines.next().unwrap_or("");
    let ts = lines.next().unwrap_or("");
    let body = lines.next().unwrap_or("").as_bytes();

    let parsed = SignatureHeaders::parse(did, sig, ts);
    let listed = SignatureHeaders::from_headers(
        text.lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n, v)),
    );
    let _ = (public_key_from_base58(did), public_key_from_did(did));
    if let Ok(k) = public_key_from_did_document(data, did) {
        let _ = k.base58();
    }
    let guard = ReplayGuard::with_limits(Duration::from_secs(300), 4);
    for h in [parsed, listed].into_iter().flatten() {
        let options = VerifyOptions::at(h.timestamp).expecting(&h.did);
        // Nobody signed this with the key: it never verifies.
        assert!(verify_request(&h, body, &keys().public(), &options).is_err());
        let _ = guard.check_at(&h, h.timestamp);
        let _ = guard.check_at(&h, h.timestamp);
        assert!(guard.len() <= 4);
        let _ = h.to_pairs();
    }
});
