//! One upstream fetch, several readers: the chunks of a file on its way into the cache go to
//! the request that started the fetch (the leader) and to every request for the same file that
//! joins while at most [`JOIN_WINDOW`] bytes have gone out (followers). A follower first gets
//! the chunks sent before it joined, kept in memory for that, then the next ones as they come,
//! so that it receives bytes at the pace of the fetch instead of waiting, silent, for the whole
//! file to be stored (an installer's read timeout, 15 s for pip, would end it).
//!
//! Every reader has a bounded queue; a reader that leaves a chunk unread for [`PATIENCE`] is
//! dropped (its body ends short, which its client sees as a broken download) so that one
//! stalled client cannot hold the fetch, and the file, back for everyone.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt as _;
use tokio::sync::mpsc;

use crate::storage::{ByteStream, StorageError};

/// One item of a reader's body.
type Chunk = Result<Bytes, StorageError>;

/// Followers may join while the fetch has sent at most this many bytes, which are kept in
/// memory meanwhile; later ones wait for the file to be stored.
pub(super) const JOIN_WINDOW: u64 = 16 * 1024 * 1024;

/// Chunks queued for one reader.
const QUEUE: usize = 16;

/// How long a reader may leave its queue full before it is dropped.
const PATIENCE: Duration = Duration::from_secs(30);

/// The readers of one fetch.
#[derive(Debug, Default)]
pub(super) struct Tee(Mutex<State>);

#[derive(Debug, Default)]
struct State {
    readers: Vec<mpsc::Sender<Chunk>>,
    /// The chunks sent so far, while they fit in [`JOIN_WINDOW`]; `None` before the fetch
    /// streams, once the window is passed, and after the fetch ended: no one may join then.
    sent: Option<Vec<Bytes>>,
    sent_size: u64,
    /// The file's length, when upstream gave it.
    content_length: Option<u64>,
}

impl Tee {
    /// Opens the tee as the fetch starts streaming; returns the leader's body.
    pub(super) fn open(&self, content_length: Option<u64>) -> ByteStream {
        let (sender, receiver) = mpsc::channel(QUEUE);
        let mut state = self.state();
        state.readers.push(sender);
        state.sent = Some(Vec::new());
        state.sent_size = 0;
        state.content_length = content_length;
        Box::pin(receive(receiver))
    }

    /// A follower's body and the file's length, if it may still join.
    pub(super) fn join(&self) -> Option<(ByteStream, Option<u64>)> {
        let mut state = self.state();
        let sent = state.sent.clone()?;
        let (sender, receiver) = mpsc::channel(QUEUE);
        state.readers.push(sender);
        let body = futures_util::stream::iter(sent.into_iter().map(Ok)).chain(receive(receiver));
        Some((Box::pin(body), state.content_length))
    }

    /// Sends `chunk` to every reader, dropping those that stay full past [`PATIENCE`] or are
    /// gone.
    pub(super) async fn send(&self, chunk: &Bytes) {
        let readers = {
            let mut state = self.state();
            let size = state.sent_size + chunk.len() as u64;
            if size > JOIN_WINDOW {
                state.sent = None;
            } else if let Some(sent) = &mut state.sent {
                sent.push(chunk.clone());
                state.sent_size = size;
            }
            state.readers.clone()
        };
        let sends = readers.iter().map(|reader| async move {
            let sent = tokio::time::timeout(PATIENCE, reader.send(Ok(chunk.clone()))).await;
            matches!(sent, Ok(Ok(()))).then_some(()).ok_or(reader)
        });
        let gone: Vec<_> = futures_util::future::join_all(sends)
            .await
            .into_iter()
            .filter_map(Result::err)
            .collect();
        if !gone.is_empty() {
            self.state()
                .readers
                .retain(|reader| !gone.iter().any(|g| g.same_channel(reader)));
        }
    }

    /// Ends every reader's body with an error (each its own, from `error`), and closes.
    pub(super) async fn fail(&self, error: impl Fn() -> StorageError) {
        let readers = self.close();
        for reader in readers {
            let _ = tokio::time::timeout(PATIENCE, reader.send(Err(error()))).await;
        }
    }

    /// No one joins any more; the readers' bodies end once they have read what was sent.
    /// Returns the readers' queues (to send a last word to).
    pub(super) fn close(&self) -> Vec<mpsc::Sender<Chunk>> {
        let mut state = self.state();
        state.sent = None;
        std::mem::take(&mut state.readers)
    }

    /// How many readers the fetch has now.
    #[cfg(test)]
    fn readers(&self) -> usize {
        self.state().readers.len()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn receive(receiver: mpsc::Receiver<Chunk>) -> impl futures_util::Stream<Item = Chunk> {
    futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (chunk, receiver))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn collect(body: ByteStream) -> (Vec<u8>, Option<String>) {
        let mut bytes = Vec::new();
        let mut body = body;
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(chunk) => bytes.extend_from_slice(&chunk),
                Err(error) => return (bytes, Some(error.to_string())),
            }
        }
        (bytes, None)
    }

    fn error() -> StorageError {
        StorageError::InvalidResponse {
            registry: "upstream".to_owned(),
            reason: "mismatch".to_owned(),
        }
    }

    #[tokio::test]
    async fn a_follower_gets_what_was_sent_before_it_joined_then_the_rest() {
        let tee = Tee::default();
        assert!(
            tee.join().is_none(),
            "no one joins before the fetch streams"
        );
        let leader = tee.open(Some(9));
        let leader = tokio::spawn(collect(leader));
        tee.send(&Bytes::from_static(b"abc")).await;
        let (early, length) = tee.join().unwrap();
        assert_eq!(length, Some(9));
        let early = tokio::spawn(collect(early));
        tee.send(&Bytes::from_static(b"def")).await;
        let (late, _) = tee.join().unwrap();
        let late = tokio::spawn(collect(late));
        tee.send(&Bytes::from_static(b"ghi")).await;
        drop(tee.close());
        assert!(tee.join().is_none(), "no one joins after the end");
        for reader in [leader, early, late] {
            assert_eq!(reader.await.unwrap(), (b"abcdefghi".to_vec(), None));
        }
    }

    #[tokio::test]
    async fn no_one_joins_past_the_window() {
        let tee = Tee::default();
        let leader = tokio::spawn(collect(tee.open(None)));
        let big = Bytes::from(vec![7u8; usize::try_from(JOIN_WINDOW).unwrap()]);
        tee.send(&big).await;
        assert!(tee.join().is_some(), "exactly the window still fits");
        tee.send(&Bytes::from_static(b"x")).await;
        assert!(tee.join().is_none());
        drop(tee.close());
        assert_eq!(leader.await.unwrap().0.len(), big.len() + 1);
    }

    #[tokio::test]
    async fn a_failure_reaches_every_reader_after_what_they_got() {
        let tee = Tee::default();
        let leader = tokio::spawn(collect(tee.open(None)));
        tee.send(&Bytes::from_static(b"ab")).await;
        let follower = tokio::spawn(collect(tee.join().unwrap().0));
        tee.fail(error).await;
        for reader in [leader, follower] {
            let (bytes, failed) = reader.await.unwrap();
            assert_eq!(bytes, b"ab");
            assert!(failed.unwrap().contains("mismatch"));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_reader_is_dropped_and_does_not_hold_the_others() {
        let tee = Tee::default();
        let stalled = tee.open(None);
        let (follower, _) = tee.join().unwrap();
        let follower = tokio::spawn(collect(follower));
        for _ in 0..=QUEUE {
            tee.send(&Bytes::from_static(b"z")).await;
        }
        assert_eq!(
            tee.readers(),
            1,
            "the stalled leader is dropped after its patience"
        );
        tee.send(&Bytes::from_static(b"!")).await;
        drop(tee.close());
        let (bytes, failed) = follower.await.unwrap();
        assert_eq!(bytes.len(), QUEUE + 2);
        assert_eq!(failed, None);
        drop(stalled);
    }
}
