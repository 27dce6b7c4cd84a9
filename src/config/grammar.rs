//! The grammar of settings as the environment spells them: booleans,
//! durations (bare seconds or Go's `1m30s`), Vault mounts and paths, and
//! where values come from ([`Lookup`]; the `bao` CLI's `BAO_` names before
//! the `VAULT_` ones, [`BAO_NAMES`]). Pure functions of strings: the
//! `config` fuzz target runs them on arbitrary values.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};

/// Something that answers "what is variable X?".
pub trait Lookup {
    /// The value of `name`, or `None` when unset (or not valid UTF-8).
    fn get(&self, name: &str) -> Option<String>;

    /// The value of `name` as the operating system holds it, which need
    /// not be UTF-8; `None` when unset. By default, [`Lookup::get`]'s.
    fn get_os(&self, name: &str) -> Option<OsString> {
        self.get(name).map(OsString::from)
    }

    /// How to name where the value of `name` came from in an error: the
    /// variable itself, unless the source stands in for it (a command-line
    /// flag names itself).
    fn source_of(&self, name: &str) -> String {
        name.to_string()
    }
}

impl<F: Fn(&str) -> Option<String>> Lookup for F {
    fn get(&self, name: &str) -> Option<String> {
        self(name)
    }
}

/// The process environment.
pub struct ProcessEnv;

impl Lookup for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    fn get_os(&self, name: &str) -> Option<OsString> {
        std::env::var_os(name)
    }
}

/// Why a value cannot go into an HTTP header (a token, a secret id, a
/// namespace), or `None` when it can. Its characters are never shown.
pub(crate) fn header_problem(name: &str, value: &str) -> Option<Error> {
    (!crate::http::header_value_ok(value)).then(|| {
        Error::Config(format!(
            "{name} holds a control character (a line break, tab or NUL), which an HTTP \
             header cannot carry: set it to the value alone (its value is not shown)"
        ))
    })
}

/// The variables the `bao` CLI (OpenBao) reads under a `BAO_` name before
/// the `VAULT_` one: `BAO_ADDR` wins over `VAULT_ADDR` when both are set
/// (checked against `bao` 2.7.2). vaultid reads them the same way.
pub(crate) const BAO_NAMES: &[(&str, &str)] = &[
    ("VAULT_ADDR", "BAO_ADDR"),
    ("VAULT_AGENT_ADDR", "BAO_AGENT_ADDR"),
    ("VAULT_TOKEN", "BAO_TOKEN"),
    ("VAULT_NAMESPACE", "BAO_NAMESPACE"),
    ("VAULT_CACERT", "BAO_CACERT"),
    ("VAULT_CAPATH", "BAO_CAPATH"),
    ("VAULT_CLIENT_CERT", "BAO_CLIENT_CERT"),
    ("VAULT_CLIENT_KEY", "BAO_CLIENT_KEY"),
    ("VAULT_SKIP_VERIFY", "BAO_SKIP_VERIFY"),
    ("VAULT_TLS_SERVER_NAME", "BAO_TLS_SERVER_NAME"),
    ("VAULT_CLIENT_TIMEOUT", "BAO_CLIENT_TIMEOUT"),
    ("VAULT_MAX_RETRIES", "BAO_MAX_RETRIES"),
    ("VAULT_FORMAT", "BAO_FORMAT"),
];

/// The `BAO_` name read before the `VAULT_` variable `name`, if the `bao`
/// CLI has one.
pub(crate) fn bao_name(name: &str) -> Option<&'static str> {
    BAO_NAMES.iter().find(|(v, _)| *v == name).map(|(_, b)| *b)
}

/// The value of `name` and the name it was found under (see
/// [`Lookup::source_of`]), the `BAO_` spelling first ([`BAO_NAMES`]); a
/// variable set but empty counts as unset.
/// A value that is not valid UTF-8 is an error naming where it came from.
pub(crate) fn lookup_named(env: &dyn Lookup, name: &str) -> Result<Option<(String, String)>> {
    let one = |n: &str| match env.get_os(n).map(OsString::into_string) {
        None => Ok(None),
        Some(Ok(v)) if v.trim().is_empty() => Ok(None),
        Some(Ok(v)) => Ok(Some((env.source_of(n), v))),
        Some(Err(_)) => Err(Error::not_utf8(&env.source_of(n))),
    };
    if let Some(b) = bao_name(name) {
        if let Some(found) = one(b)? {
            return Ok(Some(found));
        }
    }
    one(name)
}

pub(super) struct Vars<'a>(pub(super) &'a dyn Lookup);

impl Vars<'_> {
    /// Value, treating set-but-empty as unset; `BAO_X` before `VAULT_X`; a
    /// value that is not valid UTF-8 is an error naming the variable, never
    /// "unset".
    pub(super) fn get(&self, name: &str) -> Result<Option<String>> {
        Ok(self.named(name)?.map(|(_, v)| v))
    }

    /// [`Vars::get`] with the name the value was found under, for errors.
    pub(super) fn named(&self, name: &str) -> Result<Option<(String, String)>> {
        lookup_named(self.0, name)
    }

    /// [`Vars::get`] for a credential or a value sent in an HTTP header (a
    /// secret id, a role id, a namespace), without surrounding whitespace:
    /// one holding a control character is refused too, naming the variable
    /// and never showing the value.
    pub(super) fn header(&self, name: &str) -> Result<Option<String>> {
        let Some((source, v)) = self.named(name)? else {
            return Ok(None);
        };
        match header_problem(&source, v.trim()) {
            Some(e) => Err(e),
            None => Ok(Some(v.trim().to_string())),
        }
    }

    /// The first of `names` that is set, with the name it was found under.
    pub(super) fn first(&self, names: &[&str]) -> Result<Option<(String, String)>> {
        for n in names {
            if let Some(found) = self.named(n)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    pub(super) fn bool(&self, name: &str, default: bool) -> Result<bool> {
        match self.named(name)? {
            None => Ok(default),
            Some((name, v)) => parse_bool(&v).ok_or_else(|| {
                Error::Config(format!(
                    "{name}={v:?} is not a boolean (use true/false, 1/0, yes/no, on/off)"
                ))
            }),
        }
    }

    pub(super) fn duration(&self, name: &str, default: Duration) -> Result<Duration> {
        match self.named(name)? {
            None => Ok(default),
            Some((name, v)) => parse_duration(&v).ok_or_else(|| {
                Error::Config(format!(
                    "{name}={v:?} is not a duration (e.g. 30, 30s, 500ms, 2m, 1m30s)"
                ))
            }),
        }
    }

    pub(super) fn u32(&self, name: &str, default: u32) -> Result<u32> {
        match self.named(name)? {
            None => Ok(default),
            Some((name, v)) => v
                .trim()
                .parse()
                .map_err(|_| Error::Config(format!("{name}={v:?} is not a non-negative integer"))),
        }
    }

    /// A path: the operating system's bytes as they are (a path need not
    /// be UTF-8); set-but-blank counts as unset.
    /// A path, which need not be UTF-8; `BAO_X` before `VAULT_X`.
    pub(super) fn path(&self, name: &str) -> Option<PathBuf> {
        let one = |n: &str| {
            let v = self.0.get_os(n)?;
            let blank = v.to_str().is_some_and(|s| s.trim().is_empty());
            (!blank).then(|| PathBuf::from(v))
        };
        bao_name(name).and_then(one).or_else(|| one(name))
    }
}

/// Parse a boolean as environment variables spell them.
pub fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" | "t" | "y" => Some(true),
        "0" | "false" | "no" | "off" | "f" | "n" => Some(false),
        _ => None,
    }
}

/// Parse a duration: bare seconds (`30`, `1.5`), or Go's form as the Vault
/// CLI reads it: one or more numbers each with a unit, `ns`, `us` (`µs`),
/// `ms`, `s`, `m`, `h` (`500ms`, `30s`, `1m30s`, `1.5h`, `2h45m`). At most
/// 366 days; anything else is `None`.
pub fn parse_duration(v: &str) -> Option<Duration> {
    let v = v.trim();
    if v.is_empty() || v.len() > 64 {
        return None;
    }
    let number_end = |s: &str| {
        s.find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len())
    };
    let number = |num: &str| -> Option<f64> {
        if num.is_empty() || num.starts_with('.') || num.ends_with('.') {
            return None;
        }
        num.parse::<f64>().ok()
    };
    let mut secs = 0.0f64;
    let mut rest = v;
    if number_end(rest) == rest.len() {
        secs = number(rest)?;
        rest = "";
    }
    while !rest.is_empty() {
        let (num, after) = rest.split_at(number_end(rest));
        let n = number(num)?;
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        secs += n * scale;
        rest = next;
    }
    if !secs.is_finite() || secs > 366.0 * 86400.0 {
        return None;
    }
    Some(Duration::from_secs_f64(secs))
}

/// Check a Vault mount or path given from outside (`--mount`,
/// `VAULT_KV_MOUNT`, a KV path): `source` names where it came from. Leading
/// and trailing `/` are dropped; empty segments (`a//b`), `.` and `..`
/// segments, `?` and `#` (they would turn into a URL query or fragment:
/// `secret?list=true`), `%`, control and invisible format characters are
/// refused. An empty value is allowed when `allow_empty` (a mount's root).
pub fn check_vault_path(source: &str, value: &str, allow_empty: bool) -> Result<String> {
    check_path(source, value, allow_empty, true)
}

/// [`check_vault_path`] for a secret's path inside a mount: `#` and `%`
/// are allowed there (they are percent-encoded on the way), and it may be
/// empty (the mount's root).
#[cfg(feature = "cli")]
pub fn check_kv_path(source: &str, value: &str) -> Result<String> {
    check_path(source, value, true, false)
}

fn check_path(source: &str, value: &str, allow_empty: bool, mount: bool) -> Result<String> {
    let v = value.trim_matches('/');
    let bad = |why: &str| {
        Err(Error::Config(format!(
            "{source} {:?} {why}",
            crate::util::escape_invisible(value)
        )))
    };
    if v.is_empty() {
        return if allow_empty {
            Ok(String::new())
        } else {
            bad("is empty")
        };
    }
    if let Some(c) = v.chars().find(|&c| {
        c == '?'
            || (mount && matches!(c, '#' | '%'))
            || c.is_control()
            || matches!(c as u32, 0x2028 | 0x2029)
            || crate::util::is_format_char(c)
    }) {
        return bad(&format!(
            "holds {:?}, which a Vault path cannot carry",
            c.escape_default().to_string()
        ));
    }
    if v.split('/')
        .any(|seg| seg.is_empty() || seg == "." || seg == "..")
    {
        return bad("has an empty, \".\" or \"..\" segment");
    }
    Ok(v.to_string())
}

/// Check a user name for a login path (`auth/{mount}/login/{name}`):
/// `source` names where it came from. It must not be empty, `.` or `..`,
/// and must hold no `/`, `\`, `?`, `#`, `%`, whitespace or control
/// character, any of which would change the request's path or query.
/// At most 256 bytes.
pub fn check_username(source: &str, value: &str) -> Result<String> {
    let bad = |why: &str| {
        Err(Error::Config(format!(
            "{source} {:?} {why}",
            crate::util::escape_invisible(&value.chars().take(64).collect::<String>())
        )))
    };
    if value.is_empty() || value == "." || value == ".." {
        return bad("is not a user name");
    }
    if value.len() > 256 {
        return bad("is longer than 256 bytes");
    }
    if value.chars().any(|c| {
        matches!(c, '/' | '\\' | '?' | '#' | '%')
            || c.is_whitespace()
            || c.is_control()
            || crate::util::is_format_char(c)
    }) {
        return bad("holds a character a login path cannot carry (/, \\, ?, #, %, space or a control character)");
    }
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::cfg;
    use crate::config::{AuthMethod, SecretSource};

    #[test]
    fn bao_names_come_before_vault_names() {
        let v = cfg(&[
            ("BAO_ADDR", "http://bao:1"),
            ("VAULT_ADDR", "http://vault:1"),
            ("BAO_TOKEN", "t-bao"),
            ("VAULT_TOKEN", "t-vault"),
            ("BAO_NAMESPACE", "ns-bao"),
            ("BAO_SKIP_VERIFY", "true"),
            ("VAULT_SKIP_VERIFY", "false"),
            ("BAO_CLIENT_TIMEOUT", "7s"),
            ("BAO_MAX_RETRIES", "5"),
            ("BAO_CACERT", "/bao/ca.pem"),
            ("BAO_TLS_SERVER_NAME", "bao.example"),
        ])
        .unwrap()
        .vault
        .unwrap();
        assert_eq!(v.addr, "http://bao:1");
        assert_eq!(v.token.unwrap().expose(), "t-bao");
        assert_eq!(v.namespace.as_deref(), Some("ns-bao"));
        assert!(v.tls.skip_verify);
        assert_eq!(v.timeout, Duration::from_secs(7));
        assert_eq!(v.max_retries, 5);
        assert_eq!(v.tls.ca_cert.as_deref(), Some("/bao/ca.pem".as_ref()));
        assert_eq!(v.tls.server_name.as_deref(), Some("bao.example"));
        // BAO_ADDR alone turns Vault on, as VAULT_ADDR does; the agent
        // address (either spelling) still wins over the address.
        let v = cfg(&[("BAO_ADDR", "http://bao:1")]).unwrap().vault.unwrap();
        assert_eq!(v.addr, "http://bao:1");
        let v = cfg(&[
            ("BAO_ADDR", "http://bao:1"),
            ("BAO_AGENT_ADDR", "http://agent:1"),
            ("VAULT_AGENT_ADDR", "http://vault-agent:1"),
        ])
        .unwrap()
        .vault
        .unwrap();
        assert_eq!(v.addr, "http://agent:1");
        // An empty BAO_ value counts as unset: the VAULT_ one is used.
        let v = cfg(&[("BAO_ADDR", " "), ("VAULT_ADDR", "http://vault:1")])
            .unwrap()
            .vault
            .unwrap();
        assert_eq!(v.addr, "http://vault:1");
        // Errors name the variable that held the value.
        for (k, val) in [
            ("BAO_SKIP_VERIFY", "maybe"),
            ("BAO_MAX_RETRIES", "-1"),
            ("BAO_CLIENT_TIMEOUT", "soon"),
            ("BAO_ADDR", "ftp://x"),
        ] {
            let e = cfg(&[("VAULT_ADDR", "http://vault:1"), (k, val)])
                .unwrap_err()
                .to_string();
            assert!(e.contains(&format!("{k}=")), "{e}");
        }
    }

    #[test]
    fn userpass_settings() {
        let base = [
            ("VAULT_ADDR", "http://x"),
            ("VAULT_AUTH_METHOD", "userpass"),
            ("VAULT_AUTH_USERNAME", "alice"),
        ];
        let c = cfg(&[&base[..], &[("VAULT_AUTH_PASSWORD", "s3cret")]].concat()).unwrap();
        match c.vault.unwrap().auth {
            AuthMethod::UserPass {
                mount,
                username,
                password: SecretSource::Value(p),
            } => {
                assert_eq!((mount.as_str(), username.as_str()), ("userpass", "alice"));
                assert_eq!(p.expose(), "s3cret");
            }
            other => panic!("{other:?}"),
        }
        let c = cfg(&[
            &base[..],
            &[
                ("VAULT_AUTH_PASSWORD_FILE", "/run/pw"),
                ("VAULT_AUTH_MOUNT", "/people/"),
            ],
        ]
        .concat())
        .unwrap();
        assert!(matches!(
            c.vault.unwrap().auth,
            AuthMethod::UserPass { ref mount, password: SecretSource::File(ref f), .. }
                if mount == "people" && f.to_str() == Some("/run/pw")
        ));
        for (extra, named) in [
            (&[][..], "VAULT_AUTH_PASSWORD"),
            (
                &[
                    ("VAULT_AUTH_PASSWORD", "a"),
                    ("VAULT_AUTH_PASSWORD_FILE", "/f"),
                ][..],
                "VAULT_AUTH_PASSWORD_FILE",
            ),
        ] {
            let e = cfg(&[&base[..], extra].concat()).unwrap_err();
            assert_eq!(e.exit_code(), 2);
            assert!(e.to_string().contains(named), "{e}");
        }
        let e = cfg(&[
            ("VAULT_ADDR", "http://x"),
            ("VAULT_AUTH_METHOD", "userpass"),
            ("VAULT_AUTH_PASSWORD", "s3cret"),
        ])
        .unwrap_err();
        assert!(e.to_string().contains("VAULT_AUTH_USERNAME"), "{e}");
        assert!(!e.to_string().contains("s3cret"), "{e}");
    }

    #[test]
    fn user_names_cannot_change_the_login_path() {
        for bad in [
            "", ".", "..", "a/b", "../sys", "a?b", "a#b", "a%2f", "a b", "a\nb", "a\\b",
        ] {
            let e = check_username("username=", bad).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad:?}");
            assert!(e.to_string().contains("username="), "{e}");
        }
        assert!(check_username("u", &"a".repeat(257)).is_err());
        for good in ["alice", "a.b@example.com", "ÄLICE", "x-y_z"] {
            assert_eq!(check_username("u", good).unwrap(), good);
        }
    }
}
