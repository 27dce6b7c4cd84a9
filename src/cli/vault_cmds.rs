//! `kv`, `health`, `login`: the Vault client from the command line.
//!
//! Paths name their mount first (`secret/app/db`, like `vault kv get`),
//! unless `--mount` is given, in which case the path is inside that mount.

use std::io::Read;

use serde_json::{json, Map, Value};
use vaultid::config::{ProcessEnv, VaultConfig};
use vaultid::vault::{Client, MetadataUpdate};
use vaultid::Error;

use super::{emit, opt, parse_or_help, switch, Args, Flag};

const COMMON: &[Flag] = &[
    opt("mount", "KV v2 mount; the path is then inside it"),
    switch("human", "print a readable form instead of JSON"),
    switch("help", "show this help"),
];

fn spec(extra: &[Flag]) -> Vec<Flag> {
    COMMON.iter().chain(extra).copied().collect()
}

/// Vault settings from the environment; Vault is required here.
pub fn vault_config() -> Result<VaultConfig, Error> {
    VaultConfig::from_lookup(&ProcessEnv)?.ok_or_else(|| {
        Error::Config(
            "this command needs Vault: set VAULT_ADDR (and VAULT_TOKEN or an auth method)".into(),
        )
    })
}

/// A client, logged in with the configured auth method.
pub fn client() -> Result<Client, Error> {
    let c = Client::new(&vault_config()?)?;
    c.require_credentials()?;
    Ok(c)
}

/// Split `mount/path` (or use `--mount`).
fn mount_path<'a>(a: &'a Args, path: &'a str) -> Result<(String, String), Error> {
    if let Some(m) = a.value("mount") {
        return Ok((
            m.trim_matches('/').to_string(),
            path.trim_matches('/').to_string(),
        ));
    }
    match path.trim_matches('/').split_once('/') {
        Some((m, p)) if !m.is_empty() && !p.is_empty() => Ok((m.to_string(), p.to_string())),
        _ => Err(Error::Config(format!(
            "{path:?} does not name a mount: write MOUNT/PATH (e.g. secret/app) or pass --mount"
        ))),
    }
}

fn versions(a: &Args) -> Result<Vec<u64>, Error> {
    let Some(v) = a.value("versions") else {
        return Err(Error::Config("--versions N[,N...] is required".into()));
    };
    v.split(',')
        .map(|s| {
            s.trim()
                .parse()
                .map_err(|_| Error::Config(format!("--versions: {s:?} is not a version number")))
        })
        .collect()
}

/// `k=v` pairs into a JSON map: `k=@file` reads a file, `k=-` reads stdin,
/// a single `-` argument reads a whole JSON object from stdin.
fn pairs(args: &[String]) -> Result<Map<String, Value>, Error> {
    let mut m = Map::new();
    if args.len() == 1 && args[0] == "-" {
        let mut buf = String::new();
        std::io::stdin()
            .read_to_string(&mut buf)
            .map_err(|e| Error::io("reading stdin", e))?;
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
            std::fs::read_to_string(f).map_err(|e| Error::io(format!("reading {f}"), e))?
        } else if v == "-" {
            let mut buf = String::new();
            std::io::stdin()
                .read_to_string(&mut buf)
                .map_err(|e| Error::io("reading stdin", e))?;
            buf
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

const KV_HELP: &str = "Usage: vaultid kv <get|put|patch|list|delete|undelete|destroy|metadata> MOUNT/PATH [options]

  get MOUNT/PATH [--version N] [--field K]   read a secret (prints data and metadata)
  put MOUNT/PATH K=V... [--cas N]            write a new version (K=@file, K=- for stdin, or - for a JSON object)
  patch MOUNT/PATH K=V... [--cas N]          merge into the latest version
  list MOUNT/PATH                            list keys under a folder
  delete MOUNT/PATH [--versions N,...]       soft-delete the latest (or given) versions
  undelete MOUNT/PATH --versions N,...       restore soft-deleted versions
  destroy MOUNT/PATH --versions N,...        destroy versions for good
  metadata get|put|delete MOUNT/PATH         read, change or delete (all versions) metadata
      put: [--max-versions N] [--cas-required true|false] [--delete-version-after 768h] [--custom K=V]...
  subkeys MOUNT/PATH [--depth N]             the key structure without values

Options: --mount M (the path is then inside M), --human, --help.
";

/// Run `vaultid kv ...`.
pub fn kv(rest: &[String]) -> Result<u8, Error> {
    let Some((sub, rest)) = rest.split_first() else {
        eprint!("{KV_HELP}");
        return Ok(2);
    };
    let flags = spec(&[
        opt("version", "version to read"),
        opt("field", "print only this field's value"),
        opt("cas", "check-and-set version"),
        opt("versions", "comma-separated versions"),
        opt("depth", "subkeys depth"),
        opt("max-versions", "versions to keep"),
        opt("cas-required", "require cas on writes"),
        opt(
            "delete-version-after",
            "delete versions after this duration",
        ),
        opt("custom", "custom metadata K=V (repeatable)"),
    ]);
    if sub == "--help" || sub == "-h" || sub == "help" {
        print!("{KV_HELP}");
        return Ok(0);
    }
    let a = Args::parse(rest, &flags)?;
    if a.has("help") {
        print!("{KV_HELP}");
        return Ok(0);
    }
    let human = a.has("human");
    let need_path = |n: usize| -> Result<&str, Error> {
        a.positional
            .get(n)
            .map(String::as_str)
            .ok_or_else(|| Error::Config(format!("missing MOUNT/PATH; usage:\n{KV_HELP}")))
    };
    match sub.as_str() {
        "get" => {
            let (mount, path) = mount_path(&a, need_path(0)?)?;
            let c = client()?;
            let secret = c
                .kv2(&mount)
                .read(&path, a.number("version")?)?
                .ok_or_else(|| Error::NotFound {
                    service: vaultid::Service::Vault,
                    method: "GET".into(),
                    path: format!("{mount}/{path}"),
                })?;
            if let Some(f) = a.value("field") {
                let v = secret
                    .data
                    .get(f)
                    .ok_or_else(|| Error::Config(format!("{mount}/{path} has no field {f:?}")))?;
                match v {
                    Value::String(s) => println!("{s}"),
                    other => println!("{other}"),
                }
                return Ok(0);
            }
            let meta = serde_json::to_value(&secret.metadata).unwrap_or(Value::Null);
            emit(&json!({"data": secret.data, "metadata": meta}), human);
        }
        "put" | "patch" => {
            let (mount, path) = mount_path(&a, need_path(0)?)?;
            let data = pairs(&a.positional[1..])?;
            let c = client()?;
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
            let (mount, path) = mount_path(&a, need_path(0)?)?;
            let keys = client()?.kv2(&mount).list(&path)?;
            emit(&json!({"keys": keys}), human);
        }
        "delete" => {
            let (mount, path) = mount_path(&a, need_path(0)?)?;
            let c = client()?;
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
            let (mount, path) = mount_path(&a, need_path(0)?)?;
            let vs = versions(&a)?;
            let c = client()?;
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
            let (mount, path) = mount_path(&a, need_path(0)?)?;
            let v = client()?
                .kv2(&mount)
                .subkeys(&path, a.number("depth")?)?
                .unwrap_or(Value::Null);
            emit(&json!({"subkeys": v}), human);
        }
        "metadata" => {
            let op = need_path(0)?;
            let (mount, path) = mount_path(&a, need_path(1)?)?;
            let c = client()?;
            let kv = c.kv2(&mount);
            match op {
                "get" => {
                    let m = kv.read_metadata(&path)?.ok_or_else(|| Error::NotFound {
                        service: vaultid::Service::Vault,
                        method: "GET".into(),
                        path: format!("{mount}/metadata/{path}"),
                    })?;
                    emit(&serde_json::to_value(&m).unwrap_or(Value::Null), human);
                }
                "put" => {
                    let custom = a
                        .values("custom")
                        .iter()
                        .map(|kv| {
                            kv.split_once('=')
                                .map(|(k, v)| (k.to_string(), v.to_string()))
                                .ok_or_else(|| Error::Config(format!("--custom {kv:?} is not K=V")))
                        })
                        .collect::<Result<_, _>>()?;
                    let cas_required = match a.value("cas-required") {
                        None => None,
                        Some(v) => Some(vaultid::config::parse_bool(v).ok_or_else(|| {
                            Error::Config(format!("--cas-required={v:?} is not true or false"))
                        })?),
                    };
                    let update = MetadataUpdate {
                        max_versions: a.number("max-versions")?,
                        cas_required,
                        delete_version_after: a.value("delete-version-after").map(str::to_string),
                        custom_metadata: if a.has("custom") { Some(custom) } else { None },
                    };
                    kv.write_metadata(&path, &update)?;
                    emit(
                        &json!({"path": format!("{mount}/{path}"), "updated": true}),
                        human,
                    );
                }
                "delete" => {
                    kv.delete_metadata(&path)?;
                    emit(
                        &json!({"path": format!("{mount}/{path}"), "deleted": true}),
                        human,
                    );
                }
                other => {
                    return Err(Error::Config(format!(
                        "kv metadata {other:?}: use get, put or delete"
                    )))
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

/// Run `vaultid health`: prints the health; exit 3 when sealed.
pub fn health(rest: &[String]) -> Result<u8, Error> {
    let Some(a) = parse_or_help(
        rest,
        &spec(&[]),
        "vaultid health",
        "Vault's health (initialized, sealed, standby, version). Needs no token. Exit 3 when sealed.",
    )?
    else {
        return Ok(0);
    };
    let h = Client::new(&vault_config()?)?.health()?;
    emit(
        &serde_json::to_value(&h).unwrap_or(Value::Null),
        a.has("human"),
    );
    Ok(if h.sealed { 3 } else { 0 })
}

/// Run `vaultid login`: log in with the configured method and print the
/// token's accessor, policies and TTL; the token itself only with
/// `--print-token`.
pub fn login(rest: &[String]) -> Result<u8, Error> {
    let Some(a) = parse_or_help(
        rest,
        &spec(&[switch("print-token", "also print the token itself")]),
        "vaultid login [--print-token]",
        "Log in with VAULT_AUTH_METHOD (token, approle, kubernetes, jwt) and show the token's accessor and TTL.",
    )?
    else {
        return Ok(0);
    };
    let c = Client::new(&vault_config()?)?;
    c.require_credentials()?;
    let info = c.lookup_self()?;
    let mut v = serde_json::to_value(&info).unwrap_or(Value::Null);
    if a.has("print-token") {
        if let (Value::Object(m), Some(t)) = (&mut v, c.token()) {
            m.insert("token".into(), Value::String(t.expose().to_string()));
        }
    }
    emit(&v, a.has("human"));
    Ok(0)
}
