//! `oci-pypi mirror`: filling a namespace's pull-through cache ahead of time.

use std::fmt::Write as _;

use super::{CommandError, Report, caller_with, locate};
use crate::config::MirrorArgs;
use crate::index::Index;
use crate::packaging::{Requirement, Target, parse_requirements_file};

/// Fetches the requirements of `args`, with their dependencies, for every target.
pub(super) async fn mirror(index: &Index, args: &MirrorArgs) -> Result<Report, CommandError> {
    let location = locate(index, &args.namespace)?;
    let caller = caller_with(&args.credentials);
    let mut requirements = Vec::new();
    for path in &args.requirement_files {
        let text = std::fs::read_to_string(path).map_err(|error| {
            CommandError::Argument(format!("requirements file `{}`: {error}", path.display()))
        })?;
        requirements.extend(
            parse_requirements_file(&text).map_err(|e| CommandError::Argument(e.to_string()))?,
        );
    }
    for text in &args.requirements {
        requirements
            .push(Requirement::parse(text).map_err(|e| CommandError::Argument(e.to_string()))?);
    }
    if requirements.is_empty() {
        return Err(CommandError::Argument(
            "nothing to mirror: give requirements or `-r <file>`".to_owned(),
        ));
    }
    let mut targets = Vec::new();
    for python in &args.pythons {
        for platform in &args.platforms {
            targets.push(Target::new(python, platform).map_err(CommandError::Argument)?);
        }
    }
    let report = index
        .mirror(&caller, &location, &requirements, &targets)
        .await?;
    let mut text = String::new();
    for file in &report.files {
        let _ = writeln!(text, "cached   {file}");
    }
    for project in &report.published {
        let _ = writeln!(text, "published {project} (followed, not fetched)");
    }
    for problem in &report.unresolved {
        let _ = writeln!(text, "unresolved {problem}");
    }
    let _ = write!(
        text,
        "{} files in the cache of {}, {} bytes read",
        report.files.len(),
        args.namespace,
        report.bytes
    );
    Ok(Report {
        json: serde_json::to_value(&report).unwrap_or_default(),
        text,
    })
}
