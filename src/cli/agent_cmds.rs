//! `agent` and `agent status`: a thin shell over [`crate::agent`].

use std::path::PathBuf;

use crate::agent::{status, Agent, AgentConfig};
use crate::{Config, Error};

use super::{emit, opt, parse_or_help, switch, Flag};

const USAGE: &str =
    "vaultid agent --config FILE | vaultid agent status [--status-file F | --config FILE]";
const ABOUT: &str = "Keep the agent's credentials alive: restore the identity, keep a Vault token
(optionally in a sink file), render secrets (KV, dynamic, PKI, Hydra token) into
files and keep them current, tell the application on real changes, ride out
Vault outages, report a status file. Vault settings come from the usual
VAULT_* / VAULTID_* environment. Logs one JSON object per event on stderr.
SIGHUP re-reads now; SIGTERM/SIGINT stop cleanly. See docs/agent.md.

`vaultid agent status` reads the status file and exits 0 (healthy), 5
(running, but Vault refuses its token, its login or a source's path), 3
(running, files in place, last attempt failed: an outage) or 1 (not
running, or not every source rendered yet). With --human it prints a
readable summary: the token, each source, the command.";

const FLAGS: &[Flag] = &[
    opt(
        "config",
        "the agent's configuration: JSON, or Vault Agent HCL (.hcl)",
    ),
    opt("status-file", "status: the status file to read"),
    switch(
        "human",
        "readable text instead of JSON (status; the running agent's events and logs)",
    ),
    switch("help", "show this help"),
];

/// Events as readable lines: `vaultid: TS EVENT: key=value ...`.
fn human_events() -> crate::agent::EventSink {
    Box::new(|v: &serde_json::Value| {
        use std::io::Write;
        let Some(m) = v.as_object() else { return };
        let text = |v: &serde_json::Value| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let mut line = format!(
            "vaultid: {} {}:",
            m.get("ts").map(text).unwrap_or_default(),
            m.get("event").map(text).unwrap_or_default()
        );
        for (k, val) in m.iter().filter(|(k, _)| *k != "ts" && *k != "event") {
            line.push_str(&format!(" {k}={}", text(val)));
        }
        line.push('\n');
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    })
}

/// Run `agent` with the arguments after the command name.
pub(crate) fn run(rest: &[String]) -> Result<u8, Error> {
    let Some(a) = parse_or_help(rest, FLAGS, USAGE, ABOUT)? else {
        return Ok(0);
    };
    match a.positional.first().map(String::as_str) {
        Some("status") => {
            a.exactly(1, USAGE)?;
            let path = match (a.value("status-file"), a.value("config")) {
                (Some(f), _) => PathBuf::from(f),
                (None, Some(c)) => AgentConfig::load(c.as_ref())?
                    .status_file
                    .ok_or_else(|| Error::Config(format!("{c} sets no status_file")))?,
                (None, None) => {
                    return Err(Error::Config(format!(
                        "agent status needs --status-file or --config; usage: {USAGE}"
                    )))
                }
            };
            let (code, doc) = status::check(&path)?;
            if a.has("human") {
                use std::io::Write;
                let text = status::human(&doc, crate::agent::sources::unix_now());
                let _ = std::io::stdout().lock().write_all(text.as_bytes());
            } else {
                emit(&doc, false);
            }
            Ok(code)
        }
        Some(other) => Err(Error::Config(format!(
            "unknown agent subcommand {other:?}; usage: {USAGE}"
        ))),
        None => {
            if a.value("status-file").is_some() {
                return Err(Error::Config(format!(
                    "--status-file is for `agent status`; usage: {USAGE}"
                )));
            }
            let file = a.value("config").ok_or_else(|| {
                Error::Config(format!("agent needs --config FILE; usage: {USAGE}"))
            })?;
            let config = AgentConfig::load(file.as_ref())?;
            if !a.has("human") {
                super::json_logging();
            }
            let env = Config::from_env()?;
            let mut agent = Agent::new(config, env)?;
            agent.handle_signals()?;
            if a.has("human") {
                agent = agent.with_events(human_events());
            }
            agent.run()
        }
    }
}
