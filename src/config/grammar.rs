//! The grammar of settings as the environment spells them: booleans,
//! durations (bare seconds or Go's `1m30s`), Vault mounts and paths, and
//! where values come from ([`Lookup`]). Pure functions of strings: the
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

/// The error for a variable whose value is not valid UTF-8. Its bytes are
/// never shown: the variable may hold a secret.
pub(crate) fn not_utf8(name: &str) -> Error {
    Error::Config(format!(
        "{name} is not valid UTF-8: set it to text (its value is not shown)"
    ))
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

pub(super) struct Vars<'a>(pub(super) &'a dyn Lookup);

impl Vars<'_> {
    /// Value, treating set-but-empty as unset; a value that is not valid
    /// UTF-8 is an error naming the variable, never "unset".
    pub(super) fn get(&self, name: &str) -> Result<Option<String>> {
        match self.0.get_os(name).map(OsString::into_string) {
            None => Ok(None),
            Some(Ok(v)) => Ok(Some(v).filter(|v| !v.trim().is_empty())),
            Some(Err(_)) => Err(not_utf8(name)),
        }
    }

    /// [`Vars::get`] for a credential or a value sent in an HTTP header (a
    /// secret id, a role id, a namespace), without surrounding whitespace:
    /// one holding a control character is refused too, naming the variable
    /// and never showing the value.
    pub(super) fn header(&self, name: &str) -> Result<Option<String>> {
        let Some(v) = self.get(name)? else {
            return Ok(None);
        };
        match header_problem(name, v.trim()) {
            Some(e) => Err(e),
            None => Ok(Some(v.trim().to_string())),
        }
    }

    /// The first of `names` that is set, with its name.
    pub(super) fn first(&self, names: &[&'static str]) -> Result<Option<(&'static str, String)>> {
        for n in names {
            if let Some(v) = self.get(n)? {
                return Ok(Some((n, v)));
            }
        }
        Ok(None)
    }

    pub(super) fn bool(&self, name: &str, default: bool) -> Result<bool> {
        match self.get(name)? {
            None => Ok(default),
            Some(v) => parse_bool(&v).ok_or_else(|| {
                Error::Config(format!(
                    "{name}={v:?} is not a boolean (use true/false, 1/0, yes/no, on/off)"
                ))
            }),
        }
    }

    pub(super) fn duration(&self, name: &str, default: Duration) -> Result<Duration> {
        match self.get(name)? {
            None => Ok(default),
            Some(v) => parse_duration(&v).ok_or_else(|| {
                Error::Config(format!(
                    "{name}={v:?} is not a duration (e.g. 30, 30s, 500ms, 2m, 1m30s)"
                ))
            }),
        }
    }

    pub(super) fn u32(&self, name: &str, default: u32) -> Result<u32> {
        match self.get(name)? {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse()
                .map_err(|_| Error::Config(format!("{name}={v:?} is not a non-negative integer"))),
        }
    }

    /// A path: the operating system's bytes as they are (a path need not
    /// be UTF-8); set-but-blank counts as unset.
    pub(super) fn path(&self, name: &str) -> Option<PathBuf> {
        let v = self.0.get_os(name)?;
        let blank = v.to_str().is_some_and(|s| s.trim().is_empty());
        (!blank).then(|| PathBuf::from(v))
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
            || crate::identity::did::is_format_char(c)
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
