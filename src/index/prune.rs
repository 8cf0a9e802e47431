//! Retention: deleting old releases of a project by policy (keep the newest N, keep those
//! uploaded in the last D days, only versions matching patterns), planned from one read of the
//! project and carried out with the delete protocol. Safe to run on several replicas at once:
//! every run plans the same deletions from the same releases, and a release another run
//! already deleted counts as deleted.

use time::OffsetDateTime;

use super::page::{ProjectPage, Release};
use super::release::ReleaseRef;
use super::snapshot::{ProjectRef, Trust};
use super::{Caller, Index, IndexError, Location};
use crate::packaging::{ProjectName, Version};

/// Which releases a prune may delete, and which it keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Keep the newest this many of the matching releases (PEP 440 order).
    pub keep_last: Option<usize>,
    /// Keep the matching releases uploaded less than this many days ago.
    pub keep_days: Option<u64>,
    /// Only versions matching one of these globs (`*`, `?`) may be deleted; none: every version.
    pub versions: Vec<String>,
    /// Only pre-releases and dev releases may be deleted.
    pub prereleases_only: bool,
    /// Releases yanked with a reason may be deleted too (they are kept otherwise: the reason
    /// tells users why not to use them).
    pub include_yanked_with_reason: bool,
}

impl RetentionPolicy {
    /// Whether the policy keeps something by age or count (a policy that keeps nothing would
    /// delete every matching release, which is refused).
    #[must_use]
    pub fn keeps_anything(&self) -> bool {
        self.keep_last.is_some() || self.keep_days.is_some()
    }
}

/// What a prune of one project did (or, in a dry run, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// The releases deleted (or to delete), oldest first.
    pub deleted: Vec<Version>,
    /// Releases the policy would delete but that are yanked with a reason, kept.
    pub kept_yanked: Vec<Version>,
    /// The release kept because every release would otherwise go.
    pub kept_last_release: Option<Version>,
}

impl Index {
    /// Deletes the releases of `project` that `policy` does not keep (nothing in a dry run);
    /// never its only remaining release.
    ///
    /// # Errors
    /// [`IndexError::ProjectNotFound`]; storage errors (a release already gone is no error).
    pub async fn prune_project(
        &self,
        caller: &Caller,
        location: &Location,
        project: &ProjectName,
        policy: &RetentionPolicy,
        dry_run: bool,
    ) -> Result<PruneReport, IndexError> {
        // Every release tag read again: a yank that the listing document does not record yet
        // must still keep its release.
        let store = self.store(caller, location)?;
        let repository = crate::layout::repository(&location.namespace, project)?;
        let key = location.project_key(&repository);
        let target = ProjectRef {
            store: store.as_ref(),
            key: &key,
            repository: &repository,
            project,
        };
        let snapshot = self.read_project(target, Trust::Tags).await?;
        let report = plan(&snapshot.page, policy, OffsetDateTime::now_utc());
        if dry_run {
            return Ok(report);
        }
        for version in &report.deleted {
            let release = ReleaseRef::release(project.clone(), version.clone());
            match self.delete(caller, location, &release).await {
                // Deleted by another run at the same time: the outcome is the same.
                Ok(()) | Err(IndexError::VersionNotFound { .. }) => {}
                Err(error) => return Err(error),
            }
        }
        if !report.deleted.is_empty() {
            tracing::info!(project.name = %project, "pruned {} release(s)", report.deleted.len());
        }
        Ok(report)
    }
}

/// The releases of `page` that `policy` deletes at time `now`.
#[must_use]
pub fn plan(page: &ProjectPage, policy: &RetentionPolicy, now: OffsetDateTime) -> PruneReport {
    let mut report = PruneReport::default();
    if !policy.keeps_anything() {
        return report;
    }
    let matching: Vec<&Release> = page
        .releases
        .iter()
        .filter(|release| matches(policy, &release.version))
        .collect();
    let newest_kept = policy.keep_last.unwrap_or(0);
    let cutoff = policy
        .keep_days
        .map(|days| now - time::Duration::days(i64::try_from(days).unwrap_or(i64::MAX / 86_400)));
    for (position, release) in matching.iter().rev().enumerate() {
        let by_count = policy.keep_last.is_some() && position < newest_kept;
        // A release that records no upload time is never old enough to go by age.
        let by_age =
            cutoff.is_some_and(|cutoff| release.last_upload().is_none_or(|at| at > cutoff));
        if by_count || by_age {
            continue;
        }
        let yanked_with_reason = release.files.iter().any(|file| {
            file.yanked
                .as_deref()
                .is_some_and(|reason| !reason.is_empty())
        });
        if yanked_with_reason && !policy.include_yanked_with_reason {
            report.kept_yanked.push(release.version.clone());
        } else {
            report.deleted.push(release.version.clone());
        }
    }
    report.deleted.reverse();
    report.kept_yanked.reverse();
    if report.deleted.len() == page.releases.len() {
        // Never the only release: the newest stays.
        report.kept_last_release = report.deleted.pop();
    }
    report
}

/// Whether `version` is one the policy may delete.
fn matches(policy: &RetentionPolicy, version: &Version) -> bool {
    let text = version.to_string();
    (!policy.prereleases_only || version.is_prerelease())
        && (policy.versions.is_empty() || policy.versions.iter().any(|p| glob(p, &text)))
}

/// Glob matching of `text` against `pattern`: `*` any run of characters, `?` one character,
/// everything else itself.
#[must_use]
pub fn glob(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    // Classic two-pointer matching with backtracking to the last `*`.
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == '?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    pattern
        .get(p..)
        .is_some_and(|rest| rest.iter().all(|c| *c == '*'))
}

#[cfg(test)]
mod tests {
    use time::format_description::well_known::Rfc3339;

    use super::*;
    use crate::layout::StoredFile;
    use crate::packaging::DistKind;
    use crate::storage::Digest;

    fn release(version: &str, uploaded: &str, yanked: Option<&str>) -> Release {
        Release {
            version: Version::parse(version).unwrap(),
            files: vec![StoredFile {
                filename: format!("demo-{version}.tar.gz"),
                sha256: crate::packaging::Sha256::of(b""),
                size: Some(1),
                uploaded: Some(uploaded.to_owned()),
                requires_python: None,
                project_urls: crate::layout::ProjectUrls::default(),
                yanked: yanked.map(str::to_owned),
                core_metadata: None,
                provenance: None,
                manifest: Digest::of(version.as_bytes()),
                kind: DistKind::Sdist,
                promoted: None,
            }]
            .into(),
        }
    }

    fn page(releases: Vec<Release>) -> ProjectPage {
        ProjectPage::new(ProjectName::parse("demo").unwrap(), releases)
    }

    fn now() -> OffsetDateTime {
        OffsetDateTime::parse("2026-12-05T00:00:00Z", &Rfc3339).unwrap()
    }

    fn versions(list: &[Version]) -> Vec<String> {
        list.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn keeps_the_newest_matching_releases() {
        let page = page(vec![
            release("1.0", "2026-01-01T00:00:00Z", None),
            release("1.1.dev1", "2026-01-02T00:00:00Z", None),
            release("1.1.dev2", "2026-01-03T00:00:00Z", None),
            release("1.1rc1", "2026-01-04T00:00:00Z", None),
            release("1.1", "2026-01-05T00:00:00Z", None),
        ]);
        let policy = RetentionPolicy {
            keep_last: Some(1),
            prereleases_only: true,
            ..RetentionPolicy::default()
        };
        let report = plan(&page, &policy, now());
        assert_eq!(versions(&report.deleted), ["1.1.dev1", "1.1.dev2"]);
        let policy = RetentionPolicy {
            keep_last: Some(0),
            versions: vec!["*.dev*".to_owned()],
            ..RetentionPolicy::default()
        };
        let report = plan(&page, &policy, now());
        assert_eq!(versions(&report.deleted), ["1.1.dev1", "1.1.dev2"]);
        let policy = RetentionPolicy {
            keep_last: Some(2),
            ..RetentionPolicy::default()
        };
        assert_eq!(
            versions(&plan(&page, &policy, now()).deleted),
            ["1.0", "1.1.dev1", "1.1.dev2"]
        );
    }

    #[test]
    fn keeps_recent_releases_by_age() {
        let page = page(vec![
            release("1.0", "2026-11-01T00:00:00Z", None),
            release("2.0", "2026-12-01T00:00:00Z", None),
            release("3.0", "2026-12-04T00:00:00Z", None),
        ]);
        let policy = RetentionPolicy {
            keep_days: Some(7),
            ..RetentionPolicy::default()
        };
        assert_eq!(versions(&plan(&page, &policy, now()).deleted), ["1.0"]);
        // Either rule keeps: the newest one, or the last 30 days.
        let policy = RetentionPolicy {
            keep_days: Some(30),
            keep_last: Some(1),
            ..RetentionPolicy::default()
        };
        assert_eq!(versions(&plan(&page, &policy, now()).deleted), ["1.0"]);
    }

    #[test]
    fn never_the_only_release_nor_one_yanked_with_a_reason() {
        let page = page(vec![
            release("1.0", "2020-01-01T00:00:00Z", Some("CVE-2026-1")),
            release("1.1", "2020-01-02T00:00:00Z", Some("")),
            release("1.2", "2020-01-03T00:00:00Z", None),
        ]);
        let policy = RetentionPolicy {
            keep_days: Some(1),
            ..RetentionPolicy::default()
        };
        let report = plan(&page, &policy, now());
        assert_eq!(versions(&report.deleted), ["1.1", "1.2"]);
        assert_eq!(versions(&report.kept_yanked), ["1.0"]);
        assert_eq!(report.kept_last_release, None);
        let policy = RetentionPolicy {
            include_yanked_with_reason: true,
            ..policy
        };
        let report = plan(&page, &policy, now());
        assert_eq!(versions(&report.deleted), ["1.0", "1.1"]);
        assert_eq!(report.kept_last_release.unwrap().to_string(), "1.2");
        // A policy that keeps nothing deletes nothing.
        assert_eq!(
            plan(&page, &RetentionPolicy::default(), now()),
            PruneReport::default()
        );
    }

    #[test]
    fn globs() {
        assert!(glob("*", ""));
        assert!(glob("*.dev*", "1.0.dev3"));
        assert!(glob("1.?", "1.5"));
        assert!(!glob("1.?", "1.55"));
        assert!(glob("*a*b", "xaxxab"));
        assert!(!glob("*.dev*", "1.0rc1"));
        assert!(glob("1.0", "1.0"));
        assert!(!glob("1.0", "1.0.1"));
    }
}
