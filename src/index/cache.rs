//! What listings remember between requests, shared by every caller: content read from the
//! registry is the same for everyone the registry lets read it, so only the authorization
//! check is per caller.
//!
//! - Projects: the page last built, when, and the listing document it came from. A page is
//!   never served older than the TTL; from half the TTL on, a request starts one background
//!   refresh and is answered at once (see `listing.rs`).
//! - Readers: when each caller (a fingerprint of its credentials) was last let read each
//!   project by the registry. A caller is served a cached page only within the TTL of its
//!   own last successful registry request for that project.
//! - Absences: when the registry last told each caller a project does not exist (per caller:
//!   a registry may answer 404 to a caller it does not let read a private repository). Within
//!   the TTL, the caller's pages and downloads of that project are answered at once (a
//!   namespace's upstream then serves it) without asking the registry again.
//! - Tags: per release tag, the digest of its index, the exact bytes and the release read
//!   from them: a release is read once and revalidated with `If-None-Match`.
//! - Sizes: layer sizes of files whose index entry records none (PyOCI's), by manifest digest
//!   (content-addressed, immutable).
//!
//! Every map is bounded, pages by count and by an estimate of their memory. Changes through
//! this server forget the project's page. A page whose build began before such a change is
//! not kept (see [`Generation`]): it may show the project as it was (found by the soak test:
//! a deleted file listed again).

use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::page::{ProjectPage, Release};
use super::stripes::Stripes;
use crate::layout::ProjectListing;
use crate::packaging::Version;
use crate::storage::{Digest, Tag};

/// Pages kept at most.
const MAX_PAGES: usize = 4096;
/// Caller authorizations kept at most.
const MAX_READERS: usize = 65_536;
/// Tags kept at most.
const MAX_TAGS: usize = 100_000;
/// Sizes kept at most.
const MAX_SIZES: usize = 200_000;
/// Listing documents kept at most (their release indexes are shared with the tags kept).
const MAX_DOCUMENTS: usize = 4096;
/// Namespaces remembered as holding listing documents, at most.
const MAX_DOCUMENTED: usize = 1024;
/// Lock stripes for page builds.
const BUILD_STRIPES: usize = 64;
/// Change counters, striped by project.
const GENERATION_STRIPES: usize = 1024;

/// How many changes a project (or another project of its stripe) has seen, read before a page
/// build starts: the page is kept only if no change came in between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation(u64);

/// Where a page or release lives: registry origin and repository.
pub type ProjectKey = (String, String);

/// A project as last read.
#[derive(Debug, Clone)]
pub struct CachedProject {
    /// The page.
    pub page: Arc<ProjectPage>,
    /// When it was read from the registry.
    pub built: Instant,
    /// Estimated memory, for the budget.
    weight: usize,
}

/// A listing document as last read: the digest of its manifest, and the document.
type CachedDocument = (Digest, Arc<ProjectListing>);

/// A young release as last read (`super::snapshot::Young`): its tag, its version and its
/// newest file's upload time.
pub type YoungTag = (Tag, Version, time::OffsetDateTime);

/// What a release tag held when last read.
#[derive(Debug, Clone)]
pub struct CachedTag {
    /// The digest of the manifest under the tag.
    pub digest: Digest,
    /// Its exact bytes, when it is a release index.
    pub index: Option<Bytes>,
    /// The release read from it (`None`: not a release, or one without files).
    pub release: Option<Release>,
}

/// How recently a caller was let read a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authorization {
    /// Within half the TTL: serve.
    Fresh,
    /// Within the TTL: serve, and check again in the background.
    Aging,
    /// Never, or longer ago: check before serving.
    Expired,
}

/// The listing caches of one server.
#[derive(Debug)]
pub struct ListingCache {
    ttl: Duration,
    budget: usize,
    projects: Mutex<Projects>,
    readers: Mutex<HashMap<(String, ProjectKey), Instant>>,
    absent: Mutex<HashMap<(String, ProjectKey), Instant>>,
    tags: Mutex<HashMap<(ProjectKey, String), CachedTag>>,
    sizes: Mutex<HashMap<(String, Digest), u64>>,
    /// What each project was last read with: its listing document, or `None` (it had none).
    documents: Mutex<HashMap<ProjectKey, Option<CachedDocument>>>,
    /// Namespaces (registry origin, repository up to its last `/`) where a project was read
    /// with a listing document.
    documented: Mutex<HashSet<ProjectKey>>,
    /// The young releases of each project as last read: the next read asks for them
    /// alongside the tag list.
    young: Mutex<HashMap<ProjectKey, Vec<YoungTag>>>,
    background: Mutex<HashSet<(ProjectKey, String)>>,
    builds: Stripes<tokio::sync::Mutex<()>>,
    generations: Stripes<AtomicU64>,
}

#[derive(Debug, Default)]
struct Projects {
    map: HashMap<ProjectKey, CachedProject>,
    weight: usize,
}

impl ListingCache {
    /// Caches whose pages are served for at most `ttl` (zero disables page reuse), within
    /// about `budget` bytes of pages.
    #[must_use]
    pub fn new(ttl: Duration, budget: usize) -> Self {
        Self {
            ttl,
            budget,
            projects: Mutex::default(),
            readers: Mutex::default(),
            absent: Mutex::default(),
            tags: Mutex::default(),
            sizes: Mutex::default(),
            documents: Mutex::default(),
            documented: Mutex::default(),
            young: Mutex::default(),
            background: Mutex::default(),
            builds: Stripes::new(BUILD_STRIPES, || tokio::sync::Mutex::new(())),
            generations: Stripes::new(GENERATION_STRIPES, AtomicU64::default),
        }
    }

    /// The lock a synchronous build of `project`'s page holds (striped).
    pub fn build_lock(&self, project: &ProjectKey) -> &tokio::sync::Mutex<()> {
        self.builds.get(project)
    }

    /// Where `project` stands now; read it before reading the registry for a page.
    pub fn generation(&self, project: &ProjectKey) -> Generation {
        Generation(self.generations.get(project).load(Ordering::SeqCst))
    }

    /// The project as last read, if younger than the TTL.
    pub fn project(&self, project: &ProjectKey) -> Option<CachedProject> {
        if self.ttl.is_zero() {
            return None;
        }
        let projects = lock(&self.projects);
        let cached = projects.map.get(project)?;
        (cached.built.elapsed() < self.ttl).then(|| cached.clone())
    }

    /// The listing document the project was last read with, whatever its age and the TTL:
    /// what the next read revalidates with `If-None-Match`.
    pub fn document(&self, project: &ProjectKey) -> Option<CachedDocument> {
        lock(&self.documents).get(project).cloned().flatten()
    }

    /// Whether a read of `project` may ask for its listing document before the tag list says
    /// it has one: it had one when last read or, not read since this server started (or since
    /// it changed through it), another project of its namespace had one. A project read
    /// without one, and every project of a namespace where none has one (PyOCI's data), is
    /// not asked for a document it may not have.
    pub fn expects_document(&self, project: &ProjectKey) -> bool {
        if let Some(last) = lock(&self.documents).get(project) {
            return last.is_some();
        }
        lock(&self.documented).contains(&namespace_of(project))
    }

    /// Remembers the listing document a project was read with (`None`: it has none).
    pub fn store_document(&self, project: &ProjectKey, document: Option<CachedDocument>) {
        if document.is_some() {
            let mut documented = lock(&self.documented);
            if documented.len() >= MAX_DOCUMENTED {
                // Learnt again from the next reads.
                documented.clear();
            }
            documented.insert(namespace_of(project));
        }
        let mut documents = lock(&self.documents);
        make_room(&mut documents, MAX_DOCUMENTS, |_| false);
        documents.insert(project.clone(), document);
    }

    /// The young releases of `project` as last read.
    pub fn young_tags(&self, project: &ProjectKey) -> Vec<YoungTag> {
        lock(&self.young).get(project).cloned().unwrap_or_default()
    }

    /// Remembers the young releases `project` was read with.
    pub fn store_young_tags(&self, project: &ProjectKey, tags: Vec<YoungTag>) {
        let mut young = lock(&self.young);
        if tags.is_empty() {
            young.remove(project);
            return;
        }
        make_room(&mut young, MAX_DOCUMENTS, |_| false);
        young.insert(project.clone(), tags);
    }

    /// Whether a page built at `built` should be refreshed (it is past half the TTL).
    #[must_use]
    pub fn aging(&self, built: Instant) -> bool {
        built.elapsed() >= self.ttl / 2
    }

    /// Remembers a project read from what the registry held after `since`; not if the
    /// project changed through this server since then.
    pub fn store_project(&self, project: &ProjectKey, page: Arc<ProjectPage>, since: Generation) {
        if self.ttl.is_zero() {
            return;
        }
        let files: usize = page.releases.iter().map(|r| r.files.len()).sum();
        // The page's files, and room for its HTML and JSON renders (about 1 KB per file).
        let weight = 1024 + files * 1536;
        let mut projects = lock(&self.projects);
        // Checked under the lock `forget` removes pages under, after counting the change.
        if self.generation(project) != since {
            return;
        }
        if let Some(old) = projects.map.remove(project) {
            projects.weight = projects.weight.saturating_sub(old.weight);
        }
        while !projects.map.is_empty()
            && (projects.map.len() >= MAX_PAGES || projects.weight + weight > self.budget)
        {
            evict_oldest(&mut projects);
        }
        projects.weight += weight;
        let cached = CachedProject {
            page,
            built: Instant::now(),
            weight,
        };
        projects.map.insert(project.clone(), cached);
    }

    /// How recently `caller` was let read `project`.
    pub fn authorization(&self, caller: &str, project: &ProjectKey) -> Authorization {
        let readers = lock(&self.readers);
        match readers.get(&(caller.to_owned(), project.clone())) {
            Some(at) if at.elapsed() < self.ttl / 2 => Authorization::Fresh,
            Some(at) if at.elapsed() < self.ttl => Authorization::Aging,
            _ => Authorization::Expired,
        }
    }

    /// Remembers that the registry just let `caller` read `project`.
    pub fn authorize(&self, caller: &str, project: &ProjectKey) {
        if self.ttl.is_zero() {
            return;
        }
        let mut readers = lock(&self.readers);
        make_room(&mut readers, MAX_READERS, |at| at.elapsed() >= self.ttl);
        readers.insert((caller.to_owned(), project.clone()), Instant::now());
    }

    /// Forgets that `caller` may read `project` (the registry refused it).
    pub fn deauthorize(&self, caller: &str, project: &ProjectKey) {
        lock(&self.readers).remove(&(caller.to_owned(), project.clone()));
    }

    /// Whether the registry told `caller`, within the TTL, that `project` does not exist.
    pub fn absent(&self, caller: &str, project: &ProjectKey) -> bool {
        let absent = lock(&self.absent);
        absent
            .get(&(caller.to_owned(), project.clone()))
            .is_some_and(|at| at.elapsed() < self.ttl)
    }

    /// Remembers that the registry told `caller` that `project` does not exist, having been
    /// asked after `since`; not if the project changed through this server since then.
    fn note_absent(&self, caller: &str, project: &ProjectKey, since: Generation) {
        if self.ttl.is_zero() {
            return;
        }
        let mut absent = lock(&self.absent);
        // Checked under the lock `forget` clears absences under, after counting the change.
        if self.generation(project) != since {
            return;
        }
        make_room(&mut absent, MAX_READERS, |at| at.elapsed() >= self.ttl);
        absent.insert((caller.to_owned(), project.clone()), Instant::now());
    }

    /// Claims the background job `job` for `project`; `None` while another holds it.
    pub fn claim(self: &Arc<Self>, project: &ProjectKey, job: impl Into<String>) -> Option<Claim> {
        let key = (project.clone(), job.into());
        lock(&self.background)
            .insert(key.clone())
            .then(|| Claim(Arc::clone(self), key))
    }

    /// What the tag held when last read.
    pub fn tag(&self, project: &ProjectKey, tag: &str) -> Option<CachedTag> {
        lock(&self.tags)
            .get(&(project.clone(), tag.to_owned()))
            .cloned()
    }

    /// Remembers what the tag holds.
    pub fn store_tag(&self, project: &ProjectKey, tag: &str, cached: CachedTag) {
        let mut tags = lock(&self.tags);
        make_room(&mut tags, MAX_TAGS, |_| false);
        tags.insert((project.clone(), tag.to_owned()), cached);
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

    /// Forgets the page of a project after a change made through this server, and what the
    /// tag `tag` held (every tag of it with `None`), and keeps pages whose build is under way
    /// from being stored. The changed tag is forgotten because revalidating it by digest is
    /// only as good as the registry's answer to `If-None-Match`, which for a tag left behind
    /// by a half-done delete is a 304.
    pub fn forget(&self, project: &ProjectKey, tag: Option<&str>) {
        self.forget_from(project, tag);
    }

    /// Forgets the project as [`ListingCache::forget`] does, after the registry told `caller`
    /// it does not exist, and remembers that for `caller` unless the project changed through
    /// this server since `since` (read before the registry was asked).
    pub fn forget_absent(&self, caller: &str, project: &ProjectKey, since: Generation) {
        if self.forget_from(project, None) == since {
            self.note_absent(caller, project, Generation(since.0 + 1));
        }
    }

    /// [`ListingCache::forget`]; the generation the project was at before.
    fn forget_from(&self, project: &ProjectKey, tag: Option<&str>) -> Generation {
        let before = self.generations.get(project).fetch_add(1, Ordering::SeqCst);
        let mut projects = lock(&self.projects);
        if let Some(old) = projects.map.remove(project) {
            projects.weight = projects.weight.saturating_sub(old.weight);
        }
        drop(projects);
        lock(&self.absent).retain(|(_, key), _| key != project);
        lock(&self.documents).remove(project);
        lock(&self.tags)
            .retain(|(key, cached), _| key != project || tag.is_some_and(|tag| tag != cached));
        Generation(before)
    }
}

/// A background job's hold on a project; released when dropped.
#[derive(Debug)]
pub struct Claim(Arc<ListingCache>, (ProjectKey, String));

impl Drop for Claim {
    fn drop(&mut self) {
        lock(&self.0.background).remove(&self.1);
    }
}

/// Drops the page read longest ago.
fn evict_oldest(projects: &mut Projects) {
    let oldest = projects
        .map
        .iter()
        .min_by_key(|(_, cached)| cached.built)
        .map(|(key, _)| key.clone());
    if let Some(old) = oldest.and_then(|key| projects.map.remove(&key)) {
        projects.weight = projects.weight.saturating_sub(old.weight);
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

/// The namespace of a project: its registry origin and its repository up to the last `/`
/// (empty for a repository at the registry's root).
fn namespace_of((origin, repository): &ProjectKey) -> ProjectKey {
    let namespace = repository
        .rsplit_once('/')
        .map_or("", |(namespace, _)| namespace);
    (origin.clone(), namespace.to_owned())
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packaging::ProjectName;

    fn page(files: usize) -> Arc<ProjectPage> {
        let file = crate::layout::StoredFile {
            filename: "a-1.0.tar.gz".to_owned(),
            sha256: crate::packaging::Sha256::of(b""),
            size: Some(1),
            uploaded: None,
            requires_python: None,
            project_urls: crate::layout::ProjectUrls::default(),
            yanked: None,
            core_metadata: None,
            provenance: None,
            manifest: Digest::of(b"m"),
            kind: crate::packaging::DistKind::Sdist,
            promoted: None,
        };
        Arc::new(ProjectPage::new(
            ProjectName::parse("a").unwrap(),
            vec![Release {
                version: "1.0".parse().unwrap(),
                files: vec![file; files].into(),
            }],
        ))
    }

    fn key(name: &str) -> ProjectKey {
        ("http://r".to_owned(), format!("ns/{name}"))
    }

    #[test]
    fn projects_are_shared_and_expire() {
        let cache = ListingCache::new(Duration::from_millis(60), 1 << 30);
        let key = key("a");
        cache.store_project(&key, page(1), cache.generation(&key));
        let cached = cache.project(&key).unwrap();
        assert!(!cache.aging(cached.built));
        std::thread::sleep(Duration::from_millis(35));
        assert!(cache.aging(cache.project(&key).unwrap().built));
        std::thread::sleep(Duration::from_millis(30));
        assert!(cache.project(&key).is_none());
    }

    #[test]
    fn callers_are_authorized_one_by_one_for_the_ttl() {
        let cache = ListingCache::new(Duration::from_millis(60), 1 << 30);
        let key = key("a");
        assert_eq!(cache.authorization("alice", &key), Authorization::Expired);
        cache.authorize("alice", &key);
        assert_eq!(cache.authorization("alice", &key), Authorization::Fresh);
        assert_eq!(cache.authorization("bob", &key), Authorization::Expired);
        assert_eq!(
            cache.authorization("alice", &("http://r".to_owned(), "ns/b".to_owned())),
            Authorization::Expired
        );
        std::thread::sleep(Duration::from_millis(35));
        assert_eq!(cache.authorization("alice", &key), Authorization::Aging);
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(cache.authorization("alice", &key), Authorization::Expired);
        cache.authorize("alice", &key);
        cache.deauthorize("alice", &key);
        assert_eq!(cache.authorization("alice", &key), Authorization::Expired);
    }

    #[test]
    fn forget_drops_the_page_and_the_changed_tag() {
        let cache = ListingCache::new(Duration::from_secs(60), 1 << 30);
        let key = key("a");
        let other = self::key("b");
        let tag = |digest: &Digest| CachedTag {
            digest: digest.clone(),
            index: None,
            release: None,
        };
        let digest = Digest::of(b"index");
        cache.store_tag(&key, "1.0", tag(&digest));
        cache.store_tag(&key, "2.0", tag(&digest));
        cache.store_tag(&other, "1.0", tag(&digest));
        cache.store_project(&key, page(1), cache.generation(&key));
        cache.forget(&key, Some("1.0"));
        assert!(cache.project(&key).is_none());
        assert!(cache.tag(&key, "1.0").is_none());
        assert!(cache.tag(&key, "2.0").is_some());
        assert!(cache.tag(&other, "1.0").is_some());
        cache.forget(&key, None);
        assert!(cache.tag(&key, "2.0").is_none());
        assert!(cache.tag(&other, "1.0").is_some());
    }

    /// A build that read the registry before a change must not store what it saw: the
    /// change's own `forget` already ran, so the old page would be served for another TTL.
    #[test]
    fn pages_built_across_a_change_are_not_kept() {
        let cache = ListingCache::new(Duration::from_secs(60), 1 << 30);
        let key = key("a");
        let before = cache.generation(&key);
        cache.forget(&key, None); // a delete through this server, while the build runs
        cache.store_project(&key, page(1), before);
        assert!(cache.project(&key).is_none());
        cache.store_project(&key, page(1), cache.generation(&key));
        assert!(cache.project(&key).is_some());
    }

    #[test]
    fn zero_ttl_disables_pages_and_authorizations() {
        let cache = ListingCache::new(Duration::ZERO, 1 << 30);
        let key = key("a");
        cache.store_project(&key, page(1), cache.generation(&key));
        assert!(cache.project(&key).is_none());
        cache.authorize("alice", &key);
        assert_eq!(cache.authorization("alice", &key), Authorization::Expired);
    }

    /// Pages stay within the memory budget: the oldest go first.
    #[test]
    fn pages_stay_within_the_budget() {
        let cache = ListingCache::new(Duration::from_secs(60), 100_000);
        for i in 0..20 {
            let key = key(&format!("p{i}"));
            cache.store_project(&key, page(10), cache.generation(&key));
        }
        let projects = lock(&cache.projects);
        assert!(projects.weight <= 100_000, "{}", projects.weight);
        assert!(projects.map.len() < 20 && !projects.map.is_empty());
        assert!(projects.map.contains_key(&key("p19")));
        assert!(!projects.map.contains_key(&key("p0")));
    }

    #[test]
    fn background_jobs_are_claimed_once() {
        let cache = Arc::new(ListingCache::new(Duration::from_secs(60), 1 << 30));
        let key = key("a");
        let claim = cache.claim(&key, "refresh").unwrap();
        assert!(cache.claim(&key, "refresh").is_none());
        assert!(cache.claim(&key, "sizes").is_some());
        drop(claim);
        assert!(cache.claim(&key, "refresh").is_some());
    }

    #[test]
    fn maps_stay_bounded() {
        let mut map: HashMap<u32, u32> = (0..10).map(|i| (i, i)).collect();
        make_room(&mut map, 10, |_| false);
        assert!(map.len() < 10);
    }

    #[test]
    fn absences_are_per_caller_expire_and_end_with_a_change() {
        let cache = ListingCache::new(Duration::from_millis(60), 1 << 30);
        let key = key("a");
        let since = cache.generation(&key);
        cache.forget_absent("alice", &key, since);
        assert!(cache.absent("alice", &key));
        assert!(!cache.absent("bob", &key), "per caller");
        assert!(!cache.absent("alice", &self::key("b")));
        std::thread::sleep(Duration::from_millis(65));
        assert!(!cache.absent("alice", &key), "for the TTL");

        // An upload through this server ends it at once.
        let since = cache.generation(&key);
        cache.forget_absent("alice", &key, since);
        cache.forget(&key, None);
        assert!(!cache.absent("alice", &key));

        // Not noted when the project changed after the registry was asked.
        let since = cache.generation(&key);
        cache.forget(&key, Some("1.0"));
        cache.forget_absent("alice", &key, since);
        assert!(!cache.absent("alice", &key));

        let uncached = ListingCache::new(Duration::ZERO, 1 << 30);
        uncached.forget_absent("alice", &key, uncached.generation(&key));
        assert!(!uncached.absent("alice", &key), "ttl 0 keeps nothing");
    }

    #[test]
    fn a_document_is_expected_where_one_was_read_and_not_where_none_was() {
        let cache = ListingCache::new(Duration::from_secs(5), 1 << 30);
        let document = || Some((Digest::of(b"listing"), Arc::new(ProjectListing::default())));
        // A fresh server expects none anywhere (PyOCI's data has none).
        assert!(!cache.expects_document(&key("a")));
        cache.store_document(&key("a"), None);
        assert!(!cache.expects_document(&key("a")));
        assert!(!cache.expects_document(&key("b")));

        // One read with a document: that project, and the unread projects of its namespace.
        cache.store_document(&key("c"), document());
        assert!(cache.expects_document(&key("c")));
        assert!(cache.expects_document(&key("b")));
        assert!(!cache.expects_document(&key("a")), "read without one");
        let elsewhere = ("http://r".to_owned(), "other/b".to_owned());
        assert!(!cache.expects_document(&elsewhere), "another namespace");
        let other_registry = ("http://s".to_owned(), "ns/b".to_owned());
        assert!(!cache.expects_document(&other_registry), "another registry");
        let root = ("http://r".to_owned(), "b".to_owned());
        assert!(!cache.expects_document(&root), "the registry's root");

        // Read without one since: not asked for again.
        cache.store_document(&key("c"), None);
        assert!(!cache.expects_document(&key("c")));
        assert!(cache.document(&key("c")).is_none());
        // Changed through this server: unread again, so its namespace decides.
        cache.forget(&key("a"), None);
        assert!(cache.expects_document(&key("a")));
    }
}
