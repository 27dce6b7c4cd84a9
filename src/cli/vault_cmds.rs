//! `kv`, `health`, `login`: the Vault client from the command line.
//!
//! Paths name their mount first (`secret/app/db`, like `vault kv get`),
//! unless `--mount` is given, in which case the path is inside that mount.
//! As `bao kv` does, each `kv` command first asks the server which mount
//! holds the path and its KV version (`sys/internal/ui/mounts/PATH`), so
//! nested mounts (`team/kv/app`) and KV version 1 mounts are served too;
//! what KV v1 does not have (versions, metadata, check-and-set, patch,
//! undelete, destroy, subkeys) is refused with exit 2.

use crate::input::{read_text, Input, MAX_DATA};
use crate::vault::{Client, KvAdmin, KvRead, KvVersion, MetadataUpdate};
use crate::Error;
use serde_json::{json, Map, Value};

use super::connect::client;
use super::{emit, multi, opt, switch, Args, Flag, VAULT_FLAGS};

const COMMON: &[Flag] = &[
    opt("mount", "KV v2 mount; the path is then inside it"),
    opt("format", "json (default) or table (same as --human)"),
    switch("human", "print a readable form instead of JSON"),
    switch("help", "show this help"),
];

fn spec(extra: &[Flag]) -> Vec<Flag> {
    COMMON
        .iter()
        .chain(VAULT_FLAGS)
        .chain(extra)
        .copied()
        .collect()
}

/// Split `mount/path` (or use `-mount`).
fn mount_path(a: &Args, path: &str) -> Result<(String, String), Error> {
    match split_mount(a, path)? {
        (m, p) if !p.is_empty() => Ok((m, p)),
        _ => Err(Error::Config(format!(
            "{path:?} names no secret: write MOUNT/PATH (e.g. secret/app) or pass -mount"
        ))),
    }
}

/// Split `mount/path`, where the path may be empty (the mount's root).
fn split_mount(a: &Args, path: &str) -> Result<(String, String), Error> {
    use crate::config::{check_kv_path, check_vault_path};
    if let Some(m) = a.value("mount") {
        let m = check_vault_path("-mount", m, false)?;
        return Ok((m, check_kv_path("the path", path)?));
    }
    let path = check_kv_path("the path", path)?;
    if let Some((m, _)) = path.split_once('/') {
        check_vault_path("the mount", m, false)?;
    }
    match path.split_once('/') {
        Some((m, p)) if !m.is_empty() => Ok((m.to_string(), p.to_string())),
        None if !path.is_empty() => Ok((path.to_string(), String::new())),
        _ => Err(Error::Config(
            "no mount named: write MOUNT/PATH (e.g. secret/app) or pass -mount".into(),
        )),
    }
}

/// Where a `kv` command's path is: the mount as the server described it,
/// the path inside it (may be empty: the mount's root) and the engine's
/// version.
struct Target {
    mount: String,
    path: String,
    version: KvVersion,
}

impl Target {
    /// `mount/path`, as messages and the JSON name the secret.
    fn display(&self) -> String {
        if self.path.is_empty() {
            format!("{}/", self.mount)
        } else {
            format!("{}/{}", self.mount, self.path)
        }
    }

    fn not_found(&self, method: &'static str) -> Error {
        Error::NotFound {
            service: crate::Service::Vault,
            method,
            path: self.display(),
        }
    }

    /// Exit 2 for what KV version 1 does not have.
    fn v1_refuses(&self, what: &str) -> Result<(), Error> {
        match self.version {
            KvVersion::V1 => Err(Error::Config(format!(
                "{}/ is a KV version 1 mount, {what}",
                self.mount
            ))),
            KvVersion::V2 => Ok(()),
        }
    }
}

/// Find the mount that holds `arg` (or `-mount`) and its KV version, as
/// `bao kv` does: `sys/internal/ui/mounts/PATH` names the mount (nested
/// ones too) and its version. When the server will not say (403: no
/// capability there, or no such mount), the first segment is the mount and
/// KV v2 is assumed, so the request itself reports what is wrong.
/// `need_path`: the command names a secret, not a folder.
fn locate(c: &Client, a: &Args, arg: &str, need_path: bool) -> Result<Target, Error> {
    let (mount, path) = if need_path {
        mount_path(a, arg)?
    } else {
        split_mount(a, arg)?
    };
    let full = if path.is_empty() {
        mount.clone()
    } else {
        format!("{mount}/{path}")
    };
    let probe = if a.has("mount") { &mount } else { &full };
    let t = match c.kv_mount(probe)? {
        Some(crate::vault::KvMount {
            path: Some(m),
            version,
        }) if crate::vault::holds(&m, &full) => Target {
            path: full[m.len()..].trim_start_matches('/').to_string(),
            mount: m,
            version,
        },
        Some(found) => Target {
            mount,
            path,
            version: found.version,
        },
        None => Target {
            mount,
            path,
            version: KvVersion::V2,
        },
    };
    if need_path && t.path.is_empty() {
        return Err(Error::Config(format!(
            "{arg:?} names the mount {}/, not a secret in it: write MOUNT/PATH",
            t.mount
        )));
    }
    Ok(t)
}

fn versions(a: &Args) -> Result<Vec<u64>, Error> {
    let Some(v) = a.value("versions") else {
        return Err(Error::Config("-versions N[,N...] is required".into()));
    };
    v.split(',')
        .map(|s| {
            s.trim()
                .parse()
                .map_err(|_| Error::Config(format!("-versions: {s:?} is not a version number")))
        })
        .collect()
}

/// `k=v` pairs into a JSON map: `k=@file` reads a file, `k=-` reads stdin,
/// a single `-` argument reads a whole JSON object from stdin.
fn pairs(args: &[String]) -> Result<Map<String, Value>, Error> {
    let mut m = Map::new();
    if args.len() == 1 && args[0] == "-" {
        let buf = read_text(Input::Stdin, "the JSON object", MAX_DATA)?;
        return match serde_json::from_str(&buf) {
            Ok(Value::Object(o)) => Ok(o),
            _ => Err(Error::Config("stdin must hold one JSON object".into())),
        };
    }
    // Errors name the argument's position, never its text: it may be a
    // secret typed without its key.
    for (n, p) in args.iter().enumerate() {
        let Some((k, v)) = p.split_once('=') else {
            return Err(Error::Config(format!(
                "data argument {} is not KEY=VALUE",
                n + 1
            )));
        };
        if k.is_empty() {
            return Err(Error::Config(format!(
                "data argument {} has an empty key (=VALUE)",
                n + 1
            )));
        }
        let value = if let Some(f) = v.strip_prefix('@') {
            read_text(
                Input::File(std::path::Path::new(f)),
                &format!("the value of {k}"),
                MAX_DATA,
            )?
        } else if v == "-" {
            read_text(Input::Stdin, &format!("the value of {k}"), MAX_DATA)?
        } else {
            v.to_string()
        };
        m.insert(k.to_string(), Value::String(value));
    }
    if m.is_empty() {
        return Err(Error::Config("no KEY=VALUE pairs given".into()));
    }
    Ok(m)
}

const KV_HELP: &str = "Usage: vaultid kv <get|put|patch|list|delete|undelete|destroy|metadata|subkeys> MOUNT/PATH [options]

  get MOUNT/PATH [-version N] [-field K]     read a secret (prints data and metadata;
                                             -field prints that field's raw value,
                                             as JSON with -format=json)
  put MOUNT/PATH K=V... [-cas N]             write a new version (K=@file, K=- for stdin, or - for a JSON object)
  patch MOUNT/PATH K=V... [-cas N]           merge into the latest version
  list MOUNT[/PATH]                          list keys under a folder, or a mount's root
  delete MOUNT/PATH [-versions N,...]        soft-delete the latest (or given) versions
  undelete MOUNT/PATH -versions N,...        restore soft-deleted versions
  destroy MOUNT/PATH -versions N,...         destroy versions for good
  metadata get|put|delete MOUNT/PATH         read, change or delete (all versions) metadata
      put: [-max-versions N] [-cas-required true|false] [-delete-version-after 768h]
           [-custom-metadata K=V]...
  subkeys MOUNT/PATH [-depth N]              the key structure without values

The mount and its KV version are asked of the server first, as `bao kv` does:
nested mounts work, and on a KV version 1 mount get, put, list and delete act
on the plain path; what v1 does not have (versions, metadata, -cas, patch) is
refused (exit 2).

Options: -mount M (the path is then inside M), -format json|table, --human, --help,
and the Vault CLI's global flags (-address, -agent-address, -namespace, -ca-cert,
-ca-path, -client-cert, -client-key, -tls-server-name, -tls-skip-verify,
-non-interactive).
Flags take one dash or two, and `=` or a space before the value, as the
Vault CLI's do (-field=password, --field password); they may come before or
after the path. Anything else is refused (exit 2).
";

/// The flags of one `kv` subcommand, besides the common ones.
fn kv_flags(sub: &str) -> Option<Vec<Flag>> {
    let extra: &[Flag] = match sub {
        "get" => &[
            opt("version", "version to read"),
            opt("field", "print only this field's raw value"),
        ],
        "put" | "patch" => &[opt("cas", "check-and-set version")],
        "list" => &[],
        "delete" => &[opt("versions", "comma-separated versions")],
        "undelete" | "destroy" => &[opt("versions", "comma-separated versions (required)")],
        "subkeys" => &[opt("depth", "levels to show (0: all)")],
        "metadata" => &[
            opt("max-versions", "put: versions to keep"),
            opt("cas-required", "put: require cas on writes (true|false)"),
            opt(
                "delete-version-after",
                "put: delete versions after this duration",
            ),
            multi("custom-metadata", "put: custom metadata K=V (repeatable)"),
            multi("custom", "put: same as -custom-metadata"),
        ],
        _ => return None,
    };
    Some(spec(extra))
}

/// Print a field's value as `bao kv get -field` does: the raw value (a
/// string as is, anything else as JSON), or with `-format=json` the value
/// as JSON the way bao writes it (`"pw-2"`; see [`go_json`]); a newline
/// follows only when stdout is a terminal, so `$(...)` and redirections
/// get exactly the value.
fn print_field(v: &Value, json: bool) -> Result<(), Error> {
    use std::io::{IsTerminal, Write};
    let text = match v {
        _ if json => go_json(v),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut out = std::io::stdout().lock();
    let newline = if out.is_terminal() { "\n" } else { "" };
    out.write_all(text.as_bytes())
        .and_then(|()| out.write_all(newline.as_bytes()))
        .and_then(|()| out.flush())
        .map_err(|e| Error::io("writing to stdout", e))
}

/// A JSON value as the bao CLI's `-format=json` writes one (Go's
/// `json.MarshalIndent(v, "", "  ")`): two-space indentation, keys sorted,
/// `<`, `>` and `&` escaped as `\u003c`, `\u003e`, `\u0026`, U+2028 and
/// U+2029 escaped, `\b \f \n \r \t` short, other control characters
/// `\u00XX`. Numbers: integers exactly (bao rounds those beyond 2^53
/// through a float), other numbers as Go formats a float64 (`1e+21`).
pub(crate) fn go_json(v: &Value) -> String {
    fn number(n: &serde_json::Number) -> String {
        if n.is_i64() || n.is_u64() {
            return n.to_string();
        }
        let f = n.as_f64().unwrap_or(0.0);
        let abs = f.abs();
        if abs == 0.0 || (1e-6..1e21).contains(&abs) {
            format!("{f}")
        } else {
            // Rust writes 1e21 and 1.5e-7; Go 1e+21 and 1.5e-07 cleaned
            // up to 1.5e-7.
            let e = format!("{f:e}");
            match e.split_once('e') {
                Some((m, x)) if !x.starts_with('-') => format!("{m}e+{x}"),
                _ => e,
            }
        }
    }
    fn value(out: &mut String, v: &Value, depth: usize) {
        let indent = |out: &mut String, d: usize| {
            out.push('\n');
            out.push_str(&"  ".repeat(d));
        };
        match v {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Number(n) => out.push_str(&number(n)),
            Value::String(s) => crate::util::go_json_string(s, out),
            Value::Array(a) if a.is_empty() => out.push_str("[]"),
            Value::Array(a) => {
                out.push('[');
                for (i, item) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    indent(out, depth + 1);
                    value(out, item, depth + 1);
                }
                indent(out, depth);
                out.push(']');
            }
            Value::Object(m) if m.is_empty() => out.push_str("{}"),
            Value::Object(m) => {
                out.push('{');
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    indent(out, depth + 1);
                    crate::util::go_json_string(k, out);
                    out.push_str(": ");
                    value(out, &m[k], depth + 1);
                }
                indent(out, depth);
                out.push('}');
            }
        }
    }
    let mut out = String::new();
    value(&mut out, v, 0);
    out
}

/// A readable form of a secret: its fields (none for a deleted version),
/// then its version's metadata (none for KV version 1).
fn human_secret(data: Option<&Map<String, Value>>, meta: Option<&Value>) {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if let Some(data) = data {
        let width = data.keys().map(String::len).max().unwrap_or(0).max(3);
        println!("== Data ==");
        for (k, v) in data {
            println!("{k:<width$}  {}", text(v));
        }
    }
    if let Some(Value::Object(m)) = meta {
        println!("== Metadata ==");
        for (k, v) in m {
            println!("{k}: {}", text(v));
        }
    }
}

/// `kv get MOUNT/PATH`.
fn kv_get(a: &Args, arg: &str, human: bool) -> Result<(), Error> {
    let c = client(a)?;
    let _revoke = c.revoke_own_token_on_drop();
    let t = &locate(&c, a, arg, true)?;
    // -format=json (or VAULT_FORMAT=json) prints a -field as JSON.
    let json_field = match a.value("format") {
        Some(f) => f.trim().eq_ignore_ascii_case("json"),
        None => crate::config::grammar::lookup_named(&crate::config::ProcessEnv, "VAULT_FORMAT")?
            .is_some_and(|(_, f)| f.trim().eq_ignore_ascii_case("json")),
    };
    if t.version == KvVersion::V1 {
        if a.has("version") {
            t.v1_refuses("which keeps no versions: -version does not apply to it")?;
        }
        let secret = c
            .kv1(&t.mount)
            .read(&t.path)?
            .ok_or_else(|| t.not_found("GET"))?;
        if let Some(f) = a.value("field") {
            let v = secret.data.get(f).ok_or_else(|| no_field(t, f))?;
            return print_field(v, json_field);
        }
        // As bao shows a v1 secret: its data, no metadata (v1 keeps none).
        if human {
            human_secret(Some(&secret.data), None);
        } else {
            emit(&json!({ "data": secret.data }), false);
        }
        return Ok(());
    }
    let found = c
        .kv2(&t.mount)
        .read_any(&t.path, a.number("version")?)?
        .ok_or_else(|| t.not_found("GET"))?;
    match found {
        KvRead::Secret(secret) => {
            if let Some(f) = a.value("field") {
                let v = secret.data.get(f).ok_or_else(|| no_field(t, f))?;
                return print_field(v, json_field);
            }
            let meta = serde_json::to_value(&secret.metadata).unwrap_or(Value::Null);
            if human {
                human_secret(Some(&secret.data), Some(&meta));
            } else {
                emit(&json!({"data": secret.data, "metadata": meta}), false);
            }
        }
        // A deleted or destroyed version: as bao, exit 0 with its metadata
        // and `data: null`. A field of it does not exist.
        KvRead::Deleted(m) => {
            if a.has("field") {
                return Err(Error::VersionDeleted {
                    path: t.display(),
                    version: m.version,
                    destroyed: m.destroyed,
                });
            }
            let meta = serde_json::to_value(&m).unwrap_or(Value::Null);
            if human {
                human_secret(None, Some(&meta));
            } else {
                emit(&json!({"data": null, "metadata": meta}), false);
            }
        }
    }
    Ok(())
}

fn no_field(t: &Target, f: &str) -> Error {
    Error::Config(format!("{} has no field {f:?}", t.display()))
}

/// Run `vaultid kv ...`.
pub(crate) fn kv(rest: &[String]) -> Result<u8, Error> {
    let Some((sub, rest)) = rest.split_first() else {
        eprint!("{KV_HELP}");
        return Ok(2);
    };
    if matches!(sub.as_str(), "--help" | "-help" | "-h" | "help") {
        print!("{KV_HELP}");
        return Ok(0);
    }
    let Some(flags) = kv_flags(sub) else {
        return Err(Error::Config(format!(
            "unknown kv command {sub:?}; see `vaultid kv --help`"
        )));
    };
    let a = Args::parse(rest, &flags)?;
    if a.has("help") {
        print!("{KV_HELP}");
        return Ok(0);
    }
    let human = a.human()?;
    match sub.as_str() {
        "get" => {
            let pos = a.exactly(1, &usage(sub, "MOUNT/PATH [-version N] [-field K]"))?;
            // The syntax first, before any request.
            mount_path(&a, &pos[0])?;
            kv_get(&a, &pos[0], human)?;
        }
        "put" | "patch" => kv_write(&a, sub, human)?,
        "list" => kv_list(&a, sub, human)?,
        "delete" => kv_delete(&a, sub, human)?,
        "undelete" | "destroy" => kv_versions(&a, sub, human)?,
        "subkeys" => kv_subkeys(&a, sub, human)?,
        "metadata" => kv_metadata(&a, sub, human)?,
        other => {
            return Err(Error::Config(format!(
                "unknown kv command {other:?}; see `vaultid kv --help`"
            )))
        }
    }
    Ok(0)
}

/// `vaultid kv SUB USAGE`, for a usage error.
fn usage(sub: &str, u: &str) -> String {
    format!("vaultid kv {sub} {u}")
}

/// `kv put` and `kv patch` (`sub`): write or patch a secret from K=V pairs.
fn kv_write(a: &Args, sub: &str, human: bool) -> Result<(), Error> {
    let Some((first, data)) = a.positional.split_first() else {
        return Err(Error::Config(format!(
            "missing MOUNT/PATH; usage: {}",
            usage(sub, "MOUNT/PATH K=V...")
        )));
    };
    mount_path(a, first)?;
    let data = pairs(data)?;
    let cas = a.number("cas")?;
    let c = client(a)?;
    let _revoke = c.revoke_own_token_on_drop();
    let t = locate(&c, a, first, true)?;
    if sub == "patch" {
        t.v1_refuses("which has no patch: write the whole secret with `kv put`")?;
    }
    if cas.is_some() {
        t.v1_refuses(
            "which has no check-and-set: -cas does not apply to it (a write replaces the secret)",
        )?;
    }
    if t.version == KvVersion::V1 {
        c.kv1(&t.mount).write(&t.path, &data)?;
        emit(&json!({ "path": t.display() }), human);
        return Ok(());
    }
    let kv = c.kv2(&t.mount);
    let m = if sub == "put" {
        kv.write(&t.path, &data, cas)?
    } else {
        kv.patch(&t.path, &data, cas)?
    };
    emit(
        &json!({"path": t.display(), "version": m.version, "created_time": m.created_time}),
        human,
    );
    Ok(())
}

/// `kv list`: the keys under a path.
fn kv_list(a: &Args, sub: &str, human: bool) -> Result<(), Error> {
    let u = usage(sub, "MOUNT[/PATH]");
    let pos = if a.has("mount") {
        a.at_most(1, &u)?
    } else {
        a.exactly(1, &u)?
    };
    let arg = pos.first().map_or("", String::as_str);
    split_mount(a, arg)?;
    let c = client(a)?;
    let _revoke = c.revoke_own_token_on_drop();
    let t = locate(&c, a, arg, false)?;
    let keys = match t.version {
        KvVersion::V1 => c.kv1(&t.mount).list(&t.path)?,
        KvVersion::V2 => c.kv2(&t.mount).list(&t.path)?,
    };
    // Vault answers 404 for a folder with nothing in it; bao says
    // "No value found" and fails, and so does this (not found).
    if keys.is_empty() {
        return Err(t.not_found("LIST"));
    }
    if human {
        for k in &keys {
            println!("{k}");
        }
    } else {
        emit(&json!({"keys": keys}), false);
    }
    Ok(())
}

/// `kv delete`: the latest version, the versions given, or (KV v1) the secret.
fn kv_delete(a: &Args, sub: &str, human: bool) -> Result<(), Error> {
    let pos = a.exactly(1, &usage(sub, "MOUNT/PATH [-versions N,...]"))?;
    mount_path(a, &pos[0])?;
    let vs = if a.has("versions") {
        Some(versions(a)?)
    } else {
        None
    };
    let c = client(a)?;
    let _revoke = c.revoke_own_token_on_drop();
    let t = locate(&c, a, &pos[0], true)?;
    match (t.version, vs) {
        (KvVersion::V1, Some(_)) => t.v1_refuses(
            "which keeps no versions: -versions does not apply to it \
             (without it, `kv delete` deletes the secret for good)",
        )?,
        (KvVersion::V1, None) => c.kv1(&t.mount).delete(&t.path)?,
        (KvVersion::V2, Some(vs)) => c.kv2(&t.mount).delete_versions(&t.path, &vs)?,
        (KvVersion::V2, None) => c.kv2(&t.mount).delete(&t.path)?,
    }
    emit(&json!({"path": t.display(), "deleted": true}), human);
    Ok(())
}

/// `kv undelete` and `kv destroy` (`sub`): the versions given.
fn kv_versions(a: &Args, sub: &str, human: bool) -> Result<(), Error> {
    let pos = a.exactly(1, &usage(sub, "MOUNT/PATH -versions N,..."))?;
    mount_path(a, &pos[0])?;
    let vs = versions(a)?;
    let c = client(a)?;
    let _revoke = c.revoke_own_token_on_drop();
    let t = locate(&c, a, &pos[0], true)?;
    let kv = c.kv2(&t.mount);
    if sub == "undelete" {
        t.v1_refuses("which keeps no deleted versions to undelete")?;
        kv.undelete_versions(&t.path, &vs)?;
    } else {
        t.v1_refuses("which keeps no versions to destroy (`kv delete` deletes a secret for good)")?;
        kv.destroy_versions(&t.path, &vs)?;
    }
    emit(
        &json!({"path": t.display(), "versions": vs, sub: true}),
        human,
    );
    Ok(())
}

/// `kv subkeys`: the secret's keys without their values.
fn kv_subkeys(a: &Args, sub: &str, human: bool) -> Result<(), Error> {
    let pos = a.exactly(1, &usage(sub, "MOUNT/PATH [-depth N]"))?;
    mount_path(a, &pos[0])?;
    let depth = a.number("depth")?;
    let c = client(a)?;
    let _revoke = c.revoke_own_token_on_drop();
    let t = locate(&c, a, &pos[0], true)?;
    t.v1_refuses("which has no subkeys: `kv get` shows the secret")?;
    let v = c
        .kv2(&t.mount)
        .subkeys(&t.path, depth)?
        .unwrap_or(Value::Null);
    emit(&json!({"subkeys": v}), human);
    Ok(())
}

/// `kv metadata get|put|delete`.
fn kv_metadata(a: &Args, sub: &str, human: bool) -> Result<(), Error> {
    let pos = a.exactly(2, &usage(sub, "get|put|delete MOUNT/PATH"))?;
    let op = pos[0].as_str();
    if !matches!(op, "get" | "put" | "delete") {
        return Err(Error::Config(format!(
            "kv metadata {op:?}: use get, put or delete"
        )));
    }
    let put_flags = [
        "max-versions",
        "cas-required",
        "delete-version-after",
        "custom-metadata",
        "custom",
    ];
    if op != "put" {
        if let Some(f) = put_flags.iter().find(|f| a.has(f)) {
            return Err(Error::Config(format!(
                "-{f} belongs to `kv metadata put`, not `kv metadata {op}`"
            )));
        }
    }
    mount_path(a, &pos[1])?;
    let update = if op == "put" {
        Some(metadata_update(a)?)
    } else {
        None
    };
    let c = client(a)?;
    let _revoke = c.revoke_own_token_on_drop();
    let t = locate(&c, a, &pos[1], true)?;
    t.v1_refuses("which keeps no metadata")?;
    let kv = c.kv2(&t.mount);
    match (op, update) {
        ("get", _) => {
            // What the server sent, as bao shows it.
            let m = kv
                .metadata_answer(&t.path)?
                .ok_or_else(|| Error::NotFound {
                    service: crate::Service::Vault,
                    method: "GET",
                    path: format!("{}/metadata/{}", t.mount, t.path),
                })?;
            emit(&m, human);
        }
        (_, Some(update)) => {
            kv.write_metadata(&t.path, &update)?;
            emit(&json!({"path": t.display(), "updated": true}), human);
        }
        _ => {
            kv.delete_metadata(&t.path)?;
            emit(&json!({"path": t.display(), "deleted": true}), human);
        }
    }
    Ok(())
}

/// The settings `kv metadata put` was given.
fn metadata_update(a: &Args) -> Result<MetadataUpdate, Error> {
    let given: Vec<&String> = a
        .values("custom-metadata")
        .iter()
        .chain(a.values("custom"))
        .collect();
    let custom = given
        .iter()
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| Error::Config(format!("-custom-metadata {kv:?} is not K=V")))
        })
        .collect::<Result<_, _>>()?;
    let cas_required =
        match a.value("cas-required") {
            None => None,
            Some(v) => Some(crate::config::parse_bool(v).ok_or_else(|| {
                Error::Config(format!("-cas-required={v:?} is not true or false"))
            })?),
        };
    Ok(MetadataUpdate {
        max_versions: a.number("max-versions")?,
        cas_required,
        delete_version_after: a.value("delete-version-after").map(str::to_string),
        custom_metadata: if given.is_empty() { None } else { Some(custom) },
    })
}
