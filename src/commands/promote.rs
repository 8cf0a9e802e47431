//! `oci-pypi promote` (one release or file, or every project matching a query) and
//! `oci-pypi copy-namespace`.

use std::fmt::Write as _;

use super::{CommandError, Report, caller, locate};
use crate::config::{CopyNamespaceArgs, Ends, PromoteArgs};
use crate::index::{Caller, Index, IndexError, Location, Promotion, PromotionReport, ReleaseRef};
use crate::packaging::{NamePattern, ProjectName, Version};

/// What was promoted, per project.
#[derive(Debug, Default)]
struct Promoted {
    projects: Vec<(ProjectName, String, PromotionReport)>,
}

impl Promoted {
    fn report(self) -> Report {
        let mut total = PromotionReport::default();
        let mut text = String::new();
        let mut each = Vec::new();
        for (project, target, report) in self.projects {
            let _ = writeln!(
                text,
                "{project} {target}: {} copied, {} already there{}",
                report.copied.len(),
                report.already_there.len(),
                if report.removed_source {
                    ", removed from the source"
                } else {
                    ""
                }
            );
            each.push(serde_json::json!({
                "project": project.as_str(),
                "target": target,
                "copied": report.copied,
                "already_there": report.already_there,
            }));
            total.copied.extend(report.copied);
            total.already_there.extend(report.already_there);
            total.removed_source |= report.removed_source;
        }
        if each.is_empty() {
            text.push_str("nothing to promote\n");
        }
        Report {
            text: text.trim_end().to_owned(),
            json: serde_json::json!({
                "copied": total.copied,
                "already_there": total.already_there,
                "removed_source": total.removed_source,
                "promoted": each,
            }),
        }
    }
}

struct Sides {
    from: Location,
    to: Location,
    source: Caller,
    destination: Caller,
    remove_source: bool,
}

impl Sides {
    fn new(index: &Index, ends: &Ends) -> Result<Self, CommandError> {
        Ok(Self {
            from: locate(index, &ends.from)?,
            to: locate(index, &ends.to)?,
            source: caller(ends.from_username.as_ref(), ends.from_password.as_ref()),
            destination: caller(ends.to_username.as_ref(), ends.to_password.as_ref()),
            remove_source: ends.remove_source,
        })
    }

    async fn promote(
        &self,
        index: &Index,
        project: &ProjectName,
        target: &str,
    ) -> Result<PromotionReport, IndexError> {
        let release = ReleaseRef::parse(project, target)?;
        let promotion = Promotion {
            from: &self.from,
            to: &self.to,
            release: &release,
            remove_source: self.remove_source,
        };
        index
            .promote(&self.source, &self.destination, &promotion)
            .await
    }

    /// Every release of `project` at the source, oldest first; `only` keeps that version.
    async fn releases(
        &self,
        index: &Index,
        project: &ProjectName,
        only: Option<&Version>,
    ) -> Result<Vec<String>, IndexError> {
        let page = match index.project_page(&self.source, &self.from, project).await {
            Ok(page) => page,
            Err(IndexError::ProjectNotFound { .. }) => return Ok(Vec::new()),
            Err(error) => return Err(error),
        };
        Ok(page
            .releases
            .iter()
            .filter(|release| only.is_none_or(|version| &release.version == version))
            .map(|release| release.version.to_string())
            .collect())
    }
}

pub(super) async fn promote(index: &Index, args: &PromoteArgs) -> Result<Report, CommandError> {
    let sides = Sides::new(index, &args.ends)?;
    let mut promoted = Promoted::default();
    if let Some(name) = &args.project {
        let project = ProjectName::parse(name).map_err(IndexError::from)?;
        let target = args.target.clone().unwrap_or_default();
        let report = sides.promote(index, &project, &target).await?;
        promoted.projects.push((project, target, report));
        return Ok(promoted.report());
    }
    let query = args.query.as_deref().unwrap_or("*");
    let pattern = NamePattern::parse(query).map_err(IndexError::from)?;
    let only = args
        .target
        .as_deref()
        .map(|target| {
            Version::parse(target).map_err(|_| {
                CommandError::Argument(format!(
                    "`--target {}`: with `--query`, the target is a version",
                    target.escape_default()
                ))
            })
        })
        .transpose()?;
    for project in index.project_list(&sides.source, &sides.from).await? {
        if !pattern.matches(&project) {
            continue;
        }
        for version in sides.releases(index, &project, only.as_ref()).await? {
            let report = sides.promote(index, &project, &version).await?;
            promoted.projects.push((project.clone(), version, report));
        }
    }
    Ok(promoted.report())
}

pub(super) async fn copy_namespace(
    index: &Index,
    args: &CopyNamespaceArgs,
) -> Result<Report, CommandError> {
    let sides = Sides::new(index, &args.ends)?;
    let mut promoted = Promoted::default();
    for project in index.project_list(&sides.source, &sides.from).await? {
        for version in sides.releases(index, &project, None).await? {
            let report = sides.promote(index, &project, &version).await?;
            promoted.projects.push((project.clone(), version, report));
        }
    }
    Ok(promoted.report())
}
