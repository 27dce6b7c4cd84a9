//! The grammar of settings as the environment spells them: booleans,
//! durations (bare seconds or Go's `1m30s`), Vault mounts and paths, and
//! where values come from ([`Lookup`]). Pure functions of strings: the
//! `config` fuzz target runs them on arbitrary values.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};

/// Something that answers "what is variable X?".
pub trait Lookup {
    /// The value of `name`, or `None` when unset.
    fn get(&self, name: &str) -> Option<String>;
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
}

pub(super) struct Vars<'a>(pub(super) &'a dyn Lookup);

impl Vars<'_> {
    /// Value, treating set-but-empty as unset.
    pub(super) fn get(&self, name: &str) -> Option<String> {
        self.0.get(name).filter(|v| !v.trim().is_empty())
    }

    pub(super) fn first(&self, names: &[&str]) -> Option<String> {
        names.iter().find_map(|n| self.get(n))
    }

    pub(super) fn bool(&self, name: &str, default: bool) -> Result<bool> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => parse_bool(&v).ok_or_else(|| {
                Error::Config(format!(
                    "{name}={v:?} is not a boolean (use true/false, 1/0, yes/no, on/off)"
                ))
            }),
        }
    }

    pub(super) fn duration(&self, name: &str, default: Duration) -> Result<Duration> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => parse_duration(&v).ok_or_else(|| {
                Error::Config(format!(
                    "{name}={v:?} is not a duration (e.g. 30, 30s, 500ms, 2m, 1m30s)"
                ))
            }),
        }
    }

    pub(super) fn u32(&self, name: &str, default: u32) -> Result<u32> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse()
                .map_err(|_| Error::Config(format!("{name}={v:?} is not a non-negative integer"))),
        }
    }

    pub(super) fn path(&self, name: &str) -> Option<PathBuf> {
        self.get(name).map(PathBuf::from)
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
