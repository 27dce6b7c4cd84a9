//! `oauth_credentials.json` and `hydra_token.json` as found on disk: any
//! bytes at all.
//!
//! Every entry that reads as [`StoredCredentials`] must write back to JSON
//! that reads as the same entry; the token cache reads or is refused.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use vaultid::fuzzing::cache::parse_credentials_file;
use vaultid::fuzzing::cache::{credentials_from_json, credentials_to_json};

fuzz_target!(|data: &[u8]| {
    if let Ok(n) = vaultid::fuzzing::cache::parse_token_cache(data) {
        assert!(n <= 16, "the token cache keeps at most 16 entries");
    }
    let Ok(entries) = parse_credentials_file(data) else {
        return;
    };
    for (_did, entry) in entries {
        let Value::Object(map) = entry else { continue };
        if let Ok(creds) = credentials_from_json(&map) {
            let again = credentials_from_json(&credentials_to_json(&creds))
                .expect("written credentials must read back");
            assert_eq!(again, creds);
            let _ = format!("{creds:?}");
        }
    }
});
