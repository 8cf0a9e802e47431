//! Managing a namespace from a terminal: `list`, `versions`, `delete`, `yank`, `unyank`, and
//! `backfill-metadata`.

use std::fmt::Write as _;

use serde_json::json;

use super::{CommandError, Report, caller_with, locate};
use crate::config::{BackfillArgs, ListArgs, NamespaceArgs, TargetArgs, VersionsArgs};
use crate::index::{BackfillReport, Caller, Index, IndexError, Location, ReleaseRef};
use crate::packaging::{NamePattern, ProjectName};

fn open(index: &Index, args: &NamespaceArgs) -> Result<(Location, Caller), CommandError> {
    Ok((
        locate(index, &args.namespace)?,
        caller_with(&args.credentials),
    ))
}

fn project(name: &str) -> Result<ProjectName, CommandError> {
    Ok(ProjectName::parse(name).map_err(IndexError::from)?)
}

pub(super) async fn list(index: &Index, args: &ListArgs) -> Result<Report, CommandError> {
    let (location, caller) = open(index, &args.namespace)?;
    let pattern = args
        .query
        .as_deref()
        .map(NamePattern::parse)
        .transpose()
        .map_err(IndexError::from)?;
    let projects: Vec<String> = index
        .project_list(&caller, &location)
        .await?
        .into_iter()
        .filter(|project| pattern.as_ref().is_none_or(|p| p.matches(project)))
        .map(|project| project.to_string())
        .collect();
    Ok(Report {
        text: projects.join("\n"),
        json: json!({ "namespace": args.namespace.namespace.trim_matches('/'), "projects": projects }),
    })
}

pub(super) async fn versions(index: &Index, args: &VersionsArgs) -> Result<Report, CommandError> {
    let (location, caller) = open(index, &args.namespace)?;
    let project = project(&args.project)?;
    let page = index.project_page(&caller, &location, &project).await?;
    let mut text = String::new();
    let mut releases = Vec::new();
    for release in &page.releases {
        let version = release.version.to_string();
        text.push_str(&version);
        text.push('\n');
        let mut files = Vec::new();
        for file in release.files.iter() {
            let uploaded = file.uploaded.as_deref().unwrap_or("-");
            let yanked = match &file.yanked {
                Some(reason) if reason.is_empty() => "  yanked".to_owned(),
                Some(reason) => format!("  yanked: {reason}"),
                None => String::new(),
            };
            let _ = writeln!(text, "  {}  {uploaded}{yanked}", file.filename);
            files.push(json!({
                "filename": file.filename,
                "sha256": file.sha256,
                "size": file.size,
                "uploaded": file.uploaded,
                "yanked": file.yanked.is_some(),
                "yanked_reason": file.yanked,
            }));
        }
        let yanked = !release.files.is_empty() && release.files.iter().all(|f| f.yanked.is_some());
        releases.push(json!({ "version": version, "yanked": yanked, "files": files }));
    }
    Ok(Report {
        text: text.trim_end().to_owned(),
        json: json!({ "project": project.as_str(), "releases": releases }),
    })
}

pub(super) async fn delete(index: &Index, args: &TargetArgs) -> Result<Report, CommandError> {
    let (location, caller) = open(index, &args.namespace)?;
    let project = project(&args.project)?;
    let release = ReleaseRef::parse(&project, &args.target)?;
    index.delete(&caller, &location, &release).await?;
    Ok(done("deleted", &project, &args.target))
}

/// Yanks with `Some(reason)`, un-yanks with `None`.
pub(super) async fn yank(
    index: &Index,
    args: &TargetArgs,
    reason: Option<&str>,
) -> Result<Report, CommandError> {
    let (location, caller) = open(index, &args.namespace)?;
    let project = project(&args.project)?;
    let release = ReleaseRef::parse(&project, &args.target)?;
    index
        .set_yanked(&caller, &location, &release, reason)
        .await?;
    Ok(done(
        if reason.is_some() {
            "yanked"
        } else {
            "unyanked"
        },
        &project,
        &args.target,
    ))
}

fn done(action: &str, project: &ProjectName, target: &str) -> Report {
    Report {
        text: format!("{action} {project} {target}"),
        json: json!({ "action": action, "project": project.as_str(), "target": target }),
    }
}

pub(super) async fn backfill(index: &Index, args: &BackfillArgs) -> Result<Report, CommandError> {
    let location = locate(index, &args.namespace)?;
    let caller = caller_with(&args.credentials);
    let projects = match &args.project {
        Some(name) => vec![project(name)?],
        None => index.project_list(&caller, &location).await?,
    };
    let mut total = BackfillReport::default();
    for project in projects {
        match index.backfill_metadata(&caller, &location, &project).await {
            Ok(report) => {
                total.updated.extend(report.updated);
                total.skipped.extend(report.skipped);
            }
            Err(IndexError::ProjectNotFound { .. }) => {}
            Err(error) => return Err(error.into()),
        }
    }
    let mut text = format!("{} file(s) updated", total.updated.len());
    for (file, reason) in &total.skipped {
        let _ = write!(text, "\nskipped {file}: {reason}");
    }
    let skipped: Vec<_> = total
        .skipped
        .iter()
        .map(|(file, reason)| json!({ "file": file, "reason": reason }))
        .collect();
    Ok(Report {
        text,
        json: json!({ "updated": total.updated, "skipped": skipped }),
    })
}
