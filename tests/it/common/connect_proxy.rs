//! A logging CONNECT proxy on loopback: it records every request it gets
//! (the `CONNECT` target, the `Proxy-Authorization` header) and every byte
//! tunnelled from the client, and tunnels to a loopback address whatever
//! host was asked for, so a test can name a host only the proxy can reach.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// What the proxy saw.
#[derive(Debug, Default, Clone)]
pub struct Log {
    /// Request lines (`CONNECT host:port HTTP/1.1`, or anything else sent).
    pub requests: Vec<String>,
    /// `Proxy-Authorization` values.
    pub proxy_auth: Vec<String>,
    /// Bytes the clients sent through tunnels.
    pub tunnelled: Vec<u8>,
}

/// The proxy.
pub struct ConnectProxy {
    port: u16,
    log: Arc<Mutex<Log>>,
}

impl ConnectProxy {
    /// Start on a free `127.0.0.1` port; tunnels go to `127.0.0.1` at the
    /// port asked for.
    pub fn start() -> ConnectProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let log = Arc::new(Mutex::new(Log::default()));
        let l = log.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { break };
                let l = l.clone();
                std::thread::spawn(move || serve(client, &l));
            }
        });
        ConnectProxy { port, log }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Everything seen so far.
    pub fn log(&self) -> Log {
        self.log.lock().unwrap().clone()
    }

    /// `true` when `needle` went through a tunnel or a request line.
    pub fn saw(&self, needle: &str) -> bool {
        let log = self.log();
        let n = needle.as_bytes();
        log.tunnelled.windows(n.len()).any(|w| w == n)
            || log.requests.iter().any(|r| r.contains(needle))
    }
}

fn serve(client: TcpStream, log: &Arc<Mutex<Log>>) {
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    log.lock()
        .unwrap()
        .requests
        .push(line.trim_end().to_string());
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
            if n.eq_ignore_ascii_case("proxy-authorization") {
                log.lock().unwrap().proxy_auth.push(v.trim().to_string());
            }
        }
    }
    let mut parts = line.split_whitespace();
    let (Some("CONNECT"), Some(target)) = (parts.next(), parts.next()) else {
        let _ = (&client).write_all(b"HTTP/1.1 405 X\r\nContent-Length: 0\r\n\r\n");
        return;
    };
    let port = target.rsplit(':').next().unwrap_or("80");
    let Ok(upstream) = TcpStream::connect(format!("127.0.0.1:{port}")) else {
        let _ = (&client).write_all(b"HTTP/1.1 502 X\r\nContent-Length: 0\r\n\r\n");
        return;
    };
    let _ = (&client).write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
    let mut up2 = upstream.try_clone().unwrap();
    let mut c2 = client.try_clone().unwrap();
    std::thread::spawn(move || {
        let mut upstream = upstream;
        let _ = std::io::copy(&mut upstream, &mut c2);
        let _ = c2.shutdown(std::net::Shutdown::Both);
    });
    // Client to upstream, recorded. Bytes already buffered by the reader go first.
    let buffered = reader.buffer().to_vec();
    log.lock().unwrap().tunnelled.extend_from_slice(&buffered);
    let _ = up2.write_all(&buffered);
    let mut buf = [0u8; 8192];
    loop {
        use std::io::Read;
        let n = match reader.get_mut().read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        log.lock().unwrap().tunnelled.extend_from_slice(&buf[..n]);
        if up2.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = up2.shutdown(std::net::Shutdown::Both);
}
