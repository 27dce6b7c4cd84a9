//! The status file: what each source last did, when, its next renewal and
//! its last error, written atomically (0644: it holds no secret) and only
//! when it changes; [`check`] turns it into an exit code for probes.
//!
//! Templates (`template`, `env_template`) count exactly as sources do.
//!
//! Exit codes of [`check`] (the CLI's contract): 0 the agent runs and
//! every source is rendered and healthy; 5 it runs, but Vault refuses its
//! token (revoked, expired), its login, or a source's path: not an
//! outage, somebody must act; 3 it runs and every source is rendered, but
//! some last attempt failed (Vault unreachable or sealed: the files are
//! the last good ones); 1 it is not running, or some source has never
//! been rendered, or the file cannot be read.

use std::path::Path;

use serde_json::json;
use serde_json::Value;

use crate::error::Error;
use crate::error::Result;

/// Largest status file read (bytes).
#[cfg(feature = "cli")]
pub(crate) const MAX_STATUS_BYTES: u64 = 4 << 20;

/// Write `status` to `path` when it differs from `last` (the bytes written
/// last). Returns whether it wrote.
pub(crate) fn write(path: &Path, status: &Value, last: &mut Option<[u8; 32]>) -> Result<bool> {
    let mut bytes = serde_json::to_vec_pretty(status).unwrap_or_default();
    bytes.push(b'\n');
    super::render::write_if_changed(path, &bytes, 0o644, last)
}

/// Read a status file and judge it: (exit code, the status with a
/// `healthy` summary).
#[cfg(feature = "cli")]
pub(crate) fn check(path: &Path) -> Result<(u8, Value)> {
    use std::io::Read;
    let what = || {
        format!(
            "reading the agent status file {} (is the agent running?)",
            path.display()
        )
    };
    let f = std::fs::File::open(path).map_err(|e| Error::io(what(), e))?;
    let mut bytes = Vec::new();
    f.take(MAX_STATUS_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(what(), e))?;
    if bytes.len() as u64 > MAX_STATUS_BYTES {
        return Err(Error::Config(format!(
            "{} is larger than {MAX_STATUS_BYTES} bytes: not an agent status file",
            path.display()
        )));
    }
    let status: Value = serde_json::from_slice(&bytes).map_err(|e| {
        Error::Config(format!(
            "{} is not an agent status file: {e}",
            path.display()
        ))
    })?;
    Ok(judge(status))
}

/// How a failed step counts: `denied` (Vault or Hydra refused: a revoked
/// token, a refused login, a path the policy does not allow; nobody's
/// outage), `unavailable` (an outage: unreachable, sealed, electing,
/// failing) or `failed` (anything else).
pub(crate) fn error_kind(e: &Error) -> &'static str {
    if matches!(e, Error::PermissionDenied { .. }) {
        "denied"
    } else if e.is_outage() {
        "unavailable"
    } else {
        "failed"
    }
}

/// The verdict on a status document (pure; never panics): 1 when the agent
/// is not running, 5 when Vault refuses its token, its login or a source's
/// path, 1 when some source was never rendered, 3 when some last attempt
/// failed otherwise (the files are the last good ones), else 0.
pub(crate) fn judge(mut status: Value) -> (u8, Value) {
    let pid = status.get("pid").and_then(Value::as_u64).unwrap_or(0);
    let state = status.get("state").and_then(Value::as_str).unwrap_or("");
    let alive =
        pid > 1 && u32::try_from(pid).is_ok_and(|p| crate::secrets::process::send_signal(p, 0));
    let running = alive && state != "stopped";
    let mut problems = Vec::new();
    let mut denied = Vec::new();
    let mut degraded = Vec::new();
    if !running {
        problems.push(format!("the agent (pid {pid}) is not running"));
    }
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_string);
    if let Some(t) = status.get("token") {
        let error = text(t, "last_error");
        match text(t, "state").as_deref() {
            Some(s @ ("denied" | "expired")) => denied.push(format!(
                "token {s}: {}",
                error.unwrap_or_else(|| "refused by Vault".into())
            )),
            _ => degraded.extend(error.map(|e| format!("token: {e}"))),
        }
    }
    // Sources and templates count alike: refused (5), never rendered (1),
    // failing since (3).
    let sources = status
        .get("sources")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(name, s)| (name.clone(), s));
    let templates = status
        .get("templates")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|t| (template_name(t), t));
    for (name, s) in sources.chain(templates) {
        let error = text(s, "last_error");
        let refused = text(s, "last_error_kind").as_deref() == Some("denied");
        match error {
            Some(e) if refused => denied.push(format!("{name}: {e}")),
            _ if !s.get("rendered").and_then(Value::as_bool).unwrap_or(false) => {
                problems.push(format!("{name}: not rendered yet"))
            }
            Some(e) => degraded.push(format!("{name}: {e}")),
            None => {}
        }
    }
    let code = if !running {
        1
    } else if !denied.is_empty() {
        5
    } else if !problems.is_empty() {
        1
    } else if !degraded.is_empty() {
        3
    } else {
        0
    };
    if let Value::Object(m) = &mut status {
        m.insert(
            "healthy".into(),
            json!({"ok": code == 0, "exit_code": code, "problems": problems,
                   "denied": denied, "degraded": degraded}),
        );
    }
    (code, status)
}

/// How a template of the status document is named: `template DEST` or
/// `env_template NAME`.
fn template_name(t: &Value) -> String {
    let text = |key: &str| t.get(key).and_then(Value::as_str);
    match (text("destination"), text("env_template")) {
        (Some(d), _) => format!("template {d}"),
        (None, Some(n)) => format!("env_template {n}"),
        (None, None) => "template ?".to_string(),
    }
}

/// A judged status document as readable lines (`agent status --human`):
/// the verdict, the token, each source, the command. `now` is the time
/// (Unix seconds) the relative times are counted from. Pure; never panics
/// on any document.
#[cfg(feature = "cli")]
pub(crate) fn human(status: &Value, now: u64) -> String {
    let mut out = String::new();
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_string);
    let num = |v: &Value, key: &str| v.get(key).and_then(Value::as_u64);
    let when = |t: u64| {
        if t > now {
            format!("in {}", span(t - now))
        } else {
            format!("{} ago", span(now - t))
        }
    };
    let mut line = |s: String| {
        out.push_str(&crate::util::escape_invisible(&s));
        out.push('\n');
    };
    let healthy = status.get("healthy").cloned().unwrap_or(Value::Null);
    let code = num(&healthy, "exit_code").unwrap_or(1);
    let mut head = format!(
        "agent: {}, pid {}",
        text(status, "state").unwrap_or_else(|| "unknown".into()),
        num(status, "pid").unwrap_or(0)
    );
    if let Some(t) = num(status, "started_at") {
        head.push_str(&format!(", started {}", when(t)));
    }
    head.push_str(&match code {
        0 => "; healthy (exit 0)".to_string(),
        c => format!("; not healthy (exit {c})"),
    });
    line(head);
    for (key, label) in [
        ("denied", "denied"),
        ("problems", "problem"),
        ("degraded", "degraded"),
    ] {
        for item in healthy
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(s) = item.as_str() {
                line(format!("  {label}: {s}"));
            }
        }
    }
    if let Some(t) = status.get("token").filter(|t| t.is_object()) {
        let method = text(t, "method").unwrap_or_else(|| "token".into());
        let mut l = format!(
            "token: {} ({})",
            text(t, "state").unwrap_or_else(|| "unknown".into()),
            match t.get("can_login").and_then(Value::as_bool) {
                Some(false) => "a given token: cannot log in again".to_string(),
                _ => format!("{method} login"),
            }
        );
        match num(t, "expires_at") {
            Some(e) if e > now => l.push_str(&format!(", expires {}", when(e))),
            Some(e) => l.push_str(&format!(", expired {}", when(e))),
            None if t.get("renewable").is_some_and(Value::is_boolean) => {
                l.push_str(", does not expire")
            }
            None => {}
        }
        match t.get("renewable").and_then(Value::as_bool) {
            Some(true) => l.push_str(", renewable"),
            Some(false) => l.push_str(", not renewable"),
            None => {}
        }
        if let Some(r) = num(t, "last_renewed_at") {
            l.push_str(&format!(", renewed or obtained {}", when(r)));
        }
        if let Some(f) = num(t, "failures").filter(|f| *f > 0) {
            l.push_str(&format!(", {f} failures in a row"));
        }
        if let Some(r) = num(t, "next_retry_at") {
            l.push_str(&format!(", next try {}", when(r)));
        }
        if let Some(s) = text(t, "sink") {
            l.push_str(&format!("; sink {s}"));
        }
        line(l);
        if let Some(e) = text(t, "last_error") {
            line(format!("  error: {e}"));
        }
        if let Some(n) = text(t, "note") {
            line(format!("  note: {n}"));
        }
    }
    if let Some(sources) = status.get("sources").and_then(Value::as_object) {
        for (name, s) in sources {
            let rendered = s.get("rendered").and_then(Value::as_bool).unwrap_or(false);
            let mut l = format!(
                "source {name} ({}): {}",
                text(s, "kind").unwrap_or_else(|| "?".into()),
                if rendered { "rendered" } else { "not rendered" }
            );
            if let Some(a) = text(s, "last_action") {
                l.push_str(&format!("; {a}"));
                if let Some(t) = num(s, "last_action_at") {
                    l.push_str(&format!(" {}", when(t)));
                }
            }
            for (k, v) in s
                .get("detail")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                let v = match v {
                    Value::String(v) => v.clone(),
                    Value::Number(n) => n.to_string(),
                    _ => continue,
                };
                match k.as_str() {
                    "expiration" => {}
                    "interval_s" => l.push_str(&format!("; checked every {v} s")),
                    k => l.push_str(&format!("; {} {v}", k.replace('_', " "))),
                }
            }
            if let Some(e) = num(s, "expires_at") {
                l.push_str(&format!("; expires {}", when(e)));
            }
            if let Some(r) = num(s, "next_renewal") {
                l.push_str(&format!("; next renewal {}", when(r)));
            }
            line(l);
            if let Some(e) = text(s, "last_error") {
                let failures = num(s, "failures").unwrap_or(0);
                line(format!(
                    "  error: {e} ({failures} failures in a row; the files are kept)"
                ));
            }
        }
    }
    for t in status
        .get("templates")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let rendered = t.get("rendered").and_then(Value::as_bool).unwrap_or(false);
        let mut l = format!(
            "{}: {}",
            template_name(t),
            if rendered { "rendered" } else { "not rendered" }
        );
        if let Some(r) = num(t, "last_rendered_at") {
            l.push_str(&format!(" {}", when(r)));
        }
        line(l);
        if let Some(e) = text(t, "last_error") {
            let failures = num(t, "failures").unwrap_or(0);
            line(format!(
                "  error: {e} ({failures} failures in a row; {})",
                if rendered {
                    "the file is kept"
                } else {
                    "nothing written yet"
                }
            ));
        }
    }
    if let Some(c) = status.get("child").filter(|c| c.is_object()) {
        let restarts = num(c, "restarts").unwrap_or(0);
        line(match num(c, "pid") {
            Some(p) => format!("child: pid {p}, restarts {restarts}"),
            None => format!("child: not running, restarts {restarts}"),
        });
    }
    out
}

/// A duration in seconds as a short text: `42 s`, `3 m 20 s`, `5 h 2 m`,
/// `2 d 3 h`.
#[cfg(feature = "cli")]
fn span(s: u64) -> String {
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} m {} s", s / 60, s % 60),
        3600..86_400 => format!("{} h {} m", s / 3600, s / 60 % 60),
        _ => format!("{} d {} h", s / 86_400, s / 3600 % 24),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts() {
        let me = std::process::id();
        let ok = json!({"pid": me, "state": "running", "sources": {"a": {"rendered": true}}});
        assert_eq!(judge(ok).0, 0);
        let degraded = json!({"pid": me, "state": "running",
            "sources": {"a": {"rendered": true, "last_error": "Vault unreachable"}}});
        assert_eq!(judge(degraded).0, 3);
        let fresh = json!({"pid": me, "state": "running", "sources": {"a": {"rendered": false}}});
        assert_eq!(judge(fresh).0, 1);
        let gone = json!({"pid": 0, "state": "running", "sources": {}});
        assert_eq!(judge(gone).0, 1);
        assert_eq!(judge(json!([1])).0, 1);
    }

    #[test]
    fn a_refused_token_or_path_is_exit_5_not_an_outage() {
        let me = std::process::id();
        let token = json!({"pid": me, "state": "running",
            "token": {"state": "denied", "last_error": "token renewal failed: permission denied"},
            "sources": {"a": {"rendered": true, "last_error": "permission denied", "last_error_kind": "denied"}}});
        let (code, doc) = judge(token);
        assert_eq!(code, 5);
        assert_eq!(doc["healthy"]["denied"].as_array().map(Vec::len), Some(2));
        let expired = json!({"pid": me, "state": "running", "token": {"state": "expired"},
            "sources": {"a": {"rendered": false}}});
        assert_eq!(judge(expired).0, 5);
        let source = json!({"pid": me, "state": "running", "token": {"state": "ok"},
            "sources": {"a": {"rendered": true, "last_error": "denied", "last_error_kind": "denied"}}});
        assert_eq!(judge(source).0, 5);
        let outage = json!({"pid": me, "state": "running",
            "token": {"state": "unavailable", "last_error": "Vault unreachable"},
            "sources": {"a": {"rendered": true, "last_error": "unreachable", "last_error_kind": "unavailable"}}});
        assert_eq!(judge(outage).0, 3);
        // Not running wins.
        let gone = json!({"pid": 0, "state": "running", "token": {"state": "denied"}});
        assert_eq!(judge(gone).0, 1);
    }

    #[test]
    fn templates_count_as_sources() {
        let me = std::process::id();
        let doc = |t: Value| {
            json!({"pid": me, "state": "running", "token": {"state": "ok"},
                   "sources": {"a": {"rendered": true}}, "templates": [t]})
        };
        let ok = json!({"destination": "/run/db.env", "rendered": true, "last_rendered_at": 5});
        assert_eq!(judge(doc(ok)).0, 0);
        // Never rendered: 1, whatever its error.
        let fresh = json!({"destination": "/run/db.env", "rendered": false});
        let (code, judged) = judge(doc(fresh));
        assert_eq!(code, 1);
        assert_eq!(
            judged["healthy"]["problems"],
            json!(["template /run/db.env: not rendered yet"])
        );
        let failing = json!({"destination": "/run/db.env", "rendered": false,
            "last_error": "template t: line 1: executing: map has no entry for key \"x\"",
            "last_error_kind": "failed", "failures": 2});
        assert_eq!(judge(doc(failing)).0, 1);
        // Rendered, then failing: 3 for an outage or a template error...
        for kind in ["unavailable", "failed"] {
            let t = json!({"destination": "/run/db.env", "rendered": true,
                "last_error": "Vault unreachable", "last_error_kind": kind});
            let (code, judged) = judge(doc(t));
            assert_eq!(code, 3, "{kind}");
            assert_eq!(
                judged["healthy"]["degraded"],
                json!(["template /run/db.env: Vault unreachable"])
            );
        }
        // ...5 when Vault refuses, rendered or not.
        for rendered in [true, false] {
            let t = json!({"env_template": "DB_PASSWORD", "rendered": rendered,
                "last_error": "permission denied", "last_error_kind": "denied"});
            let (code, judged) = judge(doc(t));
            assert_eq!(code, 5);
            assert_eq!(
                judged["healthy"]["denied"],
                json!(["env_template DB_PASSWORD: permission denied"])
            );
        }
        // Odd documents do not count as healthy templates, nor panic.
        assert_eq!(judge(doc(json!(7))).0, 1);
        let (_, judged) = judge(json!({"pid": me, "state": "running", "templates": {"x": 1}}));
        let _ = human(&judged, 0);
    }

    #[test]
    fn the_readable_status_shows_templates() {
        let me = std::process::id();
        let doc = json!({"pid": me, "state": "running", "templates": [
            {"destination": "/run/db.env", "rendered": true, "last_rendered_at": 1150},
            {"destination": "/run/app.json", "rendered": true, "last_rendered_at": 900,
             "last_error": "Vault unreachable", "last_error_kind": "unavailable", "failures": 4},
            {"env_template": "TOKEN", "rendered": false, "last_error": "permission denied",
             "last_error_kind": "denied", "failures": 1}]});
        let (code, judged) = judge(doc);
        assert_eq!(code, 5);
        let text = human(&judged, 1200);
        assert!(
            text.contains("\ntemplate /run/db.env: rendered 50 s ago\n"),
            "{text}"
        );
        assert!(
            text.contains("template /run/app.json: rendered 5 m 0 s ago\n  error: Vault unreachable (4 failures in a row; the file is kept)"),
            "{text}"
        );
        assert!(
            text.contains("env_template TOKEN: not rendered\n  error: permission denied (1 failures in a row; nothing written yet)"),
            "{text}"
        );
        assert!(
            text.contains("  denied: env_template TOKEN: permission denied"),
            "{text}"
        );
    }

    #[test]
    fn the_readable_status_has_no_json() {
        let me = std::process::id();
        let doc = json!({"pid": me, "state": "running", "started_at": 1000,
            "token": {"state": "denied", "method": "token", "can_login": false,
                      "expires_at": 1100, "renewable": true, "failures": 3,
                      "next_retry_at": 1204,
                      "last_error": "token look-up failed: permission denied",
                      "note": "a token given to the agent cannot log in again"},
            "child": {"pid": 42, "restarts": 1},
            "sources": {"db": {"kind": "kv", "rendered": true, "last_action": "read",
                "last_action_at": 1150, "detail": {"mount": "secret", "path": "app/db",
                "version": 7, "interval_s": 30}, "last_error": "permission denied",
                "last_error_kind": "denied", "failures": 2, "files": ["/run/db.env"]}}});
        let (code, judged) = judge(doc);
        assert_eq!(code, 5);
        let text = human(&judged, 1200);
        assert!(!text.contains('{') && !text.contains('['), "{text}");
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("agent: running, pid"), "{text}");
        assert!(
            lines[0].contains("started 3 m 20 s ago") && lines[0].contains("exit 5"),
            "{text}"
        );
        assert!(
            text.contains(
                "token: denied (a given token: cannot log in again), expired 1 m 40 s ago"
            ),
            "{text}"
        );
        assert!(
            text.contains("3 failures in a row, next try in 4 s"),
            "{text}"
        );
        assert!(text.contains("  note: a token given"), "{text}");
        assert!(text.contains("source db (kv): rendered; read 50 s ago; checked every 30 s; mount secret; path app/db; version 7"), "{text}");
        assert!(
            text.contains("  error: permission denied (2 failures in a row"),
            "{text}"
        );
        assert!(text.contains("child: pid 42, restarts 1"), "{text}");
        // Whatever the document, no panic.
        for v in [
            json!(null),
            json!([1]),
            json!({"token": 1, "sources": [], "child": "x"}),
        ] {
            let _ = human(&v, 0);
        }
        assert_eq!(span(59), "59 s");
        assert_eq!(span(3600 * 26), "1 d 2 h");
    }
}
