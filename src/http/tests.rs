//! The HTTP client's own tests: what an attempt is seen as, sorting
//! transport failures, backoff, `Retry-After`, the deadline, addresses,
//! headers, `Debug`.

use super::*;

fn client(transient: bool, max_retries: u32) -> HttpClient {
    let mut c = HttpConfig::new(Service::Vault, "http://127.0.0.1:1");
    c.max_retries = max_retries;
    if transient {
        c.transient = Some(|s, b| match (s, b) {
            (500, b"election") => Verdict::Passing,
            (503, b"sealed") => Verdict::NodeDown,
            _ => Verdict::Generic,
        });
    }
    HttpClient::new(&c).unwrap()
}

fn answer(status: u16, body: &[u8]) -> Response {
    Response {
        status,
        headers: vec![],
        body: body.to_vec(),
        resent: false,
    }
}

#[test]
fn an_attempt_is_seen_through_the_services_verdict() {
    let seen = |c: &HttpClient, status, body| c.seen(&Attempt::Answer(answer(status, body)));
    let verdict = |c: &HttpClient, status, body| match seen(c, status, body) {
        Seen::Answer { verdict, .. } => verdict,
        other => panic!("{other:?}"),
    };
    let clustered = client(true, 2);
    assert_eq!(verdict(&clustered, 503, b"sealed"), Some(Verdict::NodeDown));
    assert_eq!(
        verdict(&clustered, 500, b"election"),
        Some(Verdict::Passing)
    );
    assert_eq!(verdict(&clustered, 500, b""), Some(Verdict::Generic));
    assert_eq!(verdict(&client(false, 2), 500, b"election"), None);
    let mut resp = answer(429, b"");
    resp.headers = vec![("retry-after".into(), "3".into())];
    assert!(matches!(
        clustered.seen(&Attempt::Answer(resp)),
        Seen::Answer { retry_after: Some(d), .. } if d == Duration::from_secs(3)
    ));
    assert_eq!(
        clustered.seen(&Attempt::NodeFailed(ureq::Error::ConnectionFailed)),
        Seen::NodeFailed {
            failure: Failure::Connection,
            connect_timeout: false
        }
    );
    assert_eq!(
        clustered.seen(&Attempt::TargetFailed(ureq::Error::Timeout(
            ureq::Timeout::Connect
        ))),
        Seen::TargetFailed(Failure::Timeout)
    );
}

#[test]
fn connection_errors_are_retried_but_not_tls_or_timeouts() {
    assert_eq!(
        classify(&ureq::Error::ConnectionFailed),
        Failure::Connection
    );
    assert_eq!(classify(&ureq::Error::HostNotFound), Failure::Connection);
    assert_eq!(
        classify(&ureq::Error::Timeout(ureq::Timeout::Global)),
        Failure::Timeout
    );
}

#[test]
fn linear_backoff_with_a_cap_and_bounded_jitter() {
    assert_eq!(backoff(1, 0.0), Duration::from_millis(250));
    assert_eq!(backoff(3, 0.0), Duration::from_millis(750));
    assert_eq!(backoff(40, 0.0), MAX_BACKOFF);
    let d = backoff(2, 0.999);
    assert!(d >= Duration::from_millis(500) && d < Duration::from_millis(750));
    assert_eq!(backoff(1, f64::NAN), Duration::from_millis(250));
    assert!(backoff(u32::MAX, 1.0) <= MAX_BACKOFF + MAX_BACKOFF / 2);
}

#[test]
fn parses_retry_after_seconds_only() {
    assert_eq!(parse_retry_after("2"), Some(Duration::from_secs(2)));
    assert_eq!(parse_retry_after("0"), Some(Duration::ZERO));
    assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    assert_eq!(parse_retry_after("-1"), None);
    assert_eq!(parse_retry_after("99999999999999999999"), None);
}

#[test]
fn a_wait_past_the_deadline_is_never_slept() {
    // 127.0.0.1:1 refuses at once; the shortest backoff (250 ms) does
    // not fit a 200 ms budget, so the client gives up without sleeping
    // at all (a budget that fits one wait would make the bound depend
    // on how late a loaded machine wakes a sleeper).
    let mut c = HttpConfig::new(Service::Vault, "http://127.0.0.1:1");
    c.transient = Some(|_, _| Verdict::Generic);
    c.deadline = Duration::from_millis(200);
    let c = HttpClient::new(&c).unwrap();
    let t = Instant::now();
    let e = c.request(Request::get("/v1/x")).unwrap_err();
    assert!(t.elapsed() < BACKOFF_STEP, "{:?}", t.elapsed());
    assert!(e.to_string().contains("deadline"), "{e}");
}

#[test]
fn several_addresses_are_kept_in_order_without_duplicates() {
    let mut c = HttpConfig::new(Service::Vault, "http://a:1/");
    c.other_urls = vec!["http://b:1".into(), "http://a:1".into()];
    let c = HttpClient::new(&c).unwrap();
    assert_eq!(c.base_urls(), ["http://a:1", "http://b:1"]);
    assert_eq!(c.base_url(), "http://a:1");
    let mut bad = HttpConfig::new(Service::Vault, "http://a:1");
    bad.other_urls = vec!["ftp://b".into()];
    assert!(HttpClient::new(&bad).is_err());
}

#[test]
fn a_header_http_cannot_carry_is_refused_before_sending() {
    assert!(header_value_ok("hvs.CAESIabc-_.~"));
    assert!(!header_value_ok("hvs.abc\r\nX-Evil: 1"));
    assert!(!header_value_ok("a\0b"));
    assert!(!header_value_ok("a\tb"));
    // Port 1 refuses: an attempt would be "unreachable", not this.
    let mut c = HttpConfig::new(Service::Vault, "http://127.0.0.1:1");
    c.proxy = Some(ProxyPolicy::default());
    let c = HttpClient::new(&c).unwrap();
    let req = Request::get("/v1/x").secret_header("X-Vault-Token", "hvs.canary\nx".into());
    let e = c.request(req).unwrap_err();
    let shown = e.to_string();
    assert_eq!(e.exit_code(), 2, "{shown}");
    assert!(shown.contains("X-Vault-Token"), "{shown}");
    assert!(!shown.contains("canary"), "{shown}");
    assert_eq!(c.waited().retries, 0);
}

#[test]
fn debug_hides_secrets() {
    let req = Request::new("POST", "v1/x?list=true")
        .secret_header("X-Vault-Token", SecretString::new("hvs.canary"))
        .json(&serde_json::json!({"password": "canary-pw"}));
    let dbg = format!("{req:?}");
    assert!(!dbg.contains("canary"), "{dbg}");
    assert_eq!(req.method(), "POST");
    assert_eq!(req.path(), "/v1/x?list=true");
    assert_eq!(req.path_only(), "/v1/x");
    let resp = Response {
        status: 200,
        headers: vec![],
        body: b"{\"token\":\"canary\"}".to_vec(),
        resent: false,
    };
    assert!(!format!("{resp:?}").contains("canary"));
}
