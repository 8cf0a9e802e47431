//! The configuration files `oci-pypi login` writes, edited in place: what else they hold is
//! kept. pip.conf and .pypirc are INI files (Python's `configparser`, no interpolation in
//! either reader); uv.toml and poetry's files are TOML.
//!
//! pip: <https://pip.pypa.io/en/stable/topics/configuration/>; uv:
//! <https://docs.astral.sh/uv/configuration/files/>; twine/.pypirc:
//! <https://packaging.python.org/en/latest/specifications/pypirc/>; poetry:
//! <https://python-poetry.org/docs/repositories/>.

use std::io::Write as _;
use std::path::Path;

/// One line of an INI file: a section header, a `key = value` line, or anything else.
fn section_of(line: &str) -> Option<&str> {
    let trimmed = line.trim();
    trimmed
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .map(str::trim)
}

fn key_of(line: &str) -> Option<&str> {
    if line.starts_with([' ', '\t']) || line.trim_start().starts_with(['#', ';']) {
        return None;
    }
    let end = line.find(['=', ':'])?;
    Some(line.get(..end)?.trim())
}

/// The lines of `section` (header excluded) as a range of line indexes, if it exists.
fn section_range(lines: &[&str], section: &str) -> Option<(usize, usize)> {
    let start = lines
        .iter()
        .position(|line| section_of(line) == Some(section))?
        + 1;
    let end = lines
        .iter()
        .skip(start)
        .position(|line| section_of(line).is_some())
        .map_or(lines.len(), |offset| start + offset);
    Some((start, end))
}

/// The value of `key` in `section` (continuation lines joined by `\n`), if set.
#[must_use]
pub fn ini_get(text: &str, section: &str, key: &str) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let (start, end) = section_range(&lines, section)?;
    let at = (start..end).find(|&i| key_of(lines[i]) == Some(key))?;
    let first = lines[at]
        .split_once(['=', ':'])
        .map_or("", |(_, v)| v)
        .trim();
    let mut value = first.to_owned();
    for line in lines.iter().take(end).skip(at + 1) {
        if !line.starts_with([' ', '\t']) || line.trim().is_empty() {
            break;
        }
        value.push('\n');
        value.push_str(line.trim());
    }
    Some(value)
}

/// `text` with `key = value` set in `section` (added where missing), every other line kept.
/// A multi-line `value` is written with indented continuation lines.
#[must_use]
pub fn ini_set(text: &str, section: &str, key: &str, value: &str) -> String {
    let rendered = {
        let mut parts = value.split('\n');
        let mut line = format!("{key} = {}", parts.next().unwrap_or_default());
        for part in parts {
            line.push_str("\n    ");
            line.push_str(part);
        }
        line
    };
    let lines: Vec<&str> = text.lines().collect();
    let mut out: Vec<String> = Vec::with_capacity(lines.len() + 3);
    let Some((start, end)) = section_range(&lines, section) else {
        out.extend(lines.iter().map(|line| (*line).to_owned()));
        if out.last().is_some_and(|line| !line.trim().is_empty()) {
            out.push(String::new());
        }
        out.push(format!("[{section}]"));
        out.push(rendered);
        return out.join("\n") + "\n";
    };
    let existing = (start..end).find(|&i| key_of(lines[i]) == Some(key));
    let mut skip_continuation = false;
    for (i, line) in lines.iter().enumerate() {
        if skip_continuation {
            if line.starts_with([' ', '\t']) && !line.trim().is_empty() {
                continue;
            }
            skip_continuation = false;
        }
        if Some(i) == existing {
            out.push(rendered.clone());
            skip_continuation = true;
            continue;
        }
        out.push((*line).to_owned());
        // A new key goes after the section's last non-blank line.
        let last_filled = (start..end).rev().find(|&j| !lines[j].trim().is_empty());
        if existing.is_none() && i == last_filled.unwrap_or(start - 1) {
            out.push(rendered.clone());
        }
    }
    out.join("\n") + "\n"
}

/// `text` (TOML, possibly empty) with `path` (table keys) set to `value`.
///
/// # Errors
/// The existing text is not TOML, or a key on the way is not a table.
pub fn toml_set(text: &str, path: &[&str], value: toml::Value) -> Result<String, String> {
    let mut root: toml::Table = toml::from_str(text).map_err(|error| error.message().to_owned())?;
    let Some((last, parents)) = path.split_last() else {
        return Ok(text.to_owned());
    };
    let mut table = &mut root;
    for key in parents {
        let entry = table
            .entry((*key).to_owned())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        table = entry
            .as_table_mut()
            .ok_or_else(|| format!("`{key}` is not a table"))?;
    }
    table.insert((*last).to_owned(), value);
    toml::to_string(&root).map_err(|error| error.to_string())
}

/// Reads `path`, or "" when it does not exist.
///
/// # Errors
/// Any other read failure, naming the file.
pub fn read_or_empty(path: &Path) -> Result<String, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(error) => Err(format!("cannot read `{}`: {error}", path.display())),
    }
}

/// Writes `text` to `path` readable by its owner only (it holds credentials), creating the
/// directories, replacing the file at once (a temporary file renamed over it).
///
/// # Errors
/// A write failure, naming the file.
pub fn write_private(path: &Path, text: &str) -> Result<(), String> {
    let failed = |error: std::io::Error| format!("cannot write `{}`: {error}", path.display());
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(failed)?;
    }
    let temporary = path.with_extension("oci-pypi-tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&temporary).map_err(failed)?;
    file.write_all(text.as_bytes()).map_err(failed)?;
    file.sync_all().map_err(failed)?;
    drop(file);
    std::fs::rename(&temporary, path).map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ini_set_keeps_everything_else() {
        let text = "# mine\n[global]\ntimeout = 60\nindex-url = https://old/\n    continued\n\n[install]\nuser = yes\n";
        let updated = ini_set(text, "global", "index-url", "http://new/");
        assert_eq!(
            updated,
            "# mine\n[global]\ntimeout = 60\nindex-url = http://new/\n\n[install]\nuser = yes\n"
        );
        let added = ini_set(
            "[install]\nuser = yes\n",
            "global",
            "index-url",
            "http://new/",
        );
        assert_eq!(
            added,
            "[install]\nuser = yes\n\n[global]\nindex-url = http://new/\n"
        );
        let into = ini_set(
            "[global]\ntimeout = 60\n\n[x]\n",
            "global",
            "index-url",
            "u",
        );
        assert_eq!(into, "[global]\ntimeout = 60\nindex-url = u\n\n[x]\n");
        assert_eq!(ini_set("", "a", "k", "v"), "[a]\nk = v\n");
    }

    #[test]
    fn ini_multi_line_values_round_trip() {
        let text = "[distutils]\nindex-servers =\n    pypi\n    testpypi\n\n[pypi]\nusername = __token__\n";
        let servers = ini_get(text, "distutils", "index-servers").unwrap();
        assert_eq!(servers, "\npypi\ntestpypi");
        let updated = ini_set(
            text,
            "distutils",
            "index-servers",
            "\npypi\ntestpypi\noci-pypi",
        );
        assert_eq!(
            updated,
            "[distutils]\nindex-servers = \n    pypi\n    testpypi\n    oci-pypi\n\n[pypi]\nusername = __token__\n"
        );
        assert_eq!(
            ini_get(&updated, "pypi", "username").as_deref(),
            Some("__token__")
        );
        assert_eq!(ini_get(&updated, "pypi", "password"), None);
    }

    #[test]
    fn toml_set_adds_and_replaces() {
        let text = "[repositories.other]\nurl = \"https://x/\"\n";
        let updated = toml_set(
            text,
            &["repositories", "oci-pypi", "url"],
            toml::Value::String("http://h/".to_owned()),
        )
        .unwrap();
        let parsed: toml::Table = toml::from_str(&updated).unwrap();
        assert_eq!(
            parsed["repositories"]["other"]["url"].as_str(),
            Some("https://x/")
        );
        assert_eq!(
            parsed["repositories"]["oci-pypi"]["url"].as_str(),
            Some("http://h/")
        );
        assert!(toml_set("url = [", &["a"], toml::Value::Boolean(true)).is_err());
        assert!(toml_set("a = 1", &["a", "b"], toml::Value::Boolean(true)).is_err());
    }

    #[test]
    fn private_files_are_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/pip.conf");
        write_private(&path, "x").unwrap();
        assert_eq!(read_or_empty(&path).unwrap(), "x");
        assert_eq!(read_or_empty(&dir.path().join("none")).unwrap(), "");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
