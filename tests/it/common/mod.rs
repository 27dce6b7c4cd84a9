//! Helpers shared by the integration tests: a real OpenBao dev server
//! ([`bao::Bao`]) and a tiny scripted HTTP server ([`TestServer`]) for what
//! a real server will not do on demand (5xx, 429, redirects).

pub mod bao;
pub mod bindu;
pub mod cluster;
pub mod connect_proxy;
pub mod framework;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A request as the test server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Method.
    pub method: String,
    /// Path with query.
    pub path: String,
    /// Protocol version from the request line, e.g. `HTTP/1.1`.
    pub version: String,
    /// Headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// Body (`Content-Length` or chunked, decoded).
    pub body: Vec<u8>,
    /// When the whole request had arrived.
    pub at: std::time::Instant,
}

impl Seen {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `true` when the client asked to close the connection after this
    /// request (`Connection: close`, or HTTP/1.0 without keep-alive).
    pub fn wants_close(&self) -> bool {
        let conn = self.header("connection").unwrap_or("").to_ascii_lowercase();
        conn.contains("close") || (self.version == "HTTP/1.0" && !conn.contains("keep-alive"))
    }
}

/// What a [`TestServer`] handler does with a request.
pub enum Reply {
    /// Send these bytes (a complete HTTP answer). A `Connection: close`
    /// header in them closes the connection afterwards.
    Answer(Vec<u8>),
    /// Close the connection without answering.
    Hangup,
}

type Handler = dyn Fn(&Seen, usize) -> Reply + Send + Sync;

/// A loopback HTTP/1.1 server answering each request with whatever the
/// responder returns for (request, index of the request). It keeps
/// connections alive, counts accepted connections and records requests.
pub struct TestServer {
    addr: String,
    socket: std::net::SocketAddr,
    accepted: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<Seen>>>,
    stopping: Arc<AtomicBool>,
    accept: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    /// Start serving on a free loopback port.
    pub fn start(responder: impl Fn(&Seen, usize) -> String + Send + Sync + 'static) -> TestServer {
        TestServer::start_on("127.0.0.1", responder)
    }

    /// Start serving on a free port of another loopback address
    /// (`127.0.0.2`: another host, as far as a client can tell).
    pub fn start_on(
        ip: &str,
        responder: impl Fn(&Seen, usize) -> String + Send + Sync + 'static,
    ) -> TestServer {
        TestServer::start_with_on(ip, Duration::from_secs(10), move |req, i| {
            Reply::Answer(responder(req, i).into_bytes())
        })
    }

    /// Start serving on a free loopback port with a handler that may also
    /// hang up; idle connections are closed after `idle`.
    pub fn start_with(
        idle: Duration,
        handler: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static,
    ) -> TestServer {
        TestServer::start_with_on("127.0.0.1", idle, handler)
    }

    /// [`TestServer::start_with`] on a given loopback address.
    pub fn start_with_on(
        ip: &str,
        idle: Duration,
        handler: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static,
    ) -> TestServer {
        let listener = TcpListener::bind((ip, 0)).unwrap();
        let socket = listener.local_addr().unwrap();
        let addr = format!("http://{socket}");
        let accepted = Arc::new(AtomicUsize::new(0));
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::new(Mutex::new(Vec::new()));
        let stopping = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let (a, s, stop) = (accepted.clone(), seen.clone(), stopping.clone());
        let accept = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                a.fetch_add(1, Ordering::SeqCst);
                let (s, h, stop) = (s.clone(), handler.clone(), stop.clone());
                std::thread::spawn(move || serve(stream, idle, &s, &*h, &stop));
            }
        });
        TestServer {
            addr,
            socket,
            accepted,
            seen,
            stopping,
            accept: Some(accept),
        }
    }

    /// `http://IP:PORT`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The socket address it listens on.
    pub fn socket(&self) -> std::net::SocketAddr {
        self.socket
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Requests received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Stop listening: new connections are refused and open connections
    /// are closed at their next request.
    pub fn shutdown(&mut self) {
        if self.stopping.swap(true, Ordering::SeqCst) {
            return;
        }
        let _ = TcpStream::connect_timeout(&self.socket, Duration::from_secs(1));
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

/// Read one request; `None` at end of stream or on a malformed request.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Seen> {
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if !line.trim().is_empty() {
            break;
        }
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let version = parts.next().unwrap_or("HTTP/1.1").to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((n, v)) = h.split_once(':') {
            headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let chunked =
        header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size_line = String::new();
            reader.read_line(&mut size_line).ok()?;
            let size_hex = size_line.trim().split(';').next()?.trim();
            let size = usize::from_str_radix(size_hex, 16).ok()?;
            if size == 0 {
                // trailers until an empty line
                loop {
                    let mut t = String::new();
                    if reader.read_line(&mut t).ok()? == 0 || t.trim().is_empty() {
                        break;
                    }
                }
                break;
            }
            let mut chunk = vec![0; size];
            reader.read_exact(&mut chunk).ok()?;
            body.extend_from_slice(&chunk);
            let mut crlf = [0u8; 2];
            reader.read_exact(&mut crlf).ok()?;
        }
    } else {
        let len: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        body = vec![0; len];
        reader.read_exact(&mut body).ok()?;
    }
    Some(Seen {
        method,
        path,
        version,
        headers,
        body,
        at: std::time::Instant::now(),
    })
}

fn serve(
    stream: TcpStream,
    idle: Duration,
    seen: &Mutex<Vec<Seen>>,
    handler: &Handler,
    stopping: &AtomicBool,
) {
    let _ = stream.set_read_timeout(Some(idle));
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while let Some(req) = read_request(&mut reader) {
        if stopping.load(Ordering::SeqCst) {
            let _ = writer.shutdown(std::net::Shutdown::Both);
            return;
        }
        let index = {
            let mut s = seen.lock().unwrap();
            s.push(req.clone());
            s.len() - 1
        };
        let answer = match handler(&req, index) {
            Reply::Answer(bytes) => bytes,
            Reply::Hangup => {
                let _ = writer.shutdown(std::net::Shutdown::Both);
                return;
            }
        };
        if writer
            .write_all(&answer)
            .and_then(|_| writer.flush())
            .is_err()
        {
            return;
        }
        let head_end = answer
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or(answer.len());
        let head = String::from_utf8_lossy(&answer[..head_end]).to_ascii_lowercase();
        if head.contains("connection: close") {
            let _ = writer.shutdown(std::net::Shutdown::Both);
            return;
        }
    }
}

/// A complete HTTP/1.1 answer with a JSON (or any) body.
pub fn answer(status: u16, extra_headers: &[(&str, &str)], body: &str) -> String {
    let mut s = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\n", body.len());
    if !body.is_empty() {
        s.push_str("Content-Type: application/json\r\n");
    }
    for (n, v) in extra_headers {
        s.push_str(&format!("{n}: {v}\r\n"));
    }
    s.push_str("\r\n");
    s.push_str(body);
    s
}

/// Where `vaultid kv` (as `bao kv`) first asks which mount holds a path
/// and its KV version.
pub const KV_MOUNTS_PREFIX: &str = "/v1/sys/internal/ui/mounts/";

/// For a stand-in Vault that serves `kv` commands: the answer OpenBao gives
/// to `sys/internal/ui/mounts/...` for a path in the KV v2 mount `secret`
/// (its shape as a dev server sends it, trimmed), or `None` for any other
/// request.
pub fn kv2_mount_answer(req: &Seen) -> Option<String> {
    req.path.starts_with(KV_MOUNTS_PREFIX).then(|| {
        answer(
            200,
            &[],
            r#"{"data":{"path":"secret/","type":"kv","options":{"version":"2"}}}"#,
        )
    })
}

/// The requests a stand-in received other than those mount questions.
pub fn without_mount_questions(seen: Vec<Seen>) -> Vec<Seen> {
    seen.into_iter()
        .filter(|r| !r.path.starts_with(KV_MOUNTS_PREFIX))
        .collect()
}

/// A TCP forwarder to `target` (`host:port`) that counts the connections it
/// accepts: N requests through one keep-alive connection show as 1.
pub struct TcpProxy {
    port: u16,
    accepted: Arc<AtomicUsize>,
}

impl TcpProxy {
    /// Start forwarding from a free loopback port.
    pub fn start(target: &str) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let a = accepted.clone();
        let target = target.to_string();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { break };
                a.fetch_add(1, Ordering::SeqCst);
                let Ok(upstream) = TcpStream::connect(&target) else {
                    continue;
                };
                let (c2, u2) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
                std::thread::spawn(move || pipe(client, upstream));
                std::thread::spawn(move || pipe(u2, c2));
            }
        });
        TcpProxy { port, accepted }
    }

    /// The port to connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let _ = std::io::copy(&mut from, &mut to);
    let _ = to.shutdown(std::net::Shutdown::Both);
}

/// A loopback listener that accepts connections and never reads from or
/// answers them, for the life of the test binary; its `http://` URL.
pub fn stalling_listener() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s); // accept, read nothing, answer nothing
        }
    });
    addr
}

/// A fresh directory under the system temp dir, named after `tag`.
pub fn tmpdir(tag: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("vaultid-{tag}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&p).unwrap();
    p
}

/// `vaultid` with a clean environment: only `PATH`, a fresh `HOME` (named
/// after `tag`), `VAULT_ADDR` and `VAULT_TOKEN`.
pub fn vaultid_cmd(addr: &str, token: &str, tag: &str) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_vaultid"));
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", tmpdir(tag))
        .env("VAULT_ADDR", addr)
        .env("VAULT_TOKEN", token);
    c
}

/// `vaultid` as an agent with its key dir `key_dir` and a clean
/// environment: only `PATH`, `HOME` (the key dir, so no `~/.vault-token`
/// is read), `VAULTID_AUTHOR`, `VAULTID_AGENT_NAME` and `VAULTID_KEY_DIR`.
pub fn agent_cmd(key_dir: &std::path::Path, author: &str, name: &str) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_vaultid"));
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", key_dir)
        .env("VAULTID_AUTHOR", author)
        .env("VAULTID_AGENT_NAME", name)
        .env("VAULTID_KEY_DIR", key_dir);
    c
}

/// The one JSON object a successful `vaultid` command printed; panics with
/// its stderr when it failed.
pub fn json_ok(o: &std::process::Output) -> serde_json::Value {
    assert!(
        o.status.success(),
        "exit {:?}, stderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    let text = String::from_utf8(o.stdout.clone()).unwrap();
    assert_eq!(text.lines().count(), 1, "one JSON line expected: {text}");
    serde_json::from_str(&text).unwrap()
}

/// A forwarding proxy to `target` that records (and so counts) every request.
pub fn counting_proxy(target: &str) -> TestServer {
    let target = target.to_string();
    TestServer::start(move |req, _| {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut r = ureq::http::Request::builder()
            .method(req.method.as_str())
            .uri(format!("{target}{}", req.path).as_str());
        for (n, v) in &req.headers {
            if n != "host" && n != "content-length" && n != "connection" {
                r = r.header(n.as_str(), v.as_str());
            }
        }
        let resp = agent.run(r.body(req.body.clone()).unwrap()).unwrap();
        let status = resp.status().as_u16();
        let body = resp.into_body().read_to_string().unwrap_or_default();
        answer(status, &[], &body)
    })
}
