//! Bare TCP conversations with the server, for what an HTTP client library would not send:
//! half-sent heads and bodies, paths with raw backslashes, connections that say nothing.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use super::TestEnv;
use super::upload::{self, UploadForm};

/// One HTTP/1.1 answer read off a bare connection.
#[derive(Debug)]
pub struct RawResponse {
    pub status: StatusCode,
    /// Header lines as `(lowercase name, value)`.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl RawResponse {
    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(header, _)| header == name)
            .map(|(_, value)| value.as_str())
    }
}

/// The head of a `multipart/form-data` POST (with [`upload::BOUNDARY`]) of `path` to
/// `authority`: Basic `credentials` when given, and `framing`, the line that says how long the
/// body is (`Content-Length: N` or `Transfer-Encoding: chunked`).
pub fn multipart_head(
    authority: &str,
    path: &str,
    credentials: Option<(&str, &str)>,
    framing: &str,
) -> String {
    use base64::Engine as _;
    let authorization = credentials
        .map(|(user, password)| {
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            format!("Authorization: Basic {token}\r\n")
        })
        .unwrap_or_default();
    format!(
        "POST {path} HTTP/1.1\r\nHost: {authority}\r\n{authorization}\
         Content-Type: multipart/form-data; boundary={}\r\n{framing}\r\n\r\n",
        upload::BOUNDARY
    )
}

/// The start of an upload to `env`'s namespace that announces `length` bytes (a large body,
/// with Basic `credentials` when given) of which only the first field, `:action`, follows.
pub fn announced_upload(env: &TestEnv, length: u64, credentials: Option<(&str, &str)>) -> Vec<u8> {
    let path = format!("{}/", env.base_path());
    let framing = format!("Content-Length: {length}");
    let mut bytes =
        multipart_head(&env.server.authority(), &path, credentials, &framing).into_bytes();
    bytes.extend(
        UploadForm::empty()
            .field(":action", "file_upload")
            .raw_head(),
    );
    bytes
}

/// Connects to `authority` (`127.0.0.1:PORT`) and writes `bytes`.
pub async fn send(authority: &str, bytes: &[u8]) -> anyhow::Result<TcpStream> {
    let mut stream = TcpStream::connect(authority).await?;
    stream.write_all(bytes).await?;
    Ok(stream)
}

/// Reads one complete answer (with `Content-Length`) within `timeout`.
pub async fn read_response(
    stream: &mut TcpStream,
    timeout: Duration,
) -> anyhow::Result<RawResponse> {
    let deadline = Instant::now() + timeout;
    let mut received = Vec::new();
    let mut buffer = vec![0_u8; 16 << 10];
    loop {
        if let Some(answer) = parse_response(&received)? {
            return Ok(answer);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let read = tokio::time::timeout(left, stream.read(&mut buffer))
            .await
            .with_context(|| {
                format!(
                    "no complete answer within {timeout:?} (is the server waiting for the body?); \
                     received {:?}",
                    String::from_utf8_lossy(&received)
                )
            })?;
        match read {
            Ok(0) | Err(_) => break,
            Ok(n) => received.extend_from_slice(&buffer[..n]),
        }
    }
    parse_response(&received)?.with_context(|| {
        format!(
            "the connection ended before a complete answer: {:?}",
            String::from_utf8_lossy(&received)
        )
    })
}

/// Waits until the server closes the connection (a read returns end of file or an error),
/// discarding whatever it sends; how long that took, or `None` if it was still open after
/// `patience`.
pub async fn closed_within(stream: &mut TcpStream, patience: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buffer = [0_u8; 4096];
    loop {
        let left = patience.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

/// A complete HTTP/1.1 answer (with `Content-Length`) from `bytes`, if they hold one.
fn parse_response(bytes: &[u8]) -> anyhow::Result<Option<RawResponse>> {
    let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = String::from_utf8_lossy(&bytes[..end]);
    let mut lines = head.lines();
    let status_line = lines.next().unwrap_or_default();
    let Some(code) = status_line.split_whitespace().nth(1) else {
        bail!("not an HTTP status line: {status_line:?}");
    };
    let status = StatusCode::from_u16(code.parse()?)?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let length = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .map(|(_, value)| value.parse::<usize>())
        .transpose()?
        .unwrap_or(0);
    let body = &bytes[end + 4..];
    if body.len() < length {
        return Ok(None);
    }
    Ok(Some(RawResponse {
        status,
        headers,
        body: String::from_utf8_lossy(&body[..length]).into_owned(),
    }))
}
