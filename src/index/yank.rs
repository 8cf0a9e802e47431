//! Yanking (PEP 592): marking a file or a whole release as not to be chosen by installers
//! unless pinned exactly, and undoing it. The mark lives on the release index entry.
//!
//! Specification: <https://packaging.python.org/en/latest/specifications/file-yanking/>.

use super::release::{Access, ReleaseRef};
use super::update::Plan;
use super::{Caller, Index, IndexError, Location};
use crate::events::EventKind;
use crate::layout::ReleaseIndex;

/// The longest yank reason kept.
const MAX_REASON_LENGTH: usize = 1000;

impl Index {
    /// Yanks (`Some(reason)`, the reason may be empty) or un-yanks (`None`) `release`: one
    /// file, or every file of the release.
    ///
    /// # Errors
    /// [`IndexError::FileNotFound`] or [`IndexError::VersionNotFound`]; a bad target; storage
    /// errors.
    pub async fn set_yanked(
        &self,
        caller: &Caller,
        location: &Location,
        release: &ReleaseRef,
        yanked: Option<&str>,
    ) -> Result<(), IndexError> {
        let reason = yanked.map(|r| {
            r.chars()
                .filter(|c| !c.is_control())
                .take(MAX_REASON_LENGTH)
                .collect::<String>()
        });
        let reached = self.reach(caller, location, release, Access::Write)?;
        let version_text = release.version.to_string();
        let mut concerned: Vec<String> =
            release.filename().map(str::to_owned).into_iter().collect();
        let files = &mut concerned;
        let decide = |current: Option<&ReleaseIndex>| {
            let mut index = current.cloned().ok_or_else(|| release.not_found())?;
            if release.filename.is_none() {
                *files = index
                    .files(&release.project, &version_text)
                    .into_iter()
                    .map(|file| file.filename)
                    .collect();
            }
            match index.set_yanked(
                &release.project,
                &version_text,
                release.filename(),
                reason.as_deref(),
            ) {
                None => Err(release.not_found()),
                Some(false) => Ok(Plan::Done),
                Some(true) => Ok(Plan::Put(index)),
            }
        };
        self.rewrite(&reached, location, release, decide).await?;
        let repository = &reached.repository;
        tracing::info!(oci.repository = %repository, "{} `{release}`", if yanked.is_some() { "yanked" } else { "un-yanked" });
        let kind = if yanked.is_some() {
            EventKind::Yank
        } else {
            EventKind::Unyank
        };
        self.notify(location, kind, (&release.project, &version_text), |event| {
            let event = event.with_files(concerned);
            match yanked {
                Some(reason) => event.with_detail("reason", reason),
                None => event,
            }
        });
        Ok(())
    }
}
