//! What listings remember between requests.
//!
//! - Pages, per caller (keyed by a fingerprint of their credentials), reused as they are for a
//!   short time: a burst of CI jobs asking for the same page costs the registry nothing.
//! - Releases, per tag, with the digest they had: after the page expires, each release is
//!   revalidated with the caller's own credentials (`If-None-Match`), so a cached release is
//!   only ever served to a caller the registry just accepted.
//! - Layer sizes of files whose index entry does not record one (PyOCI's), by manifest
//!   digest: content-addressed, immutable, read only after the caller was authorised.
//!
//! Every map is bounded; uploads, deletes and yanks through this server forget the project.
//! A page whose build began before such a change is not kept (see [`Generation`]): it may
//! show the project as it was, and would otherwise be served for another TTL (found by the
//! soak test: a deleted file listed again).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::listing::{ProjectPage, Release};
use super::stripes::Stripes;
use crate::storage::Digest;

/// Pages kept at most.
const MAX_PAGES: usize = 4096;
/// Releases kept at most.
const MAX_RELEASES: usize = 200_000;
/// Sizes kept at most.
const MAX_SIZES: usize = 200_000;
/// Lock stripes for page rebuilds.
const REBUILD_STRIPES: usize = 64;
/// Change counters, striped by project.
const GENERATION_STRIPES: usize = 1024;

/// How many changes a project (or another project of its stripe) has seen, read before a page
/// build starts: the page is kept only if no change came in between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation(u64);

/// Where a page or release lives: registry origin and repository.
pub type ProjectKey = (String, String);
/// A caller's page: when it was built, and the page.
type PageEntry = (Instant, Arc<ProjectPage>);
/// A release under a tag: its index digest, and the release (`None`: not a release).
type ReleaseEntry = (Digest, Option<Release>);

/// The listing caches of one server.
#[derive(Debug)]
pub struct ListingCache {
    ttl: Duration,
    pages: Mutex<HashMap<(String, ProjectKey), PageEntry>>,
    releases: Mutex<HashMap<(ProjectKey, String), ReleaseEntry>>,
    sizes: Mutex<HashMap<(String, Digest), u64>>,
    rebuilds: Stripes<tokio::sync::Mutex<()>>,
    generations: Stripes<AtomicU64>,
}

impl ListingCache {
    /// Caches whose pages stay fresh for `ttl` (zero disables page reuse).
    #[must_use]
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            pages: Mutex::default(),
            releases: Mutex::default(),
            sizes: Mutex::default(),
            rebuilds: Stripes::new(REBUILD_STRIPES, || tokio::sync::Mutex::new(())),
            generations: Stripes::new(GENERATION_STRIPES, AtomicU64::default),
        }
    }

    /// The lock a rebuild of `caller`'s page of `project` holds (striped).
    pub fn rebuild_lock(&self, caller: &str, project: &ProjectKey) -> &tokio::sync::Mutex<()> {
        self.rebuilds.get((caller, project))
    }

    /// Where `project` stands now; read it before reading the registry for a page.
    pub fn generation(&self, project: &ProjectKey) -> Generation {
        Generation(self.generations.get(project).load(Ordering::SeqCst))
    }

    /// A page built less than the TTL ago for the same caller.
    pub fn fresh_page(&self, caller: &str, project: &ProjectKey) -> Option<Arc<ProjectPage>> {
        self.page_younger_than(caller, project, self.ttl)
    }

    /// A page built for the same caller that expired less than one more TTL ago: what is
    /// served while a rebuild is under way.
    pub fn recent_page(&self, caller: &str, project: &ProjectKey) -> Option<Arc<ProjectPage>> {
        self.page_younger_than(caller, project, self.ttl * 2)
    }

    fn page_younger_than(
        &self,
        caller: &str,
        project: &ProjectKey,
        age: Duration,
    ) -> Option<Arc<ProjectPage>> {
        if self.ttl.is_zero() {
            return None;
        }
        let pages = lock(&self.pages);
        let (built, page) = pages.get(&(caller.to_owned(), project.clone()))?;
        (built.elapsed() < age).then(|| Arc::clone(page))
    }

    /// Remembers a page built for `caller` from what the registry held after `since`; not if
    /// the project changed through this server since then.
    pub fn store_page(
        &self,
        caller: &str,
        project: &ProjectKey,
        page: Arc<ProjectPage>,
        since: Generation,
    ) {
        if self.ttl.is_zero() {
            return;
        }
        let mut pages = lock(&self.pages);
        // Checked under the lock `forget` removes pages under, after counting the change.
        if self.generation(project) != since {
            return;
        }
        make_room(&mut pages, MAX_PAGES, |(built, _)| {
            built.elapsed() >= self.ttl * 2
        });
        pages.insert((caller.to_owned(), project.clone()), (Instant::now(), page));
    }

    /// The release last seen under `tag`, with the digest of its index.
    pub fn release(&self, project: &ProjectKey, tag: &str) -> Option<(Digest, Option<Release>)> {
        lock(&self.releases)
            .get(&(project.clone(), tag.to_owned()))
            .cloned()
    }

    /// Remembers the release under `tag` (`None`: the tag holds no release).
    pub fn store_release(
        &self,
        project: &ProjectKey,
        tag: &str,
        digest: Digest,
        release: Option<Release>,
    ) {
        let mut releases = lock(&self.releases);
        make_room(&mut releases, MAX_RELEASES, |_| false);
        releases.insert((project.clone(), tag.to_owned()), (digest, release));
    }

    /// The layer size of a file manifest, if known.
    pub fn size(&self, origin: &str, manifest: &Digest) -> Option<u64> {
        lock(&self.sizes)
            .get(&(origin.to_owned(), manifest.clone()))
            .copied()
    }

    /// Remembers the layer size of a file manifest.
    pub fn store_size(&self, origin: &str, manifest: Digest, size: u64) {
        let mut sizes = lock(&self.sizes);
        make_room(&mut sizes, MAX_SIZES, |_| false);
        sizes.insert((origin.to_owned(), manifest), size);
    }

    /// Forgets every page of a project after a change made through this server, and the
    /// release under `tag` (every release of it with `None`), and keeps pages whose build is
    /// under way from being stored. The changed release is forgotten because revalidating it
    /// by digest is only as good as the registry's answer to `If-None-Match`, which for a tag
    /// left behind by a half-done delete is a 304.
    pub fn forget(&self, project: &ProjectKey, tag: Option<&str>) {
        self.generations.get(project).fetch_add(1, Ordering::SeqCst);
        lock(&self.pages).retain(|(_, key), _| key != project);
        lock(&self.releases)
            .retain(|(key, cached), _| key != project || tag.is_some_and(|tag| tag != cached));
    }
}

/// Keeps `map` under `limit`: drops stale entries first, then an arbitrary half.
fn make_room<K: Eq + Hash + Clone, V>(
    map: &mut HashMap<K, V>,
    limit: usize,
    stale: impl Fn(&V) -> bool,
) {
    if map.len() < limit {
        return;
    }
    map.retain(|_, value| !stale(value));
    if map.len() >= limit {
        let doomed: Vec<K> = map.keys().take(map.len() / 2 + 1).cloned().collect();
        for key in doomed {
            map.remove(&key);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packaging::ProjectName;

    fn page() -> Arc<ProjectPage> {
        Arc::new(ProjectPage {
            name: ProjectName::parse("a").unwrap(),
            releases: Vec::new(),
            renders: super::super::listing::Renders::default(),
        })
    }

    #[test]
    fn pages_are_per_caller_and_expire() {
        let cache = ListingCache::new(Duration::from_millis(50));
        let key = ("http://r".to_owned(), "ns/a".to_owned());
        cache.store_page("alice", &key, page(), cache.generation(&key));
        assert!(cache.fresh_page("alice", &key).is_some());
        assert!(cache.fresh_page("bob", &key).is_none());
        std::thread::sleep(Duration::from_millis(60));
        assert!(cache.fresh_page("alice", &key).is_none());
    }

    #[test]
    fn recent_pages_outlive_fresh_ones_by_one_ttl() {
        let cache = ListingCache::new(Duration::from_millis(40));
        let key = ("http://r".to_owned(), "ns/a".to_owned());
        cache.store_page("alice", &key, page(), cache.generation(&key));
        std::thread::sleep(Duration::from_millis(50));
        assert!(cache.fresh_page("alice", &key).is_none());
        assert!(cache.recent_page("alice", &key).is_some());
        assert!(cache.recent_page("bob", &key).is_none());
        std::thread::sleep(Duration::from_millis(40));
        assert!(cache.recent_page("alice", &key).is_none());
    }

    #[test]
    fn forget_drops_every_callers_page() {
        let cache = ListingCache::new(Duration::from_secs(60));
        let key = ("http://r".to_owned(), "ns/a".to_owned());
        let other = ("http://r".to_owned(), "ns/b".to_owned());
        let digest = Digest::of(b"index");
        cache.store_release(&key, "1.0", digest.clone(), None);
        cache.store_release(&key, "2.0", digest.clone(), None);
        cache.store_release(&other, "1.0", digest, None);
        cache.store_page("alice", &key, page(), cache.generation(&key));
        cache.store_page("bob", &key, page(), cache.generation(&key));
        cache.forget(&key, Some("1.0"));
        assert!(cache.fresh_page("alice", &key).is_none());
        assert!(cache.fresh_page("bob", &key).is_none());
        assert!(cache.release(&key, "1.0").is_none());
        assert!(cache.release(&key, "2.0").is_some());
        assert!(cache.release(&other, "1.0").is_some());
        cache.forget(&key, None);
        assert!(cache.release(&key, "2.0").is_none());
        assert!(cache.release(&other, "1.0").is_some());
    }

    /// A build that read the registry before a change must not store what it saw: the
    /// change's own `forget` already ran, so the old page would be served for another TTL.
    #[test]
    fn pages_built_across_a_change_are_not_kept() {
        let cache = ListingCache::new(Duration::from_secs(60));
        let key = ("http://r".to_owned(), "ns/a".to_owned());
        let other = ("http://r".to_owned(), "ns/b".to_owned());
        let before = cache.generation(&key);
        let other_before = cache.generation(&other);
        cache.forget(&key, None); // a delete through this server, while the build runs
        cache.store_page("alice", &key, page(), before);
        assert!(cache.fresh_page("alice", &key).is_none());
        assert!(cache.recent_page("alice", &key).is_none());
        // A build that began after the change is kept; other projects are not affected
        // (unless they share the stripe).
        cache.store_page("alice", &key, page(), cache.generation(&key));
        assert!(cache.fresh_page("alice", &key).is_some());
        if cache.generation(&other) == other_before {
            cache.store_page("alice", &other, page(), other_before);
            assert!(cache.fresh_page("alice", &other).is_some());
        }
    }

    #[test]
    fn zero_ttl_disables_pages() {
        let cache = ListingCache::new(Duration::ZERO);
        let key = ("http://r".to_owned(), "ns/a".to_owned());
        cache.store_page("alice", &key, page(), cache.generation(&key));
        assert!(cache.fresh_page("alice", &key).is_none());
    }

    #[test]
    fn maps_stay_bounded() {
        let mut map: HashMap<u32, u32> = (0..10).map(|i| (i, i)).collect();
        make_room(&mut map, 10, |_| false);
        assert!(map.len() < 10);
    }
}
