//! The load generator of `scripts/bench-gateway.sh`: `CONNECTIONS`
//! keep-alive HTTP/1.1 connections, each in its own thread, sending `GET
//! PATH` until `REQUESTS` have been sent in all; every answer must be a
//! `200` whose body holds `EXPECT`. Plain `std::net`, no token, no Vault
//! library: what an application would send to a local API proxy.
//!
//! ```text
//! cargo run --release --example bench_gateway -- 127.0.0.1:8200 /v1/secret/data/bench/app 200 20000 s3cret
//! ```
//!
//! A sixth argument is sent as `X-Vault-Token` (the baseline straight to
//! Vault, without a proxy).
//!
//! Prints one JSON line: requests, errors (statuses other than 200, bodies
//! without `EXPECT`, I/O failures; a failed connection is opened again),
//! seconds, requests per second, and the latency percentiles in
//! milliseconds (p50, p90, p99, max), each request timed from its first
//! byte sent to its last byte read.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Reads one answer: (status, body). Content-Length or chunked.
fn read_answer(s: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<(u16, Vec<u8>)> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    let mut chunk = [0u8; 16384];
    let end = loop {
        if let Some(e) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break e;
        }
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err(bad("closed before an answer"));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status"))?;
    let length = head.lines().find_map(|l| {
        l.strip_prefix("content-length:")
            .and_then(|v| v.trim().parse::<usize>().ok())
    });
    let chunked = head
        .lines()
        .any(|l| l.starts_with("transfer-encoding:") && l.contains("chunked"));
    buf.drain(..end + 4);
    let mut body = Vec::new();
    if chunked {
        loop {
            let line_end = loop {
                if let Some(p) = buf.windows(2).position(|w| w == b"\r\n") {
                    break p;
                }
                let n = s.read(&mut chunk)?;
                if n == 0 {
                    return Err(bad("closed inside a chunk"));
                }
                buf.extend_from_slice(&chunk[..n]);
            };
            let size_text = String::from_utf8_lossy(&buf[..line_end]).to_string();
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| bad("bad chunk size"))?;
            buf.drain(..line_end + 2);
            while buf.len() < size + 2 {
                let n = s.read(&mut chunk)?;
                if n == 0 {
                    return Err(bad("closed inside a chunk"));
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            if size == 0 {
                // No trailers expected: the last chunk's CRLF.
                buf.drain(..2);
                break;
            }
            body.extend_from_slice(&buf[..size]);
            buf.drain(..size + 2);
        }
    } else {
        let n = length.unwrap_or(0);
        while buf.len() < n {
            let k = s.read(&mut chunk)?;
            if k == 0 {
                return Err(bad("closed inside a body"));
            }
            buf.extend_from_slice(&chunk[..k]);
        }
        body = buf.drain(..n).collect();
    }
    Ok((status, body))
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 5 && args.len() != 6 {
        eprintln!("usage: bench_gateway HOST:PORT PATH CONNECTIONS REQUESTS EXPECT [TOKEN]");
        std::process::exit(2);
    }
    let addr = args[0].clone();
    // A token only for the baseline straight to Vault.
    let token = args
        .get(5)
        .map(|t| format!("X-Vault-Token: {t}\r\n"))
        .unwrap_or_default();
    let request = format!("GET {} HTTP/1.1\r\nHost: {addr}\r\n{token}\r\n", args[1]).into_bytes();
    let connections: usize = args[2].parse().expect("CONNECTIONS");
    let total: usize = args[3].parse().expect("REQUESTS");
    let expect = args[4].clone().into_bytes();
    let next = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let threads: Vec<_> = (0..connections)
        .map(|_| {
            let (addr, request, expect) = (addr.clone(), request.clone(), expect.clone());
            let (next, errors) = (next.clone(), errors.clone());
            std::thread::Builder::new()
                .stack_size(128 * 1024)
                .spawn(move || {
                    let connect = || {
                        let s = TcpStream::connect(&addr).ok()?;
                        s.set_nodelay(true).ok()?;
                        s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
                        Some(s)
                    };
                    let mut times = Vec::new();
                    let mut conn = connect();
                    let mut buf = Vec::new();
                    while next.fetch_add(1, Ordering::Relaxed) < total {
                        let t = Instant::now();
                        let ok = match conn.as_mut() {
                            None => false,
                            Some(s) => {
                                s.write_all(&request).is_ok()
                                    && matches!(read_answer(s, &mut buf),
                                        Ok((200, body)) if body.windows(expect.len()).any(|w| w == expect.as_slice()))
                            }
                        };
                        if ok {
                            times.push(t.elapsed());
                        } else {
                            errors.fetch_add(1, Ordering::Relaxed);
                            buf.clear();
                            conn = connect();
                        }
                    }
                    times
                })
                .expect("thread")
        })
        .collect();
    let mut times: Vec<Duration> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap_or_default())
        .collect();
    let seconds = start.elapsed().as_secs_f64();
    times.sort();
    let errors = errors.load(Ordering::Relaxed);
    let done = times.len() + errors;
    println!(
        "{{\"requests\": {done}, \"errors\": {errors}, \"connections\": {connections}, \"seconds\": {seconds:.3}, \"rps\": {:.0}, \"p50_ms\": {:.2}, \"p90_ms\": {:.2}, \"p99_ms\": {:.2}, \"max_ms\": {:.2}}}",
        times.len() as f64 / seconds,
        percentile(&times, 0.50),
        percentile(&times, 0.90),
        percentile(&times, 0.99),
        percentile(&times, 1.0),
    );
}
