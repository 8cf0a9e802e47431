//! Moving a response body from one TCP socket to another inside the kernel: splice(2) from
//! the socket it arrives on into a pipe, then from the pipe into the client's socket, so the
//! bytes are never copied into this process nor out of it again.
//!
//! hyper writes responses itself, so the splice happens under it. A connection's socket is
//! wrapped in [`SpliceIo`], which shares a [`SpliceSlot`] with the requests of that
//! connection. A handler holding a [`SocketBody`] (the rest of an HTTP/1.1 answer, still on
//! its socket) answers with [`SpliceSlot::body`]: the socket goes into the slot, and the
//! response body is made of *placeholders*, slices of one static buffer that never holds
//! data, as many bytes as the socket has to give. hyper frames them as it frames any bytes
//! (with a `Content-Length` over HTTP/1.x, which adds nothing around them) and asks the
//! socket to write them; [`SpliceIo`] knows a placeholder by its address and, instead of
//! writing it, splices as many bytes from the slot's socket. The client gets the bytes the
//! other side sent, where the placeholder was.
//!
//! Only plain HTTP/1.x connections may get a slot: under TLS or HTTP/2 the bytes written to
//! the socket are not the body's bytes. Only Linux has splice(2); elsewhere
//! [`SpliceSlot::supported`] is false and no slot should be made.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;

/// The largest placeholder frame. The buffer is never written nor read (it stays in .bss,
/// untouched): only its address range means something.
const PLACEHOLDER_LEN: usize = 1 << 20;
static PLACEHOLDER: [u8; PLACEHOLDER_LEN] = [0; PLACEHOLDER_LEN];

/// The pipe size asked for (Linux lets any process grow a pipe to 1 MiB, the default of
/// `/proc/sys/fs/pipe-max-size`); the default of 64 KiB is kept when refused.
const PIPE_SIZE: usize = 1 << 20;

/// The most bytes read at once when a [`SocketBody`] is read the ordinary way.
const READ_CHUNK: usize = 256 * 1024;

/// The body of an HTTP/1.1 answer still on its connection: the bytes already read past the
/// head, and how many more the socket owes.
#[derive(Debug)]
pub struct SocketBody {
    socket: TcpStream,
    prefix: Bytes,
    remaining: u64,
    idle_timeout: Duration,
}

impl SocketBody {
    /// A body of `prefix` followed by `remaining` bytes still to read from `socket`, which
    /// may stay silent at most `idle_timeout` at a time.
    #[must_use]
    pub fn new(socket: TcpStream, prefix: Bytes, remaining: u64, idle_timeout: Duration) -> Self {
        Self {
            socket,
            prefix,
            remaining,
            idle_timeout,
        }
    }

    /// The body's length.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.prefix.len() as u64 + self.remaining
    }

    /// Whether the body is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The body read the ordinary way, through this process's memory; fails with
    /// `UnexpectedEof` when the socket closes early and `TimedOut` when it stays silent.
    pub fn into_stream(self) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
        let Self {
            socket,
            prefix,
            remaining,
            idle_timeout,
        } = self;
        let first = futures_util::stream::iter((!prefix.is_empty()).then_some(Ok(prefix)));
        let rest = futures_util::stream::unfold(
            (socket, remaining),
            move |(mut socket, remaining)| async move {
                if remaining == 0 {
                    return None;
                }
                let capacity = usize::try_from(remaining).map_or(READ_CHUNK, |r| r.min(READ_CHUNK));
                let mut chunk = BytesMut::with_capacity(capacity);
                let read = tokio::time::timeout(idle_timeout, socket.read_buf(&mut chunk)).await;
                match read {
                    Ok(Ok(0)) => Some((Err(ended_early(remaining)), (socket, 0))),
                    Ok(Ok(n)) => {
                        let n = n.min(capacity);
                        chunk.truncate(n);
                        Some((Ok(chunk.freeze()), (socket, remaining - n as u64)))
                    }
                    Ok(Err(error)) => Some((Err(error), (socket, 0))),
                    Err(_) => Some((Err(silent(idle_timeout)), (socket, 0))),
                }
            },
        );
        futures_util::StreamExt::chain(first, rest)
    }
}

fn ended_early(remaining: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("the connection closed {remaining} bytes before the end of the body"),
    )
}

fn silent(timeout: Duration) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("nothing received for {}s", timeout.as_secs()),
    )
}

/// Where a response of one connection leaves the socket its body is to be spliced from.
#[derive(Debug, Clone, Default)]
pub struct SpliceSlot(Arc<Mutex<Option<SocketBody>>>);

impl SpliceSlot {
    /// Whether this system can splice (Linux).
    #[must_use]
    pub const fn supported() -> bool {
        cfg!(target_os = "linux")
    }

    /// The response body that sends `body` by splicing it under hyper: its bytes already read
    /// go as they are, the rest as placeholders that the connection's [`SpliceIo`] replaces.
    /// Use only on the connection this slot belongs to, and only with a `Content-Length` of
    /// [`SocketBody::len`].
    #[must_use]
    pub fn body(&self, mut body: SocketBody) -> SplicedBody {
        let prefix = std::mem::take(&mut body.prefix);
        let placeholders = body.remaining;
        // A body left by a response that was never sent (its client went away) is replaced.
        *self.lock() = Some(body);
        SplicedBody {
            prefix: (!prefix.is_empty()).then_some(prefix),
            placeholders,
        }
    }

    fn take(&self) -> Option<SocketBody> {
        self.lock().take()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<SocketBody>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A response body whose bytes, past those already read, are spliced by [`SpliceIo`].
#[derive(Debug)]
pub struct SplicedBody {
    prefix: Option<Bytes>,
    placeholders: u64,
}

impl http_body::Body for SplicedBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, io::Error>>> {
        if let Some(prefix) = self.prefix.take() {
            return Poll::Ready(Some(Ok(http_body::Frame::data(prefix))));
        }
        if self.placeholders == 0 {
            return Poll::Ready(None);
        }
        let len =
            usize::try_from(self.placeholders).map_or(PLACEHOLDER_LEN, |n| n.min(PLACEHOLDER_LEN));
        self.placeholders -= len as u64;
        let frame = Bytes::from_static(&PLACEHOLDER[..len]);
        Poll::Ready(Some(Ok(http_body::Frame::data(frame))))
    }

    fn is_end_stream(&self) -> bool {
        self.prefix.is_none() && self.placeholders == 0
    }

    fn size_hint(&self) -> http_body::SizeHint {
        let prefix = self.prefix.as_ref().map_or(0, Bytes::len) as u64;
        http_body::SizeHint::with_exact(prefix + self.placeholders)
    }
}

/// Whether `bytes` are (part of) a placeholder.
fn is_placeholder(bytes: &[u8]) -> bool {
    let start = PLACEHOLDER.as_ptr() as usize;
    let at = bytes.as_ptr() as usize;
    !bytes.is_empty() && at >= start && at + bytes.len() <= start + PLACEHOLDER_LEN
}

/// A client connection's socket that splices placeholders from its [`SpliceSlot`] and reads
/// and writes everything else as the plain socket does.
#[derive(Debug)]
pub struct SpliceIo {
    stream: TcpStream,
    slot: SpliceSlot,
    pipe: Option<Pipe>,
    /// The body being spliced, once its first placeholder is written.
    source: Option<Source>,
    /// Bytes in the pipe, read from the source and not yet written to the client.
    in_pipe: usize,
}

#[derive(Debug)]
struct Source {
    body: SocketBody,
    /// Counts the source's silence while it is waited for.
    idle: Option<Pin<Box<Sleep>>>,
}

impl SpliceIo {
    /// Wraps a client connection's socket; `slot` goes to the requests of this connection.
    #[must_use]
    pub fn new(stream: TcpStream, slot: SpliceSlot) -> Self {
        Self {
            stream,
            slot,
            pipe: None,
            source: None,
            in_pipe: 0,
        }
    }

    /// Writes up to `want` bytes of the current body (from the pipe, filled from its socket
    /// when empty) to the client.
    fn poll_splice(&mut self, cx: &mut Context<'_>, want: usize) -> Poll<io::Result<usize>> {
        if self.pipe.is_none() {
            self.pipe = Some(Pipe::new()?);
        }
        let Some(pipe) = &self.pipe else {
            return Poll::Ready(Err(io::Error::other("no pipe")));
        };
        loop {
            if self.in_pipe > 0 {
                let len = self.in_pipe.min(want);
                let sent = self
                    .stream
                    .try_io(Interest::WRITABLE, || splice(&pipe.read, &self.stream, len));
                match sent {
                    Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                    Ok(n) => {
                        self.in_pipe -= n;
                        return Poll::Ready(Ok(n));
                    }
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                        ready!(self.stream.poll_write_ready(cx))?;
                        continue;
                    }
                    Err(error) => return Poll::Ready(Err(error)),
                }
            }
            if self.source.as_ref().is_none_or(|s| s.body.remaining == 0) {
                let Some(body) = self.slot.take() else {
                    return Poll::Ready(Err(io::Error::other(
                        "a spliced body has no socket to take its bytes from",
                    )));
                };
                self.source = Some(Source { body, idle: None });
            }
            let Some(source) = &mut self.source else {
                return Poll::Ready(Err(io::Error::other("no source")));
            };
            let len = usize::try_from(source.body.remaining)
                .map_or(pipe.capacity, |r| r.min(pipe.capacity));
            let socket = &source.body.socket;
            match socket.try_io(Interest::READABLE, || splice(socket, &pipe.write, len)) {
                Ok(0) => return Poll::Ready(Err(ended_early(source.body.remaining))),
                Ok(n) => {
                    self.in_pipe += n;
                    source.body.remaining -= n as u64;
                    source.idle = None;
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    match source.body.socket.poll_read_ready(cx) {
                        Poll::Ready(ready) => ready?,
                        Poll::Pending => {
                            let timeout = source.body.idle_timeout;
                            let idle = source
                                .idle
                                .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                            if idle.as_mut().poll(cx).is_ready() {
                                return Poll::Ready(Err(silent(timeout)));
                            }
                            return Poll::Pending;
                        }
                    }
                }
                Err(error) => return Poll::Ready(Err(error)),
            }
        }
    }
}

impl AsyncRead for SpliceIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for SpliceIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if is_placeholder(buf) {
            return self.poll_splice(cx, buf.len());
        }
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        // Real bytes before the first placeholder are written first, then the placeholder.
        match bufs.iter().position(|buf| is_placeholder(buf)) {
            None => Pin::new(&mut self.stream).poll_write_vectored(cx, bufs),
            Some(0) => self.poll_splice(cx, bufs[0].len()),
            Some(first) => Pin::new(&mut self.stream).poll_write_vectored(cx, &bufs[..first]),
        }
    }

    fn is_write_vectored(&self) -> bool {
        // hyper then queues body frames as they are instead of copying them into its buffer,
        // which keeps the placeholders' addresses.
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// A non-blocking pipe, the kernel buffer between the two sockets.
#[derive(Debug)]
struct Pipe {
    read: std::os::fd::OwnedFd,
    write: std::os::fd::OwnedFd,
    capacity: usize,
}

#[cfg(target_os = "linux")]
impl Pipe {
    fn new() -> io::Result<Self> {
        use rustix::pipe::{PipeFlags, fcntl_getpipe_size, fcntl_setpipe_size, pipe_with};
        let (read, write) = pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK)?;
        let capacity = match fcntl_setpipe_size(&write, PIPE_SIZE) {
            Ok(size) => size,
            Err(_) => fcntl_getpipe_size(&write)?,
        };
        Ok(Self {
            read,
            write,
            capacity,
        })
    }
}

#[cfg(not(target_os = "linux"))]
impl Pipe {
    fn new() -> io::Result<Self> {
        Err(io::ErrorKind::Unsupported.into())
    }
}

/// Moves up to `len` bytes from `from` to `to`, one of them a pipe, without blocking.
#[cfg(target_os = "linux")]
fn splice(
    from: &impl std::os::fd::AsFd,
    to: &impl std::os::fd::AsFd,
    len: usize,
) -> io::Result<usize> {
    use rustix::pipe::SpliceFlags;
    let flags = SpliceFlags::MOVE | SpliceFlags::NONBLOCK;
    Ok(rustix::pipe::splice(from, None, to, None, len, flags)?)
}

#[cfg(not(target_os = "linux"))]
fn splice(_: &impl std::os::fd::AsFd, _: &impl std::os::fd::AsFd, _: usize) -> io::Result<usize> {
    Err(io::ErrorKind::Unsupported.into())
}

#[cfg(test)]
mod tests {
    use http_body::Body as _;

    use super::*;

    /// The frames of `body`, polled to the end.
    fn frames(mut body: SplicedBody) -> Vec<Bytes> {
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut frames = Vec::new();
        while let Poll::Ready(Some(frame)) = Pin::new(&mut body).poll_frame(&mut cx) {
            frames.push(frame.unwrap().into_data().unwrap());
        }
        assert!(body.is_end_stream());
        frames
    }

    #[test]
    fn placeholders_are_known_by_address_only() {
        assert!(is_placeholder(&PLACEHOLDER[..1]));
        assert!(is_placeholder(&PLACEHOLDER[PLACEHOLDER_LEN - 10..]));
        assert!(is_placeholder(&PLACEHOLDER[..]));
        assert!(!is_placeholder(&PLACEHOLDER[..0]));
        // Zeros elsewhere are bytes like any others.
        let zeros = vec![0u8; 64];
        assert!(!is_placeholder(&zeros));
        assert!(!is_placeholder(b"HTTP/1.1 200 OK\r\n"));
    }

    #[tokio::test]
    async fn a_spliced_body_is_its_prefix_then_placeholders_of_the_rest() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let socket = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let remaining = 2 * PLACEHOLDER_LEN as u64 + 5;
        let body = SocketBody::new(
            socket,
            Bytes::from_static(b"head"),
            remaining,
            Duration::from_secs(1),
        );
        assert_eq!(body.len(), remaining + 4);
        let slot = SpliceSlot::default();
        let spliced = slot.body(body);
        assert_eq!(spliced.size_hint().exact(), Some(remaining + 4));
        let frames = frames(spliced);
        assert_eq!(frames[0].as_ref(), b"head");
        let lengths: Vec<usize> = frames[1..].iter().map(Bytes::len).collect();
        assert_eq!(lengths, [PLACEHOLDER_LEN, PLACEHOLDER_LEN, 5]);
        assert!(frames[1..].iter().all(|frame| is_placeholder(frame)));
        // The socket waits in the slot for the connection to take it.
        assert_eq!(slot.take().map(|body| body.remaining), Some(remaining));
    }

    #[tokio::test]
    async fn a_socket_body_read_through_memory_fails_when_cut_short() {
        use tokio::io::AsyncWriteExt as _;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let socket = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (mut peer, _) = listener.accept().await.unwrap();
        peer.write_all(b"0123456789").await.unwrap();
        drop(peer);
        let body = SocketBody::new(
            socket,
            Bytes::from_static(b"ab"),
            20,
            Duration::from_secs(5),
        );
        let chunks: Vec<io::Result<Bytes>> =
            futures_util::StreamExt::collect(body.into_stream()).await;
        let (read, errors): (Vec<_>, Vec<_>) = chunks.into_iter().partition(Result::is_ok);
        let read: Vec<u8> = read.into_iter().flat_map(|chunk| chunk.unwrap()).collect();
        assert_eq!(read, b"ab0123456789");
        let error = errors.into_iter().next().unwrap().unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof, "{error}");
    }
}
