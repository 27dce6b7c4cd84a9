//! `login`: log in, or check a given token, and keep the token in
//! `~/.vault-token`, with the spellings of `bao login`:
//!
//! - `login TOKEN`, `login -` (the token on stdin), `login token=TOKEN`:
//!   the token is looked up (`auth/token/lookup-self`) and stored;
//! - `login -method=userpass username=U [password=P]`: the password from
//!   `password=` (`-` reads stdin, `@FILE` a file), else from stdin (asked
//!   for with echo off when stdin is a terminal);
//! - `login -method=approle|kubernetes|jwt`, or no method: the method and
//!   its settings from the environment (`VAULT_AUTH_METHOD`, ...); with the
//!   `token` method and no token argument, the configured token is looked
//!   up and nothing is stored.

use std::io::{IsTerminal, Write};

use crate::config::{AuthMethod, Lookup, ProcessEnv, SecretSource, VaultConfig};
use crate::input::{read_text, Input, MAX_CREDENTIAL};
use crate::vault::Client;
use crate::{Error, SecretString};
use serde_json::Value;

use super::connect::FlagsOverEnv;
use super::{boolean, emit, opt, parse_or_help, switch, Args, Flag, VAULT_FLAGS};

const LOGIN_USAGE: &str = "vaultid login [TOKEN | - | token=TOKEN] [-method=M] [-path=MOUNT] [K=V...] [-no-store] [-no-print] [-token-only] [--print-token] [-format json|table] [--human]";

const LOGIN_ABOUT: &str =
    "Log in to Vault and keep the token in ~/.vault-token, as `bao login` does.

  vaultid login TOKEN                  look TOKEN up, then store it (`-`: read it from stdin;
                                       token=TOKEN and token=- work too)
  vaultid login -method=userpass username=U [password=P]
                                       userpass login; password=- reads stdin, password=@FILE
                                       a file; without password= it is read from stdin (asked
                                       for, not echoed, when stdin is a terminal)
  vaultid login [-method=approle|kubernetes|jwt]
                                       the method of VAULT_AUTH_METHOD (or -method), with its
                                       settings from the environment (VAULT_ROLE_ID, ...)
  vaultid login                        with VAULT_AUTH_METHOD=token (the default): look up the
                                       configured token (VAULT_TOKEN, BAO_TOKEN, ~/.vault-token);
                                       nothing is stored

Prints the token's accessor, policies and TTL, and token_file: where it was stored
(created 0600, replaced atomically), where later vaultid and bao/vault commands find
it. The token itself is printed only with --print-token or -token-only (which prints
just the token and stores nothing). A token vaultid logged in for that is neither
stored nor printed (-no-store) is revoked before login exits; a given token never is.
-path is the auth mount (VAULT_AUTH_MOUNT; default: the method's name).";

fn login_flags() -> Vec<Flag> {
    let own = [
        opt(
            "method",
            "token, userpass, approle, kubernetes or jwt (VAULT_AUTH_METHOD)",
        ),
        opt(
            "path",
            "the auth mount (VAULT_AUTH_MOUNT; default: the method's name)",
        ),
        switch("print-token", "also print the token itself"),
        boolean(
            "no-store",
            "do not write ~/.vault-token (a token logged in for is then revoked on exit unless printed)",
        ),
        boolean("no-print", "print nothing on success"),
        boolean(
            "token-only",
            "print only the token (no newline unless stdout is a terminal); implies -no-store",
        ),
        opt("format", "json (default) or table (same as --human)"),
        switch("human", "print a readable form instead of JSON"),
        switch("help", "show this help"),
    ];
    own.iter().chain(VAULT_FLAGS).copied().collect()
}

/// How a login argument's value is given: as is, `-` (stdin) or `@FILE`.
fn value_from(raw: &str, what: &str) -> Result<SecretString, Error> {
    if raw == "-" {
        return stdin_secret(what);
    }
    if let Some(path) = raw.strip_prefix('@') {
        return crate::input::read_secret(std::path::Path::new(path), what);
    }
    Ok(SecretString::new(raw))
}

/// A secret piped on stdin: all of it, at most 64 KiB, without its line
/// ending (`echo pw | vaultid login ...` works).
fn stdin_secret(what: &str) -> Result<SecretString, Error> {
    let mut raw = read_text(Input::Stdin, what, MAX_CREDENTIAL)?;
    let text = raw.strip_suffix('\n').unwrap_or(&raw);
    let s = SecretString::new(text.strip_suffix('\r').unwrap_or(text));
    crate::secret_string::zeroize_string(&mut raw);
    if s.is_empty() {
        return Err(Error::Config(format!("{what}: stdin is empty")));
    }
    Ok(s)
}

/// A token given to `login`: surrounding whitespace dropped, as `bao`
/// does; empty or holding whitespace or a control character inside is a
/// usage error that does not repeat it.
fn given_token(t: SecretString) -> Result<SecretString, Error> {
    let trimmed = t.expose().trim();
    if trimmed.is_empty() {
        return Err(Error::Config("the token given to login is empty".into()));
    }
    if trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::Config(
            "the token given to login holds whitespace or a control character: it is not a Vault token"
                .into(),
        ));
    }
    Ok(SecretString::new(trimmed))
}

/// The `K=V` arguments of a login: names only in errors, never values.
struct Pairs {
    token: Option<SecretString>,
    username: Option<String>,
    password: Option<String>,
}

fn pairs(args: &[String], method: &str) -> Result<Pairs, Error> {
    let mut p = Pairs {
        token: None,
        username: None,
        password: None,
    };
    for (n, arg) in args.iter().enumerate() {
        let Some((k, v)) = arg.split_once('=') else {
            return Err(Error::Config(format!(
                "unexpected argument {}: it is not KEY=VALUE (a token is given alone: \
                 `vaultid login TOKEN`); usage: {LOGIN_USAGE}",
                n + 1
            )));
        };
        let slot = match (method, k) {
            ("token", "token") => {
                if p.token.is_some() {
                    return Err(Error::Config("token= given twice".into()));
                }
                p.token = Some(value_from(v, "the token")?);
                continue;
            }
            ("userpass", "username") => &mut p.username,
            ("userpass", "password") => &mut p.password,
            _ => {
                return Err(Error::Config(format!(
                    "login -method={method} does not take {k:?}= (token takes token=; userpass takes username= and password=)",
                    k = k.chars().take(64).collect::<String>()
                )))
            }
        };
        if slot.is_some() {
            return Err(Error::Config(format!("{k}= given twice")));
        }
        *slot = Some(v.to_string());
    }
    Ok(p)
}

/// `env` with `VAULT_AUTH_METHOD` and `VAULT_AUTH_MOUNT` as the command
/// line says.
struct MethodOverride<'a> {
    env: &'a dyn Lookup,
    method: Option<&'a str>,
    mount: Option<&'a str>,
}

impl MethodOverride<'_> {
    fn given(&self, name: &str) -> Option<(&str, &str)> {
        match name {
            "VAULT_AUTH_METHOD" => self.method.map(|m| ("-method", m)),
            "VAULT_AUTH_MOUNT" => self.mount.map(|m| ("-path", m)),
            _ => None,
        }
    }
}

impl Lookup for MethodOverride<'_> {
    fn get(&self, name: &str) -> Option<String> {
        match self.given(name) {
            Some((_, v)) => Some(v.to_string()),
            None => self.env.get(name),
        }
    }

    fn get_os(&self, name: &str) -> Option<std::ffi::OsString> {
        match self.given(name) {
            Some((_, v)) => Some(v.into()),
            None => self.env.get_os(name),
        }
    }

    fn source_of(&self, name: &str) -> String {
        match self.given(name) {
            Some((flag, _)) => flag.to_string(),
            None => self.env.source_of(name),
        }
    }
}

/// What the command line asks `login` to do, and the settings to do it.
struct Plan {
    config: VaultConfig,
    /// A token given on the command line (looked up, stored, never revoked).
    given: bool,
}

fn plan(a: &Args) -> Result<Plan, Error> {
    let env = FlagsOverEnv::new(a, &ProcessEnv)?;
    let mount = a.value("path").map(|m| m.trim_matches('/'));
    let method = match a.value("method") {
        Some(m) => m.trim().to_ascii_lowercase(),
        // A token or token= on the command line means the token method.
        None if !a.positional.is_empty() => "token".into(),
        // Nothing on the command line: the environment's method and settings.
        None => {
            let lookup = MethodOverride {
                env: &env,
                method: None,
                mount,
            };
            return Ok(Plan {
                config: required(VaultConfig::from_lookup(&lookup)?)?,
                given: false,
            });
        }
    };
    if !matches!(
        method.as_str(),
        "token" | "userpass" | "approle" | "kubernetes" | "jwt"
    ) {
        return Err(Error::Config(format!(
            "-method={:?} is not one of token, userpass, approle, kubernetes, jwt",
            method.chars().take(64).collect::<String>()
        )));
    }
    // userpass is built here (its password may come from stdin); the
    // environment is read as for the token method, so that the variables
    // of its own auth settings are not required.
    let env_method = if method == "userpass" {
        "token"
    } else {
        &method
    };
    let lookup = MethodOverride {
        env: &env,
        method: Some(env_method),
        mount,
    };
    let mut config = required(VaultConfig::from_lookup(&lookup)?)?;
    let given = match method.as_str() {
        "token" => {
            let token = match a.positional.as_slice() {
                [] => None,
                [one] if one == "-" => Some(stdin_secret("the token")?),
                [one] if !one.contains('=') => Some(SecretString::new(one.as_str())),
                more => pairs(more, "token")?.token,
            };
            match token {
                Some(t) => {
                    config.token = Some(given_token(t)?);
                    true
                }
                None => false,
            }
        }
        "userpass" => {
            let p = pairs(&a.positional, "userpass")?;
            let username = p
                .username
                .ok_or_else(|| Error::Config("login -method=userpass needs username=U".into()))?;
            let username = crate::config::grammar::check_username("username=", &username)?;
            let password = match p.password {
                Some(raw) => value_from(&raw, "the password")?,
                None => read_password(a)?,
            };
            config.token = None;
            config.auth = AuthMethod::UserPass {
                mount: mount.unwrap_or("userpass").to_string(),
                username,
                password: SecretSource::Value(password),
            };
            false
        }
        _ => {
            if !a.positional.is_empty() {
                return Err(Error::Config(format!(
                    "login -method={method} takes no arguments: its settings come from the environment (see --help)"
                )));
            }
            false
        }
    };
    Ok(Plan { config, given })
}

/// The Vault settings, which `login` cannot do without.
fn required(c: Option<VaultConfig>) -> Result<VaultConfig, Error> {
    c.ok_or_else(|| Error::Config("login needs Vault: set VAULT_ADDR or pass -address".into()))
}

/// The password when `password=` is not given: asked for on a terminal
/// (echo off), else read from stdin.
fn read_password(a: &Args) -> Result<SecretString, Error> {
    if std::io::stdin().is_terminal() {
        if a.boolean("non-interactive") == Some(true) {
            return Err(Error::Config(
                "login -method=userpass: no password= given, and -non-interactive forbids asking on the terminal"
                    .into(),
            ));
        }
        let p = crate::input::read_hidden_line("Password (will be hidden): ", "the password")?;
        if p.is_empty() {
            return Err(Error::Config("the password is empty".into()));
        }
        return Ok(p);
    }
    stdin_secret("the password")
}

/// Print the token alone, as `bao login -token-only` does: a newline only
/// when stdout is a terminal.
fn print_token_only(t: &SecretString) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    let newline: &[u8] = if out.is_terminal() { b"\n" } else { b"" };
    out.write_all(t.expose().as_bytes())
        .and_then(|()| out.write_all(newline))
        .and_then(|()| out.flush())
        .map_err(|e| Error::io("writing to stdout", e))
}

/// Run `vaultid login`.
pub(crate) fn login(rest: &[String]) -> Result<u8, Error> {
    let flags = login_flags();
    let Some(a) = parse_or_help(rest, &flags, LOGIN_USAGE, LOGIN_ABOUT)? else {
        return Ok(0);
    };
    let human = a.human()?;
    let token_only = a.boolean("token-only") == Some(true);
    let no_store = token_only || a.boolean("no-store") == Some(true);
    let Plan { config, given } = plan(&a)?;
    let c = Client::new(&config)?;
    c.require_credentials()?;
    // Revoked on the way out unless stored or printed below (or on error).
    let revoke = c.revoke_own_token_on_drop();
    let info = c.lookup_self()?;
    let mut v = serde_json::to_value(&info).unwrap_or(Value::Null);
    let mut keep = false;
    if (c.owns_token() || given) && !no_store {
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
    let token = c.token().unwrap_or_default();
    if a.has("print-token") {
        if let Value::Object(m) = &mut v {
            m.insert("token".into(), Value::String(token.expose().to_string()));
        }
        keep = true;
    }
    keep |= token_only;
    if keep {
        revoke.keep();
    } else {
        drop(revoke);
    }
    if token_only {
        print_token_only(&token)?;
    } else if a.boolean("no-print") != Some(true) {
        emit(&v, human);
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn pairs_name_keys_never_values() {
        let p = pairs(&v(&["username=alice", "password=s3cret"]), "userpass").unwrap();
        assert_eq!(p.username.as_deref(), Some("alice"));
        assert_eq!(p.password.as_deref(), Some("s3cret"));
        for (args, method) in [
            (&["s3cret-typed-alone"][..], "userpass"),
            (&["role=s3cret"], "userpass"),
            (&["password=s3cret"], "token"),
            (&["username=a", "username=s3cret"], "userpass"),
        ] {
            let e = pairs(&v(args), method).err().expect("refused");
            assert_eq!(e.exit_code(), 2);
            assert!(!e.to_string().contains("s3cret"), "{e}");
        }
    }

    #[test]
    fn given_tokens_are_trimmed_and_checked_without_being_repeated() {
        let t = given_token(SecretString::new(" s.abc\n")).unwrap();
        assert_eq!(t.expose(), "s.abc");
        for bad in ["", "  ", "s.a\r\nX-Injected: 1", "s.a b"] {
            let e = given_token(SecretString::new(bad)).unwrap_err();
            assert_eq!(e.exit_code(), 2);
            assert!(!e.to_string().contains("Injected"), "{e}");
        }
    }
}
