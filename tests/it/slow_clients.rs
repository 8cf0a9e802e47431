//! Anonymous resource exhaustion (issue 15): connections that never finish their headers (a
//! slowloris) or their body are closed after the configured timeouts, uploads in progress are
//! bounded server-wide, and an anonymous upload to a registry that needs credentials is
//! refused before its body is read.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::io::AsyncWriteExt as _;

use crate::harness::fake_registry::{Endpoint, FakeRegistry, Fault};
use crate::harness::raw;
use crate::harness::{AuthMode, Server, TestEnv, UploadForm, assert_status};

/// The timeouts configured in these tests, in seconds.
const TIMEOUT: u64 = 1;
/// How much later than the timeout a connection may close (a loaded machine).
const SLACK: Duration = Duration::from_secs(3);

fn short_timeouts(config: &mut oci_pypi::config::Config) {
    config.server.header_timeout = TIMEOUT;
    config.server.body_timeout = TIMEOUT;
}

/// Asserts that the server closes `stream` after about [`TIMEOUT`] (not long before, as that
/// would be another cause, and not much after).
async fn assert_closed_after_timeout(stream: &mut tokio::net::TcpStream, what: &str) {
    let started = Instant::now();
    let closed = raw::closed_within(stream, Duration::from_secs(TIMEOUT) + SLACK).await;
    let Some(after) = closed else {
        panic!(
            "{what}: the connection was still open {:?} after a {TIMEOUT} s timeout",
            started.elapsed()
        );
    };
    assert!(
        after >= Duration::from_millis(TIMEOUT * 1000 / 2),
        "{what}: closed after {after:?}, before the timeout"
    );
}

/// A slowloris: headers sent one byte at a time, never finished. The server closes the
/// connection once the header timeout has passed, however steadily the bytes come.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_sent_byte_by_byte_are_cut_off() -> anyhow::Result<()> {
    let env = TestEnv::start_with(AuthMode::Anonymous, short_timeouts).await?;
    let authority = env.server.authority();
    let head = format!("GET /health HTTP/1.1\r\nHost: {authority}\r\nX-Slow: ");
    let mut stream = tokio::net::TcpStream::connect(&authority).await?;
    let started = Instant::now();
    let mut closed_at = None;
    for byte in head.bytes().chain(std::iter::repeat(b'a')) {
        if stream.write_all(&[byte]).await.is_err() {
            closed_at = Some(started.elapsed());
            break;
        }
        let patience = Duration::from_millis(100);
        if raw::closed_within(&mut stream, patience).await.is_some() {
            closed_at = Some(started.elapsed());
            break;
        }
        if started.elapsed() > Duration::from_secs(TIMEOUT) + SLACK {
            break;
        }
    }
    let closed_at = closed_at.unwrap_or_else(|| {
        panic!(
            "a slowloris connection was still open after {:?} (header timeout {TIMEOUT} s)",
            started.elapsed()
        )
    });
    assert!(closed_at >= Duration::from_millis(500), "{closed_at:?}");

    // The server still serves everyone else.
    let response = env.get("/health", false).await?;
    assert_eq!(response.status(), StatusCode::OK);
    Ok(())
}

/// Connections that say nothing, stop in the middle of their headers, send half of the
/// HTTP/2 preface, or stay idle after an answer (keep-alive) are all closed after the header
/// timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_idle_connections_are_closed() -> anyhow::Result<()> {
    let env = TestEnv::start_with(AuthMode::Anonymous, short_timeouts).await?;
    let authority = env.server.authority();
    let cases: [(&str, &[u8]); 3] = [
        ("a connection that sends nothing", b""),
        (
            "half a request head",
            b"GET /health HTTP/1.1\r\nHost: x\r\n",
        ),
        ("half of the HTTP/2 preface", b"PRI * HTTP/2.0\r\n"),
    ];
    let mut checks = Vec::new();
    for (what, bytes) in cases {
        let authority = authority.clone();
        checks.push(tokio::spawn(async move {
            let mut stream = raw::send(&authority, bytes).await.expect("connect");
            assert_closed_after_timeout(&mut stream, what).await;
        }));
    }
    // Keep-alive: one complete request, answered, then silence.
    let request = format!("GET /health HTTP/1.1\r\nHost: {authority}\r\n\r\n");
    let mut stream = raw::send(&authority, request.as_bytes()).await?;
    let answer = raw::read_response(&mut stream, Duration::from_secs(10)).await?;
    assert_eq!(answer.status, StatusCode::OK);
    assert_closed_after_timeout(&mut stream, "an idle keep-alive connection").await;
    for check in checks {
        check.await?;
    }
    Ok(())
}

/// An upload whose body stops coming is cut off after the body timeout, and the server
/// answers or closes instead of waiting for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_upload_bodies_are_cut_off() -> anyhow::Result<()> {
    let env = TestEnv::start_with(AuthMode::Anonymous, short_timeouts).await?;
    let head = raw::announced_upload(&env, 1 << 20, None);
    let mut stream = raw::send(&env.server.authority(), &head).await?;
    let started = Instant::now();
    let closed = raw::closed_within(&mut stream, Duration::from_secs(TIMEOUT) + SLACK).await;
    assert!(
        closed.is_some(),
        "an upload whose body stalled was still open after {:?} (body timeout {TIMEOUT} s)",
        started.elapsed()
    );
    Ok(())
}

/// A request that takes longer than the header timeout to answer (a slow registry) is not cut
/// off: the header timeout only counts while no request is in progress.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_answers_outlive_the_header_timeout() -> anyhow::Result<()> {
    let fake = FakeRegistry::start()?;
    fake.set_fault(
        Endpoint::TagsList,
        Fault::Delay(Duration::from_millis(2500)),
    );
    let mut config = oci_pypi::config::Config::for_registries(vec![oci_pypi::net::Origin::parse(
        &fake.origin(),
    )?]);
    short_timeouts(&mut config);
    let server = Server::start(config).await?;
    let url = format!(
        "{}/{}/{}/",
        server.url(),
        fake.host(),
        crate::harness::fake_registry::REPOSITORY
    );
    let started = Instant::now();
    let response = crate::harness::client().get(url).send().await?;
    assert_status(response, StatusCode::OK).await?;
    assert!(started.elapsed() >= Duration::from_secs(2));
    Ok(())
}

/// An anonymous upload to a registry that asks for credentials is answered 401 from its head
/// alone, before any of its (large) body is read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_uploads_are_refused_before_the_body() -> anyhow::Result<()> {
    for mode in [AuthMode::Htpasswd, AuthMode::Token] {
        let env = TestEnv::start(mode).await?;
        let head = raw::announced_upload(&env, 10 << 20, None);
        let mut stream = raw::send(&env.server.authority(), &head).await?;
        let answer = raw::read_response(&mut stream, Duration::from_secs(10)).await?;
        assert_eq!(
            answer.status,
            StatusCode::UNAUTHORIZED,
            "{mode:?}: {}",
            answer.body
        );
        assert_eq!(
            answer.header("www-authenticate"),
            Some("Basic realm=\"oci-pypi\""),
            "{mode:?}"
        );
    }
    Ok(())
}

/// Beyond `--max-concurrent-uploads`, uploads are answered 503 with `Retry-After`, before
/// their body is read; once an upload ends, its place is free again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_uploads_are_bounded() -> anyhow::Result<()> {
    let env = TestEnv::start_with(AuthMode::Anonymous, |config| {
        config.publishing.max_concurrent_uploads = 1;
    })
    .await?;
    // An upload in progress, whose body never ends.
    let held = raw::send(
        &env.server.authority(),
        &raw::announced_upload(&env, 1 << 20, None),
    )
    .await?;
    // A form without a file: refused with 400 when it gets a place, 503 while none is free.
    let probe = || async {
        let form = UploadForm::empty().field(":action", "file_upload");
        let response = env.upload(&form, false).await?;
        let retry_after = response.headers().get("retry-after").cloned();
        anyhow::Ok((response.status(), retry_after, response.text().await?))
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let (status, retry_after, body) = loop {
        let answer = probe().await?;
        if answer.0 == StatusCode::SERVICE_UNAVAILABLE || Instant::now() > deadline {
            break answer;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(retry_after.is_some(), "503 without Retry-After");
    assert!(body.contains("--max-concurrent-uploads"), "{body}");

    drop(held);
    let deadline = Instant::now() + Duration::from_secs(10);
    let (status, _, body) = loop {
        let answer = probe().await?;
        if answer.0 != StatusCode::SERVICE_UNAVAILABLE || Instant::now() > deadline {
            break answer;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    Ok(())
}
