//! KV v2 and the generic logical API against a real OpenBao dev server.

use crate::common;

use common::bao::Bao;
use serde_json::{json, Map, Value};
use vaultid::fuzzing::vault::{KvAdmin, MetadataUpdate};
use vaultid::Error;

fn map(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

fn unique(name: &str) -> String {
    format!("tests/{name}-{}", uuid::Uuid::new_v4())
}

#[test]
fn write_then_read_latest_and_versions() {
    let Some(bao) = Bao::shared() else { return };
    let client = bao.client();
    let kv = client.kv2("secret");
    let path = unique("rw");
    assert!(kv.read(&path, None).unwrap().is_none());

    let v1 = kv.write(&path, &map(json!({"a": "1"})), Some(0)).unwrap();
    assert_eq!(v1.version, 1);
    assert!(!v1.created_time.is_empty() && !v1.destroyed);
    let v2 = kv
        .write(&path, &map(json!({"a": "2", "n": {"x": [1, 2]}})), None)
        .unwrap();
    assert_eq!(v2.version, 2);

    let latest = kv.read(&path, None).unwrap().unwrap();
    assert_eq!(latest.metadata.version, 2);
    assert_eq!(latest.data["n"]["x"][1], 2);
    let first = kv.read(&path, Some(1)).unwrap().unwrap();
    assert_eq!(first.data["a"], "1");
    assert_eq!(first.metadata.version, 1);
    // A version that never existed reads as absent.
    assert!(kv.read(&path, Some(9)).unwrap().is_none());
    // Debug never shows values.
    assert!(!format!("{latest:?}").contains("\"2\""));
}

#[test]
fn check_and_set_conflict() {
    let Some(bao) = Bao::shared() else { return };
    let client = bao.client();
    let kv = client.kv2("secret");
    let path = unique("cas");
    kv.write(&path, &map(json!({"who": "first"})), Some(0))
        .unwrap();
    match kv.write(&path, &map(json!({"who": "second"})), Some(0)) {
        Err(Error::CasMismatch { path: p, cas }) => {
            assert_eq!(cas, Some(0));
            assert_eq!(p, format!("secret/{path}"));
        }
        other => panic!("expected CasMismatch, got {other:?}"),
    }
    assert_eq!(kv.read(&path, None).unwrap().unwrap().data["who"], "first");
    // The right version wins.
    assert_eq!(
        kv.write(&path, &map(json!({"who": "third"})), Some(1))
            .unwrap()
            .version,
        2
    );
}

#[test]
fn deleted_and_destroyed_versions() {
    let Some(bao) = Bao::shared() else { return };
    let client = bao.client();
    let kv = client.kv2("secret");
    let path = unique("del");
    kv.write(&path, &map(json!({"v": 1})), None).unwrap();
    kv.write(&path, &map(json!({"v": 2})), None).unwrap();
    kv.write(&path, &map(json!({"v": 3})), None).unwrap();

    // Latest soft-deleted.
    kv.delete(&path).unwrap();
    match kv.read(&path, None) {
        Err(Error::VersionDeleted {
            version, destroyed, ..
        }) => {
            assert_eq!(version, 3);
            assert!(!destroyed);
        }
        other => panic!("expected VersionDeleted, got {other:?}"),
    }
    kv.undelete_versions(&path, &[3]).unwrap();
    assert_eq!(kv.read(&path, None).unwrap().unwrap().data["v"], 3);

    // A given version soft-deleted, another destroyed.
    kv.delete_versions(&path, &[2]).unwrap();
    assert!(matches!(
        kv.read(&path, Some(2)),
        Err(Error::VersionDeleted {
            version: 2,
            destroyed: false,
            ..
        })
    ));
    kv.destroy_versions(&path, &[1]).unwrap();
    match kv.read(&path, Some(1)) {
        Err(
            e @ Error::VersionDeleted {
                version: 1,
                destroyed: true,
                ..
            },
        ) => {
            assert!(e.to_string().contains("destroyed"), "{e}");
        }
        other => panic!("expected destroyed, got {other:?}"),
    }
    let meta = kv.read_metadata(&path).unwrap().unwrap();
    assert!(meta.versions[&1].destroyed);
    assert!(!meta.versions[&2].deletion_time.is_empty());
    assert_eq!(meta.versions[&3].version, 3);
    assert_eq!(meta.current_version, 3);

    // All gone.
    kv.delete_metadata(&path).unwrap();
    assert!(kv.read(&path, None).unwrap().is_none());
    assert!(kv.read_metadata(&path).unwrap().is_none());
}

#[test]
fn patch_merges() {
    let Some(bao) = Bao::shared() else { return };
    let client = bao.client();
    let kv = client.kv2("secret");
    let path = unique("patch");
    assert!(matches!(
        kv.patch(&path, &map(json!({"a": 1})), None),
        Err(Error::NotFound { .. })
    ));
    kv.write(
        &path,
        &map(json!({"keep": "k", "drop": "d", "n": {"x": 1, "y": 2}})),
        None,
    )
    .unwrap();
    let v = kv
        .patch(
            &path,
            &map(json!({"drop": null, "new": true, "n": {"y": null}})),
            None,
        )
        .unwrap();
    assert_eq!(v.version, 2);
    let s = kv.read(&path, None).unwrap().unwrap();
    assert_eq!(
        Value::Object(s.data.clone()),
        json!({"keep": "k", "new": true, "n": {"x": 1}})
    );
    assert!(matches!(
        kv.patch(&path, &map(json!({"a": 1})), Some(1)),
        Err(Error::CasMismatch { cas: Some(1), .. })
    ));
    assert_eq!(
        kv.patch(&path, &map(json!({"a": 1})), Some(2))
            .unwrap()
            .version,
        3
    );
}

#[test]
fn list_and_subkeys() {
    let Some(bao) = Bao::shared() else { return };
    let client = bao.client();
    let kv = client.kv2("secret");
    let base = unique("list");
    assert!(kv.list(&base).unwrap().is_empty());
    kv.write(&format!("{base}/one"), &map(json!({"a": 1})), None)
        .unwrap();
    kv.write(&format!("{base}/dir/two"), &map(json!({"a": 1})), None)
        .unwrap();
    let mut keys = kv.list(&base).unwrap();
    keys.sort();
    assert_eq!(keys, vec!["dir/", "one"]);
    assert_eq!(kv.list(&format!("{base}/")).unwrap().len(), 2);

    let path = format!("{base}/deep");
    kv.write(
        &path,
        &map(json!({"a": {"b": {"c": "secret"}}, "z": "q"})),
        None,
    )
    .unwrap();
    let sk = kv.subkeys(&path, None).unwrap().unwrap();
    assert_eq!(sk, json!({"a": {"b": {"c": null}}, "z": null}));
    let sk = kv.subkeys(&path, Some(1)).unwrap().unwrap();
    assert_eq!(sk, json!({"a": null, "z": null}));
    assert!(kv.subkeys(&format!("{base}/none"), None).unwrap().is_none());
}

#[test]
fn metadata_settings() {
    let Some(bao) = Bao::shared() else { return };
    let client = bao.client();
    let kv = client.kv2("secret");
    let path = unique("meta");
    let mut custom = std::collections::BTreeMap::new();
    custom.insert("owner".to_string(), "agents".to_string());
    kv.write_metadata(
        &path,
        &MetadataUpdate {
            max_versions: Some(2),
            cas_required: Some(true),
            delete_version_after: Some("1h".into()),
            custom_metadata: Some(custom),
        },
    )
    .unwrap();
    let m = kv.read_metadata(&path).unwrap().unwrap();
    assert!(m.cas_required);
    assert_eq!(m.max_versions, 2);
    assert_eq!(m.delete_version_after, "1h0m0s");
    assert_eq!(m.custom_metadata["owner"], "agents");

    // cas is now required.
    assert!(matches!(
        kv.write(&path, &map(json!({"a": 1})), None),
        Err(Error::CasMismatch { cas: None, .. })
    ));
    for cas in 0..3 {
        kv.write(&path, &map(json!({"a": cas})), Some(cas)).unwrap();
    }
    let m = kv.read_metadata(&path).unwrap().unwrap();
    assert_eq!(m.current_version, 3);
    assert_eq!(m.versions.len(), 2, "max_versions keeps two");
}

#[test]
fn generic_logical_paths() {
    let Some(bao) = Bao::shared() else { return };
    let client = bao.client();
    let path = format!("cubbyhole/{}", uuid::Uuid::new_v4());
    assert!(client.read(&path).unwrap().is_none());
    client.write(&path, &json!({"k": "v"})).unwrap();
    assert_eq!(client.read(&path).unwrap().unwrap()["data"]["k"], "v");
    assert!(client
        .list("cubbyhole")
        .unwrap()
        .iter()
        .any(|k| path.ends_with(k.as_str())));
    client.delete(&path).unwrap();
    assert!(client.read(&path).unwrap().is_none());
    assert!(client
        .list(&format!("cubbyhole/none-{}", uuid::Uuid::new_v4()))
        .unwrap()
        .is_empty());

    let h = client.health().unwrap();
    assert!(h.initialized && !h.sealed && !h.standby);
    assert!(!h.version.is_empty());
}

#[test]
fn policy_denies_a_path() {
    let Some(bao) = Bao::shared() else { return };
    let name = format!("only-allowed-{}", uuid::Uuid::new_v4().simple());
    let policy = r#"path "secret/data/allowed/*" { capabilities = ["create", "read", "update"] }"#;
    bao.bao_with_input(&["policy", "write", &name, "-"], Some(policy))
        .unwrap();
    let token = bao
        .bao(&[
            "token", "create", "-policy", &name, "-ttl", "10m", "-field", "token",
        ])
        .unwrap();
    let mut cfg = bao.config();
    cfg.token = Some(token.trim().into());
    let client = vaultid::vault::Client::new(&cfg).unwrap();
    let kv = client.kv2("secret");
    kv.write("allowed/x", &map(json!({"a": 1})), None).unwrap();
    assert!(kv.read("allowed/x", None).unwrap().is_some());
    match kv.read("denied/x", None) {
        Err(e @ Error::PermissionDenied { status: 403, .. }) => {
            assert_eq!(e.exit_code(), 5);
            assert!(!e.to_string().contains(token.trim()));
        }
        other => panic!("expected PermissionDenied, got {other:?}"),
    }
    let bad = vaultid::vault::Client::new(&{
        let mut c = bao.config();
        c.token = Some("not-a-token".into());
        c
    })
    .unwrap();
    assert!(matches!(
        bad.kv2("secret").read("allowed/x", None),
        Err(Error::PermissionDenied { .. })
    ));
}

#[test]
fn token_self_operations() {
    let Some(bao) = Bao::shared() else { return };
    let token = bao
        .bao(&[
            "token",
            "create",
            "-ttl",
            "10m",
            "-explicit-max-ttl",
            "1h",
            "-field",
            "token",
        ])
        .unwrap();
    let mut cfg = bao.config();
    cfg.token = Some(token.trim().into());
    let client = vaultid::vault::Client::new(&cfg).unwrap();
    let info = client.lookup_self().unwrap();
    assert!(info.renewable);
    assert!(info.ttl > 0 && info.ttl <= 600);
    assert!(!format!("{info:?}").contains(token.trim()));
    let renewed = client
        .renew_self(Some(std::time::Duration::from_secs(1800)))
        .unwrap();
    assert!(renewed.lease_duration > 600, "{renewed:?}");
    assert_eq!(renewed.client_token.expose(), token.trim());
    assert!(!format!("{renewed:?}").contains(token.trim()));
    client.revoke_self().unwrap();
    assert!(client.token().is_none());
    client.set_token(Some(token.trim().into()));
    assert!(matches!(
        client.lookup_self(),
        Err(Error::PermissionDenied { .. })
    ));
}

#[test]
fn the_mount_and_kv_version_of_a_path_are_asked_once_per_mount() {
    use vaultid::fuzzing::vault::kv_mount;
    let Some(bao) = Bao::start() else { return };
    bao.bao(&["secrets", "enable", "-path=kv1", "-version=1", "kv"])
        .unwrap();
    bao.bao(&["secrets", "enable", "-path=team/kv", "-version=2", "kv"])
        .unwrap();
    // Through a counting proxy, to see which requests are sent.
    let proxy = common::counting_proxy(bao.addr());
    let mut cfg = bao.config();
    cfg.addr = proxy.addr().to_string();
    let c = vaultid::vault::Client::new(&cfg).unwrap();
    let asked = || {
        proxy
            .seen()
            .iter()
            .filter(|r| r.path.starts_with(common::KV_MOUNTS_PREFIX))
            .count()
    };
    assert_eq!(
        kv_mount(&c, "secret/a/b").unwrap(),
        Some((Some("secret".into()), true))
    );
    assert_eq!(
        kv_mount(&c, "kv1/x").unwrap(),
        Some((Some("kv1".into()), false))
    );
    assert_eq!(
        kv_mount(&c, "team/kv/app").unwrap(),
        Some((Some("team/kv".into()), true))
    );
    assert_eq!(asked(), 3);
    // Later paths under a mount already seen: no new question.
    assert_eq!(
        kv_mount(&c, "secret/other").unwrap(),
        Some((Some("secret".into()), true))
    );
    assert_eq!(
        kv_mount(&c, "kv1").unwrap(),
        Some((Some("kv1".into()), false))
    );
    assert_eq!(asked(), 3);
    // A prefix that is not a whole segment is another mount's business,
    // and a path under no mount is not answered (403).
    assert_eq!(kv_mount(&c, "kv1x/y").unwrap(), None);
    assert_eq!(asked(), 4);
    // A new client asks again.
    let c2 = vaultid::vault::Client::new(&cfg).unwrap();
    kv_mount(&c2, "secret/a").unwrap();
    assert_eq!(asked(), 5);
}
