//! Yanking (PEP 592): marking a file or a whole release as not to be chosen by installers
//! unless pinned exactly, and undoing it. The mark lives on the release index entry.
//!
//! Specification: <https://packaging.python.org/en/latest/specifications/file-yanking/>.

use super::update::{Plan, update_release};
use super::{Caller, Index, IndexError, Location, parse_target};
use crate::events::EventKind;
use crate::layout::{self, ReleaseIndex};
use crate::packaging::ProjectName;

/// The longest yank reason kept.
const MAX_REASON_LENGTH: usize = 1000;

impl Index {
    /// Yanks (`Some(reason)`, the reason may be empty) or un-yanks (`None`) `target`: a
    /// filename, or a version for every file of the release.
    ///
    /// # Errors
    /// [`IndexError::FileNotFound`] or [`IndexError::VersionNotFound`]; a bad target; storage
    /// errors.
    pub async fn set_yanked(
        &self,
        caller: &Caller,
        location: &Location,
        project: &ProjectName,
        target: &str,
        yanked: Option<&str>,
    ) -> Result<(), IndexError> {
        let (version, filename) = parse_target(project, target)?;
        let reason = yanked.map(|r| {
            r.chars()
                .filter(|c| !c.is_control())
                .take(MAX_REASON_LENGTH)
                .collect::<String>()
        });
        let registry = self.writable(caller, location)?;
        let repository = layout::repository(&location.namespace, project)?;
        let tag = layout::tag_for(&version)?;
        let version_text = version.to_string();
        let owned_project = project.clone();
        let not_found = {
            let version_text = version_text.clone();
            let project = project.to_string();
            let filename = filename.clone();
            move || match &filename {
                Some(filename) => IndexError::FileNotFound {
                    filename: filename.clone(),
                },
                None => IndexError::VersionNotFound {
                    project: project.clone(),
                    version: version_text.clone(),
                },
            }
        };
        let mut concerned: Vec<String> = filename.iter().cloned().collect();
        let files = &mut concerned;
        let decide = move |current: Option<&ReleaseIndex>| {
            let mut index = current.cloned().ok_or_else(&not_found)?;
            if filename.is_none() {
                *files = index
                    .files(&owned_project, &version_text)
                    .into_iter()
                    .map(|file| file.filename)
                    .collect();
            }
            match index.set_yanked(
                &owned_project,
                &version_text,
                filename.as_deref(),
                reason.as_deref(),
            ) {
                None => Err(not_found()),
                Some(false) => Ok(Plan::Done),
                Some(true) => Ok(Plan::Put(index)),
            }
        };
        update_release(
            &self.locks,
            registry.as_ref(),
            &repository,
            &tag,
            &version,
            decide,
        )
        .await?;
        self.changed(&registry, location, project, Some(&tag))?;
        tracing::info!(oci.repository = %repository, "{} `{target}`", if yanked.is_some() { "yanked" } else { "un-yanked" });
        let kind = if yanked.is_some() {
            EventKind::Yank
        } else {
            EventKind::Unyank
        };
        self.notify(location, kind, (project, &version.to_string()), |event| {
            let event = event.with_files(concerned);
            match yanked {
                Some(reason) => event.with_detail("reason", reason),
                None => event,
            }
        });
        Ok(())
    }
}
