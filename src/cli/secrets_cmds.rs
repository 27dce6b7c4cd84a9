//! `env`, `rotate`, `cred`: secrets at run time. Each command is a thin
//! shell over [`crate::secrets`].

use std::io::Write;
use std::sync::Arc;

use crate::config::VaultConfig;
use crate::secrets::env::{fields_to_vars, EnvBuilder, Precedence};
use crate::secrets::lease::LeaseBackend;
use crate::secrets::OnRotate;
use crate::secrets::{shell, CredentialStore, EnvOptions, NewValue, SecretSpec};
use crate::vault::Client;
use crate::{Error, SecretString};
use serde_json::json;

use super::VAULT_FLAGS;
use super::{emit, opt, parse_or_help, parse_or_help_with, switch, AfterDashes, Args, Flag};

/// Run `env`, `rotate` or `cred` with the arguments after the command name.
pub(crate) fn run(cmd: &str, rest: &[String]) -> Result<u8, Error> {
    match cmd {
        "env" => env(rest),
        "rotate" => rotate(rest),
        "cred" => cred(rest),
        other => Err(Error::Config(format!(
            "unknown command {other:?}; run `vaultid --help`"
        ))),
    }
}

/// Vault settings from the environment and the command's global flags;
/// these commands always need Vault.
fn vault_config(a: &Args, mount: Option<&str>) -> Result<VaultConfig, Error> {
    let mut c = super::connect::vault_config(a)?;
    if let Some(m) = mount {
        c.kv_mount = m.trim_matches('/').to_string();
    }
    Ok(c)
}

/// A client for `cfg`. With the `token` method a token must be configured;
/// other methods log in on the first request.
fn client(cfg: &VaultConfig) -> Result<Client, Error> {
    let c = Client::new(cfg)?;
    c.require_credentials()?;
    Ok(c)
}

const ENV_USAGE: &str = "vaultid env [options] SPEC... [--dynamic SPEC]... [-- COMMAND [ARGS...]]";
const ENV_ABOUT: &str = "Secrets from Vault as environment variables.

SPEC is a KV v2 secret: `app/db` (relative to the KV mount) or `secret/app/db`
(starting with the mount), optionally with fields: `app/db#password` or
`app/db#password=DB_PASSWORD,user=DB_USER`. Every field becomes a variable.

With `-- COMMAND`, runs COMMAND with the variables added to its environment,
forwards SIGTERM, SIGINT and SIGHUP to it, and exits with its exit code
(128+N when signal N killed it). Dynamic secrets (--dynamic
database/creds/ROLE#username=PGUSER,password=PGPASSWORD) are renewed while the
command runs and revoked when it exits. When a dynamic secret reaches its max
TTL, vaultid reads new credentials, but a running command keeps the variables
it started with (they stop working when the old lease runs out): pass
--restart-on-rotate to restart it with the new ones.

Without `--`, prints `export NAME='value'` lines for `eval \"$(vaultid env ...)\"`
(these contain the secrets). Dynamic secrets printed this way are neither
renewed nor revoked: they last until their lease runs out. --human lists the
variables and the secret each comes from, without values.

A Vault token env logged in for (AppRole, Kubernetes, JWT) is revoked before
it exits, except after printing dynamic secrets (revoking the token would
revoke their leases: it expires with its TTL instead).";

const ENV_FLAGS: &[Flag] = &[
    opt(
        "dynamic",
        "a dynamic secret (a path that returns a lease), PATH[#key=NAME,...]; repeatable",
    ),
    switch(
        "normalize",
        "make invalid field names valid (upper case, other characters -> _)",
    ),
    switch(
        "override",
        "a variable set by two secrets takes the later one's value",
    ),
    opt("mount", "KV v2 mount (VAULT_KV_MOUNT, default secret)"),
    switch(
        "restart-on-rotate",
        "restart COMMAND (SIGTERM, then start again) when a dynamic secret gets new credentials",
    ),
    switch(
        "human",
        "list the variables and their secrets instead of export lines (no values)",
    ),
    switch(
        "pass-credentials",
        "also give COMMAND vaultid's own Vault credentials (VAULT_TOKEN, VAULT_SECRET_ID, ...); by default it does not inherit them",
    ),
    switch("help", "show this help"),
];

fn env(rest: &[String]) -> Result<u8, Error> {
    let flags = [ENV_FLAGS, VAULT_FLAGS].concat();
    let Some(a) = parse_or_help_with(rest, &flags, ENV_USAGE, ENV_ABOUT, AfterDashes::Command)?
    else {
        return Ok(0);
    };
    let specs = a
        .positional
        .iter()
        .map(|s| SecretSpec::parse(s))
        .collect::<Result<Vec<_>, _>>()?;
    let dynamic = a
        .values("dynamic")
        .iter()
        .map(|s| SecretSpec::parse(s))
        .collect::<Result<Vec<_>, _>>()?;
    if specs.is_empty() && dynamic.is_empty() {
        return Err(Error::Config(format!(
            "no secrets named; usage: {ENV_USAGE}"
        )));
    }
    if let Some(cmd) = &a.rest {
        if cmd.is_empty() {
            return Err(Error::Config("no command given after --".into()));
        }
    }
    let cfg = vault_config(&a, a.value("mount"))?;
    let opts = EnvOptions {
        kv_mount: cfg.kv_mount.clone(),
        normalize: a.has("normalize"),
        allow_override: a.has("override"),
    };
    let client = Arc::new(client(&cfg)?);
    let revoke = client.revoke_own_token_on_drop();
    if a.has("human") && a.rest.is_none() {
        return env_human(&client, &specs, &dynamic, &opts);
    }
    let mut statics = crate::secrets::load_secrets(&client, &specs, &opts)?;
    if a.has("pass-credentials") && a.rest.is_some() {
        for name in crate::secrets::CREDENTIAL_VARS {
            match std::env::var(name) {
                Ok(v) => {
                    statics
                        .entry(name.to_string())
                        .or_insert_with(|| crate::SecretString::new(v));
                }
                Err(std::env::VarError::NotUnicode(_)) => return Err(crate::Error::not_utf8(name)),
                Err(std::env::VarError::NotPresent) => {}
            }
        }
    }

    let Some(cmd) = a.rest.clone() else {
        if !dynamic.is_empty() {
            // The leases hang off the token: revoking it would revoke them.
            revoke.keep();
        }
        let mut all = EnvBuilder::new();
        all.add("static secrets", statics, Precedence::KeepFirst)?;
        for spec in &dynamic {
            let s = client.fetch(&spec.path)?;
            log::info!(
                "{}: lease {} lasts {}s and will not be renewed",
                spec.path,
                s.lease_id,
                s.lease_duration.as_secs()
            );
            all.add(
                &spec.path,
                fields_to_vars(&spec.path, &s.data, spec, &opts)?,
                Precedence::from_override(opts.allow_override),
            )?;
        }
        let mut out = std::io::stdout().lock();
        for (name, value) in all.finish() {
            out.write_all(shell::export_line(&name, value.expose()).as_bytes())
                .map_err(|e| Error::io("writing to stdout", e))?;
        }
        return Ok(0);
    };

    if dynamic.is_empty() {
        // The command runs without Vault: the token is not needed any more.
        drop(revoke);
    }
    let on_rotate = if a.has("restart-on-rotate") {
        OnRotate::Restart
    } else {
        OnRotate::KeepRunning
    };
    match crate::secrets::run_command(&client, cmd, &statics, &dynamic, &opts, on_rotate) {
        Err(e) => spawn_failed(e),
        ok => ok,
    }
}

/// `env --human`: each variable and the secret it comes from, no values.
/// Dynamic secrets are not read (that would create credentials).
fn env_human(
    client: &Client,
    specs: &[SecretSpec],
    dynamic: &[SecretSpec],
    opts: &EnvOptions,
) -> Result<u8, Error> {
    let mut all = EnvBuilder::new();
    let mut rows = Vec::new();
    for spec in specs {
        let vars = crate::secrets::load_secrets(client, std::slice::from_ref(spec), opts)?;
        let (mount, path) = spec.kv_location(&opts.kv_mount);
        for name in vars.keys() {
            rows.push((name.clone(), format!("{mount}/{path}")));
        }
        all.add(
            &spec.path,
            vars,
            Precedence::from_override(opts.allow_override),
        )?;
    }
    let names = all.finish();
    let mut out = std::io::stdout().lock();
    let width = rows.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    for (name, from) in rows.iter().filter(|(n, _)| names.contains_key(n)) {
        let _ = writeln!(out, "{name:<width$}  from {from}");
    }
    for spec in dynamic {
        let _ = writeln!(
            out,
            "{:<width$}  dynamic secret {} (read when the command starts)",
            "*", spec.path
        );
    }
    Ok(0)
}

/// A command that could not be started exits 127 (not found) or 126 (not
/// executable), as a shell's would.
fn spawn_failed(e: Error) -> Result<u8, Error> {
    match crate::secrets::spawn_failure_code(&e) {
        Some(code) => {
            eprintln!("vaultid: {}", super::one_line(&super::hints::whole(&e)));
            Ok(code)
        }
        None => Err(e),
    }
}

const ROTATE_USAGE: &str =
    "vaultid rotate PATH KEY [--value V | --value - | --length N] [--print] [--create]";
const ROTATE_ABOUT: &str = "Give one field of a KV v2 secret a new value.

Reads the latest version and writes a new one in which only KEY changed,
with check-and-set on the version read; when another writer got there first
it reads again and retries (a concurrent update is never lost). The new value
is random (N bytes from the operating system, URL-safe base64; default 32)
unless given (`--value -` reads it from stdin). Prints
{\"version\", \"path\", \"key\", \"previous_version\"}; the value only with --print.

KEY must already be a field of the secret (a misspelt name is refused with
exit 2 and changes nothing); --create adds it when it is not.";

const ROTATE_FLAGS: &[Flag] = &[
    opt("value", "the new value; `-` reads it from stdin (one line)"),
    opt(
        "length",
        "bytes of randomness in a generated value (default 32)",
    ),
    switch("print", "also print the new value"),
    switch("create", "add KEY when the secret does not have it yet"),
    opt("mount", "KV v2 mount (VAULT_KV_MOUNT, default secret)"),
    opt(
        "attempts",
        "writes to try on check-and-set conflicts (default 5)",
    ),
    opt("format", "json (default) or table (same as --human)"),
    switch("human", "print a readable form instead of JSON"),
    switch("help", "show this help"),
];

fn read_stdin_line(what: &str) -> Result<SecretString, Error> {
    let s = SecretString::from(crate::input::read_text(
        crate::input::Input::Stdin,
        what,
        crate::input::MAX_DATA,
    )?);
    let line = s.expose();
    Ok(SecretString::new(
        line.strip_suffix('\n')
            .unwrap_or(line)
            .trim_end_matches('\r'),
    ))
}

fn rotate(rest: &[String]) -> Result<u8, Error> {
    let flags = [ROTATE_FLAGS, VAULT_FLAGS].concat();
    let Some(a) = parse_or_help(rest, &flags, ROTATE_USAGE, ROTATE_ABOUT)? else {
        return Ok(0);
    };
    let pos = a.exactly(2, ROTATE_USAGE)?;
    let human = a.human()?;
    let value = match (a.value("value"), a.number::<usize>("length")?) {
        (Some(_), Some(_)) => {
            return Err(Error::Config("give --value or --length, not both".into()))
        }
        (Some("-"), None) => NewValue::Given(read_stdin_line("the value")?),
        (Some(v), None) => NewValue::Given(SecretString::new(v)),
        (None, n) => NewValue::Random(n.unwrap_or(crate::secrets::rotate::DEFAULT_RANDOM_BYTES)),
    };
    let attempts = a
        .number::<u32>("attempts")?
        .unwrap_or(crate::secrets::rotate::DEFAULT_ATTEMPTS);
    let cfg = vault_config(&a, a.value("mount"))?;
    let (mount, path) = SecretSpec::parse(&pos[0])?.kv_location(&cfg.kv_mount);
    let client = client(&cfg)?;
    let _revoke = client.revoke_own_token_on_drop();
    let r = crate::secrets::rotate_field(
        &client,
        &mount,
        &path,
        &pos[1],
        &value,
        attempts,
        a.has("create"),
    )?;
    let mut out = json!({
        "version": r.version,
        "path": r.path,
        "key": r.key,
        "previous_version": r.previous_version,
        "conflicts": r.conflicts,
    });
    if a.has("print") {
        out["value"] = json!(r.value.expose());
    }
    emit(&out, human);
    Ok(0)
}

const CRED_USAGE: &str = "vaultid cred (create AGENT_ID | verify AGENT_ID CREDENTIAL_ID | rotate AGENT_ID CREDENTIAL_ID | delete AGENT_ID CREDENTIAL_ID | list AGENT_ID) [options]";
const CRED_ABOUT: &str = "Client credentials for agents, kept in Vault as hashes.

create   make a credential; prints credential_id and secret (the only time
         the secret is shown)
verify   check a secret read from stdin (or --secret-env VAR); exit 0 when
         it matches, 4 when it does not or the credential does not exist
rotate   new secret for a credential; the old one fails from now on
delete   remove the credential and its whole history
list     the agent's credential ids

Stored at {prefix}/agents/{AGENT_ID}/credentials/{CREDENTIAL_ID} in the KV
mount: the secret's SHA-256 and its creation time, never the secret.";

const CRED_FLAGS: &[Flag] = &[
    opt("mount", "KV v2 mount (VAULT_KV_MOUNT, default secret)"),
    opt(
        "prefix",
        "path prefix in the mount (VAULTID_VAULT_PREFIX, default bindu)",
    ),
    opt(
        "secret-env",
        "verify: read the secret from this environment variable instead of stdin",
    ),
    opt("format", "json (default) or table (same as --human)"),
    switch("human", "print a readable form instead of JSON"),
    switch("help", "show this help"),
];

fn cred(rest: &[String]) -> Result<u8, Error> {
    let flags = [CRED_FLAGS, VAULT_FLAGS].concat();
    let Some(a) = parse_or_help(rest, &flags, CRED_USAGE, CRED_ABOUT)? else {
        return Ok(0);
    };
    let Some((sub, args)) = a.positional.split_first() else {
        return Err(Error::Config(format!("usage: {CRED_USAGE}")));
    };
    let want = match sub.as_str() {
        "create" | "list" => 1,
        "verify" | "rotate" | "delete" => 2,
        other => {
            return Err(Error::Config(format!(
                "unknown cred command {other:?}; usage: {CRED_USAGE}"
            )))
        }
    };
    if args.len() > want {
        return Err(Error::Config(format!(
            "unexpected argument {}: cred {sub} takes {want} argument(s); usage: {CRED_USAGE}",
            want + 2
        )));
    }
    if args.len() != want {
        return Err(Error::Config(format!(
            "cred {sub} takes {want} argument(s); usage: {CRED_USAGE}"
        )));
    }
    let presented = if sub == "verify" {
        Some(match a.value("secret-env") {
            Some(var) => SecretString::new(std::env::var(var).map_err(|e| match e {
                std::env::VarError::NotPresent => {
                    Error::Config(format!("--secret-env: {var} is not set"))
                }
                std::env::VarError::NotUnicode(_) => crate::Error::not_utf8(var),
            })?),
            None => read_stdin_line("the secret")?,
        })
    } else {
        None
    };
    let mut cfg = vault_config(&a, a.value("mount"))?;
    if let Some(p) = a.value("prefix") {
        cfg.prefix = p.trim_matches('/').to_string();
    }
    let client = client(&cfg)?;
    let _revoke = client.revoke_own_token_on_drop();
    let store = CredentialStore::new(&client, &cfg.kv_mount, &cfg.prefix);
    let human = a.human()?;
    let agent = args[0].as_str();
    match sub.as_str() {
        "create" | "rotate" => {
            let c = if sub == "create" {
                store.create(agent)?
            } else {
                store.rotate(agent, &args[1])?
            };
            emit(
                &json!({
                    "agent_id": c.agent_id,
                    "credential_id": c.credential_id,
                    "secret": c.secret.expose(),
                    "version": c.version,
                    "created_at": c.created_at,
                }),
                human,
            );
        }
        "verify" => {
            let presented = presented.unwrap_or_default();
            if !store.verify(agent, &args[1], presented.expose())? {
                return Err(Error::Integrity(format!(
                    "the secret does not match credential {} of agent {agent} (or it does not exist)",
                    args[1]
                )));
            }
            emit(
                &json!({"valid": true, "agent_id": agent, "credential_id": args[1]}),
                human,
            );
        }
        "delete" => {
            let existed = store.delete(agent, &args[1])?;
            emit(
                &json!({"deleted": true, "existed": existed, "agent_id": agent, "credential_id": args[1]}),
                human,
            );
        }
        _ => {
            let ids = store.list(agent)?;
            emit(&json!({"agent_id": agent, "credential_ids": ids}), human);
        }
    }
    Ok(0)
}
