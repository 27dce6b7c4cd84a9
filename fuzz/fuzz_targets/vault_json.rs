//! Vault answers: whatever a server (or a proxy in front of it) sends back,
//! under every status code the client treats specially, and the headers the
//! client acts on (`Retry-After`, the `Location` of a standby redirect);
//! how a cluster's answer is sorted for retrying, seal status and leader;
//! which mount holds a path and its KV version (`sys/internal/ui/mounts`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use vaultid::fuzzing::http::{parse_retry_after, redirect_target};
use vaultid::fuzzing::vault::cluster_verdict;
use vaultid::fuzzing::vault::merge_patch;
use vaultid::fuzzing::vault::parse_auth;
use vaultid::fuzzing::vault::parse_health;
use vaultid::fuzzing::vault::parse_kv_mount;
use vaultid::fuzzing::vault::{api_path, parse_response};
use vaultid::fuzzing::vault::{Leader, SealStatus};
use vaultid::vault::Health;
use vaultid::vault::LeaseInfo;
use vaultid::vault::{KvMetadata, VersionMetadata};

const STATUSES: &[u16] = &[
    200, 204, 307, 400, 403, 404, 412, 429, 472, 473, 500, 501, 503,
];

fuzz_target!(|data: &[u8]| {
    for &status in STATUSES {
        match parse_response(status, data) {
            Ok(Some(v)) => {
                assert!(v.is_object());
                let _ = parse_auth(Some(&v), "fuzz");
                let inner = v.get("data").cloned().unwrap_or(Value::Null);
                let _ = serde_json::from_value::<KvMetadata>(inner.clone());
                let _ = serde_json::from_value::<LeaseInfo>(v.clone());
                if let Some(m) = inner.get("metadata") {
                    let _ = serde_json::from_value::<VersionMetadata>(m.clone());
                }
                let _ = serde_json::from_value::<Health>(v.clone());
                let _ = serde_json::from_value::<SealStatus>(v.clone());
                let _ = serde_json::from_value::<Leader>(v.clone());
                if let Some((Some(mount), _)) = parse_kv_mount(Some(&v)) {
                    assert!(!mount.is_empty() && !mount.starts_with('/') && !mount.ends_with('/'));
                }
                if let (Value::Object(mut target), Some(Value::Object(patch))) =
                    (inner.clone(), v.get("patch"))
                {
                    merge_patch(&mut target, patch);
                }
            }
            Ok(None) => {}
            Err(e) => {
                let _ = (e.is_sealed(), e.is_cas_mismatch(), format!("{e:?}"));
                let _ = e
                    .into_error("GET", "secret/data/fuzz?version=1")
                    .to_string();
            }
        }
        let _ = parse_health(status, data);
        let _ = cluster_verdict(status, data);
    }
    let text = String::from_utf8_lossy(data);
    let path = api_path(&text);
    assert!(path.starts_with("/v1/"));

    let _ = parse_retry_after(&text);
    for from in ["https://vault.example:8200/v1/x", "http://127.0.0.1:8200"] {
        if let Some(target) = redirect_target(from, &text) {
            assert!(
                !from.starts_with("https:") || target.starts_with("https://"),
                "a redirect from https must stay on https: {target:?}"
            );
        }
    }
});
