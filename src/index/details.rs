//! The core metadata of a release, read for people (the project pages a browser shows): the
//! stored METADATA blob of one of its files (PEP 658), parsed leniently, and kept by its
//! sha256. The blob is content-addressed, so what one caller read is what any other would:
//! the callers read the project's page first, which checks their right to read it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use futures_util::StreamExt as _;

use super::{Caller, Index, IndexError, Location};
use crate::layout::{self, StoredFile};
use crate::packaging::{ProjectName, ReleaseDetails, Sha256};
use crate::storage::{BlobRequest, Digest};

/// The most of a METADATA file read for a page (longer READMEs are cut there).
pub const MAX_DETAILS_SIZE: usize = 2 << 20;
/// About how many bytes of parsed metadata are kept in memory.
const CACHE_BYTES: usize = 32 << 20;

/// Parsed metadata by the sha256 of its bytes.
#[derive(Debug, Default)]
pub(super) struct DetailsCache {
    entries: Mutex<(HashMap<Sha256, Arc<ReleaseDetails>>, usize)>,
}

impl DetailsCache {
    fn get(&self, sha256: &Sha256) -> Option<Arc<ReleaseDetails>> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.0.get(sha256).cloned()
    }

    fn put(&self, sha256: Sha256, details: Arc<ReleaseDetails>, size: usize) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.1 + size > CACHE_BYTES {
            entries.0.clear();
            entries.1 = 0;
        }
        entries.1 += size;
        entries.0.insert(sha256, details);
    }
}

impl Index {
    /// The core metadata of `file` of `project`, for reading by people: `None` when none is
    /// stored with it. A README longer than [`MAX_DETAILS_SIZE`] is cut there. Read the
    /// project's page first: that checks the caller may read the project.
    ///
    /// # Errors
    /// A storage error when the registry refuses or fails.
    pub async fn release_details(
        &self,
        caller: &Caller,
        location: &Location,
        project: &ProjectName,
        file: &StoredFile,
    ) -> Result<Option<Arc<ReleaseDetails>>, IndexError> {
        let Some(sha256) = &file.core_metadata else {
            return Ok(None);
        };
        if let Some(details) = self.details.get(sha256) {
            return Ok(Some(details));
        }
        // The bytes an installer's `.metadata` request already read.
        if let Some(bytes) = self.side_blobs.get(sha256) {
            return Ok(Some(self.keep_details(sha256, &bytes)));
        }
        let store = self.store(caller, location)?;
        let repository = layout::repository(&location.namespace, project)?;
        let digest = Digest::from(sha256);
        let request = BlobRequest::default();
        let Some(blob) = store.get_blob(&repository, &digest, request).await? else {
            return Ok(None);
        };
        let mut bytes = Vec::new();
        let mut body = blob.body;
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            let room = MAX_DETAILS_SIZE - bytes.len();
            bytes.extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or_default());
            if bytes.len() >= MAX_DETAILS_SIZE {
                break;
            }
        }
        let bytes = Bytes::from(bytes);
        if bytes.len() < MAX_DETAILS_SIZE && Sha256::of(&bytes) == *sha256 {
            // Whole and checked: an installer's `.metadata` request need not read it again.
            self.side_blobs.keep(sha256, bytes.clone());
        }
        Ok(Some(self.keep_details(sha256, &bytes)))
    }

    /// Parses the METADATA `bytes` (of `sha256`, maybe cut) and keeps what they say.
    fn keep_details(&self, sha256: &Sha256, bytes: &[u8]) -> Arc<ReleaseDetails> {
        let details = Arc::new(ReleaseDetails::parse(bytes));
        self.details
            .put(sha256.clone(), Arc::clone(&details), bytes.len());
        details
    }
}
