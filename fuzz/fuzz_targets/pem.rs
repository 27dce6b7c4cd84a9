//! PEM armour, PKCS#8 / SubjectPublicKeyInfo DER and base64, on arbitrary
//! input: key files read from disk and key material read from Vault.
//!
//! Besides "never panics", every successful decode must survive a round trip
//! through the matching encoder.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vaultid::fuzzing::codec::{base64, pem};
use vaultid::identity::{KeyPair, PublicKey};

fuzz_target!(|data: &[u8]| {
    // The raw bytes as DER (a `private.pem` may hold DER by mistake).
    if let Ok(k) = pem::parse_private_key_der(data) {
        let again = pem::decode_private_key(pem::encode_private_key(&k.seed).expose())
            .expect("re-encoded private key must decode");
        assert_eq!(again.seed, k.seed);
        assert_eq!(again.version, 0);
    }
    if let Ok(p) = pem::parse_public_key_der(data) {
        assert_eq!(
            pem::decode_public_key(&pem::encode_public_key(&p)).ok(),
            Some(p)
        );
    }

    let text = String::from_utf8_lossy(data);

    if let Ok(block) = pem::decode(&text) {
        let again = pem::decode(&pem::encode(&block.label, &block.der))
            .expect("re-encoded PEM block must decode");
        assert_eq!(again.label, block.label);
        assert_eq!(again.der, block.der);
    }
    if let Ok(k) = pem::decode_private_key(&text) {
        let again = pem::decode_private_key(pem::encode_private_key(&k.seed).expose())
            .expect("re-encoded private key must decode");
        assert_eq!(again.seed, k.seed);
    }
    if let Ok(p) = pem::decode_public_key(&text) {
        assert_eq!(
            pem::decode_public_key(&pem::encode_public_key(&p)).ok(),
            Some(p)
        );
    }
    if let Ok(pair) = KeyPair::from_pem(&text) {
        // A key pair read from PEM writes the same key back.
        let again = KeyPair::from_pem(pair.private_pem().expose()).expect("own PEM must read");
        assert_eq!(again.public(), pair.public());
        let sig = pair.sign(b"fuzz");
        assert!(pair.public().verify(b"fuzz", &sig).is_ok());
    }
    let _ = PublicKey::from_pem(&text);

    // A file holding both keys, split at the first END line.
    if let Some(i) = text.find("-----END") {
        let (private, public) = text.split_at(i + text[i..].find('\n').map_or(0, |n| n + 1));
        let _ = vaultid::fuzzing::codec::key_pair_from_pems(private, public);
    }

    if let Ok(bytes) = base64::decode(&text) {
        assert_eq!(base64::encode(&bytes), text, "base64 must be canonical");
    }
});
