//! `kv`, `health`, `login`: the Vault client from the command line.
//!
//! Paths name their mount first (`secret/app/db`, like `vault kv get`),
//! unless `--mount` is given, in which case the path is inside that mount.

use crate::config::{ProcessEnv, VaultConfig};
use crate::input::{read_text, Source, MAX_DATA};
use crate::vault::{Client, KvAdmin, MetadataUpdate};
use crate::Error;
use serde_json::{json, Map, Value};

use super::{emit, multi, opt, parse_or_help, switch, Args, Flag};

const COMMON: &[Flag] = &[
    opt("mount", "KV v2 mount; the path is then inside it"),
    opt("format", "json (default) or table (same as --human)"),
    switch("human", "print a readable form instead of JSON"),
    switch("help", "show this help"),
];

fn spec(extra: &[Flag]) -> Vec<Flag> {
    COMMON.iter().chain(extra).copied().collect()
}

/// Vault settings from the environment; Vault is required here.
pub(crate) fn vault_config() -> Result<VaultConfig, Error> {
    VaultConfig::from_lookup(&ProcessEnv)?.ok_or_else(|| {
        Error::Config(
            "this command needs Vault: set VAULT_ADDR (and VAULT_TOKEN or an auth method)".into(),
        )
    })
}

/// A client for the configured auth method; a login method logs in on
/// the first request. Wrap its use in
/// [`Client::revoke_own_token_on_drop`] so that a token it logs in for
/// does not outlive the command.
pub(crate) fn client() -> Result<Client, Error> {
    let c = Client::new(&vault_config()?)?;
    c.require_credentials()?;
    Ok(c)
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
        let buf = read_text(Source::Stdin, "the JSON object", MAX_DATA)?;
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
                Source::File(std::path::Path::new(f)),
                &format!("the value of {k}"),
                MAX_DATA,
            )?
        } else if v == "-" {
            read_text(Source::Stdin, &format!("the value of {k}"), MAX_DATA)?
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
                                             -field prints that field's raw value)
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

Options: -mount M (the path is then inside M), -format json|table, --human, --help.
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
/// string as is, anything else as JSON), followed by a newline only when
/// stdout is a terminal, so `$(...)` and redirections get exactly the value.
fn print_field(v: &Value) -> Result<(), Error> {
    use std::io::{IsTerminal, Write};
    let text = match v {
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

/// A readable form of a secret: its fields, then its version.
fn human_secret(data: &Map<String, Value>, meta: &Value) {
    let width = data.keys().map(String::len).max().unwrap_or(0).max(3);
    println!("== Data ==");
    for (k, v) in data {
        let v = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        println!("{k:<width$}  {v}");
    }
    println!("== Metadata ==");
    if let Value::Object(m) = meta {
        for (k, v) in m {
            let v = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            println!("{k}: {v}");
        }
    }
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
    let usage = |u: &str| format!("vaultid kv {sub} {u}");
    match sub.as_str() {
        "get" => {
            let pos = a.exactly(1, &usage("MOUNT/PATH [-version N] [-field K]"))?;
            let (mount, path) = mount_path(&a, &pos[0])?;
            let c = client()?;
            let _revoke = c.revoke_own_token_on_drop();
            let secret = c
                .kv2(&mount)
                .read(&path, a.number("version")?)?
                .ok_or_else(|| Error::NotFound {
                    service: crate::Service::Vault,
                    method: "GET",
                    path: format!("{mount}/{path}"),
                })?;
            if let Some(f) = a.value("field") {
                let v = secret
                    .data
                    .get(f)
                    .ok_or_else(|| Error::Config(format!("{mount}/{path} has no field {f:?}")))?;
                print_field(v)?;
                return Ok(0);
            }
            let meta = serde_json::to_value(&secret.metadata).unwrap_or(Value::Null);
            if human {
                human_secret(&secret.data, &meta);
            } else {
                emit(&json!({"data": secret.data, "metadata": meta}), false);
            }
        }
        "put" | "patch" => {
            let Some((first, data)) = a.positional.split_first() else {
                return Err(Error::Config(format!(
                    "missing MOUNT/PATH; usage: {}",
                    usage("MOUNT/PATH K=V...")
                )));
            };
            let (mount, path) = mount_path(&a, first)?;
            let data = pairs(data)?;
            let c = client()?;
            let _revoke = c.revoke_own_token_on_drop();
            let kv = c.kv2(&mount);
            let cas = a.number("cas")?;
            let m = if sub == "put" {
                kv.write(&path, &data, cas)?
            } else {
                kv.patch(&path, &data, cas)?
            };
            emit(
                &json!({"path": format!("{mount}/{path}"), "version": m.version, "created_time": m.created_time}),
                human,
            );
        }
        "list" => {
            let u = usage("MOUNT[/PATH]");
            let pos = if a.has("mount") {
                a.at_most(1, &u)?
            } else {
                a.exactly(1, &u)?
            };
            let (mount, path) = split_mount(&a, pos.first().map_or("", String::as_str))?;
            let c = client()?;
            let _revoke = c.revoke_own_token_on_drop();
            let keys = c.kv2(&mount).list(&path)?;
            if human {
                for k in &keys {
                    println!("{k}");
                }
            } else {
                emit(&json!({"keys": keys}), false);
            }
        }
        "delete" => {
            let pos = a.exactly(1, &usage("MOUNT/PATH [-versions N,...]"))?;
            let (mount, path) = mount_path(&a, &pos[0])?;
            let c = client()?;
            let _revoke = c.revoke_own_token_on_drop();
            let kv = c.kv2(&mount);
            if a.has("versions") {
                kv.delete_versions(&path, &versions(&a)?)?;
            } else {
                kv.delete(&path)?;
            }
            emit(
                &json!({"path": format!("{mount}/{path}"), "deleted": true}),
                human,
            );
        }
        "undelete" | "destroy" => {
            let pos = a.exactly(1, &usage("MOUNT/PATH -versions N,..."))?;
            let (mount, path) = mount_path(&a, &pos[0])?;
            let vs = versions(&a)?;
            let c = client()?;
            let _revoke = c.revoke_own_token_on_drop();
            let kv = c.kv2(&mount);
            if sub == "undelete" {
                kv.undelete_versions(&path, &vs)?;
            } else {
                kv.destroy_versions(&path, &vs)?;
            }
            emit(
                &json!({"path": format!("{mount}/{path}"), "versions": vs, sub.as_str(): true}),
                human,
            );
        }
        "subkeys" => {
            let pos = a.exactly(1, &usage("MOUNT/PATH [-depth N]"))?;
            let (mount, path) = mount_path(&a, &pos[0])?;
            let c = client()?;
            let _revoke = c.revoke_own_token_on_drop();
            let v = c
                .kv2(&mount)
                .subkeys(&path, a.number("depth")?)?
                .unwrap_or(Value::Null);
            emit(&json!({"subkeys": v}), human);
        }
        "metadata" => {
            let pos = a.exactly(2, &usage("get|put|delete MOUNT/PATH"))?;
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
            let (mount, path) = mount_path(&a, &pos[1])?;
            let c = client()?;
            let _revoke = c.revoke_own_token_on_drop();
            let kv = c.kv2(&mount);
            match op {
                "get" => {
                    let m = kv.read_metadata(&path)?.ok_or_else(|| Error::NotFound {
                        service: crate::Service::Vault,
                        method: "GET",
                        path: format!("{mount}/metadata/{path}"),
                    })?;
                    emit(&serde_json::to_value(&m).unwrap_or(Value::Null), human);
                }
                "put" => {
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
                                .ok_or_else(|| {
                                    Error::Config(format!("-custom-metadata {kv:?} is not K=V"))
                                })
                        })
                        .collect::<Result<_, _>>()?;
                    let cas_required = match a.value("cas-required") {
                        None => None,
                        Some(v) => Some(crate::config::parse_bool(v).ok_or_else(|| {
                            Error::Config(format!("-cas-required={v:?} is not true or false"))
                        })?),
                    };
                    let update = MetadataUpdate {
                        max_versions: a.number("max-versions")?,
                        cas_required,
                        delete_version_after: a.value("delete-version-after").map(str::to_string),
                        custom_metadata: if given.is_empty() { None } else { Some(custom) },
                    };
                    kv.write_metadata(&path, &update)?;
                    emit(
                        &json!({"path": format!("{mount}/{path}"), "updated": true}),
                        human,
                    );
                }
                _ => {
                    kv.delete_metadata(&path)?;
                    emit(
                        &json!({"path": format!("{mount}/{path}"), "deleted": true}),
                        human,
                    );
                }
            }
        }
        other => {
            return Err(Error::Config(format!(
                "unknown kv command {other:?}; see `vaultid kv --help`"
            )))
        }
    }
    Ok(0)
}

const LOGIN_ABOUT: &str =
    "Log in with VAULT_AUTH_METHOD (approle, kubernetes, jwt; or token, which only
looks the token up) and show the token's accessor, policies and TTL.

A token it logged in for is stored in ~/.vault-token (created 0600, replaced
atomically), as `bao login` does, where later vaultid (and bao/vault)
commands find it when VAULT_TOKEN is unset and VAULT_AUTH_METHOD is token
(the default). With -no-store it is revoked before login exits, unless
--print-token shows it. The token itself is printed only with --print-token.";

/// Run `vaultid login`.
pub(crate) fn login(rest: &[String]) -> Result<u8, Error> {
    let usage = "vaultid login [-no-store] [--print-token] [-format json|table] [--human]";
    let Some(a) = parse_or_help(
        rest,
        &[
            switch("print-token", "also print the token itself"),
            switch(
                "no-store",
                "do not write ~/.vault-token (the token is then revoked on exit unless printed)",
            ),
            opt("format", "json (default) or table (same as --human)"),
            switch("human", "print a readable form instead of JSON"),
            switch("help", "show this help"),
        ],
        usage,
        LOGIN_ABOUT,
    )?
    else {
        return Ok(0);
    };
    a.exactly(0, usage)?;
    let human = a.human()?;
    let c = Client::new(&vault_config()?)?;
    c.require_credentials()?;
    // Revoked on the way out unless stored or printed below (or on error).
    let revoke = c.revoke_own_token_on_drop();
    let info = c.lookup_self()?;
    let mut v = serde_json::to_value(&info).unwrap_or(Value::Null);
    let mut keep = false;
    if c.owns_token() && !a.has("no-store") {
        let token = c.token().unwrap_or_default();
        let path = token_file()?;
        crate::vault::store_token(&path, &token)?;
        if let Value::Object(m) = &mut v {
            m.insert(
                "token_file".into(),
                Value::String(path.display().to_string()),
            );
        }
        keep = true;
    }
    if a.has("print-token") {
        if let (Value::Object(m), Some(t)) = (&mut v, c.token()) {
            m.insert("token".into(), Value::String(t.expose().to_string()));
        }
        keep = true;
    }
    if keep {
        revoke.keep();
    } else {
        drop(revoke);
    }
    emit(&v, human);
    Ok(0)
}

/// `~/.vault-token`: where `bao login` keeps its token and the
/// configuration looks for one.
fn token_file() -> Result<std::path::PathBuf, Error> {
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .ok_or_else(|| {
            Error::Config(
                "HOME is not set: cannot store the token in ~/.vault-token (use -no-store --print-token)"
                    .into(),
            )
        })?;
    Ok(std::path::PathBuf::from(home).join(".vault-token"))
}
