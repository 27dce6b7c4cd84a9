//! Secrets as environment variables: which KV v2 fields become which
//! variables, name validation, clashes between paths.
//!
//! A [`SecretSpec`] names one secret and, optionally, some of its fields:
//!
//! | spec | meaning |
//! |---|---|
//! | `app/db` | every field of `app/db` in the KV mount, each as a variable of the same name |
//! | `secret/app/db` | the same, when the KV mount is `secret` (a leading mount segment is dropped) |
//! | `app/db#password` | only the field `password`, as `password` |
//! | `app/db#password=DB_PASSWORD,user=DB_USER` | those fields, under those names |
//!
//! The same syntax names the fields of a dynamic secret (`database/creds/app#username=PGUSER`),
//! where the path is a logical Vault path instead of a KV secret.
//!
//! Names must be POSIX environment names, `[A-Za-z_][A-Za-z0-9_]*`; a field
//! that is not one is an error naming it, unless [`EnvOptions::normalize`]
//! is set (upper case, every other character replaced by `_`, a leading
//! digit prefixed with `_`). Field values that are JSON strings are used as
//! they are; numbers and booleans as their JSON text; `null` as the empty
//! string; objects and arrays as compact JSON.
//!
//! Two specs setting the same variable is an error unless
//! [`EnvOptions::allow_override`] is set, in which case the later spec wins.
//! [`load_secrets`] returns the variables; it never changes the calling
//! process's environment.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::config::DEFAULT_KV_MOUNT;
use crate::error::{Error, Result, Service};
use crate::secret_string::SecretString;
use crate::vault::Client;

/// One field picked out of a secret, and the variable it becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldMap {
    /// The field (key) in the secret.
    pub key: String,
    /// The variable name; `None` means the field's own name.
    pub name: Option<String>,
}

/// A secret to load and which of its fields to use:
///
/// | spec | meaning |
/// |---|---|
/// | `app/db` | every field of `app/db` in the KV mount, each as a variable of the same name |
/// | `secret/app/db` | the same, when the KV mount is `secret` (a leading mount segment is dropped) |
/// | `app/db#password` | only the field `password`, as `password` |
/// | `app/db#password=DB_PASSWORD,user=DB_USER` | those fields, under those names |
///
/// The same syntax names the fields of a dynamic secret
/// (`database/creds/app#username=PGUSER`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SecretSpec {
    /// The path as given (before the `#`), without surrounding slashes.
    pub path: String,
    /// The fields to use; empty means all of them.
    pub fields: Vec<FieldMap>,
}

impl SecretSpec {
    /// Parse `path`, `path#key` or `path#key=NAME,key2=NAME2`.
    pub fn parse(spec: &str) -> Result<SecretSpec> {
        let (path, fields) = match spec.split_once('#') {
            Some((p, f)) => (p, Some(f)),
            None => (spec, None),
        };
        let path = path.trim_matches('/');
        if path.is_empty() {
            return Err(Error::Config(format!("secret spec {spec:?} has no path")));
        }
        let mut out = Vec::new();
        if let Some(f) = fields {
            for item in f.split(',') {
                let (key, name) = match item.split_once('=') {
                    Some((k, n)) => (k, Some(n)),
                    None => (item, None),
                };
                if key.is_empty() {
                    return Err(Error::Config(format!(
                        "secret spec {spec:?}: empty field name after '#'"
                    )));
                }
                if let Some(n) = name {
                    validate_name(n).map_err(|_| Error::InvalidVariableName {
                        name: n.to_string(),
                        spec: Some(spec.to_string()),
                    })?;
                }
                out.push(FieldMap {
                    key: key.to_string(),
                    name: name.map(str::to_string),
                });
            }
        }
        Ok(SecretSpec {
            path: path.to_string(),
            fields: out,
        })
    }

    /// The KV mount and the path inside it: a first segment equal to
    /// `kv_mount` is the mount, anything else is relative to it.
    pub(crate) fn kv_location(&self, kv_mount: &str) -> (String, String) {
        let mount = kv_mount.trim_matches('/');
        match self
            .path
            .strip_prefix(mount)
            .and_then(|r| r.strip_prefix('/'))
        {
            Some(rest) if !rest.is_empty() => (mount.to_string(), rest.to_string()),
            _ => (mount.to_string(), self.path.clone()),
        }
    }
}

impl std::str::FromStr for SecretSpec {
    type Err = Error;

    fn from_str(s: &str) -> Result<SecretSpec> {
        SecretSpec::parse(s)
    }
}

/// How secrets become variables. Start from `EnvOptions::default()` and
/// set fields.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EnvOptions {
    /// The KV v2 mount paths are relative to (default `secret`).
    pub kv_mount: String,
    /// Turn invalid field names into valid variable names instead of
    /// failing (default false).
    pub normalize: bool,
    /// When two specs set the same variable, the later wins instead of
    /// failing (default false).
    pub allow_override: bool,
}

impl Default for EnvOptions {
    fn default() -> Self {
        EnvOptions {
            kv_mount: DEFAULT_KV_MOUNT.to_string(),
            normalize: false,
            allow_override: false,
        }
    }
}

/// `true` when `name` is a POSIX environment name `[A-Za-z_][A-Za-z0-9_]*`.
pub(crate) fn is_valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `Ok` when `name` is a valid environment name, else a configuration
/// error naming it.
pub(crate) fn validate_name(name: &str) -> Result<()> {
    if is_valid_name(name) {
        Ok(())
    } else {
        Err(Error::InvalidVariableName {
            name: name.to_string(),
            spec: None,
        })
    }
}

/// Make a valid environment name: ASCII upper case, every other character
/// replaced by `_`, `_` in front of a leading digit, `_` for the empty
/// string.
pub(crate) fn normalize_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// A field's value as a variable's value (see the [module docs](self)).
pub(crate) fn value_to_secret(v: &Value) -> SecretString {
    match v {
        Value::String(s) => SecretString::new(s.as_str()),
        Value::Null => SecretString::default(),
        other => SecretString::new(other.to_string()),
    }
}

/// The variables `spec` picks out of `data` (a secret's fields), checked
/// and named. `label` names the secret in errors.
pub fn fields_to_vars(
    label: &str,
    data: &Map<String, Value>,
    spec: &SecretSpec,
    opts: &EnvOptions,
) -> Result<Vec<(String, SecretString)>> {
    let name_for = |key: &str, explicit: Option<&str>| -> Result<String> {
        if let Some(n) = explicit {
            return Ok(n.to_string());
        }
        if is_valid_name(key) {
            Ok(key.to_string())
        } else if opts.normalize {
            Ok(normalize_name(key))
        } else {
            Err(Error::InvalidFieldName {
                secret: label.to_string(),
                field: key.to_string(),
            })
        }
    };
    let mut out = Vec::new();
    if spec.fields.is_empty() {
        for (key, value) in data {
            out.push((name_for(key, None)?, value_to_secret(value)));
        }
    } else {
        for f in &spec.fields {
            let value = data.get(&f.key).ok_or_else(|| Error::NotFound {
                service: Service::Vault,
                method: "GET",
                path: format!("{label}#{}", f.key),
            })?;
            out.push((name_for(&f.key, f.name.as_deref())?, value_to_secret(value)));
        }
    }
    Ok(out)
}

/// What [`EnvBuilder::add`] does with a variable an earlier secret set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precedence {
    /// A variable set twice is an error naming both sources.
    KeepFirst,
    /// The later secret's value wins (logged at info).
    LaterWins,
}

impl Precedence {
    /// [`Precedence::LaterWins`] when `allow_override`
    /// ([`EnvOptions::allow_override`]), else [`Precedence::KeepFirst`].
    pub fn from_override(allow_override: bool) -> Precedence {
        if allow_override {
            Precedence::LaterWins
        } else {
            Precedence::KeepFirst
        }
    }
}

/// Collects variables from several secrets, enforcing the clash rule.
#[derive(Debug, Default)]
pub struct EnvBuilder {
    vars: BTreeMap<String, SecretString>,
    source: BTreeMap<String, String>,
}

impl EnvBuilder {
    /// An empty set.
    pub fn new() -> EnvBuilder {
        EnvBuilder::default()
    }

    /// Add the variables that came from `label`. A variable already set by
    /// another secret (or twice by this one) is a configuration error naming
    /// both sources, unless `precedence` is [`Precedence::LaterWins`].
    pub fn add(
        &mut self,
        label: &str,
        vars: impl IntoIterator<Item = (String, SecretString)>,
        precedence: Precedence,
    ) -> Result<()> {
        for (name, value) in vars {
            if value.expose().contains('\0') || name.contains('\0') {
                return Err(Error::Config(format!(
                    "{label}: the value for {} holds a NUL byte, which an environment \
                     variable (or an export line) cannot carry",
                    crate::util::escape_invisible(&name)
                )));
            }
            if let Some(prev) = self.source.get(&name) {
                if precedence == Precedence::KeepFirst {
                    return Err(Error::VariableClash {
                        name,
                        first: prev.clone(),
                        second: label.to_string(),
                    });
                }
                log::info!("{name} from {label} overrides the value from {prev}");
            }
            self.source.insert(name.clone(), label.to_string());
            self.vars.insert(name, value);
        }
        Ok(())
    }

    /// The variables collected.
    pub fn finish(self) -> BTreeMap<String, SecretString> {
        self.vars
    }
}

/// Read every spec's secret from the KV v2 mount (latest version) and
/// return the variables, in name order. Nothing is changed in this
/// process's environment.
///
/// Errors: [`Error::NotFound`] for a missing secret or field,
/// [`Error::Config`] for an invalid name or a clash, and whatever the read
/// returns (unreachable, permission denied, deleted version).
pub fn load_secrets(
    client: &Client,
    specs: &[SecretSpec],
    opts: &EnvOptions,
) -> Result<BTreeMap<String, SecretString>> {
    let mut env = EnvBuilder::new();
    for spec in specs {
        let (mount, path) = spec.kv_location(&opts.kv_mount);
        let label = format!("{mount}/{path}");
        let secret = client
            .kv2(&mount)
            .read(&path, None)?
            .ok_or_else(|| Error::NotFound {
                service: Service::Vault,
                method: "GET",
                path: label.clone(),
            })?;
        let vars = fields_to_vars(&label, &secret.data, spec, opts)?;
        env.add(&label, vars, Precedence::from_override(opts.allow_override))?;
    }
    Ok(env.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names() {
        for ok in ["A", "_", "a_1", "PGPASSWORD", "_9"] {
            assert!(is_valid_name(ok), "{ok}");
        }
        for bad in ["", "1A", "a-b", "a b", "é", "A=B", "a.b"] {
            assert!(!is_valid_name(bad), "{bad}");
        }
        assert_eq!(normalize_name("db-pass.word"), "DB_PASS_WORD");
        assert_eq!(normalize_name("1x"), "_1X");
        assert_eq!(normalize_name(""), "_");
        assert_eq!(normalize_name("clé"), "CL_");
        let e = validate_name("a-b").unwrap_err().to_string();
        assert!(e.contains("a-b"), "{e}");
    }

    #[test]
    fn parses_specs() {
        let s = SecretSpec::parse("/secret/app/db/").unwrap();
        assert_eq!(s.path, "secret/app/db");
        assert!(s.fields.is_empty());
        assert_eq!(
            s.kv_location("secret"),
            ("secret".to_string(), "app/db".to_string())
        );
        assert_eq!(
            SecretSpec::parse("app/db").unwrap().kv_location("secret"),
            ("secret".to_string(), "app/db".to_string())
        );
        assert_eq!(
            SecretSpec::parse("secretive/x")
                .unwrap()
                .kv_location("secret")
                .1,
            "secretive/x"
        );
        let s = SecretSpec::parse("database/creds/app#username=PGUSER,password").unwrap();
        assert_eq!(s.path, "database/creds/app");
        assert_eq!(
            s.fields,
            vec![
                FieldMap {
                    key: "username".into(),
                    name: Some("PGUSER".into())
                },
                FieldMap {
                    key: "password".into(),
                    name: None
                }
            ]
        );
        assert!(SecretSpec::parse("#x").is_err());
        assert!(SecretSpec::parse("a#").is_err());
        assert!(SecretSpec::parse("a#k=1BAD").is_err());
    }

    #[test]
    fn fields_and_clashes() {
        let data = json!({"user": "u", "port": 5432, "db-name": "x", "n": null})
            .as_object()
            .unwrap()
            .clone();
        let all = SecretSpec::parse("app").unwrap();
        let opts = EnvOptions::default();
        let e = fields_to_vars("secret/app", &data, &all, &opts)
            .unwrap_err()
            .to_string();
        assert!(e.contains("db-name"), "{e}");
        assert!(!e.contains("\"x\""), "{e}");
        let norm = EnvOptions {
            normalize: true,
            ..EnvOptions::default()
        };
        let vars = fields_to_vars("secret/app", &data, &all, &norm).unwrap();
        let m: BTreeMap<_, _> = vars
            .iter()
            .map(|(k, v)| (k.as_str(), v.expose().to_string()))
            .collect();
        assert_eq!(m["DB_NAME"], "x");
        assert_eq!(m["port"], "5432");
        assert_eq!(m["n"], "");
        let one = SecretSpec::parse("app#user=U").unwrap();
        let vars = fields_to_vars("secret/app", &data, &one, &opts).unwrap();
        assert_eq!(vars.len(), 1);
        assert_eq!(vars[0].0, "U");
        let missing = SecretSpec::parse("app#nope").unwrap();
        assert!(matches!(
            fields_to_vars("secret/app", &data, &missing, &opts),
            Err(Error::NotFound { .. })
        ));

        let mut b = EnvBuilder::new();
        b.add("a", vec![("X".into(), "1".into())], Precedence::KeepFirst)
            .unwrap();
        let e = b
            .add("b", vec![("X".into(), "2".into())], Precedence::KeepFirst)
            .unwrap_err()
            .to_string();
        assert!(e.contains("X") && e.contains("a") && e.contains("b"), "{e}");
        let mut b = EnvBuilder::new();
        b.add("a", vec![("X".into(), "1".into())], Precedence::LaterWins)
            .unwrap();
        b.add("b", vec![("X".into(), "2".into())], Precedence::LaterWins)
            .unwrap();
        assert_eq!(b.finish()["X"].expose(), "2");
    }
}
