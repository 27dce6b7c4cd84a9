//! `Config::from_lookup`, `VaultConfig::from_lookup`, `parse_duration`,
//! `parse_bool`, `check_username` (a userpass login path's last segment),
//! `SecretSpec::parse` (the `path#key=NAME` specs given to `vaultid env`)
//! and the proxy variables (`NoProxy::parse`, `ProxyPolicy::from_lookup`)
//! on arbitrary variable values.
//!
//! The input is read as lines `NAME=VALUE`. A NAME that is one of the
//! variables `src/config.rs` reads is used as is (so seed files are plain
//! env files); any other NAME picks a variable by the sum of its bytes, so
//! the fuzzer reaches every variable. `HOME` always points at a directory
//! that does not exist, so no real `~/.vault-token` is read.
#![no_main]

use std::collections::HashMap;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use vaultid::fuzzing::config::{
    check_username, config_from_lookup, parse_bool, parse_duration, vault_config_from_lookup,
};
use vaultid::fuzzing::http::{NoProxy, ProxyPolicy};
use vaultid::secrets::SecretSpec;

include!(concat!(env!("OUT_DIR"), "/config_vars.rs"));

const FAKE_HOME: &str = "/nonexistent/vaultid-fuzz-home";

fn var_for(name: &[u8]) -> &'static str {
    if let Some(v) = VARS.iter().find(|v| v.as_bytes() == name) {
        return v;
    }
    let sum: usize = name.iter().map(|&b| b as usize).sum();
    VARS[sum % VARS.len()]
}

fn check_value(v: &str) {
    if let Some(d) = parse_duration(v) {
        assert!(d <= Duration::from_secs(366 * 86400), "{v:?} -> {d:?}");
    }
    if let Some(b) = parse_bool(v) {
        // Surrounding whitespace and case never change the answer.
        assert_eq!(parse_bool(&v.trim().to_ascii_uppercase()), Some(b), "{v:?}");
    }
    if let Ok(name) = check_username("u", v) {
        // Nothing that would leave the login path's last segment.
        assert!(!name.is_empty() && name != "." && name != "..", "{v:?}");
        assert!(!name.contains(['/', '\\', '?', '#', '%']), "{v:?}");
        assert!(
            !name.chars().any(|c| c.is_control() || c.is_whitespace()),
            "{v:?}"
        );
    }
    if let Ok(spec) = SecretSpec::parse(v) {
        assert!(!spec.path.is_empty());
    }
    let no_proxy = NoProxy::parse(v);
    for host in ["127.0.0.1", "[::1]", "vault.example.com", "10.1.2.3", v] {
        let _ = no_proxy.matches(host, 8200);
    }
    for name in ["HTTPS_PROXY", "NO_PROXY"] {
        let get = |k: &str| (k == name || k == "HTTPS_PROXY").then(|| v.to_string());
        if let Ok(policy) = ProxyPolicy::from_lookup(get) {
            // Loopback is never proxied, whatever the variables say.
            assert!(policy.proxy_for("https", "127.0.0.1", 8200).is_none());
            assert!(policy.proxy_for("https", "localhost", 8200).is_none());
            let _ = policy.proxy_for_url(&format!("https://{v}/v1"));
            let _ = format!("{policy:?}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut env: HashMap<&'static str, String> = HashMap::new();
    for line in data.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(eq) = line.iter().position(|&b| b == b'=') else {
            continue;
        };
        let value = String::from_utf8_lossy(&line[eq + 1..]).into_owned();
        check_value(&value);
        env.insert(var_for(&line[..eq]), value);
    }
    let lookup = move |name: &str| -> Option<String> {
        if name == "HOME" {
            return Some(FAKE_HOME.to_string());
        }
        env.get(name).cloned()
    };
    if let Ok(config) = config_from_lookup(&lookup) {
        // Debug output is what ends up in logs: it must not panic.
        let _ = format!("{config:?}");
    }
    if let Ok(Some(vault)) = vault_config_from_lookup(&lookup) {
        let _ = format!("{vault:?}");
    }
});
