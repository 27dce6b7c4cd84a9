//! The agent's templates: files (`template`) and the supervised command's
//! variables (`env_template`) rendered from consul-template markup, kept
//! current as Vault Agent keeps them.
//!
//! Every template is parsed when the agent starts (an unknown function is
//! an error then, before any request). A pass renders all of them from the
//! secrets they name; each secret is fetched once and kept until it is
//! due again:
//!
//! - a secret without a lease, or a KV secret (`static`), is read again
//!   every `static_secret_render_interval` (default 5 min);
//! - a renewable lease (dynamic credentials) is renewed at two thirds of
//!   its duration, and new credentials are read when Vault stops extending
//!   it (granted less than asked, or the renewal failed);
//! - a non-renewable lease, and a certificate (`certificate` in the
//!   answer, `pkiCert`), is fetched again at 90 % of its validity;
//! - `secret` with `"k=v"` parameters is a write (`pki/issue/...`): sent
//!   once, then again only when its result is due.
//!
//! A rendering is written only when its bytes differ from the file's
//! (`render::write_if_changed`); then the template's `command` runs, once.
//! A changed `env_template` value restarts the supervised command unless
//! `restart_on_secret_changes = "never"`. A template that fails keeps its
//! file as it was and the pass is retried after a backoff.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::config::{parse_mode, AgentConfig, TemplateConfig};
use super::render::write_if_changed;
use crate::error::{Error, Result};
use crate::secret_string::SecretString;
use crate::secrets::lease::LeaseBackend;
use crate::template::{secret_from_answer, Fetch, Limits, Options, Secret, Template};
use crate::vault::Client;

/// One file template.
#[derive(Debug)]
pub(crate) struct FileTemplate {
    pub config: TemplateConfig,
    template: Template,
    mode: u32,
    /// The digest of what was last written (or found in place).
    pub last: Option<[u8; 32]>,
    /// How it stands, for the status file.
    pub health: Health,
}

/// How a template stands: what `vaultid agent status` reports of it (never
/// its contents).
#[derive(Debug, Default)]
pub(crate) struct Health {
    /// Whether it has been rendered once.
    pub rendered: bool,
    /// When it was last rendered without error (Unix seconds), whether or
    /// not the file changed.
    pub rendered_at: Option<u64>,
    /// The last error, cleared by the next success.
    pub last_error: Option<String>,
    /// How that error counts (`status::error_kind`): `denied`,
    /// `unavailable` or `failed`.
    pub last_error_kind: Option<&'static str>,
    /// Failed renderings in a row.
    pub failures: u32,
}

impl Health {
    fn ok(&mut self) {
        self.rendered = true;
        self.rendered_at = Some(super::sources::unix_now());
        self.last_error = None;
        self.last_error_kind = None;
        self.failures = 0;
    }

    fn failed(&mut self, msg: String, kind: &'static str) {
        self.last_error = Some(msg);
        self.last_error_kind = Some(kind);
        self.failures = self.failures.saturating_add(1);
    }

    /// The status file's entry: `what` names the template.
    fn status(&self, what: (&str, String)) -> Value {
        let mut v = json!({
            "rendered": self.rendered,
            "last_rendered_at": self.rendered_at,
            "last_error": self.last_error,
            "last_error_kind": self.last_error.as_ref().and(self.last_error_kind),
            "failures": self.failures,
        });
        v[what.0] = Value::String(what.1);
        v
    }
}

#[derive(Debug)]
struct EnvTemplate {
    name: String,
    template: Template,
    health: Health,
}

/// One fetched secret and when it is due again.
#[derive(Debug)]
struct Dep {
    secret: Secret,
    list: Vec<String>,
    next: Instant,
    /// What renewals ask for.
    asked: Duration,
    /// Renewal stopped extending the lease: fetch again when due.
    capped: bool,
}

/// Everything the templates have fetched.
#[derive(Debug, Default)]
struct Cache {
    deps: BTreeMap<String, Dep>,
    /// Path -> the path with `data/` inserted for a KV v2 mount (or as is),
    /// and whether the mount is a KV one.
    kv_paths: BTreeMap<String, (String, bool)>,
}

/// The agent's templates.
#[derive(Debug)]
pub(crate) struct Templates {
    pub files: Vec<FileTemplate>,
    env: Vec<EnvTemplate>,
    cache: Cache,
    static_interval: Duration,
    /// When the next pass is due (`None`: no templates).
    pub next: Option<Instant>,
    /// Failed passes in a row.
    pub failures: u32,
    /// The variables the supervised command gets.
    pub env_values: BTreeMap<String, SecretString>,
    /// Every template has rendered once.
    pub rendered: bool,
    limits: Limits,
}

/// What a pass did.
#[derive(Debug, Default)]
pub(crate) struct Pass {
    /// Files written.
    pub written: Vec<String>,
    /// Commands to run (one per written file that has one).
    pub commands: Vec<Vec<String>>,
    /// An env_template value changed after the first rendering.
    pub env_changed: bool,
    /// Errors, one per failing template.
    pub errors: Vec<String>,
}

fn read_source(p: &std::path::Path) -> Result<String> {
    use std::io::Read;
    let f = std::fs::File::open(p)
        .map_err(|e| Error::io(format!("reading the template {}", p.display()), e))?;
    let mut s = String::new();
    f.take(crate::template::MAX_TEMPLATE_BYTES as u64 + 1)
        .read_to_string(&mut s)
        .map_err(|e| Error::io(format!("reading the template {}", p.display()), e))?;
    if s.len() > crate::template::MAX_TEMPLATE_BYTES {
        return Err(Error::Config(format!(
            "the template {} is larger than {} bytes",
            p.display(),
            crate::template::MAX_TEMPLATE_BYTES
        )));
    }
    Ok(s)
}

impl Templates {
    /// Parse every template of `config`.
    pub(crate) fn new(config: &AgentConfig) -> Result<Templates> {
        let mut files = Vec::new();
        for t in &config.templates {
            let (name, text) = match (&t.source, &t.contents) {
                (Some(p), _) => (p.display().to_string(), read_source(p)?),
                (None, Some(c)) => (t.destination.display().to_string(), c.clone()),
                (None, None) => {
                    return Err(Error::Config(format!(
                        "the template for {} has neither source nor contents",
                        t.destination.display()
                    )))
                }
            };
            let opts = Options {
                left: t.left_delimiter.clone(),
                right: t.right_delimiter.clone(),
                missing_key_error: t.error_on_missing_key,
            };
            let template =
                Template::parse(&name, &text, &opts).map_err(|e| Error::Config(e.to_string()))?;
            files.push(FileTemplate {
                mode: t.perms.as_deref().and_then(parse_mode).unwrap_or(0o644),
                config: t.clone(),
                template,
                last: None,
                health: Health::default(),
            });
        }
        let mut env = Vec::new();
        for t in &config.env_templates {
            let opts = Options {
                missing_key_error: t.error_on_missing_key,
                ..Options::default()
            };
            let template = Template::parse(&format!("env_template {}", t.name), &t.contents, &opts)
                .map_err(|e| Error::Config(e.to_string()))?;
            env.push(EnvTemplate {
                name: t.name.clone(),
                template,
                health: Health::default(),
            });
        }
        let any = !files.is_empty() || !env.is_empty();
        Ok(Templates {
            files,
            env,
            cache: Cache::default(),
            static_interval: config.static_secret_render_interval(),
            next: any.then(Instant::now),
            failures: 0,
            env_values: BTreeMap::new(),
            rendered: !any,
            limits: Limits::default(),
        })
    }

    /// Each template as the status file shows it: its destination (or
    /// its variable's name), whether and when it was rendered, its last
    /// error and how that counts. Never its contents.
    pub(crate) fn status(&self) -> Vec<Value> {
        let files = self.files.iter().map(|f| {
            f.health
                .status(("destination", f.config.destination.display().to_string()))
        });
        let env = self
            .env
            .iter()
            .map(|t| t.health.status(("env_template", t.name.clone())));
        files.chain(env).collect()
    }

    /// Render every template; write what changed. `cap` bounds the backoff
    /// after a failure.
    pub(crate) fn pass(&mut self, client: &Client, cap: Duration) -> Pass {
        let mut out = Pass::default();
        let now = Instant::now();
        let mut fetch = VaultFetch {
            client,
            cache: &mut self.cache,
            now,
            static_interval: self.static_interval,
            kind: None,
        };
        for f in &mut self.files {
            fetch.kind = None;
            let r = f.template.render(&mut fetch, self.limits);
            match r {
                Ok(text) => {
                    let path = &f.config.destination;
                    if f.config.create_dest_dirs.unwrap_or(true) {
                        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                            if let Err(e) = std::fs::create_dir_all(dir) {
                                let msg = format!("creating {}: {e}", dir.display());
                                f.health.failed(msg.clone(), "failed");
                                out.errors.push(msg);
                                continue;
                            }
                        }
                    }
                    let mut bytes = text.into_bytes();
                    let res = write_if_changed(path, &bytes, f.mode, &mut f.last);
                    crate::secret_string::zeroize_bytes(&mut bytes);
                    match res {
                        Ok(wrote) => {
                            f.health.ok();
                            if wrote {
                                out.written.push(path.display().to_string());
                                if let Some(c) = &f.config.command {
                                    out.commands.push(c.clone());
                                }
                            }
                        }
                        Err(e) => {
                            f.health
                                .failed(e.to_string(), super::status::error_kind(&e));
                            out.errors.push(e.to_string());
                        }
                    }
                }
                Err(e) => {
                    f.health
                        .failed(e.to_string(), fetch.kind.take().unwrap_or("failed"));
                    out.errors.push(e.to_string());
                }
            }
        }
        let mut values = BTreeMap::new();
        let mut env_ok = true;
        for t in &mut self.env {
            fetch.kind = None;
            match t.template.render(&mut fetch, self.limits) {
                Ok(v) => {
                    t.health.ok();
                    values.insert(t.name.clone(), SecretString::new(v));
                }
                Err(e) => {
                    env_ok = false;
                    t.health
                        .failed(e.to_string(), fetch.kind.take().unwrap_or("failed"));
                    out.errors.push(e.to_string());
                }
            }
        }
        if env_ok && !self.env.is_empty() {
            let first = self.env_values.is_empty();
            if values != self.env_values {
                out.env_changed = !first;
                self.env_values = values;
            }
        }
        // Secrets no template asked for this pass are forgotten.
        let due = self.cache.deps.values().map(|d| d.next).min();
        if out.errors.is_empty() {
            self.failures = 0;
            self.rendered = self.files.iter().all(|f| f.health.rendered) && (env_ok);
            self.next = Some(due.unwrap_or(now + self.static_interval));
        } else {
            self.failures = self.failures.saturating_add(1);
            let wait = crate::util::backoff(self.failures, cap);
            self.next = Some(Instant::now() + wait);
        }
        out
    }
}

/// The secrets a pass reads, through the cache.
struct VaultFetch<'a> {
    client: &'a Client,
    cache: &'a mut Cache,
    now: Instant,
    static_interval: Duration,
    /// How the last request that failed counts (`status::error_kind`):
    /// the template fails with its message, a string.
    kind: Option<&'static str>,
}

/// A failed request's message, its kind kept in `kind`.
fn note(kind: &mut Option<&'static str>, e: &Error) -> String {
    *kind = Some(super::status::error_kind(e));
    e.to_string()
}

fn key(kind: &str, path: &str, params: &[(String, String)]) -> String {
    let mut k = format!("{kind} {path}");
    for (a, b) in params {
        k.push_str(&format!(" {a}={b}"));
    }
    k
}

fn jittered(d: Duration, from: f64, to: f64) -> Duration {
    d.mul_f64(from + (to - from) * crate::util::random::jitter())
        .max(Duration::from_secs(1))
}

impl VaultFetch<'_> {
    fn schedule(&self, s: &Secret, is_kv: bool) -> (Instant, Duration, bool) {
        let (wait, asked, capped) =
            schedule(s, is_kv, self.static_interval, super::sources::unix_now());
        (self.now + wait, asked, capped)
    }

    /// The path a read goes to: `data/` inserted for a KV v2 mount, as
    /// consul-template does.
    fn kv_path(&mut self, path: &str) -> (String, bool) {
        if let Some(p) = self.cache.kv_paths.get(path) {
            return p.clone();
        }
        let (clean, query) = path.split_once('?').unwrap_or((path, ""));
        let clean = clean.trim_matches('/');
        // A token that may not ask about the mount reads the path as given.
        let info = self
            .client
            .read(&format!("sys/internal/ui/mounts/{clean}"))
            .ok()
            .flatten();
        let data = info.as_ref().and_then(|v| v.get("data"));
        let mount = data
            .and_then(|d| d.get("path"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim_matches('/')
            .to_string();
        let kind = data
            .and_then(|d| d.get("type"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let v2 = data
            .and_then(|d| d.get("options"))
            .and_then(|o| o.get("version"))
            .and_then(Value::as_str)
            == Some("2");
        let mut p = clean.to_string();
        if kind == "kv" && v2 && !mount.is_empty() {
            let rest = clean
                .strip_prefix(mount.as_str())
                .unwrap_or(clean)
                .trim_start_matches('/');
            if !rest.starts_with("data/") && !rest.is_empty() {
                p = format!("{mount}/data/{rest}");
            }
        }
        if !query.is_empty() {
            p = format!("{p}?{query}");
        }
        let v = (p, kind == "kv" || kind == "generic");
        self.cache.kv_paths.insert(path.to_string(), v.clone());
        v
    }

    fn get(
        &mut self,
        kind: &str,
        path: &str,
        params: &[(String, String)],
    ) -> std::result::Result<&Dep, String> {
        let k = key(kind, path, params);
        let now = self.now;
        let due = self.cache.deps.get(&k).is_none_or(|d| d.next <= now);
        if due {
            // A renewable lease that is due is renewed, not fetched again.
            if let Some(d) = self.cache.deps.get_mut(&k) {
                if !d.capped && !d.secret.lease_id.is_empty() {
                    match self.client.renew(&d.secret.lease_id, d.asked) {
                        Ok(granted) => {
                            if granted < d.asked {
                                d.capped = true;
                                d.next = now + jittered(granted, 0.85, 0.95);
                            } else {
                                d.next = now + granted / 3 * 2;
                            }
                            return Ok(self.cache.deps.get(&k).expect("present"));
                        }
                        Err(e) if e.is_unavailable() => return Err(note(&mut self.kind, &e)),
                        Err(_) => {}
                    }
                }
            }
            let dep = self.fetch(kind, path, params)?;
            self.cache.deps.insert(k.clone(), dep);
        }
        Ok(self.cache.deps.get(&k).expect("present"))
    }

    fn fetch(
        &mut self,
        kind: &str,
        path: &str,
        params: &[(String, String)],
    ) -> std::result::Result<Dep, String> {
        let path = path.trim_start_matches('/');
        let (answer, is_kv, list) = match kind {
            "list" => {
                let mut keys = self
                    .client
                    .list(path)
                    .map_err(|e| note(&mut self.kind, &e))?;
                keys.sort();
                (json!({}), true, keys)
            }
            "read" if params.is_empty() => {
                let (p, is_kv) = self.kv_path(path);
                let a = self
                    .client
                    .read(&p)
                    .map_err(|e| note(&mut self.kind, &e))?
                    .ok_or_else(|| format!("no secret exists at {p}"))?;
                (a, is_kv, Vec::new())
            }
            _ => {
                let mut body = serde_json::Map::new();
                for (k, v) in params {
                    body.insert(k.clone(), Value::String(v.clone()));
                }
                let a = self
                    .client
                    .write(path, &Value::Object(body))
                    .map_err(|e| note(&mut self.kind, &e))?
                    .unwrap_or_else(|| json!({}));
                (a, false, Vec::new())
            }
        };
        let mut secret = secret_from_answer(&answer);
        let (next, asked, capped) = self.schedule(&secret, is_kv);
        if kind == "pki" {
            secret.data = pki_data(&secret);
        }
        let mut a = answer;
        crate::secret_string::zeroize_json(&mut a);
        Ok(Dep {
            secret,
            list,
            next,
            asked,
            capped,
        })
    }
}

/// When a fetched secret is due again (from now), what renewals ask for,
/// and whether it is fetched anew (not renewed) when due: certificates at
/// 85-95 % of their validity left, static secrets (KV, no lease) every
/// `static_interval`, renewable leases renewed at 2/3, other leases
/// fetched again at 85-95 %.
fn schedule(
    s: &Secret,
    is_kv: bool,
    static_interval: Duration,
    unix_now: u64,
) -> (Duration, Duration, bool) {
    let lease = Duration::from_secs(s.lease_duration.max(0) as u64);
    if let Some(exp) = cert_expiry(s).filter(|_| s.lease_id.is_empty()) {
        let left = Duration::from_secs(exp.saturating_sub(unix_now));
        return (jittered(left, 0.85, 0.95), Duration::ZERO, true);
    }
    if is_kv || lease.is_zero() {
        return (static_interval, Duration::ZERO, true);
    }
    if s.renewable && !s.lease_id.is_empty() {
        return (lease / 3 * 2, lease, false);
    }
    (jittered(lease, 0.85, 0.95), Duration::ZERO, true)
}

/// `pkiCert`'s `.Data`: `Cert`, `Key`, `CA`, `CAChain`.
fn pki_data(s: &Secret) -> BTreeMap<String, crate::template::Val> {
    use crate::template::Val;
    // Each PEM ends with a newline, as consul-template writes them.
    let pem = |v: &Val| match v {
        Val::Str(p) if !p.is_empty() && !p.ends_with('\n') => Val::Str(format!("{p}\n")),
        other => other.clone(),
    };
    let get = |k: &str| s.data.get(k).map(pem).unwrap_or(Val::str(""));
    let mut m = BTreeMap::new();
    m.insert("Cert".to_string(), get("certificate"));
    m.insert("Key".to_string(), get("private_key"));
    m.insert("CA".to_string(), get("issuing_ca"));
    m.insert(
        "CAChain".to_string(),
        match s.data.get("ca_chain") {
            Some(Val::List(l, _)) => Val::List(std::rc::Rc::new(l.iter().map(pem).collect()), true),
            _ => Val::strings(Vec::new()),
        },
    );
    m
}

/// The `expiration` of a certificate answer (Unix seconds), if it is one.
fn cert_expiry(s: &Secret) -> Option<u64> {
    use crate::template::Val;
    if !s.data.contains_key("certificate") && !s.data.contains_key("Cert") {
        return None;
    }
    match s.data.get("expiration") {
        Some(Val::Number(n)) => n.parse().ok(),
        Some(Val::Int(i)) => u64::try_from(*i).ok(),
        _ => None,
    }
}

impl Fetch for VaultFetch<'_> {
    fn secret(
        &mut self,
        path: &str,
        params: &[(String, String)],
    ) -> std::result::Result<Secret, String> {
        self.get("read", path, params).map(|d| d.secret.clone())
    }

    fn secrets(&mut self, path: &str) -> std::result::Result<Vec<String>, String> {
        self.get("list", path, &[]).map(|d| d.list.clone())
    }

    fn pki_cert(
        &mut self,
        path: &str,
        params: &[(String, String)],
    ) -> std::result::Result<Secret, String> {
        self.get("pki", path, params).map(|d| d.secret.clone())
    }

    fn env(&mut self, name: &str) -> String {
        std::env::var(name).unwrap_or_default()
    }

    fn now(&mut self) -> u64 {
        super::sources::unix_now()
    }
}

impl super::Agent {
    /// One pass over the templates when it is due: write what changed, run
    /// the commands, report. Returns whether the supervised command must
    /// restart, and an exit code when the agent must stop
    /// (`exit_on_retry_failure`).
    pub(crate) fn step_templates(&mut self, cap: Duration) -> (bool, Option<u8>) {
        if self.templates.next.is_none_or(|n| n > Instant::now()) {
            return (false, None);
        }
        let pass = self.templates.pass(&self.client, cap);
        if !pass.written.is_empty() {
            self.event("template_rendered", json!({"written": pass.written}));
        }
        for argv in &pass.commands {
            match self.commands.spawn(argv) {
                Ok(()) => self.event(
                    "notified",
                    json!({"actions": [format!("command {:?}", argv[0])]}),
                ),
                Err(e) => self.event("notify_failed", json!({"error": e.to_string()})),
            }
        }
        for e in &pass.errors {
            let retry = self
                .templates
                .next
                .map(|n| n.saturating_duration_since(Instant::now()).as_millis() as u64);
            self.event(
                "error",
                json!({"templates": true, "error": e, "failures": self.templates.failures,
                       "retry_in_ms": retry, "files": "kept"}),
            );
        }
        let exit = (!pass.errors.is_empty()
            && self.config.template_config.exit_on_retry_failure
            && self.templates.failures >= TEMPLATE_ATTEMPTS)
            .then_some(1);
        let restart = pass.env_changed
            && self
                .config
                .exec
                .as_ref()
                .and_then(|e| e.restart_on_secret_changes.as_deref())
                != Some("never");
        (restart, exit)
    }
}

/// Failed passes in a row after which `exit_on_retry_failure` stops the
/// agent.
pub(crate) const TEMPLATE_ATTEMPTS: u32 = 4;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::Val;

    fn secret(lease: i64, renewable: bool, lease_id: &str, data: &[(&str, Val)]) -> Secret {
        Secret {
            lease_duration: lease,
            renewable,
            lease_id: lease_id.into(),
            data: data
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            ..Secret::default()
        }
    }

    #[test]
    fn each_kind_of_secret_is_due_on_its_own_schedule() {
        let five = Duration::from_secs(300);
        // KV v1 has a lease duration, but it is static: the interval.
        let kv1 = secret(2_764_800, false, "", &[("a", Val::str("x"))]);
        assert_eq!(schedule(&kv1, true, five, 0), (five, Duration::ZERO, true));
        // No lease: static.
        assert_eq!(schedule(&secret(0, false, "", &[]), false, five, 0).0, five);
        // A renewable lease: renewed at two thirds, asking for the lease.
        let db = secret(3600, true, "database/creds/app/x", &[]);
        assert_eq!(
            schedule(&db, false, five, 0),
            (Duration::from_secs(2400), Duration::from_secs(3600), false)
        );
        // A lease that cannot be renewed: fetched again at 85-95 %.
        let (w, _, anew) = schedule(&secret(1000, false, "ssh/creds/otp/x", &[]), false, five, 0);
        assert!(
            anew && w >= Duration::from_secs(850) && w <= Duration::from_secs(950),
            "{w:?}"
        );
        // A certificate: 85-95 % of the validity left.
        let cert = secret(
            0,
            false,
            "",
            &[
                ("certificate", Val::str("PEM")),
                ("expiration", Val::Number("11000".into())),
            ],
        );
        let (w, _, anew) = schedule(&cert, false, five, 1000);
        assert!(
            anew && w >= Duration::from_secs(8500) && w <= Duration::from_secs(9500),
            "{w:?}"
        );
        // One that has expired is due at once (at least a second from now).
        assert_eq!(
            schedule(&cert, false, five, 20_000).0,
            Duration::from_secs(1)
        );
    }

    #[test]
    fn pki_cert_data_ends_each_pem_with_a_newline() {
        let s = secret(
            0,
            false,
            "",
            &[
                ("certificate", Val::str("C")),
                ("private_key", Val::str("K\n")),
                ("issuing_ca", Val::str("A")),
                (
                    "ca_chain",
                    Val::List(std::rc::Rc::new(vec![Val::str("A")]), false),
                ),
            ],
        );
        let d = pki_data(&s);
        let text = |k: &str| d[k].as_str().unwrap().to_string();
        assert_eq!(
            (text("Cert"), text("Key"), text("CA")),
            ("C\n".into(), "K\n".into(), "A\n".into())
        );
        assert!(matches!(&d["CAChain"], Val::List(l, true) if l[0].as_str() == Some("A\n")));
    }
}
