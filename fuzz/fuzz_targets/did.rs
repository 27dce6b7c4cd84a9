//! DIDs, base58 and the agent identity, on arbitrary input: DIDs arrive in
//! Vault paths, credentials files and command lines.
//!
//! The input is used whole as a DID and as base58, and split at newlines
//! into `author`, `agent name` and an optional explicit agent id.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vaultid::fuzzing::codec::format_iso8601;
use vaultid::fuzzing::codec::{base58, sanitize};
use vaultid::identity::{did_document, did_key, parse_did, Identity, ParsedDid};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);

    match parse_did(&text) {
        Ok(ParsedDid::Bindu {
            author,
            agent_name,
            agent_id,
        }) => {
            assert_eq!(format!("did:bindu:{author}:{agent_name}:{agent_id}"), text);
        }
        Ok(ParsedDid::Key(public)) => {
            assert_eq!(did_key(&public), text);
            let doc = did_document(&text, &public, "2026-01-01T00:00:00+00:00");
            assert_eq!(doc["authentication"][0]["publicKeyBase58"], public.base58());
        }
        // `ParsedDid` is `#[non_exhaustive]`: a form added later needs its check here.
        Ok(other) => panic!("a DID form this target does not check: {other:?}"),
        Err(_) => {}
    }

    // Base58 is quadratic; keys and signatures are short.
    if text.len() <= 256 {
        if let Ok(bytes) = base58::decode(&text) {
            assert_eq!(base58::encode(&bytes), text, "base58 must round-trip");
        }
    }

    let mut parts = text.splitn(3, '\n');
    if let (Some(author), Some(name)) = (parts.next(), parts.next()) {
        let explicit = parts.next();
        let _ = sanitize(author);
        if let Ok(id) = Identity::new(author, name, explicit) {
            // Every identity we accept makes a DID we can read back.
            match parse_did(&id.did) {
                Ok(ParsedDid::Bindu {
                    author: a,
                    agent_name: n,
                    agent_id,
                }) => {
                    assert_eq!(a, sanitize(author));
                    assert_eq!(n, sanitize(name));
                    assert_eq!(agent_id, id.agent_id);
                }
                other => panic!("Identity::new made {:?}, which parses as {other:?}", id.did),
            }
        }
    }

    if let Some(head) = data.get(..12) {
        let secs = u64::from_le_bytes(head[..8].try_into().unwrap());
        let micros = u32::from_le_bytes(head[8..12].try_into().unwrap());
        let _ = format_iso8601(secs, micros);
    }
});
