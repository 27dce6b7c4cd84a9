//! Vault/OpenBao Agent's HCL configuration, mapped onto the agent's one
//! model ([`AgentConfig`]): a `vaultid agent -config=agent.hcl` reads the
//! file a `bao agent` reads.
//!
//! The stanzas understood, and what they become:
//!
//! | HCL | model |
//! |---|---|
//! | `vault { address, ca_cert, ca_path, client_cert, client_key, tls_skip_verify, tls_server_name, namespace }` | [`VaultStanza`] (over the `VAULT_*` environment) |
//! | `auto_auth { method "approle"\|"token_file"\|"kubernetes"\|"jwt" { mount_path, config { ... } } }` | [`AutoAuthConfig`] |
//! | `auto_auth { sink "file" { config { path, mode }, wrap_ttl } }` | `token.sink`, `token.sink_mode`, `token.wrap_ttl` |
//! | `template { source \| contents, destination, perms, command, error_on_missing_key, left_delimiter, right_delimiter, create_dest_dirs }` | [`TemplateConfig`] |
//! | `template_config { static_secret_render_interval, exit_on_retry_failure }` | [`TemplateSettings`] |
//! | `exec { command, restart_on_secret_changes, restart_stop_signal }` | `exec` |
//! | `env_template "NAME" { contents, error_on_missing_key }` | [`EnvTemplateConfig`] |
//! | `pid_file`, `exit_after_auth` | the same |
//!
//! A stanza or key not in this table is an error naming it and its line:
//! nothing is silently ignored. Durations are Go durations (`"5m"`,
//! `"1h30m"`) or whole seconds; modes are octal (`"0640"` or `0640`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use serde_json::Value as Json;

use super::config::{AgentConfig, ExecConfig, TokenConfig};
use super::hcl::{self, Body, Entry, Pos, Value};
use crate::error::{Error, Result};

/// Where Vault is (Vault Agent's `vault` stanza). Set fields override the
/// `VAULT_*` environment.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct VaultStanza {
    /// `address`.
    #[serde(default)]
    pub address: Option<String>,
    /// `ca_cert`: a PEM file of CA certificates.
    #[serde(default)]
    pub ca_cert: Option<PathBuf>,
    /// `ca_path`: a directory of them.
    #[serde(default)]
    pub ca_path: Option<PathBuf>,
    /// `client_cert`.
    #[serde(default)]
    pub client_cert: Option<PathBuf>,
    /// `client_key`.
    #[serde(default)]
    pub client_key: Option<PathBuf>,
    /// `tls_skip_verify`.
    #[serde(default)]
    pub tls_skip_verify: Option<bool>,
    /// `tls_server_name`.
    #[serde(default)]
    pub tls_server_name: Option<String>,
    /// `namespace`.
    #[serde(default)]
    pub namespace: Option<String>,
}

/// How to log in (Vault Agent's `auto_auth { method ... }`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AutoAuthConfig {
    /// `approle`, `token_file`, `kubernetes` or `jwt`.
    pub method: String,
    /// The auth mount (default `auth/<method>`).
    #[serde(default)]
    pub mount_path: Option<String>,
    /// The method's `config` block.
    #[serde(default)]
    pub config: BTreeMap<String, Json>,
}

/// One template: a file rendered from consul-template markup.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TemplateConfig {
    /// A file holding the template.
    #[serde(default)]
    pub source: Option<PathBuf>,
    /// The template itself.
    #[serde(default)]
    pub contents: Option<String>,
    /// Where the rendering goes.
    pub destination: PathBuf,
    /// The destination's mode (default `"0644"`, as Vault Agent).
    #[serde(default)]
    pub perms: Option<String>,
    /// Run after each real change of the file (a string runs under `sh -c`).
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// A missing map key is an error instead of `<no value>`.
    #[serde(default)]
    pub error_on_missing_key: bool,
    /// The opening delimiter (default `{{`).
    #[serde(default)]
    pub left_delimiter: Option<String>,
    /// The closing delimiter (default `}}`).
    #[serde(default)]
    pub right_delimiter: Option<String>,
    /// Create the destination's missing parent directories (default true).
    #[serde(default)]
    pub create_dest_dirs: Option<bool>,
}

/// Settings of every template (Vault Agent's `template_config`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TemplateSettings {
    /// How often secrets without a lease (KV) are read again (default `"5m"`).
    #[serde(default)]
    pub static_secret_render_interval: Option<String>,
    /// Exit when a template keeps failing instead of retrying forever.
    #[serde(default)]
    pub exit_on_retry_failure: bool,
}

/// A variable of the supervised command's environment, rendered from a
/// template (Vault Agent's `env_template "NAME"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct EnvTemplateConfig {
    /// The variable's name.
    pub name: String,
    /// The template.
    pub contents: String,
    /// A missing map key is an error instead of `<no value>`.
    #[serde(default)]
    pub error_on_missing_key: bool,
}

/// Read Vault Agent HCL into the agent's model; `origin` names the file in
/// errors. Never panics.
pub(crate) fn parse(bytes: &[u8], origin: &str) -> Result<AgentConfig> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| Error::Config(format!("{origin}: not UTF-8 text ({e})")))?;
    let body = hcl::parse(text).map_err(|e| Error::Config(format!("{origin}: {e}")))?;
    let m = Mapper { origin };
    let c = m.top(&body)?;
    c.check_model(origin)?;
    Ok(c)
}

struct Mapper<'a> {
    origin: &'a str,
}

impl Mapper<'_> {
    fn err<T>(&self, pos: Pos, msg: impl std::fmt::Display) -> Result<T> {
        Err(Error::Config(format!("{}: {pos}: {msg}", self.origin)))
    }

    fn unsupported<T>(&self, e: &Entry, within: &str) -> Result<T> {
        self.err(
            e.pos,
            format!(
                "`{}` {within}is not supported by vaultid agent (see docs/migrating-from-vault-agent.md)",
                e.key
            ),
        )
    }

    /// An entry's value as a block body (`key { }` or `key = { }`).
    fn block<'b>(&self, e: &'b Entry) -> Result<&'b Body> {
        match &e.value.value {
            Value::Object(b) => Ok(b),
            // HCL 1 also accepts a list of one object.
            Value::List(items) if items.len() == 1 => match &items[0].value {
                Value::Object(b) => Ok(b),
                v => self.err(
                    e.pos,
                    format!("`{}` must be a block, not {}", e.key, v.kind()),
                ),
            },
            v => self.err(
                e.pos,
                format!("`{}` must be a block, not {}", e.key, v.kind()),
            ),
        }
    }

    fn no_labels(&self, e: &Entry) -> Result<()> {
        if e.labels.is_empty() {
            Ok(())
        } else {
            self.err(e.pos, format!("`{}` takes no label", e.key))
        }
    }

    fn string(&self, e: &Entry) -> Result<String> {
        self.no_labels(e)?;
        match &e.value.value {
            Value::Str(s) => Ok(s.clone()),
            Value::Int(n) => Ok(n.to_string()),
            v => self.err(
                e.value.pos,
                format!("`{}` must be a string, not {}", e.key, v.kind()),
            ),
        }
    }

    fn path(&self, e: &Entry) -> Result<PathBuf> {
        let s = self.string(e)?;
        if s.is_empty() {
            return self.err(e.value.pos, format!("`{}` is empty", e.key));
        }
        Ok(PathBuf::from(s))
    }

    fn boolean(&self, e: &Entry) -> Result<bool> {
        self.no_labels(e)?;
        match &e.value.value {
            Value::Bool(b) => Ok(*b),
            Value::Str(s) if s == "true" || s == "1" => Ok(true),
            Value::Str(s) if s == "false" || s == "0" => Ok(false),
            v => self.err(
                e.value.pos,
                format!("`{}` must be true or false, not {}", e.key, v.kind()),
            ),
        }
    }

    /// A duration: a Go duration string or whole seconds.
    fn duration(&self, e: &Entry) -> Result<String> {
        self.no_labels(e)?;
        let s = match &e.value.value {
            Value::Int(n) if *n > 0 => format!("{n}s"),
            Value::Str(s) => s.clone(),
            v => {
                return self.err(
                    e.value.pos,
                    format!(
                        "`{}` must be a duration (\"5m\" or seconds), not {}",
                        e.key,
                        v.kind()
                    ),
                )
            }
        };
        if crate::config::parse_duration(&s).is_none_or(|d| d.is_zero()) {
            return self.err(
                e.value.pos,
                format!("`{}`: {s:?} is not a positive duration", e.key),
            );
        }
        Ok(s)
    }

    /// A mode: an octal string, or a number (HCL reads `0640` as octal).
    fn mode(&self, e: &Entry) -> Result<String> {
        self.no_labels(e)?;
        let s = match &e.value.value {
            Value::Int(n) if (0..=0o777).contains(n) => format!("{n:04o}"),
            Value::Str(s) => s.clone(),
            v => {
                return self.err(
                    e.value.pos,
                    format!("`{}` must be an octal mode, not {}", e.key, v.kind()),
                )
            }
        };
        if super::config::parse_mode(&s).is_none() {
            return self.err(
                e.value.pos,
                format!("`{}`: {s:?} is not an octal file mode", e.key),
            );
        }
        Ok(s)
    }

    /// A command: a string (run by `sh -c`) or a list of strings.
    fn command(&self, e: &Entry, shell: bool) -> Result<Vec<String>> {
        self.no_labels(e)?;
        let argv = match &e.value.value {
            Value::Str(s) if shell => vec!["sh".into(), "-c".into(), s.clone()],
            Value::Str(s) => s.split_whitespace().map(str::to_string).collect(),
            Value::List(items) => items
                .iter()
                .map(|n| match &n.value {
                    Value::Str(s) => Ok(s.clone()),
                    v => self.err(
                        n.pos,
                        format!("`{}` must list strings, not {}", e.key, v.kind()),
                    ),
                })
                .collect::<Result<Vec<_>>>()?,
            v => {
                return self.err(
                    e.value.pos,
                    format!("`{}` must be a string or a list, not {}", e.key, v.kind()),
                )
            }
        };
        if argv.first().is_none_or(|a| a.is_empty()) {
            return self.err(e.value.pos, format!("`{}` is empty", e.key));
        }
        Ok(argv)
    }

    fn once(&self, seen: &mut Vec<String>, e: &Entry, within: &str) -> Result<()> {
        if seen.contains(&e.key) {
            return self.err(e.pos, format!("`{}` is given twice{within}", e.key));
        }
        seen.push(e.key.clone());
        Ok(())
    }

    fn top(&self, body: &Body) -> Result<AgentConfig> {
        let mut c = AgentConfig::empty();
        let mut seen = Vec::new();
        for e in &body.entries {
            match e.key.as_str() {
                "template" => {
                    self.no_labels(e)?;
                    c.templates.push(self.template(self.block(e)?)?)
                }
                "env_template" => {
                    let [name] = e.labels.as_slice() else {
                        return self.err(e.pos, "`env_template` needs one label, the variable's name: env_template \"NAME\" { ... }");
                    };
                    c.env_templates
                        .push(self.env_template(name, self.block(e)?, e.pos)?);
                }
                "vault" => {
                    self.once(&mut seen, e, "")?;
                    self.no_labels(e)?;
                    c.vault = Some(self.vault(self.block(e)?)?);
                }
                "auto_auth" => {
                    self.once(&mut seen, e, "")?;
                    self.no_labels(e)?;
                    self.auto_auth(self.block(e)?, &mut c)?;
                }
                "template_config" => {
                    self.once(&mut seen, e, "")?;
                    self.no_labels(e)?;
                    c.template_config = self.template_config(self.block(e)?)?;
                }
                "exec" => {
                    self.once(&mut seen, e, "")?;
                    self.no_labels(e)?;
                    c.exec = Some(self.exec(self.block(e)?, e.pos)?);
                }
                "pid_file" => {
                    self.once(&mut seen, e, "")?;
                    c.pid_file = Some(self.path(e)?);
                }
                "exit_after_auth" => {
                    self.once(&mut seen, e, "")?;
                    c.exit_after_auth = self.boolean(e)?;
                }
                _ => return self.unsupported(e, ""),
            }
        }
        Ok(c)
    }

    fn vault(&self, b: &Body) -> Result<VaultStanza> {
        let mut v = VaultStanza::default();
        let mut seen = Vec::new();
        for e in &b.entries {
            self.once(&mut seen, e, " in `vault`")?;
            match e.key.as_str() {
                "address" => v.address = Some(self.string(e)?),
                "ca_cert" => v.ca_cert = Some(self.path(e)?),
                "ca_path" => v.ca_path = Some(self.path(e)?),
                "client_cert" => v.client_cert = Some(self.path(e)?),
                "client_key" => v.client_key = Some(self.path(e)?),
                "tls_skip_verify" => v.tls_skip_verify = Some(self.boolean(e)?),
                "tls_server_name" => v.tls_server_name = Some(self.string(e)?),
                "namespace" => v.namespace = Some(self.string(e)?),
                _ => return self.unsupported(e, "in `vault` "),
            }
        }
        Ok(v)
    }

    fn auto_auth(&self, b: &Body, c: &mut AgentConfig) -> Result<()> {
        let mut seen = Vec::new();
        for e in &b.entries {
            match e.key.as_str() {
                "method" => {
                    self.once(
                        &mut seen,
                        e,
                        " in `auto_auth` (vaultid agent logs in one way)",
                    )?;
                    c.auto_auth = Some(self.method(e)?);
                }
                "sink" => {
                    self.once(
                        &mut seen,
                        e,
                        " in `auto_auth` (vaultid agent writes one sink)",
                    )?;
                    c.token = self.sink(e)?;
                }
                _ => return self.unsupported(e, "in `auto_auth` "),
            }
        }
        Ok(())
    }

    fn method(&self, e: &Entry) -> Result<AutoAuthConfig> {
        let body = self.block(e)?;
        let mut kind = match e.labels.as_slice() {
            [] => None,
            [k] => Some(k.clone()),
            _ => return self.err(e.pos, "`method` takes one label, its type"),
        };
        let mut a = AutoAuthConfig {
            method: String::new(),
            mount_path: None,
            config: BTreeMap::new(),
        };
        let mut seen = Vec::new();
        let mut config_at = e.pos;
        for x in &body.entries {
            self.once(&mut seen, x, " in `method`")?;
            match x.key.as_str() {
                "type" if kind.is_none() => kind = Some(self.string(x)?),
                "mount_path" => a.mount_path = Some(self.string(x)?),
                "config" => {
                    self.no_labels(x)?;
                    config_at = x.pos;
                    for ce in &self.block(x)?.entries {
                        self.no_labels(ce)?;
                        let v = match &ce.value.value {
                            Value::Str(s) => Json::String(s.clone()),
                            Value::Bool(b) => Json::Bool(*b),
                            Value::Int(n) => Json::from(*n),
                            v => {
                                return self.err(
                                    ce.value.pos,
                                    format!(
                                        "`{}` must be a string or a boolean, not {}",
                                        ce.key,
                                        v.kind()
                                    ),
                                )
                            }
                        };
                        if a.config.insert(ce.key.clone(), v).is_some() {
                            return self
                                .err(ce.pos, format!("`{}` is given twice in `config`", ce.key));
                        }
                    }
                }
                _ => return self.unsupported(x, "in `method` "),
            }
        }
        let Some(kind) = kind else {
            return self.err(e.pos, "`method` needs its type: method \"approle\" { ... }");
        };
        let keys: &[&str] = match kind.as_str() {
            "approle" => &[
                "role_id_file_path",
                "secret_id_file_path",
                "remove_secret_id_file_after_reading",
            ],
            "token_file" => &["token_file_path"],
            "kubernetes" => &["role", "token_path"],
            "jwt" => &["role", "path", "remove_jwt_after_reading"],
            other => {
                return self.err(
                    e.pos,
                    format!("auto_auth method {other:?} is not supported by vaultid agent (approle, token_file, kubernetes, jwt are)"),
                )
            }
        };
        for ce in body
            .entries
            .iter()
            .filter(|x| x.key == "config")
            .filter_map(|x| match &x.value.value {
                Value::Object(b) => Some(b),
                _ => None,
            })
            .flat_map(|b| b.entries.iter())
        {
            if !keys.contains(&ce.key.as_str()) {
                return self.err(ce.pos, format!("`{}` is not a setting of auto_auth method {kind:?} that vaultid agent supports ({})", ce.key, keys.join(", ")));
            }
        }
        let need: &[&str] = match kind.as_str() {
            "approle" => &["role_id_file_path"],
            "token_file" => &["token_file_path"],
            "kubernetes" | "jwt" => &["role"],
            _ => &[],
        };
        for k in need {
            if !a.config.contains_key(*k) {
                return self.err(
                    config_at,
                    format!("auto_auth method {kind:?} needs `{k}` in its `config`"),
                );
            }
        }
        if kind == "jwt" && a.config.get("remove_jwt_after_reading") == Some(&Json::Bool(true)) {
            return self.err(
                config_at,
                "`remove_jwt_after_reading = true` is not supported: vaultid agent reads the JWT file again at every login and never removes it",
            );
        }
        if kind == "jwt" && !a.config.contains_key("path") {
            return self.err(
                config_at,
                "auto_auth method \"jwt\" needs `path` (the JWT's file) in its `config`",
            );
        }
        a.method = kind;
        Ok(a)
    }

    fn sink(&self, e: &Entry) -> Result<TokenConfig> {
        match e.labels.as_slice() {
            [k] if k == "file" => {}
            [] => {}
            [k] => {
                return self.err(
                    e.pos,
                    format!("sink {k:?} is not supported by vaultid agent (\"file\" is)"),
                )
            }
            _ => return self.err(e.pos, "`sink` takes one label, its type"),
        }
        let mut t = TokenConfig::default();
        let mut seen = Vec::new();
        for x in &self.block(e)?.entries {
            self.once(&mut seen, x, " in `sink`")?;
            match x.key.as_str() {
                "type" if e.labels.is_empty() => {
                    if self.string(x)? != "file" {
                        return self.err(
                            x.value.pos,
                            "only sinks of type \"file\" are supported by vaultid agent",
                        );
                    }
                }
                "wrap_ttl" => t.wrap_ttl = Some(self.duration(x)?),
                "config" => {
                    self.no_labels(x)?;
                    let mut cseen = Vec::new();
                    for ce in &self.block(x)?.entries {
                        self.once(&mut cseen, ce, " in the sink's `config`")?;
                        match ce.key.as_str() {
                            "path" => t.sink = Some(self.path(ce)?),
                            "mode" => t.sink_mode = Some(self.mode(ce)?),
                            _ => return self.unsupported(ce, "in the sink's `config` "),
                        }
                    }
                }
                _ => return self.unsupported(x, "in `sink` "),
            }
        }
        if t.sink.is_none() {
            return self.err(e.pos, "the file sink needs `path` in its `config`");
        }
        Ok(t)
    }

    fn template(&self, b: &Body) -> Result<TemplateConfig> {
        let mut t = TemplateConfig {
            source: None,
            contents: None,
            destination: PathBuf::new(),
            perms: None,
            command: None,
            error_on_missing_key: false,
            left_delimiter: None,
            right_delimiter: None,
            create_dest_dirs: None,
        };
        let mut seen = Vec::new();
        let mut first = None;
        for e in &b.entries {
            first.get_or_insert(e.pos);
            self.once(&mut seen, e, " in `template`")?;
            match e.key.as_str() {
                "source" => t.source = Some(self.path(e)?),
                "contents" => t.contents = Some(self.string(e)?),
                "destination" => t.destination = self.path(e)?,
                "perms" => t.perms = Some(self.mode(e)?),
                "command" => t.command = Some(self.command(e, true)?),
                "error_on_missing_key" => t.error_on_missing_key = self.boolean(e)?,
                "left_delimiter" => t.left_delimiter = Some(self.string(e)?),
                "right_delimiter" => t.right_delimiter = Some(self.string(e)?),
                "create_dest_dirs" => t.create_dest_dirs = Some(self.boolean(e)?),
                _ => return self.unsupported(e, "in `template` "),
            }
        }
        let at = first.unwrap_or_default();
        if t.destination.as_os_str().is_empty() {
            return self.err(at, "a `template` needs `destination`");
        }
        if t.source.is_some() == t.contents.is_some() {
            return self.err(
                at,
                "a `template` needs exactly one of `source` and `contents`",
            );
        }
        Ok(t)
    }

    fn template_config(&self, b: &Body) -> Result<TemplateSettings> {
        let mut t = TemplateSettings::default();
        let mut seen = Vec::new();
        for e in &b.entries {
            self.once(&mut seen, e, " in `template_config`")?;
            match e.key.as_str() {
                "static_secret_render_interval" => {
                    t.static_secret_render_interval = Some(self.duration(e)?)
                }
                "exit_on_retry_failure" => t.exit_on_retry_failure = self.boolean(e)?,
                _ => return self.unsupported(e, "in `template_config` "),
            }
        }
        Ok(t)
    }

    fn exec(&self, b: &Body, pos: Pos) -> Result<ExecConfig> {
        let mut x = ExecConfig {
            command: Vec::new(),
            wait_for_sources: true,
            restart_on_secret_changes: None,
            restart_stop_signal: None,
        };
        let mut seen = Vec::new();
        for e in &b.entries {
            self.once(&mut seen, e, " in `exec`")?;
            match e.key.as_str() {
                "command" => x.command = self.command(e, false)?,
                "restart_on_secret_changes" => {
                    let v = self.string(e)?;
                    if v != "always" && v != "never" {
                        return self.err(
                            e.value.pos,
                            format!(
                                "`restart_on_secret_changes` is \"always\" or \"never\", not {v:?}"
                            ),
                        );
                    }
                    x.restart_on_secret_changes = Some(v);
                }
                "restart_stop_signal" => {
                    let v = self.string(e)?;
                    if super::config::signal_number(&v).is_none() {
                        return self.err(
                            e.value.pos,
                            format!("`restart_stop_signal`: unknown signal {v:?}"),
                        );
                    }
                    x.restart_stop_signal = Some(v);
                }
                _ => return self.unsupported(e, "in `exec` "),
            }
        }
        if x.command.is_empty() {
            return self.err(pos, "`exec` needs `command`");
        }
        Ok(x)
    }

    fn env_template(&self, name: &str, b: &Body, pos: Pos) -> Result<EnvTemplateConfig> {
        let mut t = EnvTemplateConfig {
            name: name.to_string(),
            contents: String::new(),
            error_on_missing_key: false,
        };
        let mut has = false;
        let mut seen = Vec::new();
        for e in &b.entries {
            self.once(&mut seen, e, " in `env_template`")?;
            match e.key.as_str() {
                "contents" => {
                    t.contents = self.string(e)?;
                    has = true;
                }
                "error_on_missing_key" => t.error_on_missing_key = self.boolean(e)?,
                _ => return self.unsupported(e, "in `env_template` "),
            }
        }
        if !has {
            return self.err(pos, format!("env_template {name:?} needs `contents`"));
        }
        Ok(t)
    }
}

/// Whether a configuration file is HCL: by its extension (`.hcl`; `.json`
/// is JSON), else by its first non-blank character (`{` is JSON).
pub(crate) fn is_hcl(path: &std::path::Path, bytes: &[u8]) -> bool {
    match path.extension().and_then(|e| e.to_str()) {
        Some("hcl") => true,
        Some("json") => false,
        _ => bytes
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|b| *b != b'{'),
    }
}

/// Apply the configuration's `vault` stanza and `auto_auth` method to the
/// settings from the environment: set fields win. Reads the files the
/// method names (role id, token), as Vault Agent does at start.
pub(crate) fn apply_vault(c: &AgentConfig, env: &mut crate::Config) -> Result<()> {
    use crate::config::{AuthMethod, SecretSource, VaultConfig};
    if c.vault.is_none() && c.auto_auth.is_none() {
        return Ok(());
    }
    let stanza = c.vault.clone().unwrap_or_default();
    let mut v = match (env.vault.take(), &stanza.address) {
        (Some(mut v), Some(a)) => {
            v.addr = a.trim_end_matches('/').to_string();
            v.other_addrs.clear();
            v
        }
        (Some(v), None) => v,
        (None, Some(a)) => VaultConfig::new(a, None),
        (None, None) => {
            return Err(Error::Config(
                "the configuration names no Vault address: set `address` in its `vault` stanza or VAULT_ADDR".into(),
            ))
        }
    };
    if stanza.ca_cert.is_some() {
        v.tls.ca_cert = stanza.ca_cert.clone();
    }
    if stanza.ca_path.is_some() {
        v.tls.ca_path = stanza.ca_path.clone();
    }
    if stanza.client_cert.is_some() {
        v.tls.client_cert = stanza.client_cert.clone();
    }
    if stanza.client_key.is_some() {
        v.tls.client_key = stanza.client_key.clone();
    }
    if let Some(s) = stanza.tls_skip_verify {
        v.tls.skip_verify = s;
    }
    if stanza.tls_server_name.is_some() {
        v.tls.server_name = stanza.tls_server_name.clone();
    }
    if stanza.namespace.is_some() {
        v.namespace = stanza.namespace.clone();
    }
    if let Some(a) = &c.auto_auth {
        let conf = |k: &str| a.config.get(k).and_then(Json::as_str).map(str::to_string);
        let flag = |k: &str, default: bool| match a.config.get(k) {
            Some(Json::Bool(b)) => *b,
            Some(Json::String(s)) => s == "true" || s == "1",
            _ => default,
        };
        let mount = a
            .mount_path
            .clone()
            .unwrap_or_else(|| format!("auth/{}", a.method));
        let mount = mount
            .trim_matches('/')
            .strip_prefix("auth/")
            .unwrap_or(mount.trim_matches('/'))
            .to_string();
        match a.method.as_str() {
            "token_file" => {
                let p = PathBuf::from(conf("token_file_path").unwrap_or_default());
                v.token = Some(crate::config::read_secret_file(&p)?);
                v.auth = AuthMethod::Token;
            }
            "approle" => {
                let role = PathBuf::from(conf("role_id_file_path").unwrap_or_default());
                let role_id = crate::config::read_secret_file(&role)?.expose().to_string();
                let secret_id = match conf("secret_id_file_path") {
                    Some(p) if flag("remove_secret_id_file_after_reading", true) => {
                        let s = crate::config::read_secret_file(p.as_ref())?;
                        std::fs::remove_file(&p).map_err(|e| {
                            Error::io(
                                format!("removing the secret id file {p} after reading it"),
                                e,
                            )
                        })?;
                        SecretSource::Value(s)
                    }
                    Some(p) => SecretSource::File(PathBuf::from(p)),
                    None => SecretSource::Value(crate::SecretString::new(String::new())),
                };
                v.auth = AuthMethod::AppRole {
                    mount,
                    role_id,
                    secret_id,
                    wrapped: false,
                };
            }
            "kubernetes" => {
                v.auth = AuthMethod::Kubernetes {
                    mount,
                    role: conf("role").unwrap_or_default(),
                    jwt_file: PathBuf::from(conf("token_path").unwrap_or_else(|| {
                        "/var/run/secrets/kubernetes.io/serviceaccount/token".into()
                    })),
                };
            }
            "jwt" => {
                v.auth = AuthMethod::Jwt {
                    mount,
                    role: conf("role").unwrap_or_default(),
                    jwt_file: PathBuf::from(conf("path").unwrap_or_default()),
                };
            }
            other => {
                return Err(Error::Config(format!(
                    "auto_auth method {other:?} is not supported"
                )))
            }
        }
    }
    env.vault = Some(v);
    Ok(())
}

#[cfg(test)]
mod tests;
