//! Hand-written argument parsing with the Vault CLI's spellings: flags
//! with one dash or two (`-field=x`, `--field x`), `=` or a space before the
//! value, switches, positionals, and everything after `--`.
//!
//! Strict: an unknown flag, a missing value, a value given to a switch and a
//! single-valued flag given twice are usage errors (exit 2) naming the flag.
//! Positional counts are checked by each command ([`Args::exactly`],
//! [`Args::at_most`]).
//!
//! The fuzz target `fuzz/fuzz_targets/cli_args.rs` compiles this file in by
//! path: it may use nothing of the binary crate, only `vaultid`'s public API.

use std::collections::BTreeMap;

use crate::Error;

/// A flag a command accepts.
#[derive(Clone, Copy)]
pub struct Flag {
    /// Name without the dashes.
    pub name: &'static str,
    /// Whether it takes a value.
    pub takes_value: bool,
    /// Whether it may be given more than once (values accumulate).
    pub repeatable: bool,
    /// A switch that also takes `=true` or `=false`, as Go's boolean flags
    /// do (`-tls-skip-verify=false`); its value is then `true` or `false`.
    pub boolean: bool,
    /// One line of help.
    pub help: &'static str,
}

/// A switch (no value).
pub const fn switch(name: &'static str, help: &'static str) -> Flag {
    Flag {
        name,
        takes_value: false,
        repeatable: false,
        boolean: false,
        help,
    }
}

/// A switch that may also be given `=true` or `=false` (the Vault CLI's
/// boolean flags); never a value after a space.
pub const fn boolean(name: &'static str, help: &'static str) -> Flag {
    Flag {
        name,
        takes_value: false,
        repeatable: false,
        boolean: true,
        help,
    }
}

/// A flag with a value, given at most once.
pub const fn opt(name: &'static str, help: &'static str) -> Flag {
    Flag {
        name,
        takes_value: true,
        repeatable: false,
        boolean: false,
        help,
    }
}

/// A flag with a value that may be given several times.
pub const fn multi(name: &'static str, help: &'static str) -> Flag {
    Flag {
        name,
        takes_value: true,
        repeatable: true,
        boolean: false,
        help,
    }
}

/// The Vault CLI's global flags (`bao`'s "HTTP options"), accepted by every
/// command that talks to Vault. Each stands for the variable it names and
/// wins over it; `-non-interactive` changes nothing (vaultid never prompts
/// for a token; `login` asks for a password only on a terminal).
pub const VAULT_FLAGS: &[Flag] = &[
    opt("address", "Vault address (VAULT_ADDR; BAO_ADDR)"),
    opt(
        "agent-address",
        "Vault Agent address, wins over -address (VAULT_AGENT_ADDR; BAO_AGENT_ADDR)",
    ),
    opt("namespace", "namespace (VAULT_NAMESPACE; BAO_NAMESPACE)"),
    opt("ns", "same as -namespace"),
    opt("ca-cert", "CA certificate file (VAULT_CACERT; BAO_CACERT)"),
    opt(
        "ca-path",
        "directory of CA certificates (VAULT_CAPATH; BAO_CAPATH)",
    ),
    opt(
        "client-cert",
        "client certificate for mTLS (VAULT_CLIENT_CERT; BAO_CLIENT_CERT)",
    ),
    opt(
        "client-key",
        "client key for mTLS (VAULT_CLIENT_KEY; BAO_CLIENT_KEY)",
    ),
    opt(
        "tls-server-name",
        "name for SNI and the certificate check (VAULT_TLS_SERVER_NAME; BAO_TLS_SERVER_NAME)",
    ),
    boolean(
        "tls-skip-verify",
        "do not verify TLS certificates (VAULT_SKIP_VERIFY; BAO_SKIP_VERIFY)",
    ),
    boolean(
        "non-interactive",
        "accepted for the Vault CLI's sake: vaultid never prompts for a token",
    ),
];

/// What a bare `--` means for a command.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AfterDashes {
    /// A command line to run follows (`env -- COMMAND ARGS`): kept in
    /// [`Args::rest`].
    Command,
    /// Only positionals follow (one may then start with a dash).
    Positionals,
}

/// Parsed arguments of one command.
#[derive(Debug, Default)]
pub struct Args {
    /// Positional arguments, in order.
    pub positional: Vec<String>,
    flags: BTreeMap<&'static str, Vec<String>>,
    /// Arguments after a bare `--`, if one was given (commands that run a
    /// command only).
    pub rest: Option<Vec<String>>,
    /// Whether the command has `-format`: then `BAO_FORMAT`/`VAULT_FORMAT`
    /// stand in for it when it is not given.
    accepts_format: bool,
}

impl Args {
    /// Parse `args` against `spec`; after a bare `--` only positionals
    /// follow.
    pub fn parse(args: &[String], spec: &[Flag]) -> Result<Args, Error> {
        Args::parse_with(args, spec, AfterDashes::Positionals)
    }

    /// Parse `args` against `spec`, with `after` saying what a bare `--`
    /// introduces. `-h` is `--help` when the spec has `help`.
    pub fn parse_with(args: &[String], spec: &[Flag], after: AfterDashes) -> Result<Args, Error> {
        let mut out = Args::default();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            if a == "--" {
                match after {
                    AfterDashes::Command => out.rest = Some(it.cloned().collect()),
                    AfterDashes::Positionals => out.positional.extend(it.cloned()),
                }
                break;
            }
            // `-` alone is a positional (stdin); so is anything without a
            // leading dash.
            let body = match a.strip_prefix("--").or_else(|| a.strip_prefix('-')) {
                Some(b) if !b.is_empty() && a != "-" => b,
                _ => {
                    out.positional.push(a.clone());
                    continue;
                }
            };
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (body, None),
            };
            let name = if name == "h" { "help" } else { name };
            let shown = display_name(a, name);
            let flag = spec
                .iter()
                .find(|f| f.name == name)
                .ok_or_else(|| Error::Config(format!("unknown option {shown}; see --help")))?;
            let value = if flag.takes_value {
                match inline {
                    Some(v) => v,
                    None => it
                        .next()
                        .cloned()
                        .ok_or_else(|| Error::Config(format!("option {shown} needs a value")))?,
                }
            } else if flag.boolean {
                match inline.as_deref().map(crate::config::parse_bool) {
                    None => "true".to_string(),
                    Some(Some(b)) => b.to_string(),
                    Some(None) => {
                        return Err(Error::Config(format!(
                            "option {shown} takes true or false after `=`"
                        )))
                    }
                }
            } else {
                if inline.is_some() {
                    return Err(Error::Config(format!("option {shown} takes no value")));
                }
                String::new()
            };
            let values = out.flags.entry(flag.name).or_default();
            if flag.takes_value && !flag.repeatable && !values.is_empty() {
                return Err(Error::Config(format!(
                    "option {shown} given more than once; give it once"
                )));
            }
            if flag.takes_value || values.is_empty() {
                values.push(value);
            } else if flag.boolean {
                // The last spelling counts, as with Go's flags.
                *values = vec![value];
            }
        }
        out.accepts_format = spec.iter().any(|f| f.name == "format");
        Ok(out)
    }

    /// The value of a flag.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.flags
            .get(name)
            .and_then(|v| v.last())
            .map(String::as_str)
    }

    /// All values of a repeatable flag.
    pub fn values(&self, name: &str) -> &[String] {
        self.flags.get(name).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Whether a flag was given.
    pub fn has(&self, name: &str) -> bool {
        self.flags.contains_key(name)
    }

    /// Exactly `n` positionals, or a usage error naming the first extra
    /// one (or the count) and `usage`.
    pub fn exactly(&self, n: usize, usage: &str) -> Result<&[String], Error> {
        if self.positional.len() == n {
            return Ok(&self.positional);
        }
        if self.positional.len() > n {
            return Err(self.extra(n, usage));
        }
        Err(Error::Config(format!(
            "expected {n} argument(s), got {}; usage: {usage}",
            self.positional.len()
        )))
    }

    /// At most `n` positionals, or a usage error naming the first extra one.
    pub fn at_most(&self, n: usize, usage: &str) -> Result<&[String], Error> {
        if self.positional.len() > n {
            return Err(self.extra(n, usage));
        }
        Ok(&self.positional)
    }

    fn extra(&self, n: usize, usage: &str) -> Error {
        // Named by position and shape, not by text: a stray argument may be
        // a secret typed in the wrong place. A flag-looking one is shown.
        let first = &self.positional[n];
        let shown = if first.starts_with('-') && first.len() < 64 && !first.contains('=') {
            format!(" ({first:?})")
        } else {
            String::new()
        };
        Error::Config(format!(
            "unexpected argument {}{shown}: expected {n} argument(s), got {}; usage: {usage}",
            n + 1,
            self.positional.len()
        ))
    }

    /// A numeric flag value.
    pub fn number<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, Error> {
        match self.value(name) {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| Error::Config(format!("-{name}={v:?} is not a valid number"))),
        }
    }

    /// `--human`, or `-format=table` (the Vault CLI's readable form);
    /// `-format=json` is the default. For a command with `-format`, the
    /// process's `BAO_FORMAT`, else `VAULT_FORMAT`, is read when the flag is
    /// not given, as `bao` does. Other formats are usage errors naming
    /// where they came from.
    pub fn human(&self) -> Result<bool, Error> {
        self.human_in(&crate::config::ProcessEnv)
    }

    /// [`Args::human`] with the variables from `env`.
    pub fn human_in(&self, env: &dyn crate::config::Lookup) -> Result<bool, Error> {
        let (source, format) = match self.value("format") {
            Some(v) => ("-format".to_string(), v.to_string()),
            None if self.accepts_format => {
                match crate::config::grammar::lookup_named(env, "VAULT_FORMAT")? {
                    Some(found) => found,
                    None => return Ok(self.has("human")),
                }
            }
            None => return Ok(self.has("human")),
        };
        match format.trim().to_ascii_lowercase().as_str() {
            // An empty -format= is the default, as for `bao`.
            "" | "json" => Ok(self.has("human")),
            "table" => Ok(true),
            _ => Err(Error::Config(format!(
                "{source}={:?} is not supported: use json (the default) or table (same as --human)",
                crate::util::escape_invisible(&format.chars().take(64).collect::<String>())
            ))),
        }
    }

    /// The value of a [`boolean`] flag: `None` when not given.
    pub fn boolean(&self, name: &str) -> Option<bool> {
        self.value(name).map(|v| v == "true")
    }
}

/// How to name a flag in an error: as typed (one or two dashes), without
/// its value.
fn display_name(arg: &str, name: &str) -> String {
    let dashes = if arg.starts_with("--") { "--" } else { "-" };
    let name: String = name.chars().take(64).collect();
    format!("{dashes}{name}")
}

/// Render a help text for a command; the [`VAULT_FLAGS`] among its flags
/// are listed in a section of their own.
pub(crate) fn help(usage: &str, about: &str, spec: &[Flag]) -> String {
    let mut s = format!("{about}\n\nUsage: {usage}\n");
    if !spec.is_empty() {
        let global = |f: &Flag| VAULT_FLAGS.iter().any(|g| g.name == f.name);
        let line = |f: &Flag| {
            let left = if f.takes_value {
                format!("--{} <value>", f.name)
            } else if f.boolean {
                format!("--{}[=true|false]", f.name)
            } else {
                format!("--{}", f.name)
            };
            format!("  {left:<28} {}\n", f.help)
        };
        s.push_str("\nOptions:\n");
        for f in spec.iter().filter(|f| !global(f)) {
            s.push_str(&line(f));
        }
        if spec.iter().any(global) {
            s.push_str(
                "\nVault connection (the Vault CLI's global flags; each wins over its variable):\n",
            );
            for f in spec.iter().filter(|f| global(f)) {
                s.push_str(&line(f));
            }
        }
        s.push_str(
            "\nFlags take one dash or two, and `=` or a space before the value\n\
             (-field=x, --field x); a flag with a value may be given once.\n",
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    const SPEC: &[Flag] = &[switch("human", "h"), opt("key-dir", "k")];

    #[test]
    fn parses_forms() {
        let a = Args::parse_with(
            &v(&["x", "--human", "--key-dir=e", "--", "--no"]),
            SPEC,
            AfterDashes::Command,
        )
        .unwrap();
        assert_eq!(a.positional, v(&["x"]));
        assert_eq!(a.value("key-dir"), Some("e"));
        assert!(a.has("human"));
        assert_eq!(a.rest, Some(v(&["--no"])));
    }

    #[test]
    fn rejects_bad_usage() {
        assert!(Args::parse(&v(&["--nope"]), SPEC).is_err());
        assert!(Args::parse(&v(&["--key-dir"]), SPEC).is_err());
        assert!(Args::parse(&v(&["--human=1"]), SPEC).is_err());
        let e = Args::parse(&v(&["--nope"]), SPEC).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("--nope"), "{e}");
        let e = Args::parse(&v(&["-nope=secret"]), SPEC).unwrap_err();
        assert!(e.to_string().contains("-nope;"), "{e}");
        assert!(!e.to_string().contains("secret"), "{e}");
    }

    #[test]
    fn single_dash_and_equals_spellings() {
        for args in [
            &["-key-dir=d"][..],
            &["-key-dir", "d"],
            &["--key-dir=d"],
            &["--key-dir", "d"],
        ] {
            let a = Args::parse(&v(args), SPEC).unwrap();
            assert_eq!(a.value("key-dir"), Some("d"), "{args:?}");
        }
        let a = Args::parse(&v(&["-human", "-"]), SPEC).unwrap();
        assert!(a.has("human"));
        assert_eq!(a.positional, v(&["-"]));
    }

    #[test]
    fn a_single_valued_flag_given_twice_is_refused() {
        let e = Args::parse(&v(&["--key-dir=a", "-key-dir", "b"]), SPEC).unwrap_err();
        assert!(e.to_string().contains("-key-dir"), "{e}");
        let spec = [multi("custom", "c")];
        let a = Args::parse(&v(&["--custom=a", "-custom", "b"]), &spec).unwrap();
        assert_eq!(a.values("custom"), v(&["a", "b"]));
        // A repeated switch means the same thing.
        assert!(Args::parse(&v(&["--human", "-human"]), SPEC)
            .unwrap()
            .has("human"));
    }

    #[test]
    fn extra_positionals_are_named() {
        let a = Args::parse(&v(&["x", "junk"]), SPEC).unwrap();
        let e = a.exactly(1, "u").unwrap_err();
        assert!(e.to_string().contains("unexpected argument 2"), "{e}");
        assert!(a.at_most(2, "u").is_ok());
        // After `--`, arguments are positionals (unless a command follows).
        let a = Args::parse(&v(&["--", "-x"]), SPEC).unwrap();
        assert_eq!(a.positional, v(&["-x"]));
        let a = Args::parse_with(&v(&["--", "-x"]), SPEC, AfterDashes::Command).unwrap();
        assert_eq!(a.rest, Some(v(&["-x"])));
    }

    #[test]
    fn formats() {
        let spec = [opt("format", "f"), switch("human", "h")];
        assert!(!Args::parse(&v(&["-format=json"]), &spec)
            .unwrap()
            .human()
            .unwrap());
        assert!(Args::parse(&v(&["-format", "table"]), &spec)
            .unwrap()
            .human()
            .unwrap());
        assert!(Args::parse(&v(&["-format=yaml"]), &spec)
            .unwrap()
            .human()
            .is_err());
    }
}
