//! Filling a namespace's pull-through cache ahead of time (`oci-pypi mirror`), for sites that
//! will install without reaching upstream: every requirement, and what it requires in turn,
//! for each target (a Python version on a platform), markers evaluated for that target.
//!
//! For each requirement and target, the newest version that satisfies it (not yanked, its
//! `requires-python` holding for the target) and has a wheel for the target, else an sdist, is
//! fetched through the cache like any download (checked against upstream's sha256), and its
//! core metadata read for its dependencies. This is no resolver: requirements on one project
//! that differ are each satisfied by their own newest version, which gives an installer the
//! versions it would pick in the common cases; names the namespace publishes are followed
//! (their dependencies), never fetched.

use std::collections::{BTreeMap, HashSet, VecDeque};

use futures_util::StreamExt as _;
use serde::Serialize;

use super::super::download::{FileRequest, Wanted};
use super::super::upstreams::Listing;
use super::super::{Caller, Index, IndexError, Location};
use crate::packaging::{
    CoreMetadata, DistFilename, DistKind, MAX_METADATA_SIZE, Requirement, Specifiers, Target,
    Version,
};

/// What a mirror run did.
#[derive(Debug, Default, Serialize)]
pub struct MirrorReport {
    /// Files now in the cache (fetched by this run or before), by name.
    pub files: Vec<String>,
    /// Bytes read through the cache.
    pub bytes: u64,
    /// Projects the namespace publishes itself (followed, not fetched).
    pub published: Vec<String>,
    /// Requirements that could not be satisfied for a target, with why.
    pub unresolved: Vec<String>,
}

/// A file offered for a project, whatever lists it.
struct Offered {
    filename: String,
    version: Version,
    requires_python: Option<String>,
    yanked: bool,
}

impl Index {
    /// Fetches `requirements` and their dependency closure for every target into the
    /// pull-through cache of `location`.
    ///
    /// # Errors
    /// [`IndexError::NoUpstreamCache`] when the namespace has no cached upstream; a failing
    /// requirement is reported, not an error.
    pub async fn mirror(
        &self,
        caller: &Caller,
        location: &Location,
        requirements: &[Requirement],
        targets: &[Target],
    ) -> Result<MirrorReport, IndexError> {
        let cached = self.options.upstreams.routes.iter().any(|route| {
            route.target == location.target
                && route.namespace == location.namespace
                && route.cache.is_some()
        });
        if !cached {
            return Err(IndexError::NoUpstreamCache {
                namespace: format!("{}/{}", location.target, location.namespace),
            });
        }
        let mut report = MirrorReport::default();
        let mut queue: VecDeque<(usize, Requirement)> = VecDeque::new();
        for (index, target) in targets.iter().enumerate() {
            let environment = target.environment();
            queue.extend(
                requirements
                    .iter()
                    .filter(|r| r.applies(&environment, &[]))
                    .map(|r| (index, r.clone())),
            );
        }
        let mut seen = HashSet::new();
        let mut files = HashSet::new();
        while let Some((index, requirement)) = queue.pop_front() {
            let Some(target) = targets.get(index) else {
                continue;
            };
            let key = (
                index,
                requirement.name.clone(),
                requirement.specifiers.to_string(),
                requirement.extras.clone(),
            );
            if !seen.insert(key) {
                continue;
            }
            let needed = self
                .mirror_one(caller, location, &requirement, target, &mut report)
                .await;
            let (chosen, dependencies) = match needed {
                Ok(found) => found,
                Err(reason) => {
                    report
                        .unresolved
                        .push(format!("{} ({target}): {reason}", requirement.name));
                    continue;
                }
            };
            for filename in chosen {
                if files.insert(filename.clone()) {
                    report.files.push(filename);
                }
            }
            let environment = target.environment();
            for dependency in dependencies {
                match Requirement::parse(&dependency) {
                    Ok(dependency) if dependency.applies(&environment, &requirement.extras) => {
                        queue.push_back((index, dependency));
                    }
                    Ok(_) => {}
                    Err(error) => report.unresolved.push(error.to_string()),
                }
            }
        }
        report.files.sort();
        report.published.sort();
        report.published.dedup();
        Ok(report)
    }

    /// Fetches what `requirement` needs on `target`: the files chosen and the `Requires-Dist`
    /// of the version chosen.
    async fn mirror_one(
        &self,
        caller: &Caller,
        location: &Location,
        requirement: &Requirement,
        target: &Target,
        report: &mut MirrorReport,
    ) -> Result<(Vec<String>, Vec<String>), String> {
        let project = &requirement.name;
        let listing = self
            .listing(caller, location, project)
            .await
            .map_err(|error| error.to_string())?;
        let (offered, published) = offered_files(&listing);
        if published {
            report.published.push(project.to_string());
        }
        let python =
            Version::parse(&format!("{}.0", target.python())).map_err(|e| e.to_string())?;
        let mut versions: BTreeMap<Version, Vec<&Offered>> = BTreeMap::new();
        for file in offered.iter().filter(|f| !f.yanked) {
            let python_fits = file
                .requires_python
                .as_deref()
                .is_none_or(|spec| Specifiers::parse(spec).is_ok_and(|s| s.contains(&python)));
            if python_fits && requirement.specifiers.contains(&file.version) {
                versions.entry(file.version.clone()).or_default().push(file);
            }
        }
        for files in versions.values().rev() {
            let wheels: Vec<&str> = files
                .iter()
                .map(|f| f.filename.as_str())
                .filter(|name| target.supports_wheel(name))
                .collect();
            let sdist = files
                .iter()
                .map(|f| f.filename.as_str())
                .find(|name| DistFilename::parse(name).is_ok_and(|f| f.kind() == DistKind::Sdist));
            let chosen: Vec<&str> = if wheels.is_empty() {
                sdist.into_iter().collect()
            } else {
                wheels
            };
            let Some(first) = chosen.first() else {
                continue;
            };
            if !published {
                for filename in &chosen {
                    report.bytes += self
                        .read_through(caller, location, requirement, filename, Wanted::File)
                        .await?
                        .len_read;
                }
            }
            let metadata = self
                .read_through(caller, location, requirement, first, Wanted::Metadata)
                .await
                .map_err(|reason| format!("the core metadata of `{first}`: {reason}"))?;
            let parsed = CoreMetadata::parse(&metadata.kept).map_err(|e| e.to_string())?;
            let chosen = if published {
                Vec::new()
            } else {
                chosen.iter().map(|f| (*f).to_owned()).collect()
            };
            return Ok((chosen, parsed.requires_dist));
        }
        Err(format!(
            "no version matching `{}` has a file for this target",
            requirement_text(requirement)
        ))
    }

    /// Reads a file (or its metadata) through the index, keeping metadata's bytes only.
    async fn read_through(
        &self,
        caller: &Caller,
        location: &Location,
        requirement: &Requirement,
        filename: &str,
        wanted: Wanted,
    ) -> Result<Read, String> {
        let opened = self
            .open(
                caller,
                location,
                &requirement.name,
                filename,
                (wanted, FileRequest::default()),
            )
            .await
            .map_err(|error| error.to_string())?;
        let mut read = Read::default();
        let mut body = opened.body;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|error| error.to_string())?;
            read.len_read += chunk.len() as u64;
            if wanted == Wanted::Metadata {
                if (read.kept.len() + chunk.len()) as u64 > MAX_METADATA_SIZE {
                    return Err("the core metadata is too large".to_owned());
                }
                read.kept.extend_from_slice(&chunk);
            }
        }
        Ok(read)
    }
}

#[derive(Default)]
struct Read {
    len_read: u64,
    kept: Vec<u8>,
}

fn requirement_text(requirement: &Requirement) -> String {
    format!("{}{}", requirement.name, requirement.specifiers)
}

/// The files a listing offers, and whether the namespace publishes the project.
fn offered_files(listing: &Listing) -> (Vec<Offered>, bool) {
    let from_page = |page: &crate::index::ProjectPage| {
        page.releases
            .iter()
            .flat_map(|release| {
                release.files.iter().map(|file| Offered {
                    filename: file.filename.clone(),
                    version: release.version.clone(),
                    requires_python: file.requires_python.clone(),
                    yanked: file.yanked.is_some(),
                })
            })
            .collect()
    };
    match listing {
        Listing::Local(page) => (from_page(page), true),
        Listing::Cached(page) => (from_page(page), false),
        Listing::Upstream { page, .. } => (
            page.files
                .iter()
                .filter(|file| Listing::offers_file(file, true))
                .filter_map(|file| {
                    let parsed = DistFilename::parse(&file.filename).ok()?;
                    Some(Offered {
                        filename: file.filename.clone(),
                        version: parsed.version().clone(),
                        requires_python: file.requires_python.clone(),
                        yanked: file.yanked.is_some(),
                    })
                })
                .collect(),
            false,
        ),
    }
}
