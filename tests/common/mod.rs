//! Helpers shared by the integration tests: a real OpenBao dev server
//! ([`bao::Bao`]) and a tiny scripted HTTP server ([`TestServer`]) for what
//! a real server will not do on demand (5xx, 429, redirects).
#![allow(dead_code)]

pub mod bao;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A request as the test server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Method.
    pub method: String,
    /// Path with query.
    pub path: String,
    /// Headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
    /// Which accepted connection (0, 1, ...) it came on.
    pub connection: usize,
}

impl Seen {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

type Responder = dyn Fn(&Seen, usize) -> String + Send + Sync;

/// A loopback HTTP/1.1 server answering each request with whatever the
/// responder returns for (request, index of the request). It keeps
/// connections alive, counts accepted connections and records requests.
pub struct TestServer {
    addr: String,
    accepted: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl TestServer {
    /// Start serving on a free loopback port.
    pub fn start(responder: impl Fn(&Seen, usize) -> String + Send + Sync + 'static) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = format!("http://{}", listener.local_addr().unwrap());
        let accepted = Arc::new(AtomicUsize::new(0));
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::new(Mutex::new(Vec::new()));
        let responder: Arc<Responder> = Arc::new(responder);
        let (a, s) = (accepted.clone(), seen.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { break };
                let connection = a.fetch_add(1, Ordering::SeqCst);
                let (s, r) = (s.clone(), responder.clone());
                std::thread::spawn(move || serve(stream, connection, &s, &*r));
            }
        });
        TestServer {
            addr,
            accepted,
            seen,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Requests received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn serve(stream: TcpStream, connection: usize, seen: &Mutex<Vec<Seen>>, responder: &Responder) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_string();
        let path = parts.next().unwrap_or_default().to_string();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((n, v)) = h.split_once(':') {
                headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let len: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let req = Seen {
            method,
            path,
            headers,
            body,
            connection,
        };
        let index = {
            let mut s = seen.lock().unwrap();
            s.push(req.clone());
            s.len() - 1
        };
        let answer = responder(&req, index);
        if writer.write_all(answer.as_bytes()).is_err() {
            return;
        }
        if answer.to_ascii_lowercase().contains("connection: close") {
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

/// A fresh directory under the system temp dir, named after `tag`.
pub fn tmpdir(tag: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("vaultid-{tag}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&p).unwrap();
    p
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
