//! HTTP/1.1 requests as the gateway reads them: the head (request line and
//! header fields, RFC 9112 §2-§5) and the body's framing (§6), parsed from
//! bytes with no I/O.
//!
//! The gateway sits between local applications and Vault or other agents,
//! so its parser is strict where leniency lets two parties disagree about
//! where a request ends (request smuggling) or where it goes:
//!
//! - the request line is `METHOD SP origin-form SP HTTP/1.x CRLF`; an
//!   absolute-form target (`http://host/…`), the authority form of
//!   `CONNECT` and the asterisk form are refused: the gateway decides where
//!   a request goes from its own configuration, never from the request;
//! - lines end in CRLF; a bare CR or LF, a field line folded onto the next
//!   (obs-fold), whitespace between a field name and its colon, and control
//!   characters in a value are refused;
//! - the body's length comes from exactly one `Content-Length` (digits
//!   only) or from `Transfer-Encoding: chunked` alone; both together, two
//!   lengths (even equal ones), a transfer coding other than `chunked` and
//!   a `Transfer-Encoding` on an HTTP/1.0 request are refused;
//! - HTTP/1.1 needs exactly one `Host`;
//! - the head is capped in bytes and in field count, the body in bytes
//!   ([`Limits`]); a body is decoded incrementally ([`ChunkedDecoder`]), so
//!   a client that sends slowly costs a buffer, not a thread's worth of
//!   memory.
//!
//! Every refusal is a [`Refusal`] that names the HTTP status to answer
//! with and a short reason (never a byte of the request), so the shell
//! answers and closes the connection.

use std::fmt;

/// Caps on what one request may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of the head: request line, fields and the empty line.
    pub max_head: usize,
    /// Header fields.
    pub max_fields: usize,
    /// Bytes of the body (after chunked decoding).
    pub max_body: u64,
}

impl Default for Limits {
    /// 16 KiB of head, 100 fields, 2 MiB of body (the framework's verifier
    /// reads at most 2 MiB).
    fn default() -> Limits {
        Limits {
            max_head: 16 * 1024,
            max_fields: 100,
            max_body: 2 * 1024 * 1024,
        }
    }
}

/// Why a request is refused: the status to answer with and a reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// The HTTP status code of the answer.
    pub status: u16,
    /// What was wrong, in a few words (no request bytes).
    pub reason: &'static str,
}

impl Refusal {
    const fn bad(reason: &'static str) -> Refusal {
        Refusal {
            status: 400,
            reason,
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.reason, self.status)
    }
}

/// The protocol version of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// HTTP/1.0: the connection closes after the answer unless the client
    /// asked for keep-alive.
    Http10,
    /// HTTP/1.1: persistent unless the client said `Connection: close`.
    Http11,
}

/// How the body of a request is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    None,
    /// `Content-Length` bytes follow the head.
    Length(u64),
    /// Chunked transfer coding ([`ChunkedDecoder`]).
    Chunked,
}

/// A parsed request head.
#[derive(Clone, PartialEq, Eq)]
pub struct Head {
    /// The method, as sent (methods are case-sensitive).
    pub method: String,
    /// The path, starting with `/`, without the query.
    pub path: String,
    /// The query string after `?`, if any (without the `?`).
    pub query: Option<String>,
    /// The version.
    pub version: Version,
    /// Header fields in order, names in lower case, values trimmed of
    /// surrounding whitespace.
    pub fields: Vec<(String, Vec<u8>)>,
    /// How the body is delimited.
    pub framing: Framing,
    /// Whether the connection may carry another request after this one.
    pub keep_alive: bool,
    /// The client sent `Expect: 100-continue`.
    pub expect_continue: bool,
}

impl fmt::Debug for Head {
    // Field values may be credentials (Authorization, X-Vault-Token):
    // only their names are shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.fields.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Head")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("has_query", &self.query.is_some())
            .field("version", &self.version)
            .field("fields", &names)
            .field("framing", &self.framing)
            .field("keep_alive", &self.keep_alive)
            .finish()
    }
}

impl Head {
    /// The value of the first field named `name` (lower case).
    pub fn field(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }

    /// The path and query as sent (`/a/b?c=d`).
    #[cfg(test)]
    pub(crate) fn target(&self) -> String {
        match &self.query {
            Some(q) => format!("{}?{q}", self.path),
            None => self.path.clone(),
        }
    }
}

/// `token` characters (RFC 9110 §5.6.2): method and field names.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Bytes allowed in a field value: visible ASCII, space, tab, obs-text.
fn is_value_byte(b: u8) -> bool {
    b == b'\t' || b == b' ' || (0x21..=0x7e).contains(&b) || b >= 0x80
}

/// Bytes allowed in an origin-form target: visible ASCII except `#`
/// (fragments are not sent).
fn is_target_byte(b: u8) -> bool {
    (0x21..=0x7e).contains(&b) && b != b'#'
}

/// Parses a request head from the start of `buf`.
///
/// `Ok(None)`: the head is not complete yet (read more, unless `buf` is
/// already `limits.max_head` long, which is a refusal here).
/// `Ok(Some((head, n)))`: the head is the first `n` bytes of `buf`; the
/// body (if any) starts at `n`.
pub fn parse_head(buf: &[u8], limits: &Limits) -> Result<Option<(Head, usize)>, Refusal> {
    // A client may send empty lines before a request (RFC 9112 §2.2); at
    // most a few are skipped.
    let mut start = 0;
    while start < 8 && buf[start..].starts_with(b"\r\n") {
        start += 2;
    }
    let window = &buf[..buf.len().min(limits.max_head)];
    let end = match find(&window[start.min(window.len())..], b"\r\n\r\n") {
        Some(i) => start + i + 4,
        None => {
            if buf.len() >= limits.max_head {
                return Err(Refusal {
                    status: 431,
                    reason: "request head too large",
                });
            }
            check_partial(&buf[start..])?;
            return Ok(None);
        }
    };
    let text = &buf[start..end - 2];
    let mut lines = Lines { rest: text };
    let request_line = lines.next_line()?.ok_or(Refusal::bad("empty request"))?;
    let (method, path, query, version) = parse_request_line(request_line)?;

    let mut fields: Vec<(String, Vec<u8>)> = Vec::new();
    while let Some(line) = lines.next_line()? {
        if line.is_empty() {
            break;
        }
        if fields.len() == limits.max_fields {
            return Err(Refusal {
                status: 431,
                reason: "too many header fields",
            });
        }
        fields.push(parse_field(line)?);
    }

    let framing = framing(&fields, version, limits)?;
    let host_count = fields.iter().filter(|(n, _)| n == "host").count();
    if version == Version::Http11 && host_count != 1 {
        return Err(Refusal::bad("an HTTP/1.1 request needs exactly one Host"));
    }
    if host_count > 1 {
        return Err(Refusal::bad("more than one Host"));
    }
    let keep_alive = keep_alive(&fields, version);
    let expect_continue = match fields.iter().find(|(n, _)| n == "expect") {
        None => false,
        Some((_, v)) if v.eq_ignore_ascii_case(b"100-continue") => true,
        Some(_) => {
            return Err(Refusal {
                status: 417,
                reason: "only Expect: 100-continue is understood",
            })
        }
    };
    Ok(Some((
        Head {
            method,
            path,
            query,
            version,
            fields,
            framing,
            keep_alive,
            expect_continue,
        },
        end,
    )))
}

/// An incomplete head is refused early when what has arrived already
/// cannot start a valid one (a TLS hello, binary noise), instead of waiting
/// for the head timeout.
fn check_partial(buf: &[u8]) -> Result<(), Refusal> {
    let line = match find(buf, b"\r\n") {
        Some(i) => &buf[..i],
        None => buf,
    };
    let method_end = line.iter().position(|&b| b == b' ').unwrap_or(line.len());
    if !line[..method_end].iter().all(|&b| is_tchar(b)) {
        return Err(Refusal::bad("not an HTTP/1.1 request"));
    }
    if buf.contains(&0) {
        return Err(Refusal::bad("NUL byte in the request head"));
    }
    Ok(())
}

struct Lines<'a> {
    rest: &'a [u8],
}

impl<'a> Lines<'a> {
    /// The next CRLF-terminated line (the head's text ends with one).
    fn next_line(&mut self) -> Result<Option<&'a [u8]>, Refusal> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        let i = find(self.rest, b"\r\n").ok_or(Refusal::bad("line without CRLF"))?;
        let line = &self.rest[..i];
        if line.iter().any(|&b| b == b'\r' || b == b'\n') {
            return Err(Refusal::bad("bare CR or LF in the request head"));
        }
        self.rest = &self.rest[i + 2..];
        Ok(Some(line))
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

type RequestLine = (String, String, Option<String>, Version);

fn parse_request_line(line: &[u8]) -> Result<RequestLine, Refusal> {
    let mut parts = line.split(|&b| b == b' ');
    let (method, target, version) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(t), Some(v), None) => (m, t, v),
        _ => return Err(Refusal::bad("malformed request line")),
    };
    if method.is_empty() || !method.iter().all(|&b| is_tchar(b)) {
        return Err(Refusal::bad("malformed method"));
    }
    let version = match version {
        b"HTTP/1.1" => Version::Http11,
        b"HTTP/1.0" => Version::Http10,
        v if v.starts_with(b"HTTP/") => {
            return Err(Refusal {
                status: 505,
                reason: "only HTTP/1.0 and HTTP/1.1 are served",
            })
        }
        _ => return Err(Refusal::bad("malformed request line")),
    };
    if method == b"CONNECT" {
        return Err(Refusal {
            status: 405,
            reason: "CONNECT is not served",
        });
    }
    if target.first() != Some(&b'/') {
        return Err(Refusal::bad(
            "the request target must be a path (absolute-form and authority-form are refused)",
        ));
    }
    if !target.iter().all(|&b| is_target_byte(b)) {
        return Err(Refusal::bad("malformed request target"));
    }
    // Both are ASCII by the checks above.
    let target = String::from_utf8_lossy(target).into_owned();
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (target, None),
    };
    let method = String::from_utf8_lossy(method).into_owned();
    Ok((method, path, query, version))
}

fn parse_field(line: &[u8]) -> Result<(String, Vec<u8>), Refusal> {
    if line.first().is_some_and(|&b| b == b' ' || b == b'\t') {
        return Err(Refusal::bad("folded header line (obs-fold)"));
    }
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or(Refusal::bad("header line without a colon"))?;
    let name = &line[..colon];
    if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
        return Err(Refusal::bad("malformed header name"));
    }
    let value = trim(&line[colon + 1..]);
    if !value.iter().all(|&b| is_value_byte(b)) {
        return Err(Refusal::bad("control character in a header value"));
    }
    Ok((
        String::from_utf8_lossy(name).to_ascii_lowercase(),
        value.to_vec(),
    ))
}

fn trim(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

fn framing(
    fields: &[(String, Vec<u8>)],
    version: Version,
    limits: &Limits,
) -> Result<Framing, Refusal> {
    let lengths: Vec<&[u8]> = fields
        .iter()
        .filter(|(n, _)| n == "content-length")
        .map(|(_, v)| v.as_slice())
        .collect();
    let codings: Vec<&[u8]> = fields
        .iter()
        .filter(|(n, _)| n == "transfer-encoding")
        .map(|(_, v)| v.as_slice())
        .collect();
    if !codings.is_empty() {
        if !lengths.is_empty() {
            return Err(Refusal::bad(
                "both Content-Length and Transfer-Encoding (refused: request smuggling)",
            ));
        }
        if version == Version::Http10 {
            return Err(Refusal::bad("Transfer-Encoding on an HTTP/1.0 request"));
        }
        if codings.len() != 1 || !codings[0].eq_ignore_ascii_case(b"chunked") {
            return Err(Refusal {
                status: 501,
                reason: "only Transfer-Encoding: chunked is understood",
            });
        }
        return Ok(Framing::Chunked);
    }
    match lengths.as_slice() {
        [] => Ok(Framing::None),
        [one] => {
            let n = parse_decimal(one).ok_or(Refusal::bad("malformed Content-Length"))?;
            if n > limits.max_body {
                return Err(too_large());
            }
            Ok(if n == 0 {
                Framing::None
            } else {
                Framing::Length(n)
            })
        }
        _ => Err(Refusal::bad(
            "more than one Content-Length (refused: request smuggling)",
        )),
    }
}

fn too_large() -> Refusal {
    Refusal {
        status: 413,
        reason: "request body too large",
    }
}

/// Digits only, at most 18 of them (no sign, no spaces, no overflow).
fn parse_decimal(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 18 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(v.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
}

fn keep_alive(fields: &[(String, Vec<u8>)], version: Version) -> bool {
    let mut close = false;
    let mut keep = false;
    for (_, v) in fields.iter().filter(|(n, _)| n == "connection") {
        for token in v.split(|&b| b == b',') {
            let token = trim(token);
            close |= token.eq_ignore_ascii_case(b"close");
            keep |= token.eq_ignore_ascii_case(b"keep-alive");
        }
    }
    match version {
        Version::Http11 => !close,
        Version::Http10 => keep && !close,
    }
}

/// Decodes a chunked body incrementally (RFC 9112 §7.1): feed it bytes as
/// they arrive, collect the data, learn where the body ends.
///
/// Chunk extensions are skipped; trailer fields are read and dropped. The
/// size line, the extensions and the trailers are capped, and so is the
/// decoded total ([`Limits::max_body`]).
#[derive(Debug)]
pub struct ChunkedDecoder {
    state: ChunkState,
    total: u64,
    max_body: u64,
    /// Bytes of the current size or trailer line seen so far.
    line_len: usize,
    trailer_bytes: usize,
    size: u64,
    digits: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// Hex digits of a chunk size.
    Size,
    /// After the size: `;` extensions up to CR.
    Extension,
    /// The LF after a size line's CR.
    SizeLf,
    /// `remaining` bytes of chunk data.
    Data(u64),
    /// The CR after chunk data.
    DataCr,
    /// The LF after chunk data.
    DataLf,
    /// A trailer line (or the final empty line).
    Trailer,
    /// The LF of a trailer line; `empty` when the line was empty (the end).
    TrailerLf { empty: bool },
    /// The body is complete.
    Done,
}

/// Longest chunk-size line (digits and extensions) accepted.
const MAX_SIZE_LINE: usize = 1024;
/// Total bytes of trailer fields accepted.
const MAX_TRAILERS: usize = 8 * 1024;

impl ChunkedDecoder {
    /// A decoder for a body of at most `max_body` decoded bytes.
    pub fn new(max_body: u64) -> ChunkedDecoder {
        ChunkedDecoder {
            state: ChunkState::Size,
            total: 0,
            max_body,
            line_len: 0,
            trailer_bytes: 0,
            size: 0,
            digits: 0,
        }
    }

    /// Whether the final chunk and the trailers have been read.
    pub fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }

    /// Decodes `input`, appending chunk data to `out`. Returns how many
    /// bytes of `input` were used: all of them unless the body ended
    /// inside `input` (what follows belongs to the next request).
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, Refusal> {
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            match self.state {
                ChunkState::Done => return Ok(i),
                ChunkState::Data(remaining) => {
                    let take = remaining.min((input.len() - i) as u64) as usize;
                    out.extend_from_slice(&input[i..i + take]);
                    i += take;
                    let left = remaining - take as u64;
                    self.state = if left == 0 {
                        ChunkState::DataCr
                    } else {
                        ChunkState::Data(left)
                    };
                    continue;
                }
                ChunkState::Size => match b {
                    b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                        if self.digits == 15 {
                            return Err(Refusal::bad("chunk size too long"));
                        }
                        let d = (b as char).to_digit(16).unwrap_or(0);
                        self.size = self.size * 16 + u64::from(d);
                        self.digits += 1;
                    }
                    b';' if self.digits > 0 => self.state = ChunkState::Extension,
                    b'\r' if self.digits > 0 => self.state = ChunkState::SizeLf,
                    _ => return Err(Refusal::bad("malformed chunk size")),
                },
                ChunkState::Extension => {
                    self.line_len += 1;
                    if self.line_len > MAX_SIZE_LINE {
                        return Err(Refusal::bad("chunk extension too long"));
                    }
                    match b {
                        b'\r' => self.state = ChunkState::SizeLf,
                        b'\n' => return Err(Refusal::bad("bare LF in a chunk size line")),
                        b'\t' | 0x20..=0x7e | 0x80..=0xff => {}
                        _ => return Err(Refusal::bad("control character in a chunk extension")),
                    }
                }
                ChunkState::SizeLf => {
                    if b != b'\n' {
                        return Err(Refusal::bad("chunk size line without CRLF"));
                    }
                    self.line_len = 0;
                    self.digits = 0;
                    let size = std::mem::take(&mut self.size);
                    if size == 0 {
                        self.state = ChunkState::Trailer;
                    } else {
                        self.total = self.total.saturating_add(size);
                        if self.total > self.max_body {
                            return Err(too_large());
                        }
                        self.state = ChunkState::Data(size);
                    }
                }
                ChunkState::DataCr => {
                    if b != b'\r' {
                        return Err(Refusal::bad("chunk data longer than its size"));
                    }
                    self.state = ChunkState::DataLf;
                }
                ChunkState::DataLf => {
                    if b != b'\n' {
                        return Err(Refusal::bad("chunk data without CRLF"));
                    }
                    self.state = ChunkState::Size;
                }
                ChunkState::Trailer => {
                    self.trailer_bytes += 1;
                    if self.trailer_bytes > MAX_TRAILERS {
                        return Err(Refusal {
                            status: 431,
                            reason: "trailer fields too large",
                        });
                    }
                    match b {
                        b'\r' => {
                            self.state = ChunkState::TrailerLf {
                                empty: self.line_len == 0,
                            }
                        }
                        b'\n' => return Err(Refusal::bad("bare LF in trailer fields")),
                        0x00..=0x08 | 0x0a..=0x1f | 0x7f => {
                            return Err(Refusal::bad("control character in a trailer field"))
                        }
                        _ => self.line_len += 1,
                    }
                }
                ChunkState::TrailerLf { empty } => {
                    if b != b'\n' {
                        return Err(Refusal::bad("trailer line without CRLF"));
                    }
                    self.line_len = 0;
                    self.state = if empty {
                        ChunkState::Done
                    } else {
                        ChunkState::Trailer
                    };
                }
            }
            i += 1;
        }
        Ok(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Result<Option<(Head, usize)>, Refusal> {
        parse_head(text.as_bytes(), &Limits::default())
    }

    fn ok(text: &str) -> Head {
        match head(text) {
            Ok(Some((h, n))) => {
                assert_eq!(n, text.len(), "the whole head is consumed");
                h
            }
            other => panic!("{text:?} -> {other:?}"),
        }
    }

    fn refused(text: &str) -> u16 {
        match head(text) {
            Err(r) => r.status,
            other => panic!("{text:?} was not refused: {other:?}"),
        }
    }

    #[test]
    fn a_plain_get() {
        let h = ok("GET /v1/secret/data/app?version=2 HTTP/1.1\r\nHost: x\r\nX-A:  b c \r\n\r\n");
        assert_eq!(h.method, "GET");
        assert_eq!(h.path, "/v1/secret/data/app");
        assert_eq!(h.query.as_deref(), Some("version=2"));
        assert_eq!(h.target(), "/v1/secret/data/app?version=2");
        assert_eq!(h.version, Version::Http11);
        assert_eq!(h.field("x-a"), Some(&b"b c"[..]));
        assert_eq!(h.framing, Framing::None);
        assert!(h.keep_alive);
        assert!(!h.expect_continue);
    }

    #[test]
    fn the_head_ends_at_the_empty_line() {
        let text = b"POST /v1/x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET";
        let (h, n) = parse_head(text, &Limits::default()).unwrap().unwrap();
        assert_eq!(&text[n..], b"abcGET");
        assert_eq!(h.framing, Framing::Length(3));
    }

    #[test]
    fn incomplete_heads_ask_for_more() {
        for cut in 1..40 {
            let text = "GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n\r\n";
            let part = &text.as_bytes()[..cut.min(text.len() - 1)];
            assert_eq!(parse_head(part, &Limits::default()), Ok(None), "{cut}");
        }
    }

    #[test]
    fn leading_empty_lines_are_skipped() {
        let h = ok("\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(h.path, "/");
    }

    #[test]
    fn connection_semantics() {
        assert!(!ok("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").keep_alive);
        assert!(!ok("GET / HTTP/1.0\r\n\r\n").keep_alive);
        assert!(ok("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive);
        assert!(!ok("GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade, close\r\n\r\n").keep_alive);
    }

    #[test]
    fn framing_is_read_strictly() {
        let chunked = ok("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n");
        assert_eq!(chunked.framing, Framing::Chunked);
        let none = ok("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(none.framing, Framing::None);
        // Smuggling shapes.
        let both =
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(refused(both), 400);
        let two = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n";
        assert_eq!(refused(two), 400);
        for bad in ["+3", "-1", "3 ", "0x3", "3,3", "", "1234567890123456789"] {
            let text = format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {bad}\r\n\r\n");
            // Trailing spaces are trimmed as whitespace around the value.
            if bad == "3 " {
                assert_eq!(ok(&text).framing, Framing::Length(3));
            } else {
                assert_eq!(refused(&text), 400, "{bad:?}");
            }
        }
        for te in ["gzip", "chunked, chunked", "gzip, chunked", "identity"] {
            let text = format!("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: {te}\r\n\r\n");
            assert_eq!(refused(&text), 501, "{te}");
        }
        let two_te = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(refused(two_te), 501);
        assert_eq!(
            refused("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
            400
        );
        let big = format!(
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            3 * 1024 * 1024
        );
        assert_eq!(refused(&big), 413);
    }

    #[test]
    fn targets_other_than_a_path_are_refused() {
        assert_eq!(
            refused("GET http://other.example/v1/x HTTP/1.1\r\nHost: x\r\n\r\n"),
            400
        );
        assert_eq!(
            refused("CONNECT other.example:443 HTTP/1.1\r\nHost: x\r\n\r\n"),
            405
        );
        assert_eq!(refused("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
        assert_eq!(refused("GET /a#frag HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
        assert_eq!(refused("GET /a b HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
        assert_eq!(refused("GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
    }

    #[test]
    fn malformed_lines_are_refused() {
        assert_eq!(refused("GET / HTTP/2.0\r\nHost: x\r\n\r\n"), 505);
        assert_eq!(refused("GET / FOO/1.1\r\nHost: x\r\n\r\n"), 400);
        assert_eq!(refused("GET  / HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
        assert_eq!(refused("G(T / HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
        assert_eq!(
            refused("GET / HTTP/1.1\r\nHost: x\r\nA: b\r\n c\r\n\r\n"),
            400
        );
        assert_eq!(refused("GET / HTTP/1.1\r\nHost: x\r\nA : b\r\n\r\n"), 400);
        assert_eq!(refused("GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n"), 400);
        assert_eq!(
            refused("GET / HTTP/1.1\r\nHost: x\r\nA: b\x00c\r\n\r\n"),
            400
        );
        assert_eq!(refused("GET / HTTP/1.1\r\nHost: x\rA: b\r\n\r\n"), 400);
        assert_eq!(refused("GET / HTTP/1.1\r\nHost: x\nA: b\r\n\r\n"), 400);
        assert_eq!(refused("GET / HTTP/1.1\r\n\r\n"), 400, "no Host");
        assert_eq!(refused("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
        assert_eq!(
            refused("GET / HTTP/1.1\r\nHost: a\r\nExpect: magic\r\n\r\n"),
            417
        );
        assert!(
            ok("PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n")
                .expect_continue
        );
    }

    #[test]
    fn noise_is_refused_before_the_head_completes() {
        // A TLS ClientHello sent to the plain listener.
        assert_eq!(
            parse_head(b"\x16\x03\x01\x02\x00\x01", &Limits::default()).map(|o| o.is_some()),
            Err(Refusal::bad("not an HTTP/1.1 request"))
        );
    }

    #[test]
    fn heads_are_capped() {
        let limits = Limits::default();
        let long = format!("GET / HTTP/1.1\r\nHost: x\r\nA: {}\r\n", "a".repeat(20_000));
        assert_eq!(
            parse_head(long.as_bytes(), &limits).unwrap_err().status,
            431
        );
        let mut many = String::from("GET / HTTP/1.1\r\nHost: x\r\n");
        for i in 0..100 {
            many.push_str(&format!("F{i}: v\r\n"));
        }
        many.push_str("\r\n");
        assert_eq!(refused(&many), 431);
    }

    #[test]
    fn debug_shows_no_field_values() {
        let h = ok("GET / HTTP/1.1\r\nHost: x\r\nX-Vault-Token: s.secret-token\r\n\r\n");
        let shown = format!("{h:?}");
        assert!(shown.contains("x-vault-token"));
        assert!(!shown.contains("secret-token"), "{shown}");
    }

    fn decode(input: &[u8], max: u64) -> Result<(Vec<u8>, usize, bool), Refusal> {
        let mut d = ChunkedDecoder::new(max);
        let mut out = Vec::new();
        let n = d.feed(input, &mut out)?;
        Ok((out, n, d.is_done()))
    }

    #[test]
    fn chunked_bodies_decode() {
        let body = b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nTrailer: x\r\n\r\nNEXT";
        let (out, n, done) = decode(body, 100).unwrap();
        assert_eq!(out, b"Wikipedia");
        assert!(done);
        assert_eq!(&body[n..], b"NEXT");
        // Byte by byte gives the same.
        let mut d = ChunkedDecoder::new(100);
        let mut out = Vec::new();
        for b in &body[..body.len() - 4] {
            assert_eq!(d.feed(std::slice::from_ref(b), &mut out), Ok(1));
        }
        assert!(d.is_done());
        assert_eq!(out, b"Wikipedia");
        assert_eq!(d.feed(b"N", &mut out), Ok(0));
    }

    #[test]
    fn bad_chunking_is_refused() {
        for bad in [
            &b"x\r\n"[..],
            b"\r\n",
            b"4\nWiki\r\n",
            b"4\r\nWikipedia\r\n",
            b"4\r\nWiki\n0\r\n\r\n",
            b"-4\r\n",
            b"1000000000000000\r\n",
            b"0\r\nA\n",
            b"4;a\nb\r\n",
        ] {
            assert!(
                decode(bad, 1 << 20).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let too_big = b"11\r\n";
        assert_eq!(decode(too_big, 16).unwrap_err().status, 413);
        let long_ext = format!("1;{}\r\n", "e".repeat(2000));
        assert!(decode(long_ext.as_bytes(), 100).is_err());
    }
}
