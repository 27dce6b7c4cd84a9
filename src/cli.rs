//! The `vaultid` command: parses arguments, calls one library function,
//! prints one JSON object on stdout, or a one-line error on stderr with the
//! exit code of [`Error::exit_code`](crate::Error::exit_code).
//!
//! Compiled with the `cli` feature (on by default); `src/main.rs` is
//! [`main`] and nothing else. Living in the library crate lets the command
//! use the crate's internals (cluster health, unsealing, the token file,
//! input readers, argument grammar) without making them public API.

mod agent_cmds;
pub(crate) mod args;
mod cluster_cmds;
mod connect;
mod hints;
mod identity_cmds;
mod login_cmd;
mod secrets_cmds;
mod signing_cmds;
mod vault_cmds;

use std::io::Write;
use std::process::ExitCode;

use crate::{Config, Error};
use serde_json::Value;

pub(crate) use args::{boolean, help, multi, opt, switch, AfterDashes, Args, Flag, VAULT_FLAGS};

/// Options every identity-aware command accepts.
pub(crate) const IDENTITY_FLAGS: &[Flag] = &[
    opt("author", "agent author (VAULTID_AUTHOR)"),
    opt("name", "agent name (VAULTID_AGENT_NAME)"),
    opt("agent-id", "explicit agent id, a UUID (VAULTID_AGENT_ID)"),
    opt(
        "key-dir",
        "local key directory (VAULTID_KEY_DIR, default .bindu)",
    ),
    switch("human", "print a readable form instead of JSON"),
    switch("help", "show this help"),
];

const TOP_HELP: &str =
    "vaultid: keeps an AI agent's identity (DID keys, OAuth2 client) stable across restarts

Usage: vaultid <command> [options]

Identity:
  up              restore or create the agent's identity (local keys, Vault, Hydra)
  id              compute the agent id and DID (touches nothing)
  show            show the local identity
  did-document    print the DID document
  sign            sign text with the agent's key
  verify          verify a signature
  token           an OAuth2 access token for the agent from Hydra

Calling other agents (the framework's DID-signed envelope):
  sign-request    the X-DID, X-DID-Signature, X-DID-Timestamp headers for a body
  call            a curl-like request with the agent's Hydra token and the signature
  verify-request  check a signed request as the framework's middleware does

Vault:
  kv              KV v2: get, put, patch, list, delete, undelete, destroy, metadata, subkeys
  login           log in (VAULT_AUTH_METHOD) and show the token's accessor and TTL
  health          every Vault node's health: active, standby, sealed, unreachable, leader
  unseal          submit unseal key shares (file or stdin) to sealed Vault nodes

Secrets at run time:
  env             KV secrets (and dynamic credentials) into a command's environment, or as export lines
  rotate          a new random value for one key of a KV secret (check-and-set)
  cred            credential store: create, verify, rotate, delete, list
  agent           keep the token, secret files and certificates current (long-running); agent status

Every command prints one JSON object on success and a one-line error on
stderr on failure. `vaultid <command> --help` shows a command's options.
Exit codes: 0 ok, 2 usage/configuration, 3 remote unreachable, 4 integrity
or conflict, 5 permission denied, 6 (health) a Vault node is sealed or
unreachable but the cluster serves, 1 anything else.
";

/// The `vaultid` command on this process's arguments: what `src/main.rs`
/// runs. Returns the exit code (see the README); errors are printed on
/// stderr as one line, with a hint naming the flag that helps where one
/// does.
pub fn main() -> ExitCode {
    let result = init_logging().and_then(|()| {
        let args = utf8_args(std::env::args_os().skip(1))?;
        run(&args)
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("vaultid: {}", one_line(&hints::with_hint(&e)));
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

/// Run the command line; returns the exit code on success paths.
fn run(argv: &[String]) -> Result<u8, Error> {
    let Some((cmd, rest)) = argv.split_first() else {
        eprint!("{TOP_HELP}");
        return Ok(2);
    };
    match cmd.as_str() {
        "-h" | "--help" | "-help" | "help" => match rest {
            [] => {
                print!("{TOP_HELP}");
                Ok(0)
            }
            // `vaultid help kv` is `vaultid kv --help`.
            [topic] if !topic.starts_with('-') => run(&[topic.clone(), "--help".into()]),
            _ => Err(Error::Config(format!(
                "{cmd} takes at most one command name; run `vaultid --help`"
            ))),
        },
        "-V" | "--version" | "-version" | "version" => {
            let spec = [
                opt("format", "json (default) or table (same as --human)"),
                switch("human", "print a readable form instead of JSON"),
            ];
            let a = Args::parse(rest, &spec)?;
            a.exactly(0, "vaultid version [--human]")?;
            if a.human()? {
                println!("vaultid {}", env!("CARGO_PKG_VERSION"));
            } else {
                emit(
                    &serde_json::json!({"version": env!("CARGO_PKG_VERSION")}),
                    false,
                );
            }
            Ok(0)
        }
        "up" | "id" | "show" | "did-document" | "sign" | "verify" | "token" => {
            identity_cmds::run(cmd, rest)
        }
        "sign-request" | "call" | "verify-request" => signing_cmds::run(cmd, rest),
        "kv" => vault_cmds::kv(rest),
        "health" => cluster_cmds::health(rest),
        "unseal" => cluster_cmds::unseal(rest),
        "login" => login_cmd::login(rest),
        "env" | "rotate" | "cred" => secrets_cmds::run(cmd, rest),
        "agent" => agent_cmds::run(rest),
        other => Err(Error::Config(format!(
            "unknown command {other:?}; run `vaultid --help`"
        ))),
    }
}

/// Parse a command's arguments; print its help and return `None` for `--help`.
pub(crate) fn parse_or_help(
    rest: &[String],
    spec: &[Flag],
    usage: &str,
    about: &str,
) -> Result<Option<Args>, Error> {
    parse_or_help_with(rest, spec, usage, about, AfterDashes::Positionals)
}

/// [`parse_or_help`] with what a bare `--` introduces.
pub(crate) fn parse_or_help_with(
    rest: &[String],
    spec: &[Flag],
    usage: &str,
    about: &str,
    after: AfterDashes,
) -> Result<Option<Args>, Error> {
    let a = Args::parse_with(rest, spec, after)?;
    if a.has("help") {
        print!("{}", help(usage, about, spec));
        return Ok(None);
    }
    Ok(Some(a))
}

/// The configuration from the environment with the identity flags applied.
pub(crate) fn config_with_flags(a: &Args) -> Result<Config, Error> {
    let mut c = Config::from_env()?;
    if let Some(v) = a.value("author") {
        c.identity.author = v.to_string();
    }
    if let Some(v) = a.value("name") {
        c.identity.agent_name = v.to_string();
    }
    if let Some(v) = a.value("agent-id") {
        c.identity.agent_id = Some(v.to_string());
    }
    if let Some(v) = a.value("key-dir") {
        c.key_dir = v.into();
    }
    Ok(c)
}

/// Print one JSON object (or, with `human`, `key: value` lines) on stdout.
pub(crate) fn emit(v: &Value, human: bool) {
    let mut out = std::io::stdout().lock();
    if human {
        if let Value::Object(m) = v {
            for (k, val) in m {
                let s = match val {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let _ = writeln!(out, "{k}: {s}");
            }
            return;
        }
    }
    let _ = writeln!(out, "{v}");
}

struct StderrLogger {
    level: log::LevelFilter,
}

impl log::Log for StderrLogger {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= self.level
    }

    fn log(&self, r: &log::Record) {
        if self.enabled(r.metadata()) {
            // Only vaultid's own records below warn; dependencies are noisy.
            if r.level() > log::Level::Warn && !r.target().starts_with("vaultid") {
                return;
            }
            if JSON_LOGS.load(std::sync::atomic::Ordering::Relaxed) {
                let line = serde_json::json!({
                    "ts": crate::identity::now_iso8601(),
                    "event": "log",
                    "level": r.level().as_str().to_lowercase(),
                    "message": crate::escape_invisible(&r.args().to_string()),
                });
                eprintln!("{line}");
            } else {
                // One line, whatever a server's text inside holds.
                eprintln!(
                    "vaultid: {}: {}",
                    r.level().as_str().to_lowercase(),
                    crate::escape_invisible(&r.args().to_string())
                );
            }
        }
    }

    fn flush(&self) {}
}

/// Log records as JSON objects (one per line) instead of text.
static JSON_LOGS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// From now on, log records are JSON lines (`vaultid agent`).
pub(crate) fn json_logging() {
    JSON_LOGS.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Log to stderr: warnings by default, more or less with
/// `VAULTID_LOG=off|error|warn|info|debug|trace`. Any other value is a
/// usage error naming the variable. At `debug` every HTTP request is logged
/// (method, URL without its query, status, time, retries).
pub(crate) fn init_logging() -> Result<(), Error> {
    let raw = std::env::var_os("VAULTID_LOG");
    let level = match raw.as_ref().map(|v| v.to_str()) {
        None => log::LevelFilter::Warn,
        Some(Some(v)) => parse_log_level(v).ok_or_else(|| {
            Error::Config(format!(
                "VAULTID_LOG={v:?} is not a log level: use off, error, warn, info, debug or trace"
            ))
        })?,
        Some(None) => {
            return Err(Error::Config(
                "VAULTID_LOG is not valid UTF-8: use off, error, warn, info, debug or trace".into(),
            ))
        }
    };
    let logger = Box::leak(Box::new(StderrLogger { level }));
    if log::set_logger(logger).is_ok() {
        log::set_max_level(level);
    }
    Ok(())
}

/// A `VAULTID_LOG` value (case-insensitive; empty means the default).
fn parse_log_level(v: &str) -> Option<log::LevelFilter> {
    Some(match v.trim().to_ascii_lowercase().as_str() {
        "" | "warn" | "warning" => log::LevelFilter::Warn,
        "off" => log::LevelFilter::Off,
        "error" => log::LevelFilter::Error,
        "info" => log::LevelFilter::Info,
        "debug" => log::LevelFilter::Debug,
        "trace" => log::LevelFilter::Trace,
        _ => return None,
    })
}

/// The arguments as strings; one that is not UTF-8 is a usage error
/// naming its position (never its bytes: it may be a secret).
pub(crate) fn utf8_args(
    args: impl Iterator<Item = std::ffi::OsString>,
) -> Result<Vec<String>, Error> {
    args.enumerate()
        .map(|(n, a)| {
            a.into_string()
                .map_err(|_| Error::Config(format!("argument {} is not valid UTF-8", n + 1)))
        })
        .collect()
}

/// An error message on one line: line breaks and tabs (a server's
/// multi-line text) become spaces, runs of spaces one.
pub(crate) fn one_line(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    for word in msg.split(|c: char| c.is_whitespace() || c.is_control()) {
        if word.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}
