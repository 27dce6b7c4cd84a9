//! The agent's configuration file: strict JSON.
//!
//! Every object is read with `deny_unknown_fields`: a misspelt key is an
//! error that names the key and the file, never a setting silently ignored.
//! Durations are strings (`"30s"`, `"500ms"`, `"2m"`, or bare seconds);
//! file modes are octal strings (`"0600"`). `docs/agent.md` documents every
//! field with a complete example.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub(crate) use super::hcl_config::{
    AutoAuthConfig, EnvTemplateConfig, TemplateConfig, TemplateSettings, VaultStanza,
};
use crate::config::parse_duration;
use crate::error::{Error, Result};

/// Largest configuration file read (bytes).
pub(crate) const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AgentConfig {
    /// Run the `up` flow (restore or create the identity) before anything
    /// else (default true).
    #[serde(default = "yes")]
    pub restore_identity: bool,
    /// The Vault token: sink file, revocation on exit.
    #[serde(default)]
    pub token: TokenConfig,
    /// The status file `vaultid agent status` reads (default: none).
    #[serde(default)]
    pub status_file: Option<PathBuf>,
    /// How often KV sources are re-read by default (default `"60s"`).
    #[serde(default)]
    pub kv_interval: Option<String>,
    /// Longest wait between retries while Vault is unavailable (default `"60s"`).
    #[serde(default)]
    pub backoff_max: Option<String>,
    /// The most one Vault request of the agent may take, its retries
    /// included (default `"5s"`, instead of `VAULTID_VAULT_WAIT`): the agent
    /// retries on its own, and a short budget keeps it responsive to signals
    /// during an outage.
    #[serde(default)]
    pub vault_wait: Option<String>,
    /// Remove the rendered files (and the token sink) on exit (default false:
    /// they stay).
    #[serde(default)]
    pub remove_files_on_exit: bool,
    /// Revoke dynamic-secret leases on exit (default true).
    #[serde(default = "yes")]
    pub revoke_leases_on_exit: bool,
    /// A command to run and supervise.
    #[serde(default)]
    pub exec: Option<ExecConfig>,
    /// What to do when any source's files change (each source may add its own).
    #[serde(default)]
    pub notify: Option<NotifyConfig>,
    /// The secrets to keep.
    #[serde(default)]
    pub sources: Vec<SourceConfig>,
    /// The local gateway: the Vault API with the agent's token, signed
    /// calls to peers, `/metrics` and `/healthz` (default: off).
    #[serde(default)]
    pub listener: Option<crate::gateway::ListenerConfig>,
    /// Where Vault is (Vault Agent's `vault` stanza; over the environment).
    #[serde(default)]
    pub vault: Option<VaultStanza>,
    /// How to log in (Vault Agent's `auto_auth` method; over the environment).
    #[serde(default)]
    pub auto_auth: Option<AutoAuthConfig>,
    /// Files rendered from consul-template templates.
    #[serde(default)]
    pub templates: Vec<TemplateConfig>,
    /// Settings of every template.
    #[serde(default)]
    pub template_config: TemplateSettings,
    /// Variables of the supervised command's environment, from templates.
    #[serde(default)]
    pub env_templates: Vec<EnvTemplateConfig>,
    /// Write the agent's own process id here (removed on exit).
    #[serde(default)]
    pub pid_file: Option<PathBuf>,
    /// Log in, write the sink and render every template once, then exit.
    #[serde(default)]
    pub exit_after_auth: bool,
}

/// The Vault token.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Write the current token to this file whenever it changes.
    #[serde(default)]
    pub sink: Option<PathBuf>,
    /// The sink's mode (default `"0600"`).
    #[serde(default)]
    pub sink_mode: Option<String>,
    /// Write a response-wrapped token (valid this long, usable once) instead
    /// of the token itself.
    #[serde(default)]
    pub wrap_ttl: Option<String>,
    /// Revoke the token on exit (default false).
    #[serde(default)]
    pub revoke_on_exit: bool,
}

/// The supervised command.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecConfig {
    /// Program and arguments.
    pub command: Vec<String>,
    /// Started once every source has rendered (default true); otherwise at once.
    #[serde(default = "yes")]
    pub wait_for_sources: bool,
    /// Restart it when a template it depends on changes: `"always"` (the
    /// default) or `"never"` (Vault Agent's exec stanza).
    #[serde(default)]
    pub restart_on_secret_changes: Option<String>,
    /// The signal that stops it for a restart (default `SIGTERM`).
    #[serde(default)]
    pub restart_stop_signal: Option<String>,
}

/// What to do on a real change.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// Send this signal (`"HUP"`, `"SIGUSR1"`, `"10"`) to the supervised command.
    #[serde(default)]
    pub signal: Option<String>,
    /// Send `signal` (default HUP) to the process whose pid this file holds.
    #[serde(default)]
    pub pid_file: Option<PathBuf>,
    /// Run this command (program and arguments; no shell).
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// Restart the supervised command.
    #[serde(default)]
    pub restart: bool,
}

/// One secret to keep, and the files it is rendered to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// A name for logs and the status file (unique).
    pub name: String,
    /// A KV v2 secret: `app/db` (under `mount`) or `secret/app/db`.
    #[serde(default)]
    pub kv: Option<String>,
    /// The KV mount (default: `VAULT_KV_MOUNT`, else `secret`).
    #[serde(default)]
    pub mount: Option<String>,
    /// A dynamic secret path (`database/creds/app`).
    #[serde(default)]
    pub dynamic: Option<String>,
    /// A PKI certificate.
    #[serde(default)]
    pub pki: Option<PkiConfig>,
    /// The agent's Hydra access token.
    #[serde(default)]
    pub hydra_token: Option<HydraTokenConfig>,
    /// KV: how often to compare versions (default: `kv_interval`).
    #[serde(default)]
    pub interval: Option<String>,
    /// Where the secret goes.
    #[serde(default)]
    pub files: Vec<FileConfig>,
    /// What to do when this source's files change.
    #[serde(default)]
    pub notify: Option<NotifyConfig>,
}

/// A certificate from `{mount}/issue/{role}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PkiConfig {
    /// The PKI mount (default `pki`).
    #[serde(default)]
    pub mount: Option<String>,
    /// The role.
    pub role: String,
    /// The common name (default: the agent's id, derived from its DID).
    #[serde(default)]
    pub common_name: Option<String>,
    /// Extra DNS names.
    #[serde(default)]
    pub alt_names: Vec<String>,
    /// Extra IP addresses.
    #[serde(default)]
    pub ip_sans: Vec<String>,
    /// Requested validity (default: the role's).
    #[serde(default)]
    pub ttl: Option<String>,
}

/// The Hydra access token (client_credentials).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HydraTokenConfig {
    /// Scopes to ask for (default: the configured ones).
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// A file rendered from a source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Destination.
    pub path: PathBuf,
    /// `env`, `json` or `raw` (default `json`).
    #[serde(default)]
    pub format: Format,
    /// `raw`: the field whose value is the file; `env`/`json`: only this field.
    #[serde(default)]
    pub field: Option<String>,
    /// `env`: field -> variable name (default: every field, under its own name).
    #[serde(default)]
    pub fields: Option<BTreeMap<String, String>>,
    /// `env`: make invalid names valid (upper case, other characters -> `_`)
    /// instead of refusing them.
    #[serde(default)]
    pub normalize: bool,
    /// Mode (default `"0600"`).
    #[serde(default)]
    pub mode: Option<String>,
}

/// How a file is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// `export NAME='value'` lines a POSIX shell reads back byte for byte.
    Env,
    /// One JSON object of the fields.
    #[default]
    Json,
    /// The value of one field, as is.
    Raw,
}

fn yes() -> bool {
    true
}

impl AgentConfig {
    /// Read and check a configuration file. One that cannot be read (not
    /// there, not readable, a directory) is an [`Error::Config`] naming it,
    /// as is one that does not parse.
    pub fn load(path: &Path) -> Result<AgentConfig> {
        use std::io::Read;
        // A file that is not there, not readable or not a file is a
        // configuration error (exit 2) naming it.
        let unreadable = |e: std::io::Error| {
            Error::Config(format!(
                "cannot read the agent configuration {}: {e}",
                path.display()
            ))
        };
        let file = std::fs::File::open(path).map_err(unreadable)?;
        let mut bytes = Vec::new();
        file.take(MAX_CONFIG_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(unreadable)?;
        if bytes.len() as u64 > MAX_CONFIG_BYTES {
            return Err(Error::Config(format!(
                "{}: larger than {MAX_CONFIG_BYTES} bytes",
                path.display()
            )));
        }
        if super::hcl_config::is_hcl(path, &bytes) {
            return super::hcl_config::parse(&bytes, &path.display().to_string());
        }
        AgentConfig::parse(&bytes, &path.display().to_string())
    }

    /// A configuration with nothing in it (what an HCL file starts from:
    /// no identity to restore, as Vault Agent has none).
    pub(crate) fn empty() -> AgentConfig {
        AgentConfig {
            restore_identity: false,
            token: TokenConfig::default(),
            status_file: None,
            kv_interval: None,
            backoff_max: None,
            vault_wait: None,
            remove_files_on_exit: false,
            revoke_leases_on_exit: true,
            exec: None,
            notify: None,
            sources: Vec::new(),
            listener: None,
            vault: None,
            auto_auth: None,
            templates: Vec::new(),
            template_config: TemplateSettings::default(),
            env_templates: Vec::new(),
            pid_file: None,
            exit_after_auth: false,
        }
    }

    /// The checks every configuration passes, JSON or HCL.
    pub(crate) fn check_model(&self, origin: &str) -> Result<()> {
        self.check(origin)
    }

    /// `template_config.static_secret_render_interval` (default 5 min).
    pub(crate) fn static_secret_render_interval(&self) -> Duration {
        parse_opt(
            self.template_config
                .static_secret_render_interval
                .as_deref(),
        )
        .unwrap_or(Duration::from_secs(300))
    }

    /// Parse and check configuration bytes; `origin` names them in errors.
    /// Never panics.
    pub fn parse(bytes: &[u8], origin: &str) -> Result<AgentConfig> {
        let c: AgentConfig =
            serde_json::from_slice(bytes).map_err(|e| Error::Config(format!("{origin}: {e}")))?;
        c.check(origin)?;
        Ok(c)
    }

    fn check(&self, origin: &str) -> Result<()> {
        let bad = |what: String| Err(Error::Config(format!("{origin}: {what}")));
        duration(self.kv_interval.as_deref(), "kv_interval", origin)?;
        duration(self.backoff_max.as_deref(), "backoff_max", origin)?;
        duration(self.vault_wait.as_deref(), "vault_wait", origin)?;
        duration(self.token.wrap_ttl.as_deref(), "token.wrap_ttl", origin)?;
        mode(self.token.sink_mode.as_deref(), "token.sink_mode", origin)?;
        if let Some(e) = &self.exec {
            if e.command.is_empty() || e.command[0].is_empty() {
                return bad("exec.command is empty".into());
            }
            if let Some(r) = &e.restart_on_secret_changes {
                if r != "always" && r != "never" {
                    return bad(format!(
                        "exec.restart_on_secret_changes is \"always\" or \"never\", not {r:?}"
                    ));
                }
            }
            if let Some(s) = &e.restart_stop_signal {
                if signal_number(s).is_none() {
                    return bad(format!("exec.restart_stop_signal: unknown signal {s:?}"));
                }
            }
        }
        duration(
            self.template_config
                .static_secret_render_interval
                .as_deref(),
            "template_config.static_secret_render_interval",
            origin,
        )?;
        if let Some(a) = &self.auto_auth {
            if !matches!(
                a.method.as_str(),
                "approle" | "token_file" | "kubernetes" | "jwt"
            ) {
                return bad(format!("auto_auth method {:?} is not supported", a.method));
            }
        }
        if let Some(n) = &self.notify {
            n.check("notify", origin, self.exec.is_some())?;
        }
        let mut names = std::collections::BTreeSet::new();
        let mut paths = std::collections::BTreeSet::new();
        if let Some(p) = &self.token.sink {
            paths.insert(p.clone());
        }
        for t in &self.templates {
            let at = format!("template for {}", t.destination.display());
            if t.destination.as_os_str().is_empty() {
                return bad("a template has no destination".into());
            }
            if t.source.is_some() == t.contents.is_some() {
                return bad(format!("{at} needs exactly one of `source` and `contents`"));
            }
            if !paths.insert(t.destination.clone()) {
                return bad(format!(
                    "{at}: {} is written twice",
                    t.destination.display()
                ));
            }
            mode(t.perms.as_deref(), &format!("{at}: perms"), origin)?;
            if t.left_delimiter.as_deref() == Some("") || t.right_delimiter.as_deref() == Some("") {
                return bad(format!("{at}: a delimiter is empty"));
            }
            if t.command
                .as_ref()
                .is_some_and(|c| c.first().is_none_or(String::is_empty))
            {
                return bad(format!("{at}: command is empty"));
            }
        }
        let mut vars = std::collections::BTreeSet::new();
        for t in &self.env_templates {
            crate::secrets::env::validate_name(&t.name)
                .map_err(|e| Error::Config(format!("{origin}: env_template: {e}")))?;
            if !vars.insert(t.name.clone()) {
                return bad(format!("env_template {:?} is given twice", t.name));
            }
        }
        if !self.env_templates.is_empty() && self.exec.is_none() {
            return bad("env_template needs an `exec` command to hand the variables to".into());
        }
        for s in &self.sources {
            let at = format!("source {:?}", s.name);
            if s.name.is_empty() || s.name.chars().any(char::is_control) {
                return bad("a source has an empty name (or one with control characters)".into());
            }
            if !names.insert(s.name.clone()) {
                return bad(format!("{at} is named twice"));
            }
            let kinds = [
                s.kv.is_some(),
                s.dynamic.is_some(),
                s.pki.is_some(),
                s.hydra_token.is_some(),
            ];
            if kinds.iter().filter(|k| **k).count() != 1 {
                return bad(format!(
                    "{at} needs exactly one of `kv`, `dynamic`, `pki`, `hydra_token`"
                ));
            }
            if s.mount.is_some() && s.kv.is_none() {
                return bad(format!("{at}: `mount` is for `kv` sources"));
            }
            if s.interval.is_some() && s.kv.is_none() {
                return bad(format!(
                    "{at}: `interval` is for `kv` sources (the others follow their lease)"
                ));
            }
            if let Some(p) = &s.pki {
                duration(p.ttl.as_deref(), &format!("{at}: pki.ttl"), origin)?;
                if p.role.is_empty() {
                    return bad(format!("{at}: pki.role is empty"));
                }
            }
            duration(s.interval.as_deref(), &format!("{at}: interval"), origin)?;
            if s.files.is_empty() {
                return bad(format!("{at} has no `files`"));
            }
            for f in &s.files {
                let fat = format!("{at}, file {}", f.path.display());
                if f.path.as_os_str().is_empty() {
                    return bad(format!("{at}: a file has an empty path"));
                }
                if !paths.insert(f.path.clone()) {
                    return bad(format!("{fat} is written twice"));
                }
                mode(f.mode.as_deref(), &format!("{fat}: mode"), origin)?;
                if f.format == Format::Raw && f.field.is_none() && s.hydra_token.is_none() {
                    return bad(format!("{fat}: format `raw` needs `field`"));
                }
                if f.field.is_some() && f.fields.is_some() {
                    return bad(format!("{fat}: `field` and `fields` exclude each other"));
                }
                if f.fields.is_some() && f.format != Format::Env {
                    return bad(format!("{fat}: `fields` is for format `env`"));
                }
                if f.normalize && f.format != Format::Env {
                    return bad(format!("{fat}: `normalize` is for format `env`"));
                }
            }
            if let Some(n) = &s.notify {
                n.check(&format!("{at}: notify"), origin, self.exec.is_some())?;
            }
        }
        Ok(())
    }

    /// `kv_interval` (default 60 s).
    pub(crate) fn kv_interval(&self) -> Duration {
        parse_opt(self.kv_interval.as_deref()).unwrap_or(Duration::from_secs(60))
    }

    /// `vault_wait` (default 5 s).
    pub(crate) fn vault_wait(&self) -> Duration {
        parse_opt(self.vault_wait.as_deref()).unwrap_or(Duration::from_secs(5))
    }

    /// `backoff_max` (default 60 s).
    pub(crate) fn backoff_max(&self) -> Duration {
        parse_opt(self.backoff_max.as_deref()).unwrap_or(Duration::from_secs(60))
    }
}

impl NotifyConfig {
    fn check(&self, at: &str, origin: &str, has_exec: bool) -> Result<()> {
        if let Some(s) = &self.signal {
            signal_number(s).ok_or_else(|| {
                Error::Config(format!("{origin}: {at}.signal: unknown signal {s:?}"))
            })?;
            if self.pid_file.is_none() && !has_exec {
                return Err(Error::Config(format!(
                    "{origin}: {at}.signal needs `pid_file` or an `exec` command to signal"
                )));
            }
        }
        if self.restart && !has_exec {
            return Err(Error::Config(format!(
                "{origin}: {at}.restart needs an `exec` command"
            )));
        }
        if self.command.as_ref().is_some_and(|c| c.is_empty()) {
            return Err(Error::Config(format!("{origin}: {at}.command is empty")));
        }
        Ok(())
    }
}

fn parse_opt(v: Option<&str>) -> Option<Duration> {
    v.and_then(parse_duration)
}

fn duration(v: Option<&str>, what: &str, origin: &str) -> Result<()> {
    match v {
        Some(s) if parse_duration(s).is_none_or(|d| d.is_zero()) => Err(Error::Config(format!(
            "{origin}: {what}: {s:?} is not a positive duration (e.g. \"30s\", \"500ms\", \"5m\")"
        ))),
        _ => Ok(()),
    }
}

fn mode(v: Option<&str>, what: &str, origin: &str) -> Result<()> {
    match v {
        Some(s) if parse_mode(s).is_none() => Err(Error::Config(format!(
            "{origin}: {what}: {s:?} is not an octal file mode (e.g. \"0600\", \"0644\")"
        ))),
        _ => Ok(()),
    }
}

pub(crate) use crate::util::parse_mode;

/// A file's mode, 0600 unless given.
pub fn mode_or_default(s: Option<&str>) -> u32 {
    s.and_then(parse_mode).unwrap_or(0o600)
}

/// A signal by name (`HUP`, `SIGHUP`) or number; `None` for anything else.
/// The numbers are the target's (`SIGUSR1` is 10 on x86 and ARM, 16 on
/// mips).
pub(crate) fn signal_number(s: &str) -> Option<i32> {
    use crate::sys;
    let up = s.trim().to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    let n = match name {
        "HUP" => sys::SIGHUP,
        "INT" => sys::SIGINT,
        "QUIT" => sys::SIGQUIT,
        "KILL" => sys::SIGKILL,
        "USR1" => sys::SIGUSR1,
        "USR2" => sys::SIGUSR2,
        "TERM" => sys::SIGTERM,
        "CONT" => sys::SIGCONT,
        "WINCH" => sys::SIGWINCH,
        other => other.parse().ok().filter(|n| (1..=64).contains(n))?,
    };
    Some(n)
}

/// A duration field, already checked by [`AgentConfig::parse`].
pub(crate) fn duration_of(v: Option<&str>) -> Option<Duration> {
    parse_opt(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(json: &str) -> String {
        AgentConfig::parse(json.as_bytes(), "agent.json")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn unknown_keys_are_named_with_the_file() {
        let e = err(r#"{"restore_identity": false, "sourcez": []}"#);
        assert!(e.contains("agent.json") && e.contains("sourcez"), "{e}");
        let e = err(
            r#"{"sources": [{"name": "a", "kv": "x", "files": [{"path": "/t", "formt": "env"}]}]}"#,
        );
        assert!(e.contains("formt"), "{e}");
        let e = err(r#"{"token": {"sink": "/t", "mode": "0600"}}"#);
        assert!(e.contains("`mode`"), "{e}");
    }

    #[test]
    fn checks_sources() {
        let ok = r#"{"restore_identity": false, "token": {"sink": "/run/t", "sink_mode": "0640"},
            "sources": [{"name": "db", "kv": "app/db", "interval": "5s",
              "files": [{"path": "/run/db.env", "format": "env", "fields": {"password": "DB_PASSWORD"}}]}]}"#;
        let c = AgentConfig::parse(ok.as_bytes(), "a").unwrap();
        assert_eq!(c.sources[0].files[0].format, Format::Env);
        assert_eq!(mode_or_default(c.token.sink_mode.as_deref()), 0o640);
        assert!(
            err(r#"{"sources": [{"name": "a", "files": [{"path": "/t"}]}]}"#)
                .contains("exactly one")
        );
        assert!(err(
            r#"{"sources": [{"name": "a", "kv": "x", "dynamic": "d", "files": [{"path": "/t"}]}]}"#
        )
        .contains("exactly one"));
        assert!(
            err(r#"{"sources": [{"name": "a", "kv": "x", "files": []}]}"#).contains("no `files`")
        );
        assert!(err(r#"{"sources": [{"name": "a", "kv": "x", "interval": "soon", "files": [{"path": "/t"}]}]}"#).contains("soon"));
        assert!(err(
            r#"{"sources": [{"name": "a", "kv": "x", "files": [{"path": "/t", "mode": "rw"}]}]}"#
        )
        .contains("octal"));
        assert!(err(
            r#"{"sources": [{"name": "a", "kv": "x", "files": [{"path": "/t", "format": "raw"}]}]}"#
        )
        .contains("needs `field`"));
        assert!(err(r#"{"sources": [{"name": "a", "kv": "x", "files": [{"path": "/t", "format": "yaml"}]}]}"#).contains("yaml"));
        assert!(err(r#"{"sources": [{"name": "a", "kv": "x", "files": [{"path": "/t"}]}, {"name": "a", "kv": "y", "files": [{"path": "/u"}]}]}"#).contains("twice"));
        assert!(err(r#"{"notify": {"restart": true}}"#).contains("exec"));
        assert!(err(r#"{"exec": {"command": []}}"#).contains("empty"));
        assert!(err(r#"{"notify": {"signal": "HUPP", "pid_file": "/p"}}"#).contains("HUPP"));
        assert!(err("[1, 2").contains("agent.json"));
    }

    #[test]
    fn the_documented_example_parses() {
        let doc = include_str!("../../docs/agent.md");
        let start = doc.find("```json\n").unwrap() + 8;
        let end = start + doc[start..].find("```").unwrap();
        let c = AgentConfig::parse(&doc.as_bytes()[start..end], "docs/agent.md").unwrap();
        assert_eq!(c.sources.len(), 4);
        assert!(c.sources.iter().all(|s| !s.files.is_empty()));
    }

    #[test]
    fn modes_and_signals() {
        assert_eq!(parse_mode("0600"), Some(0o600));
        assert_eq!(parse_mode("644"), Some(0o644));
        assert_eq!(parse_mode("1777"), None);
        assert_eq!(parse_mode("8"), None);
        assert_eq!(signal_number("SIGHUP"), Some(1));
        assert_eq!(signal_number("usr1"), Some(10));
        assert_eq!(signal_number("12"), Some(12));
        assert_eq!(signal_number("0"), None);
    }
}
