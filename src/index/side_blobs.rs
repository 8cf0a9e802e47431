//! Core metadata (PEP 658) and provenance (PEP 740) kept in memory by their sha256, so that
//! resolvers reading the `.metadata` of many releases (pip, uv, poetry) cost the registry one
//! read per blob, not one per request.
//!
//! Content, never a decision: the bytes of a sha256 are the same for every caller and every
//! repository, but they are served from here only to a caller the registry let read the
//! project within the listing TTL (as pages are, docs/security.md); any other caller's
//! request goes to the registry with its own credentials, which decides.

use std::sync::{Mutex, PoisonError};

use bytes::Bytes;

use crate::lru::Lru;
use crate::packaging::Sha256;

/// The largest blob kept.
pub const MAX_KEPT: u64 = 1024 * 1024;
/// The most bytes kept in all.
const BUDGET: u64 = 32 * 1024 * 1024;

/// The side blobs of one server.
#[derive(Debug, Default)]
pub struct SideBlobs {
    kept: Mutex<Lru<Sha256, Bytes>>,
}

impl SideBlobs {
    /// The bytes of `sha256`, when kept.
    pub fn get(&self, sha256: &Sha256) -> Option<Bytes> {
        self.lock().get(sha256).cloned()
    }

    /// Keeps `bytes`, which hash to `sha256` (checked by the caller), if they are no larger
    /// than [`MAX_KEPT`]; the least recently used go first when the budget is reached.
    pub fn keep(&self, sha256: &Sha256, bytes: Bytes) {
        let size = bytes.len() as u64;
        if size > MAX_KEPT {
            return;
        }
        let mut kept = self.lock();
        if kept.contains(sha256) {
            return;
        }
        kept.make_room(size, BUDGET);
        kept.insert(sha256.clone(), bytes, size);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lru<Sha256, Bytes>> {
        self.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_are_kept_by_digest_within_the_budget() {
        let blobs = SideBlobs::default();
        let small = Bytes::from_static(b"Metadata-Version: 2.1\n");
        let digest = Sha256::of(&small);
        assert_eq!(blobs.get(&digest), None);
        blobs.keep(&digest, small.clone());
        assert_eq!(blobs.get(&digest), Some(small));

        let large = Bytes::from(vec![b'x'; usize::try_from(MAX_KEPT).unwrap() + 1]);
        let large_digest = Sha256::of(&large);
        blobs.keep(&large_digest, large);
        assert_eq!(blobs.get(&large_digest), None, "larger than MAX_KEPT");

        // 40 blobs of 1 MiB: the budget (32 MiB) keeps the most recent ones.
        let mut digests = Vec::new();
        for i in 0..40_u8 {
            let bytes = Bytes::from(vec![i; usize::try_from(MAX_KEPT).unwrap()]);
            let digest = Sha256::of(&bytes);
            blobs.keep(&digest, bytes);
            digests.push(digest);
        }
        assert!(blobs.get(&digests[0]).is_none());
        assert!(blobs.get(&digests[39]).is_some());
        assert!(blobs.lock().weight() <= BUDGET);
    }
}
