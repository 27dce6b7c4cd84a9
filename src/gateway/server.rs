//! The gateway's I/O: the listener, one thread per connection (at most
//! `max_connections`), reading requests with the head and body deadlines,
//! answering, keep-alive.
//!
//! A connection's life: wait up to `idle_timeout` for a request's first
//! byte; from then the whole head must arrive within `header_timeout` and
//! the body within `body_timeout` (deadlines, not per-read timeouts, so a
//! client trickling a byte at a time is cut off: slowloris). A refused
//! request is answered with its status and `Connection: close`, and the
//! connection is closed; the other connections are not affected.
//!
//! Nothing of a request is logged but a request number, the method, the
//! route, the status and the time.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::config::{Listen, Settings};
use super::request::{parse_head, ChunkedDecoder, Framing, Head, Refusal};
use super::{Gateway, Reply};
use crate::error::{Error, Result};

/// A bound listener.
#[derive(Debug)]
pub(crate) enum Listener {
    Tcp(TcpListener),
    /// The socket and the inode of the file we created (removed on drop
    /// only while it is still ours).
    Unix(UnixListener, PathBuf, u64),
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Listener::Unix(_, path, ino) = self {
            if std::fs::symlink_metadata(&*path).is_ok_and(|m| m.ino() == *ino) {
                let _ = std::fs::remove_file(&*path);
            }
        }
    }
}

/// One accepted connection.
#[derive(Debug)]
pub(crate) enum Conn {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Conn {
    fn set_read_timeout(&self, d: Duration) -> io::Result<()> {
        let d = Some(d.max(Duration::from_millis(1)));
        match self {
            Conn::Tcp(s) => s.set_read_timeout(d),
            Conn::Unix(s) => s.set_read_timeout(d),
        }
    }
    fn set_write_timeout(&self, d: Duration) -> io::Result<()> {
        match self {
            Conn::Tcp(s) => s.set_write_timeout(Some(d)),
            Conn::Unix(s) => s.set_write_timeout(Some(d)),
        }
    }
    fn close(&self) {
        let _ = match self {
            Conn::Tcp(s) => s.shutdown(Shutdown::Both),
            Conn::Unix(s) => s.shutdown(Shutdown::Both),
        };
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Tcp(s) => s.read(buf),
            Conn::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Tcp(s) => s.write(buf),
            Conn::Unix(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Binds where the settings say. A Unix socket is created in a fresh 0700
/// directory beside its path, given its mode there, and renamed into
/// place: nobody can connect to it before it has its mode. A stale socket
/// left by a process that is gone is replaced; anything else at the path
/// (a live socket, a file) is an error.
pub(crate) fn bind(settings: &Settings) -> Result<Listener> {
    match &settings.listen {
        Listen::Tcp(addr) => TcpListener::bind(addr)
            .map(Listener::Tcp)
            .map_err(|e| Error::io(format!("listening on {addr}"), e)),
        Listen::Socket(path, mode) => bind_unix(path, *mode),
    }
}

fn bind_unix(path: &Path, mode: u32) -> Result<Listener> {
    let what = |e: io::Error, doing: &str| Error::io(format!("{doing} {}", path.display()), e);
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            if UnixStream::connect(path).is_ok() {
                return Err(Error::Config(format!(
                    "listener: another process is listening on {}",
                    path.display()
                )));
            }
        }
        Ok(_) => {
            return Err(Error::Config(format!(
                "listener: {} exists and is not a socket; remove it or choose another path",
                path.display()
            )))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(what(e, "inspecting")),
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().ok_or_else(|| {
        Error::Config(format!("listener: {} is not a socket path", path.display()))
    })?;
    let staging = parent.join(format!(
        ".{}.bind-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&staging)
        .map_err(|e| what(e, "creating a directory beside"))?;
    let temp = staging.join("s");
    let result = (|| {
        let listener = UnixListener::bind(&temp).map_err(|e| what(e, "listening on"))?;
        std::fs::set_permissions(&temp, std::fs::Permissions::from_mode(mode))
            .map_err(|e| what(e, "setting the mode of"))?;
        std::fs::rename(&temp, path).map_err(|e| what(e, "moving the socket to"))?;
        let ino = std::fs::symlink_metadata(path)
            .map_err(|e| what(e, "inspecting"))?
            .ino();
        Ok(Listener::Unix(listener, path.to_path_buf(), ino))
    })();
    let _ = std::fs::remove_dir_all(&staging);
    result
}

impl Listener {
    fn accept(&self) -> io::Result<Conn> {
        match self {
            Listener::Tcp(l) => l.accept().map(|(s, _)| {
                let _ = s.set_nodelay(true);
                Conn::Tcp(s)
            }),
            Listener::Unix(l, ..) => l.accept().map(|(s, _)| Conn::Unix(s)),
        }
    }

    /// Where it listens, for logs and tests.
    pub(crate) fn describe(&self) -> String {
        match self {
            Listener::Tcp(l) => l
                .local_addr()
                .map(|a| a.to_string())
                .unwrap_or_else(|_| "tcp".into()),
            Listener::Unix(_, p, _) => p.display().to_string(),
        }
    }
}

static REQUEST_IDS: AtomicU64 = AtomicU64::new(1);

/// Stack of a connection thread: the forward path (ureq, rustls) needs
/// well under this; the pages a thread never touches cost no memory.
const CONN_STACK: usize = 256 * 1024;

/// Accepts until stopped.
pub(crate) fn serve(gw: Arc<Gateway>, listener: Listener) {
    loop {
        let conn = listener.accept();
        if gw.stop.load(Ordering::Relaxed) {
            break;
        }
        let mut conn = match conn {
            Ok(c) => c,
            Err(e) => {
                log::warn!("gateway: accept failed: {e}");
                // EMFILE and friends: do not spin.
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        let open = gw.metrics.open.fetch_add(1, Ordering::AcqRel) + 1;
        if open > gw.settings.max_connections {
            gw.metrics.open.fetch_sub(1, Ordering::AcqRel);
            gw.metrics.refused.fetch_add(1, Ordering::Relaxed);
            let _ = conn.set_write_timeout(Duration::from_millis(500));
            let reply = Reply::error(503, "too many connections to the gateway; retry later");
            let _ = write_reply(&mut conn, &reply, false, false);
            conn.close();
            continue;
        }
        let worker = gw.clone();
        let spawned = std::thread::Builder::new()
            .name("vaultid-gateway".into())
            .stack_size(CONN_STACK)
            .spawn(move || {
                connection(&worker, conn);
                worker.metrics.open.fetch_sub(1, Ordering::AcqRel);
            });
        if spawned.is_err() {
            gw.metrics.open.fetch_sub(1, Ordering::AcqRel);
            log::warn!("gateway: could not start a connection thread");
        }
    }
    drop(listener);
}

/// What reading a request gave.
enum Got {
    /// A complete request.
    Request(Head, Vec<u8>),
    /// The client closed or went quiet between requests.
    Closed,
    /// A refusal to answer before closing.
    Refused(Refusal),
}

fn connection(gw: &Arc<Gateway>, mut conn: Conn) {
    let _ = conn.set_write_timeout(gw.settings.body_timeout);
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let (head, body) = match read_request(gw, &mut conn, &mut buf) {
            Got::Request(h, b) => (h, b),
            Got::Closed => break,
            Got::Refused(r) => {
                gw.metrics.record("refused", r.status, Duration::ZERO);
                log::debug!("gateway: request refused: {r}");
                let reply = Reply::error(r.status, r.reason);
                if write_reply(&mut conn, &reply, false, false).is_ok() {
                    linger(&mut conn);
                }
                break;
            }
        };
        let id = REQUEST_IDS.fetch_add(1, Ordering::Relaxed);
        let start = Instant::now();
        let (route, reply) = gw.answer(&head, body);
        let keep = head.keep_alive && !gw.stop.load(Ordering::Relaxed);
        let head_only = head.method == "HEAD";
        let wrote = write_reply(&mut conn, &reply, keep, head_only);
        let took = start.elapsed();
        gw.metrics.record(route, reply.status, took);
        log::debug!(
            "gateway: request {id}: {} {route} -> {} in {:.1} ms",
            head.method,
            reply.status,
            took.as_secs_f64() * 1e3
        );
        if wrote.is_err() || !keep {
            break;
        }
        // A large body's buffer is not kept for the next request.
        if buf.capacity() > 64 * 1024 {
            buf.shrink_to(16 * 1024);
        }
    }
    conn.close();
}

/// After a refusal: stop sending, then read and drop what the client is
/// still sending (at most 4 MiB, for at most half a second), so that the
/// close does not reset the connection before the client read the answer.
fn linger(conn: &mut Conn) {
    let _ = match conn {
        Conn::Tcp(s) => s.shutdown(Shutdown::Write),
        Conn::Unix(s) => s.shutdown(Shutdown::Write),
    };
    let until = Instant::now() + Duration::from_millis(500);
    let mut sink = Vec::new();
    let mut total = 0usize;
    while total < 4 << 20 {
        sink.clear();
        match read_some(conn, &mut sink, until) {
            Some(n) if n > 0 => total += n,
            _ => break,
        }
    }
}

fn read_request(gw: &Gateway, conn: &mut Conn, buf: &mut Vec<u8>) -> Got {
    let settings = &gw.settings;
    let limits = &settings.limits;
    // The head.
    let mut head_deadline = (!buf.is_empty()).then(|| Instant::now() + settings.header_timeout);
    let idle_deadline = Instant::now() + settings.idle_timeout;
    let (head, used) = loop {
        match parse_head(buf, limits) {
            Err(r) => return Got::Refused(r),
            Ok(Some(done)) => break done,
            Ok(None) => {}
        }
        let deadline = head_deadline.unwrap_or(idle_deadline);
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || gw.stop.load(Ordering::Relaxed) {
            return match head_deadline {
                Some(_) => Got::Refused(Refusal {
                    status: 408,
                    reason: "request head not received in time",
                }),
                None => Got::Closed,
            };
        }
        // Wake at least once a second to notice a stop.
        let _ = conn.set_read_timeout(left.min(Duration::from_secs(1)));
        match read_into(conn, buf) {
            Ok(0) => return Got::Closed,
            Ok(_) => {
                if head_deadline.is_none() {
                    head_deadline = Some(Instant::now() + settings.header_timeout);
                }
            }
            Err(e) if is_timeout(&e) => {}
            Err(_) => return Got::Closed,
        }
    };
    buf.drain(..used);
    // A signed call to a peer carries at most what the framework's
    // verifier reads, whatever `max_body` allows for Vault.
    let max_body = if head.path.starts_with("/peers/") {
        limits.max_body.min(super::PEER_MAX_BODY)
    } else {
        limits.max_body
    };
    if matches!(head.framing, Framing::Length(n) if n > max_body) {
        return Got::Refused(Refusal {
            status: 413,
            reason: "request body too large",
        });
    }
    if head.expect_continue
        && head.framing != Framing::None
        && buf.is_empty()
        && conn.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").is_err()
    {
        return Got::Closed;
    }
    // The body.
    let body_deadline = Instant::now() + settings.body_timeout;
    let late = Refusal {
        status: 408,
        reason: "request body not received in time",
    };
    let mut body = Vec::new();
    match head.framing {
        Framing::None => {}
        Framing::Length(n) => {
            let n = n as usize;
            while buf.len() < n {
                match read_some(conn, buf, body_deadline) {
                    Some(0) | None if Instant::now() >= body_deadline => return Got::Refused(late),
                    Some(0) => return Got::Closed,
                    Some(_) => {}
                    None => return Got::Closed,
                }
            }
            body = buf.drain(..n).collect();
        }
        Framing::Chunked => {
            let mut decoder = ChunkedDecoder::new(max_body);
            loop {
                match decoder.feed(buf, &mut body) {
                    Err(r) => return Got::Refused(r),
                    Ok(k) => {
                        buf.drain(..k);
                    }
                }
                if decoder.is_done() {
                    break;
                }
                match read_some(conn, buf, body_deadline) {
                    Some(0) | None if Instant::now() >= body_deadline => return Got::Refused(late),
                    Some(0) => return Got::Closed,
                    Some(_) => {}
                    None => return Got::Closed,
                }
            }
        }
    }
    Got::Request(head, body)
}

/// Bytes read at a time, into the connection's own buffer: a connection
/// thread keeps no read buffer on its stack (see `pool`: its stack is
/// what a connection costs).
const READ_CHUNK: usize = 4096;

/// One read, appended to `buf`.
fn read_into(conn: &mut Conn, buf: &mut Vec<u8>) -> io::Result<usize> {
    let old = buf.len();
    buf.resize(old + READ_CHUNK, 0);
    let r = conn.read(&mut buf[old..]);
    buf.truncate(old + r.as_ref().map_or(0, |n| *n));
    r
}

/// One read before `deadline`, appended to `buf`: `Some(n)` bytes (0 at
/// end of stream), `None` on an error or when the deadline passed.
fn read_some(conn: &mut Conn, buf: &mut Vec<u8>, deadline: Instant) -> Option<usize> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        let _ = conn.set_read_timeout(left);
        match read_into(conn, buf) {
            Ok(n) => return Some(n),
            Err(e) if is_timeout(&e) => continue,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return None,
        }
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// The reason phrase of a status.
fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        417 => "Expectation Failed",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// Writes an answer: status line, the reply's headers, `Content-Length`,
/// `Connection`; the body unless `head_only`.
pub(crate) fn write_reply(
    out: &mut impl Write,
    reply: &Reply,
    keep_alive: bool,
    head_only: bool,
) -> io::Result<()> {
    let mut head = format!("HTTP/1.1 {} {}\r\n", reply.status, reason(reply.status));
    for (name, value) in &reply.headers {
        head.push_str(name);
        head.push_str(": ");
        head.push_str(value);
        head.push_str("\r\n");
    }
    let no_body = reply.status == 204 || reply.status == 304;
    if !no_body {
        head.push_str(&format!("Content-Length: {}\r\n", reply.body.len()));
    }
    head.push_str(if keep_alive {
        "Connection: keep-alive\r\n\r\n"
    } else {
        "Connection: close\r\n\r\n"
    });
    if head_only || no_body {
        out.write_all(head.as_bytes())
    } else if reply.body.len() < 16 * 1024 {
        let mut all = head.into_bytes();
        all.extend_from_slice(&reply.body);
        let r = out.write_all(&all);
        crate::secret_string::zeroize_bytes(&mut all);
        r
    } else {
        out.write_all(head.as_bytes())?;
        out.write_all(&reply.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_framed() {
        let mut out = Vec::new();
        let r = Reply {
            status: 200,
            headers: vec![("Content-Type".into(), "text/plain".into())],
            body: b"hi".to_vec(),
        };
        write_reply(&mut out, &r, true, false).unwrap();
        assert_eq!(
            out,
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nhi"
        );
        out.clear();
        write_reply(&mut out, &r, false, true).unwrap();
        assert!(out.ends_with(b"Connection: close\r\n\r\n"));
        out.clear();
        let empty = Reply {
            status: 204,
            headers: vec![],
            body: vec![],
        };
        write_reply(&mut out, &empty, true, false).unwrap();
        assert_eq!(
            out,
            b"HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n"
        );
    }

    #[test]
    fn a_socket_gets_its_mode_before_anyone_can_connect() {
        let dir = std::env::temp_dir().join(format!("vaultid-gw-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("g.sock");
        let l = bind_unix(&path, 0o660).unwrap();
        let m = std::fs::symlink_metadata(&path).unwrap();
        assert!(m.file_type().is_socket());
        assert_eq!(m.mode() & 0o777, 0o660);
        // A second gateway on the same path is refused while this one
        // listens; a stale socket is replaced.
        let e = bind_unix(&path, 0o600).unwrap_err().to_string();
        assert!(e.contains("another process is listening"), "{e}");
        drop(l);
        // A socket file nobody listens on (std leaves the file behind).
        drop(UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        let again = bind_unix(&path, 0o600).unwrap();
        drop(again);
        assert!(!path.exists(), "removed on drop");
        std::fs::write(&path, b"x").unwrap();
        let e = bind_unix(&path, 0o600).unwrap_err().to_string();
        assert!(e.contains("is not a socket"), "{e}");
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"x",
            "a file is never removed"
        );
        let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no staging directory left");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
