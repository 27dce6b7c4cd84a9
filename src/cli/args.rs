//! Hand-written argument parsing: flags (`--name value`, `--name=value`,
//! switches), positionals, and everything after `--`.

use std::collections::BTreeMap;

use vaultid::Error;

/// A flag a command accepts.
#[derive(Clone, Copy)]
pub struct Flag {
    /// Name without the dashes.
    pub name: &'static str,
    /// Whether it takes a value.
    pub takes_value: bool,
    /// One line of help.
    pub help: &'static str,
}

/// A switch (no value).
pub const fn switch(name: &'static str, help: &'static str) -> Flag {
    Flag {
        name,
        takes_value: false,
        help,
    }
}

/// A flag with a value.
pub const fn opt(name: &'static str, help: &'static str) -> Flag {
    Flag {
        name,
        takes_value: true,
        help,
    }
}

/// Parsed arguments of one command.
#[derive(Debug, Default)]
pub struct Args {
    /// Positional arguments, in order.
    pub positional: Vec<String>,
    flags: BTreeMap<&'static str, Vec<String>>,
    /// Arguments after a bare `--`, if one was given.
    pub rest: Option<Vec<String>>,
}

impl Args {
    /// Parse `args` against `spec`. Unknown flags and missing values are
    /// usage errors.
    pub fn parse(args: &[String], spec: &[Flag]) -> Result<Args, Error> {
        let mut out = Args::default();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            if a == "--" {
                out.rest = Some(it.cloned().collect());
                break;
            }
            let Some(body) = a.strip_prefix("--") else {
                out.positional.push(a.clone());
                continue;
            };
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (body, None),
            };
            let flag = spec
                .iter()
                .find(|f| f.name == name)
                .ok_or_else(|| Error::Config(format!("unknown option --{name}; see --help")))?;
            let value = if flag.takes_value {
                match inline {
                    Some(v) => v,
                    None => it
                        .next()
                        .cloned()
                        .ok_or_else(|| Error::Config(format!("option --{name} needs a value")))?,
                }
            } else {
                if inline.is_some() {
                    return Err(Error::Config(format!("option --{name} takes no value")));
                }
                String::new()
            };
            out.flags.entry(flag.name).or_default().push(value);
        }
        Ok(out)
    }

    /// The last value of a flag.
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

    /// Whether a switch was given.
    pub fn has(&self, name: &str) -> bool {
        self.flags.contains_key(name)
    }

    /// Exactly `n` positionals, or a usage error naming `usage`.
    pub fn exactly(&self, n: usize, usage: &str) -> Result<&[String], Error> {
        if self.positional.len() == n {
            Ok(&self.positional)
        } else {
            Err(Error::Config(format!(
                "expected {n} argument(s), got {}; usage: {usage}",
                self.positional.len()
            )))
        }
    }

    /// A numeric flag value.
    pub fn number<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, Error> {
        match self.value(name) {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| Error::Config(format!("--{name}={v:?} is not a valid number"))),
        }
    }
}

/// Render a help text for a command.
pub fn help(usage: &str, about: &str, spec: &[Flag]) -> String {
    let mut s = format!("{about}\n\nUsage: {usage}\n");
    if !spec.is_empty() {
        s.push_str("\nOptions:\n");
        for f in spec {
            let left = if f.takes_value {
                format!("--{} <value>", f.name)
            } else {
                format!("--{}", f.name)
            };
            s.push_str(&format!("  {left:<28} {}\n", f.help));
        }
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
        let a = Args::parse(
            &v(&[
                "x",
                "--key-dir",
                "d",
                "--human",
                "--key-dir=e",
                "--",
                "--no",
            ]),
            SPEC,
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
    }
}
