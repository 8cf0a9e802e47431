//! A blob kept in a file of known size, sent as a download: whole, or one byte range of an
//! HTTP `Range` request as RFC 9110 defines it. Shared by the local store and the blob cache.
//!
//! Specification: <https://www.rfc-editor.org/rfc/rfc9110#name-range-requests>. A header
//! not served here (another unit, several ranges, bad syntax) is ignored, which the RFC
//! allows: the whole blob is sent.

use std::io::{self, Read as _};
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt as _;

use super::error::StorageError;
use super::store::{BlobDownload, ByteStream};

/// Size of the chunks read from a blob file.
const CHUNK_SIZE: usize = 1 << 20;
/// Chunks being read at once for one download.
const READ_AHEAD: usize = 2;

/// The part of a blob to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ByteRange {
    /// Everything (status 200).
    Whole,
    /// Bytes `start..=end` (status 206).
    Partial {
        /// The first byte.
        start: u64,
        /// The last byte, included.
        end: u64,
    },
    /// Nothing can be sent (status 416).
    Unsatisfiable,
}

/// What `header` asks of a blob of `size` bytes.
pub(super) fn parse_range(header: &str, size: u64) -> ByteRange {
    let Some(spec) = header
        .trim()
        .strip_prefix("bytes=")
        .map(str::trim)
        .filter(|spec| !spec.contains(','))
    else {
        return ByteRange::Whole;
    };
    let Some((first, last)) = spec.split_once('-') else {
        return ByteRange::Whole;
    };
    let number = |text: &str| {
        (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
            .then(|| text.parse::<u64>().ok())
            .flatten()
    };
    match (first.trim(), last.trim()) {
        ("", suffix) => match number(suffix) {
            None => ByteRange::Whole,
            Some(0) => ByteRange::Unsatisfiable,
            Some(_) if size == 0 => ByteRange::Unsatisfiable,
            Some(length) => ByteRange::Partial {
                start: size - length.min(size),
                end: size - 1,
            },
        },
        (first, "") => match number(first) {
            None => ByteRange::Whole,
            Some(start) if start >= size => ByteRange::Unsatisfiable,
            Some(start) => ByteRange::Partial {
                start,
                end: size - 1,
            },
        },
        (first, last) => match (number(first), number(last)) {
            (Some(start), Some(end)) if start <= end => {
                if start >= size {
                    ByteRange::Unsatisfiable
                } else {
                    ByteRange::Partial {
                        start,
                        end: end.min(size - 1),
                    }
                }
            }
            _ => ByteRange::Whole,
        },
    }
}

/// The download of the file at `path`, `size` bytes long, as `range` (an HTTP `Range` value)
/// and `head` ask; `None` when the file is gone. `io_error` says which file failed, and whose.
///
/// # Errors
/// What `io_error` makes of a failure to open or read the file.
pub(super) async fn file_download<E>(
    path: &Path,
    size: u64,
    (range, head): (Option<&str>, bool),
    io_error: E,
) -> Result<Option<BlobDownload>, StorageError>
where
    E: Fn(io::Error) -> StorageError + Send + Sync + 'static,
{
    let range = range.map_or(ByteRange::Whole, |header| parse_range(header, size));
    let (status, start, length, content_range) = match range {
        ByteRange::Whole => (200, 0, size, None),
        ByteRange::Partial { start, end } => (
            206,
            start,
            end - start + 1,
            Some(format!("bytes {start}-{end}/{size}")),
        ),
        ByteRange::Unsatisfiable => (416, 0, 0, Some(format!("bytes */{size}"))),
    };
    let body: ByteStream = if head || length == 0 {
        Box::pin(futures_util::stream::empty())
    } else {
        let Some(stream) = stream_file(path, start, length, io_error).await? else {
            return Ok(None);
        };
        stream
    };
    Ok(Some(BlobDownload {
        status,
        redirect: None,
        content_length: Some(length),
        content_range,
        body,
        socket: None,
    }))
}

/// `length` bytes of the file at `path` from `start`; `None` when it is gone. Chunks are read
/// by blocking threads straight into the buffers sent on (tokio's `File` would read into its
/// own buffer first), [`READ_AHEAD`] at a time so that reading overlaps sending.
async fn stream_file<E>(
    path: &Path,
    start: u64,
    length: u64,
    io_error: E,
) -> Result<Option<ByteStream>, StorageError>
where
    E: Fn(io::Error) -> StorageError + Send + Sync + 'static,
{
    let owned = path.to_owned();
    let file = match on_blocking_thread(move || std::fs::File::open(owned)).await {
        Ok(file) => Arc::new(file),
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(io_error(error)),
    };
    Ok(Some(stream_range(file, start, length, io_error)))
}

/// `length` bytes of the open `file` from `start`, read as [`stream_file`] reads them.
pub(super) fn stream_range<E>(
    file: Arc<std::fs::File>,
    start: u64,
    length: u64,
    io_error: E,
) -> ByteStream
where
    E: Fn(io::Error) -> StorageError + Send + Sync + 'static,
{
    let chunk = CHUNK_SIZE as u64;
    let offsets = (0..length.div_ceil(chunk)).map(move |n| {
        let from = start + n * chunk;
        (from, chunk.min(start + length - from))
    });
    let reads = futures_util::stream::iter(offsets).map(move |(from, len)| {
        let file = Arc::clone(&file);
        on_blocking_thread(move || read_at(&file, from, len))
    });
    let chunks = reads.buffered(READ_AHEAD);
    Box::pin(chunks.map(move |chunk| chunk.map_err(&io_error)))
}

/// Runs `work` where blocking is allowed.
async fn on_blocking_thread<T: Send + 'static>(
    work: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|_| Err(io::Error::other("a file task did not finish")))
}

/// `len` bytes of `file` from `offset`; an error when it ends before.
fn read_at(file: &std::fs::File, offset: u64, len: u64) -> io::Result<Bytes> {
    let want = usize::try_from(len).map_err(io::Error::other)?;
    let mut chunk = Vec::with_capacity(want);
    // `read_to_end` reads into the spare capacity without zeroing it first.
    let mut from = PositionedReader { file, offset };
    let read = (&mut from).take(len).read_to_end(&mut chunk)?;
    if read < want {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(Bytes::from(chunk))
}

/// Reads of a shared file at a position of their own (pread), leaving its cursor alone.
struct PositionedReader<'a> {
    file: &'a std::fs::File,
    offset: u64,
}

impl io::Read for PositionedReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = read_at_offset(self.file, buf, self.offset)?;
        self.offset += read as u64;
        Ok(read)
    }
}

#[cfg(unix)]
fn read_at_offset(file: &std::fs::File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

#[cfg(windows)]
fn read_at_offset(file: &std::fs::File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let partial = |start, end| ByteRange::Partial { start, end };
        for (header, size, expected) in [
            ("bytes=0-9", 100, partial(0, 9)),
            ("bytes=90-200", 100, partial(90, 99)),
            ("bytes=10-", 100, partial(10, 99)),
            ("bytes=-10", 100, partial(90, 99)),
            ("bytes=-1000", 100, partial(0, 99)),
            (" bytes= 5-5 ", 100, partial(5, 5)),
            ("bytes=100-", 100, ByteRange::Unsatisfiable),
            ("bytes=100-200", 100, ByteRange::Unsatisfiable),
            ("bytes=-0", 100, ByteRange::Unsatisfiable),
            ("bytes=-5", 0, ByteRange::Unsatisfiable),
            ("bytes=0-", 0, ByteRange::Unsatisfiable),
            ("bytes=0-1,5-6", 100, ByteRange::Whole),
            ("bytes=9-0", 100, ByteRange::Whole),
            ("bytes=a-b", 100, ByteRange::Whole),
            ("bytes=+1-2", 100, ByteRange::Whole),
            ("bytes=-", 100, ByteRange::Whole),
            ("bytes=5", 100, ByteRange::Whole),
            ("items=0-1", 100, ByteRange::Whole),
            ("bytes=0-99999999999999999999999", 100, ByteRange::Whole),
        ] {
            assert_eq!(parse_range(header, size), expected, "{header} of {size}");
        }
    }
}
