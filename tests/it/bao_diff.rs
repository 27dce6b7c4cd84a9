//! `vaultid kv` against the real `bao` CLI, side by side on one OpenBao: a
//! script written for `bao kv` runs unchanged with `vaultid kv`.
//!
//! Each case runs the same arguments (in bao's order: flags before the
//! path) through both CLIs, each in a folder of its own (`b/CASE` for bao,
//! `v/CASE` for vaultid) prepared the same way through the HTTP API, on a
//! KV v2 mount (`secret`), a nested KV v2 mount (`team/kv`) and a KV v1
//! mount (`bao secrets enable -path=kv1 -version=1 kv`). It compares:
//!
//! - the exit status: both succeed or both fail, with the codes the table
//!   says (vaultid keeps its own table: bao's 2 for "No value found" is
//!   vaultid's 1, not found; bao's 1 for a local refusal is vaultid's 2,
//!   usage; a lost check-and-set, bao's 2, is vaultid's 4, conflict);
//! - stdout: byte for byte (`-field`), or bao's JSON `data` against
//!   vaultid's JSON (times masked: the two folders were written at
//!   different instants);
//! - a failing vaultid prints nothing on stdout and one line on stderr;
//! - the server's state afterwards: every secret under both folders, with
//!   its versions, deletion marks, metadata settings and data, and (for
//!   KV v1) any stray `data/` or `metadata/` secret.
//!
//! Where vaultid refuses on purpose what bao does silently (KV v1 has no
//! versions or check-and-set: bao ignores `-version` and `-cas` there, and
//! `delete -versions` deletes the whole secret), the case says why, and
//! checks that bao still behaves so, that vaultid exits 2 and that it
//! changed nothing.
//!
//! Without `bao` the test says so and returns, except under `CI=true`,
//! where that is a failure.

use crate::common;

use std::io::Read;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::bao::Bao;
use serde_json::{json, Map, Value};

/// How the two outputs are compared.
#[derive(Clone, Copy, Debug)]
enum Out {
    /// stdout byte for byte.
    Bytes,
    /// bao's JSON `data` is vaultid's JSON (KV v2 `get`, `metadata get`).
    Data,
    /// bao's JSON `data` is vaultid's `data` (KV v1 `get`: bao's `data`
    /// is the secret itself).
    V1Data,
    /// bao's JSON list is vaultid's `keys`.
    Keys,
    /// The version written: bao's `data.version`, vaultid's `version`.
    Version,
    /// bao prints a sentence; the server's state decides.
    State,
    /// Both fail.
    Fails,
    /// vaultid refuses (exit 2) what bao does differently without a word;
    /// the reason. vaultid must leave the state as it was.
    Refused(&'static str),
}

struct Case {
    name: &'static str,
    /// Requests that prepare the case's folder: method, path under `/v1/`
    /// (`{r}` is the folder), JSON body.
    setup: &'static [(&'static str, &'static str, &'static str)],
    args: &'static [&'static str],
    bao: i32,
    vaultid: i32,
    out: Out,
}

const TWO_VERSIONS: &[(&str, &str, &str)] = &[
    ("POST", "secret/data/{r}/app", r#"{"data":{"pw":"pw-1"}}"#),
    (
        "POST",
        "secret/data/{r}/app",
        r#"{"data":{"pw":"pw-2","user":"app"}}"#,
    ),
];
const WITH_CUSTOM: &[(&str, &str, &str)] = &[
    ("POST", "secret/data/{r}/app", r#"{"data":{"pw":"pw-1"}}"#),
    (
        "POST",
        "secret/data/{r}/app",
        r#"{"data":{"pw":"pw-2","user":"app"}}"#,
    ),
    (
        "POST",
        "secret/metadata/{r}/app",
        r#"{"custom_metadata":{"owner":"ops","tier":"1"}}"#,
    ),
];
const ONE: &[(&str, &str, &str)] = &[("POST", "secret/data/{r}/app", r#"{"data":{"pw":"pw-1"}}"#)];
const SOFT_DELETED: &[(&str, &str, &str)] = &[
    ("POST", "secret/data/{r}/app", r#"{"data":{"pw":"pw-1"}}"#),
    (
        "POST",
        "secret/metadata/{r}/app",
        r#"{"custom_metadata":{"owner":"ops"}}"#,
    ),
    ("DELETE", "secret/data/{r}/app", ""),
];
const DESTROYED: &[(&str, &str, &str)] = &[
    ("POST", "secret/data/{r}/app", r#"{"data":{"pw":"pw-1"}}"#),
    ("POST", "secret/data/{r}/app", r#"{"data":{"pw":"pw-2"}}"#),
    ("PUT", "secret/destroy/{r}/app", r#"{"versions":[1]}"#),
];
const BOTH_DELETED: &[(&str, &str, &str)] = &[
    ("POST", "secret/data/{r}/app", r#"{"data":{"pw":"pw-1"}}"#),
    ("POST", "secret/data/{r}/app", r#"{"data":{"pw":"pw-2"}}"#),
    ("POST", "secret/delete/{r}/app", r#"{"versions":[1,2]}"#),
];
const ODD_VALUES: &[(&str, &str, &str)] = &[(
    "POST",
    "secret/data/{r}/app",
    r#"{"data":{"s":"a<b>&c é \u0001 \"q\" \b\f\t\n\r\u007f\u2028 😀/\\","o":{"k":[1,2,{"z":null}],"e":{},"l":[]},"n":1.5,"b":true}}"#,
)];
const FOLDER: &[(&str, &str, &str)] = &[
    ("POST", "secret/data/{r}/app", r#"{"data":{"pw":"pw-1"}}"#),
    ("POST", "secret/data/{r}/sub/x", r#"{"data":{"a":"b"}}"#),
];
const NESTED: &[(&str, &str, &str)] = &[
    (
        "POST",
        "team/kv/data/{r}/app",
        r#"{"data":{"pw":"team-1"}}"#,
    ),
    ("POST", "team/kv/data/{r}/sub/x", r#"{"data":{"a":"b"}}"#),
];
const V1: &[(&str, &str, &str)] = &[
    ("POST", "kv1/{r}/a", r#"{"x":"1","y":"two <&>"}"#),
    ("POST", "kv1/{r}/sub/b", r#"{"k":"v"}"#),
];

#[rustfmt::skip]
const CASES: &[Case] = &[
    // KV v2: reads.
    Case { name: "get-json", setup: WITH_CUSTOM, args: &["kv", "get", "-format=json", "secret/{r}/app"], bao: 0, vaultid: 0,
        out: Out::Data },
    Case { name: "get-field", setup: TWO_VERSIONS, args: &["kv", "get", "-field=pw", "secret/{r}/app"], bao: 0, vaultid: 0,
        out: Out::Bytes },
    Case { name: "get-field-space", setup: TWO_VERSIONS, args: &["kv", "get", "-field", "pw", "secret/{r}/app"], bao: 0, vaultid: 0,
        out: Out::Bytes },
    Case { name: "get-field-dashes", setup: TWO_VERSIONS, args: &["kv", "get", "--field=pw", "secret/{r}/app"], bao: 0, vaultid: 0,
        out: Out::Bytes },
    Case { name: "get-field-json", setup: TWO_VERSIONS, args: &["kv", "get", "-format=json", "-field=pw", "secret/{r}/app"], bao: 0, vaultid: 0,
        out: Out::Bytes },
    Case { name: "get-field-json-escapes", setup: ODD_VALUES, args: &["kv", "get", "-format=json", "-field=s", "secret/{r}/app"], bao: 0, vaultid: 0,
        out: Out::Bytes },
    Case { name: "get-field-json-object", setup: ODD_VALUES, args: &["kv", "get", "-format=json", "-field=o", "secret/{r}/app"], bao: 0, vaultid: 0,
        out: Out::Bytes },
    Case { name: "get-field-json-number", setup: ODD_VALUES, args: &["kv", "get", "-format=json", "-field=n", "secret/{r}/app"], bao: 0, vaultid: 0,
        out: Out::Bytes },
    Case { name: "get-field-raw-odd", setup: ODD_VALUES, args: &["kv", "get", "-field=s", "secret/{r}/app"], bao: 0, vaultid: 0,
        out: Out::Bytes },
    Case { name: "get-version", setup: TWO_VERSIONS, args: &["kv", "get", "-format=json", "-version=1", "secret/{r}/app"], bao: 0, vaultid: 0,
        out: Out::Data },
    Case { name: "get-version-space", setup: TWO_VERSIONS, args: &["kv", "get", "-format=json", "-version", "1", "secret/{r}/app"], bao: 0, vaultid: 0,
        out: Out::Data },
    Case { name: "get-mount", setup: WITH_CUSTOM, args: &["kv", "get", "-format=json", "-mount=secret", "{r}/app"], bao: 0, vaultid: 0,
        out: Out::Data },
    Case { name: "get-missing", setup: ONE, args: &["kv", "get", "secret/{r}/missing"], bao: 2, vaultid: 1,
        out: Out::Fails },
    Case { name: "get-no-such-field", setup: ONE, args: &["kv", "get", "-field=nope", "secret/{r}/app"], bao: 1, vaultid: 2,
        out: Out::Fails },
    Case { name: "get-soft-deleted", setup: SOFT_DELETED, args: &["kv", "get", "-format=json", "secret/{r}/app"], bao: 0, vaultid: 0,
        out: Out::Data },
    Case { name: "get-destroyed", setup: DESTROYED, args: &["kv", "get", "-format=json", "-version=1", "secret/{r}/app"], bao: 0, vaultid: 0,
        out: Out::Data },
    Case { name: "get-soft-deleted-field", setup: SOFT_DELETED, args: &["kv", "get", "-field=pw", "secret/{r}/app"], bao: 2, vaultid: 1,
        out: Out::Fails },
    // KV v2: writes.
    Case { name: "put", setup: &[], args: &["kv", "put", "-format=json", "secret/{r}/new", "a=1", "b=two words"], bao: 0, vaultid: 0,
        out: Out::Version },
    Case { name: "put-over", setup: TWO_VERSIONS, args: &["kv", "put", "-format=json", "secret/{r}/app", "pw=pw-3"], bao: 0, vaultid: 0,
        out: Out::Version },
    Case { name: "put-cas-new", setup: &[], args: &["kv", "put", "-format=json", "-cas=0", "secret/{r}/new", "a=1"], bao: 0, vaultid: 0,
        out: Out::Version },
    Case { name: "put-cas-conflict", setup: ONE, args: &["kv", "put", "-cas=0", "secret/{r}/app", "pw=x"], bao: 2, vaultid: 4,
        out: Out::Fails },
    Case { name: "put-cas-match", setup: ONE, args: &["kv", "put", "-format=json", "-cas=1", "secret/{r}/app", "pw=x"], bao: 0, vaultid: 0,
        out: Out::Version },
    Case { name: "put-mount", setup: &[], args: &["kv", "put", "-format=json", "-mount=secret", "{r}/new", "a=1"], bao: 0, vaultid: 0,
        out: Out::Version },
    Case { name: "patch", setup: TWO_VERSIONS, args: &["kv", "patch", "-format=json", "secret/{r}/app", "c=3"], bao: 0, vaultid: 0,
        out: Out::Version },
    Case { name: "patch-missing", setup: ONE, args: &["kv", "patch", "secret/{r}/missing", "c=3"], bao: 2, vaultid: 1,
        out: Out::Fails },
    // KV v2: folders.
    Case { name: "list", setup: FOLDER, args: &["kv", "list", "-format=json", "secret/{r}"], bao: 0, vaultid: 0,
        out: Out::Keys },
    Case { name: "list-mount", setup: FOLDER, args: &["kv", "list", "-format=json", "-mount=secret", "{r}"], bao: 0, vaultid: 0,
        out: Out::Keys },
    Case { name: "list-missing", setup: FOLDER, args: &["kv", "list", "-format=json", "secret/{r}/nothing"], bao: 2, vaultid: 1,
        out: Out::Fails },
    // KV v2: versions and metadata.
    Case { name: "delete", setup: TWO_VERSIONS, args: &["kv", "delete", "secret/{r}/app"], bao: 0, vaultid: 0,
        out: Out::State },
    Case { name: "delete-versions", setup: TWO_VERSIONS, args: &["kv", "delete", "-versions=1", "secret/{r}/app"], bao: 0, vaultid: 0,
        out: Out::State },
    Case { name: "undelete", setup: BOTH_DELETED, args: &["kv", "undelete", "-versions=1,2", "secret/{r}/app"], bao: 0, vaultid: 0,
        out: Out::State },
    Case { name: "destroy", setup: TWO_VERSIONS, args: &["kv", "destroy", "-versions=1", "secret/{r}/app"], bao: 0, vaultid: 0,
        out: Out::State },
    Case { name: "metadata-get", setup: WITH_CUSTOM, args: &["kv", "metadata", "get", "-format=json", "secret/{r}/app"], bao: 0, vaultid: 0,
        out: Out::Data },
    Case { name: "metadata-put", setup: ONE, args: &["kv", "metadata", "put", "-max-versions=5", "-cas-required=true", "-custom-metadata=owner=ops", "secret/{r}/app"], bao: 0, vaultid: 0,
        out: Out::State },
    Case { name: "metadata-delete", setup: TWO_VERSIONS, args: &["kv", "metadata", "delete", "secret/{r}/app"], bao: 0, vaultid: 0,
        out: Out::State },
    Case { name: "metadata-missing", setup: ONE, args: &["kv", "metadata", "get", "secret/{r}/missing"], bao: 2, vaultid: 1,
        out: Out::Fails },
    // A nested KV v2 mount: the server says where the mount ends.
    Case { name: "nested-get", setup: NESTED, args: &["kv", "get", "-format=json", "team/kv/{r}/app"], bao: 0, vaultid: 0,
        out: Out::Data },
    Case { name: "nested-get-field", setup: NESTED, args: &["kv", "get", "-field=pw", "team/kv/{r}/app"], bao: 0, vaultid: 0,
        out: Out::Bytes },
    Case { name: "nested-list", setup: NESTED, args: &["kv", "list", "-format=json", "team/kv/{r}"], bao: 0, vaultid: 0,
        out: Out::Keys },
    Case { name: "nested-put", setup: NESTED, args: &["kv", "put", "-format=json", "team/kv/{r}/app", "pw=team-2"], bao: 0, vaultid: 0,
        out: Out::Version },
    Case { name: "nested-mount-flag", setup: NESTED, args: &["kv", "get", "-format=json", "-mount=team/kv", "{r}/app"], bao: 0, vaultid: 0,
        out: Out::Data },
    // KV v1.
    Case { name: "v1-get", setup: V1, args: &["kv", "get", "-format=json", "kv1/{r}/a"], bao: 0, vaultid: 0,
        out: Out::V1Data },
    Case { name: "v1-get-field", setup: V1, args: &["kv", "get", "-field=y", "kv1/{r}/a"], bao: 0, vaultid: 0,
        out: Out::Bytes },
    Case { name: "v1-get-field-json", setup: V1, args: &["kv", "get", "-format=json", "-field=y", "kv1/{r}/a"], bao: 0, vaultid: 0,
        out: Out::Bytes },
    Case { name: "v1-get-mount", setup: V1, args: &["kv", "get", "-format=json", "-mount=kv1", "{r}/a"], bao: 0, vaultid: 0,
        out: Out::V1Data },
    Case { name: "v1-get-missing", setup: V1, args: &["kv", "get", "kv1/{r}/missing"], bao: 2, vaultid: 1,
        out: Out::Fails },
    Case { name: "v1-list", setup: V1, args: &["kv", "list", "-format=json", "kv1/{r}"], bao: 0, vaultid: 0,
        out: Out::Keys },
    Case { name: "v1-list-missing", setup: V1, args: &["kv", "list", "-format=json", "kv1/{r}/nothing"], bao: 2, vaultid: 1,
        out: Out::Fails },
    Case { name: "v1-put", setup: V1, args: &["kv", "put", "kv1/{r}/x", "y=2"], bao: 0, vaultid: 0,
        out: Out::State },
    Case { name: "v1-put-replaces", setup: V1, args: &["kv", "put", "kv1/{r}/a", "z=3"], bao: 0, vaultid: 0,
        out: Out::State },
    Case { name: "v1-delete", setup: V1, args: &["kv", "delete", "kv1/{r}/a"], bao: 0, vaultid: 0,
        out: Out::State },
    Case { name: "v1-delete-missing", setup: V1, args: &["kv", "delete", "kv1/{r}/nothing"], bao: 0, vaultid: 0,
        out: Out::State },
    Case { name: "v1-patch", setup: V1, args: &["kv", "patch", "kv1/{r}/a", "z=3"], bao: 2, vaultid: 2,
        out: Out::Fails },
    Case { name: "v1-metadata", setup: V1, args: &["kv", "metadata", "get", "kv1/{r}/a"], bao: 1, vaultid: 2,
        out: Out::Fails },
    Case { name: "v1-undelete", setup: V1, args: &["kv", "undelete", "-versions=1", "kv1/{r}/a"], bao: 1, vaultid: 2,
        out: Out::Fails },
    Case { name: "v1-destroy", setup: V1, args: &["kv", "destroy", "-versions=1", "kv1/{r}/a"], bao: 1, vaultid: 2,
        out: Out::Fails },
    Case { name: "v1-get-version", setup: V1, args: &["kv", "get", "-version=1", "kv1/{r}/a"], bao: 0, vaultid: 2,
        out: Out::Refused("bao ignores -version on KV v1 and prints the secret") },
    Case { name: "v1-put-cas", setup: V1, args: &["kv", "put", "-cas=0", "kv1/{r}/a", "z=3"], bao: 0, vaultid: 2,
        out: Out::Refused("bao ignores -cas on KV v1 and overwrites the secret") },
    Case { name: "v1-delete-versions", setup: V1, args: &["kv", "delete", "-versions=1", "kv1/{r}/a"], bao: 0, vaultid: 2,
        out: Out::Refused("bao deletes the whole secret for -versions=1 on KV v1") },
];

/// One HTTP request to the server as root: status and JSON answer.
fn api(bao: &Bao, method: &str, path: &str, body: &str) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let req = ureq::http::Request::builder()
        .method(method)
        .uri(format!("{}/v1/{path}", bao.addr()).as_str())
        .header("X-Vault-Token", bao.token())
        .body(body.as_bytes().to_vec())
        .unwrap();
    let resp = agent.run(req).unwrap();
    let status = resp.status().as_u16();
    let text = resp.into_body().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Every key under `path` (`GET ?list=true`, recursively), relative to it.
fn walk(bao: &Bao, path: &str) -> Vec<String> {
    let (status, v) = api(bao, "GET", &format!("{path}?list=true"), "");
    if status == 404 {
        return Vec::new();
    }
    assert_eq!(status, 200, "LIST {path}: {v}");
    let mut out = Vec::new();
    for k in v["data"]["keys"].as_array().unwrap() {
        let k = k.as_str().unwrap();
        match k.strip_suffix('/') {
            Some(dir) => out.extend(
                walk(bao, &format!("{path}/{dir}"))
                    .into_iter()
                    .map(|s| format!("{dir}/{s}")),
            ),
            None => out.push(k.to_string()),
        }
    }
    out
}

/// Times differ between the two folders (written moments apart): masked.
fn mask_times(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if k.ends_with("_time") && x.as_str().is_some_and(|s| !s.is_empty()) {
                    *x = json!("T");
                } else {
                    mask_times(x);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(mask_times),
        _ => {}
    }
}

/// The server's state under a side's folder `r`: each KV v2 secret's
/// settings, custom metadata and every version (deletion marks and data),
/// each KV v1 secret, and any KV v1 secret under `data/` or `metadata/`.
fn state(bao: &Bao, r: &str) -> Value {
    let mut s = Map::new();
    for mount in ["secret", "team/kv"] {
        for key in walk(bao, &format!("{mount}/metadata/{r}")) {
            let (_, m) = api(bao, "GET", &format!("{mount}/metadata/{r}/{key}"), "");
            let m = &m["data"];
            let mut versions = Map::new();
            for (n, meta) in m["versions"].as_object().unwrap() {
                let (status, d) = api(
                    bao,
                    "GET",
                    &format!("{mount}/data/{r}/{key}?version={n}"),
                    "",
                );
                versions.insert(
                    n.clone(),
                    json!({
                        "status": status,
                        "deleted": meta["deletion_time"] != "",
                        "destroyed": meta["destroyed"],
                        "data": d["data"]["data"],
                    }),
                );
            }
            s.insert(
                format!("{mount}/{key}"),
                json!({
                    "current_version": m["current_version"],
                    "max_versions": m["max_versions"],
                    "cas_required": m["cas_required"],
                    "custom_metadata": m["custom_metadata"],
                    "versions": versions,
                }),
            );
        }
    }
    for folder in [r.to_string(), format!("data/{r}"), format!("metadata/{r}")] {
        for key in walk(bao, &format!("kv1/{folder}")) {
            let (_, d) = api(bao, "GET", &format!("kv1/{folder}/{key}"), "");
            s.insert(
                format!("kv1/{}", folder.replace(r, "R") + "/" + &key),
                d["data"].clone(),
            );
        }
    }
    Value::Object(s)
}

/// Run `cmd` to its end, at most `limit`.
fn bounded(mut cmd: Command, limit: Duration) -> Output {
    let mut child = cmd.spawn().unwrap();
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            let mut stdout = Vec::new();
            let mut stderr = Vec::new();
            child
                .stdout
                .take()
                .unwrap()
                .read_to_end(&mut stdout)
                .unwrap();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_end(&mut stderr)
                .unwrap();
            return Output {
                status: child.wait().unwrap(),
                stdout,
                stderr,
            };
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("{cmd:?} ran longer than {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn json_of(o: &Output, who: &str, case: &str) -> Value {
    let mut v: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{case}: {who} printed no JSON ({e}): {}", text(&o.stdout)));
    mask_times(&mut v);
    v
}

#[test]
fn a_bao_kv_script_runs_unchanged_with_vaultid_kv() {
    let Some(bao) = Bao::start() else { return };
    let start = Instant::now();
    bao.bao(&["secrets", "enable", "-path=kv1", "-version=1", "kv"])
        .unwrap();
    bao.bao(&["secrets", "enable", "-path=team/kv", "-version=2", "kv"])
        .unwrap();
    let limit = Duration::from_secs(20);
    let mut failures = Vec::new();
    for case in CASES {
        let r = |side: &str| format!("{side}/{}", case.name);
        let args = |side: &str| -> Vec<String> {
            case.args
                .iter()
                .map(|a| a.replace("{r}", &r(side)))
                .collect()
        };
        for side in ["b", "v"] {
            for (method, path, body) in case.setup {
                let (status, v) = api(&bao, method, &path.replace("{r}", &r(side)), body);
                assert!(
                    status < 300,
                    "{}: setup {method} {path}: {status} {v}",
                    case.name
                );
            }
        }
        let before_v = state(&bao, &r("v"));
        let mut b = bao.cli(&[]);
        b.args(args("b"));
        let b = bounded(b, limit);
        let mut v = common::vaultid_cmd(bao.addr(), bao.token(), "bao-diff");
        v.args(args("v"))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let v = bounded(v, limit);
        let what = format!(
            "{}: bao exit {:?} out {:?} err {:?} | vaultid exit {:?} out {:?} err {:?}",
            case.name,
            b.status.code(),
            text(&b.stdout),
            text(&b.stderr),
            v.status.code(),
            text(&v.stdout),
            text(&v.stderr)
        );
        let check = || -> Result<(), String> {
            if b.status.code() != Some(case.bao) || v.status.code() != Some(case.vaultid) {
                return Err(format!(
                    "exit codes: expected bao {} and vaultid {}",
                    case.bao, case.vaultid
                ));
            }
            let refused = matches!(case.out, Out::Refused(_));
            if (case.bao == 0) != (case.vaultid == 0) && !refused {
                return Err("one succeeds, the other fails".into());
            }
            if !v.status.success()
                && (!v.stdout.is_empty() || text(&v.stderr).trim_end().lines().count() != 1)
            {
                return Err("a failing vaultid prints one stderr line and no stdout".into());
            }
            match case.out {
                Out::Bytes if b.stdout != v.stdout => return Err("stdout bytes differ".into()),
                Out::Data
                    if json_of(&b, "bao", case.name)["data"]
                        != json_of(&v, "vaultid", case.name) =>
                {
                    return Err("bao's data is not vaultid's JSON".into())
                }
                Out::V1Data
                    if json_of(&b, "bao", case.name)["data"]
                        != json_of(&v, "vaultid", case.name)["data"] =>
                {
                    return Err("bao's data is not vaultid's data".into())
                }
                Out::Keys
                    if json_of(&b, "bao", case.name)
                        != json_of(&v, "vaultid", case.name)["keys"] =>
                {
                    return Err("bao's keys are not vaultid's".into())
                }
                Out::Version
                    if json_of(&b, "bao", case.name)["data"]["version"]
                        != json_of(&v, "vaultid", case.name)["version"] =>
                {
                    return Err("the versions written differ".into())
                }
                _ => {}
            }
            let (after_b, after_v) = (state(&bao, &r("b")), state(&bao, &r("v")));
            if let Out::Refused(why) = case.out {
                if after_v != before_v {
                    return Err(format!(
                        "vaultid refused ({why}) but changed the state: {after_v}"
                    ));
                }
            } else if after_b != after_v {
                return Err(format!(
                    "server state differs: bao {after_b} | vaultid {after_v}"
                ));
            }
            Ok(())
        };
        if let Err(e) = check() {
            failures.push(format!("{e}\n    {what}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
    assert!(
        start.elapsed() < Duration::from_secs(120),
        "{} cases took {:?}",
        CASES.len(),
        start.elapsed()
    );
}
