//! The size cap of a namespace's pull-through cache (`--upstream-cache-max-size`): once a file
//! is stored and the cache holds more, its least recently used files are evicted (removed
//! from their release indexes, like a delete) until it fits. Only the cache's repositories are
//! ever touched, so published files never are.
//!
//! What the cache holds is read from the registry once per process (the cache's project
//! pages), when the first file is stored. Recency is this process's: files used since it
//! started are ranked by their last use, the others (older than any of them) by name.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use super::Job;
use crate::index::release::{Reached, ReleaseRef};
use crate::index::{Index, IndexError, Location};
use crate::layout;
use crate::packaging::DistFilename;
use crate::storage::Store;

/// The usage of every capped cache, by `<store>/<cache namespace>`.
#[derive(Debug, Default)]
pub struct Usages(Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<Usage>>>>>);

/// What one cache holds.
#[derive(Debug, Default)]
pub struct Usage {
    total: u64,
    clock: u64,
    files: HashMap<String, Held>,
}

#[derive(Debug)]
struct Held {
    filename: DistFilename,
    size: u64,
    /// The clock at its last use; 0: not used by this process.
    used: u64,
}

impl Usage {
    fn add(&mut self, filename: &DistFilename, size: u64, used: u64) {
        let held = Held {
            filename: filename.clone(),
            size,
            used,
        };
        if let Some(previous) = self.files.insert(filename.to_string(), held) {
            self.total -= previous.size;
        }
        self.total += size;
    }

    fn touch(&mut self, filename: &str) {
        self.clock += 1;
        let clock = self.clock;
        if let Some(held) = self.files.get_mut(filename) {
            held.used = clock;
        }
    }

    /// The least recently used file other than `keep`.
    fn coldest(&self, keep: &str) -> Option<DistFilename> {
        self.files
            .iter()
            .filter(|(name, _)| name.as_str() != keep)
            .min_by(|(a_name, a), (b_name, b)| a.used.cmp(&b.used).then(a_name.cmp(b_name)))
            .map(|(_, held)| held.filename.clone())
    }

    fn remove(&mut self, filename: &str) {
        if let Some(held) = self.files.remove(filename) {
            self.total -= held.size;
        }
    }
}

impl Usages {
    fn of(&self, key: &str) -> Arc<tokio::sync::Mutex<Option<Usage>>> {
        let mut usages = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(usages.entry(key.to_owned()).or_default())
    }

    /// Records a use of `filename` in the cache `key`, in the background (the usage may be
    /// being read or evicted from right now; the request does not wait for that).
    pub fn touch(&self, key: &str, filename: &str) {
        let usage = self.of(key);
        let filename = filename.to_owned();
        tokio::spawn(async move {
            if let Some(usage) = usage.lock().await.as_mut() {
                usage.touch(&filename);
            }
        });
    }
}

/// The key of a cache's usage.
pub fn usage_key(store: &dyn Store, location: &Location) -> String {
    format!("{}/{}", store.location(), location.namespace)
}

impl Index {
    /// Counts `job`'s file, just stored, in its cache, then evicts the least recently used
    /// files until the cache fits its cap.
    pub(super) async fn account(&self, job: &Job, size: u64) {
        let cap = self.options.upstreams.cache_max_size;
        if cap == 0 {
            return;
        }
        let key = usage_key(job.store.as_ref(), &job.location);
        let usage = self.usages.of(&key);
        let mut usage = usage.lock().await;
        if usage.is_none() {
            match self.read_usage(job).await {
                Ok(read) => *usage = Some(read),
                Err(error) => {
                    tracing::warn!(
                        "reading what the cache `{}` holds failed: {error}",
                        job.location.namespace
                    );
                    return;
                }
            }
        }
        let Some(usage) = usage.as_mut() else {
            return;
        };
        usage.clock += 1;
        let now = usage.clock;
        usage.add(&job.filename, size, now);
        let keep = job.filename.to_string();
        while usage.total > cap {
            let Some(coldest) = usage.coldest(&keep) else {
                break;
            };
            match self.evict(job, &coldest).await {
                Ok(()) | Err(IndexError::FileNotFound { .. }) => {
                    self.metrics.record_upstream_cache("evicted");
                    tracing::info!(
                        project.name = %coldest.name(),
                        "evicted `{coldest}` from the cache `{}` (over {cap} bytes)",
                        job.location.namespace
                    );
                    usage.remove(coldest.as_str());
                }
                Err(error) => {
                    tracing::warn!("evicting `{coldest}` from the cache failed: {error}");
                    break;
                }
            }
        }
    }

    /// Deletes `filename` from `job`'s cache.
    async fn evict(&self, job: &Job, filename: &DistFilename) -> Result<(), IndexError> {
        let release = ReleaseRef::file(filename.name(), filename.clone())?;
        let reached = Reached::new(Arc::clone(&job.store), &job.location, &release)?;
        self.remove_file(&reached, &job.location, &release).await
    }

    /// Every file the cache holds, with its size (from the cache's project pages).
    async fn read_usage(&self, job: &Job) -> Result<Usage, IndexError> {
        let mut usage = Usage::default();
        let repositories = job.store.catalog().await?;
        for repository in repositories {
            let Some(project) = layout::project_of(&job.location.namespace, &repository) else {
                continue;
            };
            let store = Arc::clone(&job.store);
            let page = match self.project_page_in(store, &job.location, &project).await {
                Ok(page) => page,
                Err(IndexError::ProjectNotFound { .. }) => continue,
                Err(error) => return Err(error),
            };
            for file in page
                .releases
                .iter()
                .flat_map(|release| release.files.iter())
            {
                if let Ok(filename) = DistFilename::parse(&file.filename) {
                    usage.add(&filename, file.size.unwrap_or(0), 0);
                }
            }
        }
        Ok(usage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> DistFilename {
        DistFilename::parse(text).unwrap()
    }

    #[test]
    fn the_least_recently_used_goes_first() {
        let mut usage = Usage::default();
        usage.add(&name("b-1.0-py3-none-any.whl"), 10, 0);
        usage.add(&name("a-1.0-py3-none-any.whl"), 10, 0);
        usage.clock = 5;
        usage.add(&name("c-1.0-py3-none-any.whl"), 10, 6);
        assert_eq!(usage.total, 30);
        // Never used by this process: by name.
        let coldest = usage.coldest("c-1.0-py3-none-any.whl").unwrap();
        assert_eq!(coldest.as_str(), "a-1.0-py3-none-any.whl");
        usage.touch("a-1.0-py3-none-any.whl");
        let coldest = usage.coldest("c-1.0-py3-none-any.whl").unwrap();
        assert_eq!(coldest.as_str(), "b-1.0-py3-none-any.whl");
        usage.remove("b-1.0-py3-none-any.whl");
        assert_eq!(usage.total, 20);
        // The file just stored is never the one evicted.
        usage.remove("a-1.0-py3-none-any.whl");
        assert!(usage.coldest("c-1.0-py3-none-any.whl").is_none());
        // Stored again: counted once.
        usage.add(&name("c-1.0-py3-none-any.whl"), 12, 7);
        assert_eq!(usage.total, 12);
    }
}
