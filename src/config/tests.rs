//! Config's tests: the environment read through a Lookup, defaults,
//! validation and the errors that name the variable.

use super::*;
use std::collections::HashMap;

/// A configuration read from exactly these variables (also used by the
/// grammar's tests).
pub(super) fn cfg(pairs: &[(&str, &str)]) -> Result<Config> {
    let m: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_lookup(&move |n: &str| m.get(n).cloned())
}

#[test]
fn cluster_addresses_and_wait() {
    // The list alone turns Vault on; its first entry is the address.
    let c = cfg(&[("VAULTID_VAULT_ADDRS", " http://a:1/, http://b:2 ,,")]).unwrap();
    let v = c.vault.unwrap();
    assert_eq!(v.addr, "http://a:1");
    assert_eq!(v.other_addrs, ["http://b:2"]);
    assert_eq!(v.wait, DEFAULT_VAULT_WAIT);
    // VAULT_ADDR keeps its meaning and comes first; duplicates go.
    let c = cfg(&[
        ("VAULT_ADDR", "http://b:2"),
        ("VAULTID_VAULT_ADDRS", "http://a:1,http://b:2"),
        ("VAULTID_VAULT_WAIT", "45s"),
    ])
    .unwrap();
    let v = c.vault.unwrap();
    assert_eq!(v.addr, "http://b:2");
    assert_eq!(v.other_addrs, ["http://a:1"]);
    assert_eq!(v.wait, Duration::from_secs(45));
    // One VAULT_ADDR: no other nodes.
    let v = cfg(&[("VAULT_ADDR", "http://a:1")]).unwrap().vault.unwrap();
    assert!(v.other_addrs.is_empty());
    let e = cfg(&[("VAULTID_VAULT_ADDRS", "http://a:1,ftp://b")])
        .unwrap_err()
        .to_string();
    assert!(e.contains("VAULTID_VAULT_ADDRS"), "{e}");
    let e = cfg(&[("VAULT_ADDR", "http://a:1"), ("VAULTID_VAULT_WAIT", "soon")])
        .unwrap_err()
        .to_string();
    assert!(e.contains("VAULTID_VAULT_WAIT"), "{e}");
}

#[test]
fn local_default_has_no_vault() {
    let c = cfg(&[]).unwrap();
    assert!(c.vault.is_none());
    assert!(c.hydra.is_none());
    assert_eq!(c.key_dir, PathBuf::from(".bindu"));
    assert!(!c.recreate_keys);
}

#[test]
fn vault_addr_enables_vault_unless_disabled() {
    let c = cfg(&[("VAULT_ADDR", "http://127.0.0.1:8200/")]).unwrap();
    let v = c.vault.unwrap();
    assert_eq!(v.addr, "http://127.0.0.1:8200");
    assert_eq!(v.kv_mount, "secret");
    assert_eq!(v.max_retries, 2);
    let c = cfg(&[("VAULT_ADDR", "http://x"), ("VAULT__ENABLED", "false")]).unwrap();
    assert!(c.vault.is_none());
}

#[test]
fn agent_addr_wins() {
    let c = cfg(&[
        ("VAULT_ADDR", "http://a:1"),
        ("VAULT_AGENT_ADDR", "http://b:2"),
    ])
    .unwrap();
    assert_eq!(c.vault.unwrap().addr, "http://b:2");
}

#[test]
fn empty_counts_as_unset() {
    let c = cfg(&[("VAULT_ADDR", ""), ("VAULTID_KEY_DIR", " ")]).unwrap();
    assert!(c.vault.is_none());
    assert_eq!(c.key_dir, PathBuf::from(".bindu"));
}

#[test]
fn bad_values_name_the_variable() {
    for (k, v) in [
        ("VAULTID_RECREATE_KEYS", "maybe"),
        ("VAULTID_LOCK_TIMEOUT", "soon"),
        ("VAULT__ENABLED", "2"),
    ] {
        let e = cfg(&[(k, v)]).unwrap_err().to_string();
        assert!(e.contains(k), "{e}");
    }
    let e = cfg(&[("VAULT_ADDR", "http://x"), ("VAULT_MAX_RETRIES", "-1")])
        .unwrap_err()
        .to_string();
    assert!(e.contains("VAULT_MAX_RETRIES"), "{e}");
    let e = cfg(&[("VAULT_ADDR", "ftp://x")]).unwrap_err().to_string();
    assert!(e.contains("VAULT_ADDR"), "{e}");
    let e = cfg(&[("VAULT__ENABLED", "true")]).unwrap_err().to_string();
    assert!(e.contains("VAULT_ADDR"), "{e}");
}

#[test]
fn mtls_needs_both() {
    let e = cfg(&[("VAULT_ADDR", "https://x"), ("VAULT_CLIENT_CERT", "/c")])
        .unwrap_err()
        .to_string();
    assert!(e.contains("VAULT_CLIENT_KEY"), "{e}");
}

#[test]
fn auth_methods() {
    let c = cfg(&[
        ("VAULT_ADDR", "http://x"),
        ("VAULT_AUTH_METHOD", "approle"),
        ("VAULT_ROLE_ID", "r"),
        ("VAULT_SECRET_ID", "s"),
    ])
    .unwrap();
    assert!(matches!(
        c.vault.unwrap().auth,
        AuthMethod::AppRole { ref mount, wrapped: false, .. } if mount == "approle"
    ));
    let e = cfg(&[
        ("VAULT_ADDR", "http://x"),
        ("VAULT_AUTH_METHOD", "kubernetes"),
    ])
    .unwrap_err()
    .to_string();
    assert!(e.contains("VAULT_AUTH_ROLE"), "{e}");
    let c = cfg(&[
        ("VAULT_ADDR", "http://x"),
        ("VAULT_AUTH_METHOD", "kubernetes"),
        ("VAULT_AUTH_ROLE", "agent"),
    ])
    .unwrap();
    assert!(matches!(
        c.vault.unwrap().auth,
        AuthMethod::Kubernetes { ref jwt_file, .. } if jwt_file.to_str() == Some(DEFAULT_K8S_JWT_FILE)
    ));
    let e = cfg(&[("VAULT_ADDR", "http://x"), ("VAULT_AUTH_METHOD", "ldap")])
        .unwrap_err()
        .to_string();
    assert!(e.contains("VAULT_AUTH_METHOD"), "{e}");
}

#[test]
fn malformed_addresses_are_configuration_errors_without_passwords() {
    for bad in [
        "http://[::1",
        "http://[::1]x",
        "http://[zz]:8200",
        "http://host:99999",
        "http://host:port",
        "http:///v1",
        "ftp://host",
        "http://ho st",
        "http://user:hunter2@[::1",
    ] {
        let e = cfg(&[("VAULT_ADDR", bad)]).unwrap_err();
        assert_eq!(e.exit_code(), 2, "{bad}: {e}");
        assert!(e.to_string().contains("VAULT_ADDR"), "{e}");
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }
    for good in [
        "http://127.0.0.1:8200",
        "https://[::1]:8200/",
        "https://vault.example.com",
    ] {
        cfg(&[("VAULT_ADDR", good)]).unwrap();
    }
    let e = cfg(&[("VAULT_ADDR", "http://user:hunter2@host:1")]).unwrap_err();
    assert!(e.to_string().contains("user:***@"), "{e}");
    assert!(!e.to_string().contains("hunter2"), "{e}");
}

#[test]
fn vault_paths_are_checked() {
    for bad in [
        "sys/../secret",
        "secret?list=true",
        "secret#x",
        "a//b",
        "./secret",
        "sec%2e",
        "sec\u{202e}ret",
        "sec\nret",
        "",
        "/",
    ] {
        let e = check_vault_path("--mount", bad, false).unwrap_err();
        assert_eq!(e.exit_code(), 2, "{bad}");
        assert!(e.to_string().contains("--mount"), "{e}");
    }
    assert_eq!(
        check_vault_path("--mount", "/kv/team-a/", false).unwrap(),
        "kv/team-a"
    );
    assert_eq!(check_kv_path("path", "").unwrap(), "");
    assert_eq!(check_kv_path("path", "app/a#1%").unwrap(), "app/a#1%");
    assert!(check_kv_path("path", "app/../sys").is_err());
    assert!(check_kv_path("path", "app?list=true").is_err());
    assert_eq!(
        cfg(&[("VAULT_ADDR", "http://h"), ("VAULT_KV_MOUNT", "a/../b")])
            .unwrap_err()
            .exit_code(),
        2
    );
}

#[test]
fn durations() {
    assert_eq!(parse_duration("30"), Some(Duration::from_secs(30)));
    assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
    assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
    assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
    // Go's form, as the Vault CLI accepts it.
    assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
    assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
    assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
    assert_eq!(parse_duration("2h45m"), Some(Duration::from_secs(9900)));
    assert_eq!(parse_duration("1.5h"), Some(Duration::from_secs(5400)));
    assert_eq!(parse_duration("1s500ms"), Some(Duration::from_millis(1500)));
    assert_eq!(parse_duration("10us"), Some(Duration::from_micros(10)));
    for bad in [
        "",
        "s",
        "-1",
        "1x",
        ".5",
        "1e400",
        "nan",
        "1m30",
        "m30s",
        "1 m",
        "1h1h1h9999999h",
        "1s.",
    ] {
        assert_eq!(parse_duration(bad), None, "{bad}");
    }
}

#[test]
fn hydra_on_with_admin_url() {
    let c = cfg(&[("HYDRA__ADMIN_URL", "http://127.0.0.1:4445")]).unwrap();
    let h = c.hydra.unwrap();
    assert_eq!(
        h.scopes,
        vec!["openid", "offline", "agent:read", "agent:write"]
    );
    assert_eq!(h.token_auth, TokenAuth::Post);
    assert!(h.verify_ssl);
}
/// Variables from raw OS strings, some of them not UTF-8.
struct Os(HashMap<String, std::ffi::OsString>);

impl Lookup for Os {
    fn get(&self, name: &str) -> Option<String> {
        self.0.get(name)?.clone().into_string().ok()
    }
    fn get_os(&self, name: &str) -> Option<std::ffi::OsString> {
        self.0.get(name).cloned()
    }
}

fn os_cfg(pairs: &[(&str, &[u8])]) -> Result<Config> {
    use std::os::unix::ffi::OsStringExt;
    let m = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), std::ffi::OsString::from_vec(v.to_vec())))
        .collect();
    Config::from_lookup(&Os(m))
}

#[test]
fn a_value_that_is_not_utf8_is_refused_naming_the_variable() {
    for name in [
        "VAULT_TOKEN",
        "VAULT__TOKEN",
        "VAULT_NAMESPACE",
        "VAULTID_AGENT_NAME",
        "VAULTID_AUTHOR",
        "VAULTID_AGENT_ID",
        "VAULT_KV_MOUNT",
        "HYDRA__SCOPE",
    ] {
        let e = os_cfg(&[
            ("VAULT_ADDR", b"http://127.0.0.1:8200"),
            ("HYDRA__ADMIN_URL", b"http://127.0.0.1:4445"),
            (name, b"hvs.\xffcanary"),
        ])
        .unwrap_err();
        let shown = e.to_string();
        assert_eq!(e.exit_code(), 2, "{shown}");
        assert!(
            shown.contains(name) && shown.contains("not valid UTF-8"),
            "{shown}"
        );
        assert!(!shown.contains("canary"), "{shown}");
    }
    let e = os_cfg(&[
        ("VAULT_ADDR", b"http://127.0.0.1:8200"),
        ("VAULT_AUTH_METHOD", b"approle"),
        ("VAULT_ROLE_ID", b"role"),
        ("VAULT_SECRET_ID", b"\xfe\xff"),
    ])
    .unwrap_err();
    assert!(
        e.to_string().contains("VAULT_SECRET_ID is not valid UTF-8"),
        "{e}"
    );
    // A path need not be UTF-8: it is taken as the bytes it is.
    let c = os_cfg(&[("VAULTID_KEY_DIR", b"/tmp/keys-\xff")]).unwrap();
    use std::os::unix::ffi::OsStrExt;
    assert_eq!(c.key_dir.as_os_str().as_bytes(), b"/tmp/keys-\xff");
}

#[test]
fn a_credential_no_header_can_carry_is_refused_without_showing_it() {
    for (name, value) in [
        ("VAULT_TOKEN", "hvs.canary\r\nX-Injected: 1"),
        ("VAULT__TOKEN", "hvs.canary\nsecond-line"),
        ("VAULT_TOKEN", "hvs.can\0ary"),
        ("VAULT_NAMESPACE", "team\r\ncanary"),
    ] {
        let e = cfg(&[("VAULT_ADDR", "http://127.0.0.1:8200"), (name, value)]).unwrap_err();
        let shown = e.to_string();
        assert_eq!(e.exit_code(), 2, "{shown}");
        assert!(
            shown.contains(name) && shown.contains("control character"),
            "{shown}"
        );
        assert!(!shown.contains("canary"), "{shown}");
    }
    // Surrounding whitespace (a trailing newline from `$(cat file)`) is
    // not part of a token.
    let v = cfg(&[("VAULT_ADDR", "http://a:1"), ("VAULT_TOKEN", " hvs.x\n")])
        .unwrap()
        .vault
        .unwrap();
    assert_eq!(v.token.unwrap().expose(), "hvs.x");
    for (name, value) in [
        ("VAULT_SECRET_ID", "canary\r\n1"),
        ("VAULT_ROLE_ID", "role\ncanary"),
    ] {
        let mut pairs = vec![
            ("VAULT_ADDR", "http://127.0.0.1:8200"),
            ("VAULT_AUTH_METHOD", "approle"),
            ("VAULT_ROLE_ID", "role"),
            ("VAULT_SECRET_ID", "secret"),
        ];
        pairs.retain(|(k, _)| *k != name);
        pairs.push((name, value));
        let e = cfg(&pairs).unwrap_err();
        let shown = e.to_string();
        assert!(
            shown.contains(name) && shown.contains("control character"),
            "{shown}"
        );
        assert!(!shown.contains("canary"), "{shown}");
    }
}
