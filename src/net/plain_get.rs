//! One GET over plain HTTP/1.1, on a connection of its own, whose body is left on the socket
//! (a [`SocketBody`]) for the caller to splice or read. Only answers whose body is exactly
//! `Content-Length` bytes with nothing around them qualify; for anything else the caller is
//! told the status and uses its ordinary HTTP client.

use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use super::address::is_public;
use super::origin::Origin;
use super::splice::SocketBody;

/// The longest answer head read.
const MAX_HEAD: usize = 16 * 1024;
/// The most headers an answer may have.
const MAX_HEADERS: usize = 64;

/// What to ask, of whom.
#[derive(Debug)]
pub struct PlainGet<'a> {
    /// Where to (an `http` origin), also sent as `Host`.
    pub origin: &'a Origin,
    /// The path and query, starting with `/`.
    pub target: &'a str,
    /// Further request headers (`Authorization`, trace context).
    pub headers: Vec<(String, String)>,
    /// Refuse to connect to addresses that are not public.
    pub public_only: bool,
    /// Time allowed to connect.
    pub connect_timeout: Duration,
    /// Time the other side may stay silent (before its head, then between two reads).
    pub read_timeout: Duration,
}

/// The answer.
#[derive(Debug)]
pub enum PlainAnswer {
    /// 200 with a `Content-Length` body and no transfer or content coding.
    Body(SocketBody),
    /// Any other answer (its status); its body is not read.
    Other(u16),
}

/// Sends `request` and reads the answer's head.
///
/// # Errors
/// A connection failure, a timeout, an address not allowed, or a head that is not HTTP/1.x.
pub async fn plain_get(request: &PlainGet<'_>) -> io::Result<PlainAnswer> {
    let head = request_head(request)?;
    let addresses = resolve(request.origin, request.public_only).await?;
    let connect = TcpStream::connect(&addresses[..]);
    let mut socket = tokio::time::timeout(request.connect_timeout, connect)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
    socket.set_nodelay(true)?;
    socket.write_all(head.as_bytes()).await?;
    let mut buffer = BytesMut::with_capacity(8 * 1024);
    loop {
        let read = tokio::time::timeout(request.read_timeout, socket.read_buf(&mut buffer));
        let n = read
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no answer in time"))??;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        match parse_head(&buffer)? {
            Head::Partial => {}
            Head::Other(status) => return Ok(PlainAnswer::Other(status)),
            Head::Body { head, body } => {
                let prefix = buffer.split_off(head).freeze();
                let read = prefix.len() as u64;
                if read > body {
                    return Err(invalid("more bytes than its Content-Length"));
                }
                let body = SocketBody::new(socket, prefix, body - read, request.read_timeout);
                return Ok(PlainAnswer::Body(body));
            }
        }
        if buffer.len() >= MAX_HEAD {
            return Err(invalid("an answer head over 16 KiB"));
        }
    }
}

/// The request head; header values that could end a line are refused.
fn request_head(request: &PlainGet<'_>) -> io::Result<String> {
    let unsafe_text = |text: &str| text.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0);
    if !request.target.starts_with('/') || request.target.contains(' ') {
        return Err(invalid("a request target that is not a path"));
    }
    let mut head = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: oci-pypi/{}\r\nAccept-Encoding: identity\r\nConnection: close\r\n",
        request.target,
        request.origin.authority(),
        env!("CARGO_PKG_VERSION")
    );
    for (name, value) in &request.headers {
        if unsafe_text(name) || unsafe_text(value) || name.contains(':') {
            return Err(invalid("a header that would break the request"));
        }
        let _ = write!(head, "{name}: {value}\r\n");
    }
    head.push_str("\r\n");
    Ok(head)
}

/// The addresses of `origin`, only public ones when `public_only`.
async fn resolve(origin: &Origin, public_only: bool) -> io::Result<Vec<SocketAddr>> {
    let host = origin.host().trim_start_matches('[').trim_end_matches(']');
    let found: Vec<SocketAddr> = tokio::net::lookup_host((host, origin.port()))
        .await?
        .filter(|address| !public_only || is_public(address.ip()))
        .collect();
    if found.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "no address that may be contacted",
        ));
    }
    Ok(found)
}

/// An answer head, as far as it has been read.
#[derive(Debug, PartialEq, Eq)]
enum Head {
    /// Not complete yet.
    Partial,
    /// An answer whose body does not qualify (its status).
    Other(u16),
    /// 200 with a plain body: the head's length and the body's.
    Body { head: usize, body: u64 },
}

/// Parses an answer head.
fn parse_head(buffer: &[u8]) -> io::Result<Head> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut answer = httparse::Response::new(&mut headers);
    let head = match answer.parse(buffer) {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) => return Ok(Head::Partial),
        Err(error) => return Err(invalid(&format!("not an HTTP answer: {error}"))),
    };
    let status = answer.code.unwrap_or(0);
    if status != 200 {
        return Ok(Head::Other(status));
    }
    let mut content_length = None;
    for header in answer.headers.iter() {
        let value = std::str::from_utf8(header.value).unwrap_or("").trim();
        if header.name.eq_ignore_ascii_case("content-length") {
            let parsed = value.parse::<u64>().ok();
            if parsed.is_none() || (content_length.is_some() && content_length != parsed) {
                return Ok(Head::Other(status));
            }
            content_length = parsed;
        } else if header.name.eq_ignore_ascii_case("transfer-encoding")
            || (header.name.eq_ignore_ascii_case("content-encoding")
                && !value.eq_ignore_ascii_case("identity"))
        {
            return Ok(Head::Other(status));
        }
    }
    Ok(match content_length {
        Some(body) => Head::Body { head, body },
        None => Head::Other(status),
    })
}

fn invalid(reason: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, reason.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_bodies_qualify() {
        let plain = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: x\r\n\r\nab";
        assert_eq!(
            parse_head(plain).unwrap(),
            Head::Body {
                head: plain.len() - 2,
                body: 5
            }
        );
        assert_eq!(
            parse_head(b"HTTP/1.1 200 OK\r\nContent-Le").unwrap(),
            Head::Partial
        );
        for (answer, status) in [
            (
                &b"HTTP/1.1 307 Temporary Redirect\r\nLocation: x\r\n\r\n"[..],
                307,
            ),
            (
                b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n",
                401,
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                200,
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Encoding: gzip\r\n\r\n",
                200,
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
                200,
            ),
            (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 200),
            (b"HTTP/1.1 200 OK\r\n\r\n", 200),
        ] {
            let text = String::from_utf8_lossy(answer);
            assert_eq!(parse_head(answer).unwrap(), Head::Other(status), "{text}");
        }
        assert!(parse_head(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
    }

    #[test]
    fn request_heads_cannot_be_split() {
        let origin = Origin::parse("http://127.0.0.1:5000").unwrap();
        let request = |target: &'static str, value: &str| PlainGet {
            origin: &origin,
            target,
            headers: vec![("Authorization".to_owned(), value.to_owned())],
            public_only: false,
            connect_timeout: Duration::from_secs(1),
            read_timeout: Duration::from_secs(1),
        };
        let head = request_head(&request("/v2/a/blobs/sha256:00", "Bearer t")).unwrap();
        assert!(head.starts_with("GET /v2/a/blobs/sha256:00 HTTP/1.1\r\nHost: 127.0.0.1:5000\r\n"));
        assert!(head.ends_with("Authorization: Bearer t\r\n\r\n"));
        for (target, value) in [
            ("/v2/x", "Bearer t\r\nX-Evil: 1"),
            ("/v2/x", "Bearer t\n"),
            ("/v2/x HTTP/1.1\r\n", "t"),
            ("http://elsewhere/", "t"),
        ] {
            assert!(
                request_head(&request(target, value)).is_err(),
                "{target:?} {value:?}"
            );
        }
    }

    #[tokio::test]
    async fn public_only_refuses_loopback() {
        let origin = |text: &str| Origin::parse(text).unwrap();
        let error = resolve(&origin("http://127.0.0.1:5000"), true)
            .await
            .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::PermissionDenied);
        assert_eq!(
            resolve(&origin("http://127.0.0.1"), false).await.unwrap(),
            vec!["127.0.0.1:80".parse().unwrap()]
        );
        assert_eq!(
            resolve(&origin("http://[::1]:5000"), false).await.unwrap(),
            vec!["[::1]:5000".parse().unwrap()]
        );
    }
}
