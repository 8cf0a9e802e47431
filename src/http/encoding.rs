//! Content coding of pages: index pages, the project list and the releases JSON go
//! gzip-compressed to clients that accept it (pip, uv, poetry and Renovate all do), so a
//! page of hundreds of releases crosses the network at about a quarter of its size. Each
//! page snapshot is compressed once, the first time a client accepts it, and kept with it.
//!
//! Distribution files and their metadata are never coded: clients hash the bytes they
//! receive (pip reads files with `decode_content=False`) and uv's range reads count offsets
//! in them.
//!
//! Specifications: RFC 9110 §8.4 (content codings), §12.5.3 (`Accept-Encoding`), §8.8.3 (a
//! strong `ETag` differs between codings); RFC 1952 (gzip).

use std::io::Write as _;

use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use http::{HeaderMap, header};

use super::negotiate::parse_weighted_list;
use crate::renders::Rendered;

/// Bodies shorter than this go as they are: a packet or two, where compressing saves
/// nothing the client would notice.
pub const MIN_COMPRESSED: usize = 1024;

/// Bodies up to this size are compressed in the request's task; larger ones on a blocking
/// thread, so that a large page does not hold up the requests that share its worker.
const INLINE_MAX: usize = 64 * 1024;

/// The gzip level: the fastest, which is also the smallest here. Pages are mostly SHA-256
/// hex digests, which no level compresses well: a 437,560-byte page of 1,000 files came to
/// 93,694 bytes in 2.2 ms at level 1 and 95,014 bytes in 9.9 ms at level 6 (release build,
/// the 2-core benchmark machine).
const LEVEL: u32 = 1;

/// Whether the request's `Accept-Encoding` lets us send gzip ([`accepts_gzip`]).
#[must_use]
pub fn request_accepts_gzip(headers: &HeaderMap) -> bool {
    let value = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok());
    accepts_gzip(value)
}

/// Whether an `Accept-Encoding` value lets us send gzip: `gzip` (or its alias `x-gzip`)
/// with a non-zero q-value, or, when neither is named, `*` with one. No header: no coding.
#[must_use]
pub fn accepts_gzip(accept_encoding: Option<&str>) -> bool {
    let Some(value) = accept_encoding else {
        return false;
    };
    let codings = parse_weighted_list(value);
    let named = codings
        .iter()
        .filter(|(coding, _)| coding == "gzip" || coding == "x-gzip")
        .map(|(_, q)| *q)
        .max();
    match named {
        Some(q) => q > 0,
        None => codings.iter().any(|(coding, q)| coding == "*" && *q > 0),
    }
}

/// The strong `ETag` of `rendered` as sent to a client that does (`gzip`) or does not accept
/// gzip, known without compressing it (a revalidation answered 304 compresses nothing).
#[must_use]
pub fn etag(rendered: &Rendered, gzip: bool) -> String {
    if compresses(&rendered.body, gzip) {
        gzip_etag(&rendered.etag)
    } else {
        rendered.etag.clone()
    }
}

/// `rendered` as sent to a client that does (`gzip`) or does not accept gzip (compressed
/// once, then kept with it); the `Content-Encoding` when coded. Its `ETag` is
/// [`etag`]`(rendered, coding.is_some())`.
pub async fn code(rendered: &Rendered, gzip: bool) -> (Bytes, Option<&'static str>) {
    if !compresses(&rendered.body, gzip) {
        return (rendered.body.clone(), None);
    }
    let compressed = rendered
        .compressed
        .get_or_try_init(|| compressed(rendered.body.clone()))
        .await;
    match compressed {
        Ok(body) => (body.clone(), Some("gzip")),
        // The blocking pool is shutting down: the page goes as it is.
        Err(_) => (rendered.body.clone(), None),
    }
}

/// `body`, made for one response and not kept (a page for people), as sent to a client that
/// does (`gzip`) or does not accept gzip; the `Content-Encoding` when coded.
pub async fn code_once(body: Bytes, gzip: bool) -> (Bytes, Option<&'static str>) {
    if !compresses(&body, gzip) {
        return (body, None);
    }
    match compressed(body.clone()).await {
        Ok(coded) => (coded, Some("gzip")),
        Err(_) => (body, None),
    }
}

/// Whether `body` goes compressed to a client that does (`gzip`) or does not accept gzip.
fn compresses(body: &[u8], gzip: bool) -> bool {
    gzip && body.len() >= MIN_COMPRESSED
}

/// `body` in gzip, on a blocking thread when it is large.
async fn compressed(body: Bytes) -> Result<Bytes, tokio::task::JoinError> {
    if body.len() <= INLINE_MAX {
        return Ok(compress(&body));
    }
    tokio::task::spawn_blocking(move || compress(&body)).await
}

/// `body` in gzip (RFC 1952).
fn compress(body: &[u8]) -> Bytes {
    let mut encoder = GzEncoder::new(Vec::with_capacity(body.len() / 3), Compression::new(LEVEL));
    // Writing to a `Vec` cannot fail.
    let _ = encoder.write_all(body);
    encoder.finish().map(Bytes::from).unwrap_or_default()
}

/// The strong `ETag` of the gzip coding of a body whose `ETag` is `etag`.
fn gzip_etag(etag: &str) -> String {
    match etag.strip_suffix('"') {
        Some(open) => format!("{open}-gzip\""),
        None => format!("{etag}-gzip"),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use flate2::read::GzDecoder;

    use super::*;

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut decoded = Vec::new();
        GzDecoder::new(bytes).read_to_end(&mut decoded).unwrap();
        decoded
    }

    fn page(len: usize) -> Rendered {
        let text: String = (0..len)
            .map(|i| char::from(b'a' + u8::try_from(i % 26).unwrap()))
            .collect();
        Rendered::new(Bytes::from(text), "\"abc\"".to_owned())
    }

    #[test]
    fn what_clients_send_is_understood() {
        for (value, expected) in [
            (Some("gzip, deflate"), true),       // pip, poetry (requests)
            (Some("gzip, deflate, zstd"), true), // uv
            (Some("gzip, deflate, br"), true),   // Renovate (got)
            (Some("x-gzip"), true),
            (Some("GZIP;q=0.5"), true),
            (Some("*"), true),
            (Some("br;q=1.0, *;q=0.1"), true),
            (Some("gzip;q=0, *"), false),
            (Some("gzip;q=0.000"), false),
            (Some("*;q=0"), false),
            (Some("identity"), false),
            (Some("br, zstd"), false),
            (Some(""), false),
            (Some("gzip;q=2"), false), // an invalid q-value drops the entry
            (None, false),
        ] {
            assert_eq!(accepts_gzip(value), expected, "{value:?}");
        }
    }

    #[tokio::test]
    async fn a_page_is_compressed_once_and_decodes_to_itself() {
        let rendered = page(200_000);
        let (first, coding) = code(&rendered, true).await;
        assert_eq!(coding, Some("gzip"));
        assert_eq!(etag(&rendered, true), "\"abc-gzip\"");
        assert_eq!(etag(&rendered, false), "\"abc\"");
        assert!(first.len() < rendered.body.len() / 10);
        assert_eq!(gunzip(&first), rendered.body);
        let (second, _) = code(&rendered, true).await;
        assert_eq!(second.as_ptr(), first.as_ptr(), "compressed again");
    }

    #[tokio::test]
    async fn small_pages_and_clients_without_gzip_get_the_page_as_it_is() {
        let small = page(MIN_COMPRESSED - 1);
        assert_eq!(code(&small, true).await, (small.body.clone(), None));
        assert_eq!(etag(&small, true), "\"abc\"");
        let large = page(10_000);
        let (sent, coding) = code(&large, false).await;
        assert_eq!((coding, sent.len()), (None, 10_000));
        assert!(large.compressed.get().is_none());
    }

    #[tokio::test]
    async fn a_page_made_once_is_compressed_when_accepted() {
        let body = page(300_000).body;
        let (sent, coding) = code_once(body.clone(), true).await;
        assert_eq!(coding, Some("gzip"));
        assert_eq!(gunzip(&sent), body);
        assert_eq!(code_once(body.clone(), false).await, (body, None));
        let small = Bytes::from_static(b"<p>short</p>");
        assert_eq!(code_once(small.clone(), true).await, (small, None));
    }
}
