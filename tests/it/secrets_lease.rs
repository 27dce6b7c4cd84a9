//! Dynamic secrets against a real OpenBao database secrets engine and a
//! real PostgreSQL (started by `scripts/postgres.sh`): renewal across
//! several TTLs, new credentials at the max TTL, the credentials logging in
//! while their lease lives, the role gone after revocation, and
//! `vaultid env --dynamic -- cmd`.
//!
//! Without `bao` or PostgreSQL the tests are skipped with a note, except
//! under `CI=true`, where that is a failure.

use crate::common;

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::bao::Bao;
use serde_json::json;
use vaultid::secrets::{LeaseEvent, LeasePolicy, LeaseWatcher};

pub(crate) const ROOT_PASSWORD: &str = "vaultid-test-root";
/// The role's default TTL and max TTL, in seconds.
pub(crate) const TTL: u64 = 4;
pub(crate) const MAX_TTL: u64 = 16;

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

fn missing(what: &str) {
    if in_ci() {
        panic!("{what} is required under CI=true");
    }
    eprintln!("skipping: {what} is not available (set CI=true to make this a failure)");
}

/// A PostgreSQL server for one test, stopped on drop.
pub(crate) struct Postgres {
    pub(crate) port: u16,
    dir: PathBuf,
}

impl Postgres {
    /// The database engine's connection settings (`{mount}/config/pg`) for
    /// this server, as its superuser.
    pub(crate) fn engine_config(&self) -> serde_json::Value {
        json!({
            "plugin_name": "postgresql-database-plugin",
            "connection_url": format!(
                "postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{}/postgres?sslmode=disable",
                self.port
            ),
            "username": "postgres",
            "password": ROOT_PASSWORD,
            "allowed_roles": "*",
        })
    }

    pub(crate) fn start() -> Option<Postgres> {
        if Command::new("psql").arg("--version").output().is_err() {
            missing("psql");
            return None;
        }
        let dir = std::env::temp_dir().join(format!("vaultid-pg-{}", uuid::Uuid::new_v4()));
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/postgres.sh");
        let out = Command::new("sh")
            .arg(script)
            .env("PG_DIR", &dir)
            .env("PG_SUPERUSER_PASSWORD", ROOT_PASSWORD)
            .stderr(Stdio::piped())
            .output()
            .expect("sh runs");
        if !out.status.success() {
            missing(&format!(
                "PostgreSQL ({})",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
            return None;
        }
        let port = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("postgres.sh prints the port");
        Some(Postgres { port, dir })
    }

    /// Run one query as `user`; its output, or psql's error.
    pub(crate) fn query_as(&self, user: &str, password: &str, sql: &str) -> Result<String, String> {
        let out = Command::new("psql")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", user, "-d", "postgres", "-w", "-tAc", sql])
            .env("PGPASSWORD", password)
            .env("PGCONNECT_TIMEOUT", "5")
            .output()
            .expect("psql runs");
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    }

    pub(crate) fn role_exists(&self, name: &str) -> bool {
        let n = self
            .query_as(
                "postgres",
                ROOT_PASSWORD,
                &format!("select count(*) from pg_roles where rolname = '{name}'"),
            )
            .expect("superuser query");
        n == "1"
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = Command::new("sh")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/postgres.sh"))
            .arg("stop")
            .env("PG_DIR", &self.dir)
            .status();
    }
}

/// Role `app` (`{mount}/roles/app`): a login role valid until its lease
/// expires, with these TTLs in seconds.
pub(crate) fn role_app(default_ttl: u64, max_ttl: u64) -> serde_json::Value {
    json!({
        "db_name": "pg",
        "creation_statements": [
            "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';"
        ],
        "default_ttl": default_ttl,
        "max_ttl": max_ttl,
    })
}

/// Mount the database engine at `database`, point it at `pg`, make role `app`.
pub(crate) fn setup_engine(bao: &Bao, pg: &Postgres) {
    let c = bao.client();
    c.write("sys/mounts/database", &json!({"type": "database"}))
        .unwrap();
    c.write("database/config/pg", &pg.engine_config()).unwrap();
    c.write("database/roles/app", &role_app(TTL, MAX_TTL))
        .unwrap();
}

fn field(s: &vaultid::secrets::DynamicSecret, k: &str) -> String {
    s.data[k].as_str().unwrap().to_string()
}

#[test]
fn watcher_renews_rotates_at_max_ttl_and_revokes() {
    let Some(bao) = Bao::start() else { return };
    let Some(pg) = Postgres::start() else { return };
    setup_engine(&bao, &pg);

    let started = Instant::now();
    let w = LeaseWatcher::start(
        Arc::new(bao.client()),
        "database/creds/app",
        LeasePolicy::default(),
    )
    .unwrap();
    let first = w.current();
    assert_eq!(first.lease_duration, Duration::from_secs(TTL));
    assert!(first.renewable);
    let (user1, pass1) = (field(&first, "username"), field(&first, "password"));
    assert_eq!(
        pg.query_as(&user1, &pass1, "select current_user").unwrap(),
        user1
    );
    // Debug shows field names, not values.
    assert!(!format!("{first:?}").contains(&pass1));

    let mut renewals = 0;
    let mut capped = false;
    let mut logged_in_after_first_ttl = false;
    let second = loop {
        let ev = w
            .events()
            .recv_timeout(Duration::from_secs(MAX_TTL + 10))
            .expect("an event before the max TTL");
        match ev {
            LeaseEvent::Renewed { lease_id, ttl } => {
                assert_eq!(lease_id, first.lease_id);
                assert_eq!(ttl, Duration::from_secs(TTL));
                renewals += 1;
                // Past the first TTL, the first credentials still work.
                if started.elapsed() > Duration::from_secs(TTL + 1) {
                    assert_eq!(
                        pg.query_as(&user1, &pass1, "select current_user").unwrap(),
                        user1
                    );
                    logged_in_after_first_ttl = true;
                }
            }
            LeaseEvent::Capped { lease_id, ttl, .. } => {
                assert_eq!(lease_id, first.lease_id);
                assert!(ttl < Duration::from_secs(TTL), "{ttl:?}");
                capped = true;
            }
            LeaseEvent::Rotated {
                old_lease_id,
                secret,
            } => {
                assert_eq!(old_lease_id, first.lease_id);
                break secret;
            }
            other => panic!("unexpected event {other:?}"),
        }
    };
    assert!(renewals >= 3, "renewed {renewals} times across the max TTL");
    assert!(capped, "the max TTL was noticed before rotating");
    assert!(logged_in_after_first_ttl);
    assert!(started.elapsed() < Duration::from_secs(MAX_TTL));
    assert_ne!(second.lease_id, first.lease_id);
    let (user2, pass2) = (field(&second, "username"), field(&second, "password"));
    assert_ne!(user2, user1);
    assert_eq!(w.current().lease_id, second.lease_id);
    assert_eq!(
        pg.query_as(&user2, &pass2, "select current_user").unwrap(),
        user2
    );
    // The new lease is renewed in turn.
    match w
        .events()
        .recv_timeout(Duration::from_secs(TTL + 2))
        .unwrap()
    {
        LeaseEvent::Renewed { lease_id, .. } => assert_eq!(lease_id, second.lease_id),
        other => panic!("unexpected event {other:?}"),
    }
    assert!(pg.role_exists(&user2));

    w.stop().unwrap();
    assert!(!pg.role_exists(&user2), "revoked on stop");
    assert!(!pg.role_exists(&user1), "the old lease is gone too");
    assert!(pg.query_as(&user2, &pass2, "select 1").is_err());
}

#[test]
fn env_dynamic_runs_the_command_with_renewed_credentials_and_revokes_on_exit() {
    let Some(bao) = Bao::start() else { return };
    let Some(pg) = Postgres::start() else { return };
    setup_engine(&bao, &pg);
    let dir = std::env::temp_dir().join(format!("vaultid-dyn-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let user_file = dir.join("user");
    // Log in now, and again after more than one TTL: only a renewed lease
    // (and role) still works then.
    let script = r#"set -e
printf %s "$PGUSER" > "$USER_FILE"
psql -w -tAc 'select current_user' > /dev/null
sleep 7
psql -w -tAc 'select current_user'
exit 3"#;
    let out = Command::new(env!("CARGO_BIN_EXE_vaultid"))
        .args([
            "env",
            "--dynamic",
            "database/creds/app#username=PGUSER,password=PGPASSWORD",
            "--",
            "sh",
            "-c",
            script,
        ])
        .env("VAULT_ADDR", bao.addr())
        .env("VAULT_TOKEN", bao.token())
        .env("PGHOST", "127.0.0.1")
        .env("PGPORT", pg.port.to_string())
        .env("PGDATABASE", "postgres")
        .env("USER_FILE", &user_file)
        .env_remove("PGPASSWORD")
        .env_remove("PGUSER")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let user = std::fs::read_to_string(&user_file).unwrap();
    assert!(!user.is_empty());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), user);
    assert!(!pg.role_exists(&user), "the lease was revoked on exit");
    // No password on vaultid's stderr.
    assert!(!stderr.to_lowercase().contains("password="), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn env_dynamic_restart_on_rotate_restarts_with_new_credentials() {
    let Some(bao) = Bao::start() else { return };
    let Some(pg) = Postgres::start() else { return };
    setup_engine(&bao, &pg);
    let dir = std::env::temp_dir().join(format!("vaultid-rot-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("users");
    // Each start appends its user; the second start exits 0.
    let script = r#"printf '%s\n' "$PGUSER" >> "$LOG"
psql -w -tAc 'select 1' > /dev/null || exit 9
if [ "$(wc -l < "$LOG")" -ge 2 ]; then exit 0; fi
trap 'exit 0' TERM
while :; do sleep 0.1; done"#;
    let out = Command::new(env!("CARGO_BIN_EXE_vaultid"))
        .args([
            "env",
            "--restart-on-rotate",
            "--dynamic",
            "database/creds/app#username=PGUSER,password=PGPASSWORD",
            "--",
            "sh",
            "-c",
            script,
        ])
        .env("VAULT_ADDR", bao.addr())
        .env("VAULT_TOKEN", bao.token())
        .env("PGHOST", "127.0.0.1")
        .env("PGPORT", pg.port.to_string())
        .env("PGDATABASE", "postgres")
        .env("LOG", &log)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let users: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(users.len(), 2, "{users:?}");
    assert_eq!(users.iter().collect::<HashSet<_>>().len(), 2, "{users:?}");
    for u in &users {
        assert!(!pg.role_exists(u), "{u} revoked on exit");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn offline_grace_keeps_the_credentials_until_the_lease_runs_out() {
    let Some(mut bao) = Bao::start() else { return };
    let Some(pg) = Postgres::start() else { return };
    setup_engine(&bao, &pg);
    // No retries inside the HTTP layer: the watcher's own backoff shows.
    let mut cfg = bao.config();
    cfg.max_retries = 0;
    let w = LeaseWatcher::start(
        Arc::new(vaultid::vault::Client::new(&cfg).unwrap()),
        "database/creds/app",
        {
            let mut p = LeasePolicy::default();
            p.backoff_initial = Duration::from_millis(200);
            p.backoff_max = Duration::from_secs(1);
            p
        },
    )
    .unwrap();
    let first = w.current();
    let (user, pass) = (field(&first, "username"), field(&first, "password"));
    match w
        .events()
        .recv_timeout(Duration::from_secs(TTL + 2))
        .unwrap()
    {
        LeaseEvent::Renewed { .. } => {}
        other => panic!("unexpected event {other:?}"),
    }
    let renewed_at = Instant::now();
    bao.stop();
    let mut retries = 0;
    loop {
        match w
            .events()
            .recv_timeout(Duration::from_secs(TTL + 5))
            .expect("an event while Vault is down")
        {
            LeaseEvent::Retrying { error, .. } => {
                assert!(!error.contains(&pass));
                retries += 1;
                assert_eq!(w.current().lease_id, first.lease_id);
                if renewed_at.elapsed() < Duration::from_secs(TTL - 1) {
                    // Still inside the lease: the credentials work.
                    assert_eq!(
                        pg.query_as(&user, &pass, "select current_user").unwrap(),
                        user
                    );
                }
            }
            LeaseEvent::Expired { lease_id } => {
                assert_eq!(lease_id, first.lease_id);
                break;
            }
            other => panic!("unexpected event {other:?}"),
        }
    }
    assert!(retries >= 2, "{retries}");
    let lasted = renewed_at.elapsed();
    assert!(
        lasted >= Duration::from_secs(TTL - 1) && lasted <= Duration::from_secs(TTL + 2),
        "{lasted:?}"
    );
    // The lease ran out: there is nothing left to revoke (Vault cleans up
    // expired leases itself when it is back), so stopping needs no Vault.
    w.stop().unwrap();
}

#[test]
fn sigterm_to_env_dynamic_stops_the_command_and_revokes() {
    let Some(bao) = Bao::start() else { return };
    let Some(pg) = Postgres::start() else { return };
    setup_engine(&bao, &pg);
    let dir = std::env::temp_dir().join(format!("vaultid-term-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let ready = dir.join("ready");
    let script = r#"trap 'exit 5' TERM
printf %s "$PGUSER" > "$READY.tmp" && mv "$READY.tmp" "$READY"
while :; do sleep 0.05; done"#;
    let mut child = Command::new(env!("CARGO_BIN_EXE_vaultid"))
        .args([
            "env",
            "--dynamic",
            "database/creds/app#username=PGUSER,password=PGPASSWORD",
            "--",
            "sh",
            "-c",
            script,
        ])
        .env("VAULT_ADDR", bao.addr())
        .env("VAULT_TOKEN", bao.token())
        .env("READY", &ready)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let end = Instant::now() + Duration::from_secs(20);
    while !ready.exists() {
        assert!(Instant::now() < end, "the command never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let user = std::fs::read_to_string(&ready).unwrap();
    assert!(pg.role_exists(&user));
    assert!(Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < end, "vaultid did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(5));
    assert!(!pg.role_exists(&user), "revoked after the command ended");
    let _ = std::fs::remove_dir_all(&dir);
}
