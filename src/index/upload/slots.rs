//! The server-wide bound on uploads in progress (`--max-concurrent-uploads`).

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::index::IndexError;

/// Places for uploads in progress; an upload holds one from before its body is read until it
/// is answered.
#[derive(Debug)]
pub struct UploadSlots {
    slots: Option<Arc<Semaphore>>,
    limit: usize,
}

impl UploadSlots {
    /// At most `limit` uploads at once; 0: no bound.
    #[must_use]
    pub fn new(limit: usize) -> Self {
        Self {
            slots: (limit > 0).then(|| Arc::new(Semaphore::new(limit))),
            limit,
        }
    }

    /// A place for one upload, held until dropped.
    ///
    /// # Errors
    /// [`IndexError::Busy`] when every place is taken (the caller should retry shortly).
    pub fn take(&self) -> Result<Option<OwnedSemaphorePermit>, IndexError> {
        let Some(slots) = &self.slots else {
            return Ok(None);
        };
        Arc::clone(slots)
            .try_acquire_owned()
            .map(Some)
            .map_err(|_| IndexError::Busy { limit: self.limit })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_place_is_given_back_when_its_holder_is_dropped() {
        let slots = UploadSlots::new(1);
        let first = slots.take().expect("a free place");
        assert!(first.is_some());
        assert!(matches!(slots.take(), Err(IndexError::Busy { limit: 1 })));
        drop(first);
        assert!(slots.take().expect("the place is free again").is_some());
    }

    #[test]
    fn zero_means_no_bound() {
        let slots = UploadSlots::new(0);
        let held: Vec<_> = (0..100).map(|_| slots.take().expect("no bound")).collect();
        assert!(held.iter().all(Option::is_none));
    }
}
