//! `oci-pypi login`: configures pip, uv, twine or poetry for an index URL of this server, like
//! `aws codeartifact login --tool pip`. Credentials come from the flags or from the docker
//! credential store the user already has for the registry (this server passes them on to it).
//! The files keep what else they hold and are written readable by their owner only.

mod docker;
mod files;

use std::path::PathBuf;

use serde_json::json;

use super::{CommandError, Report};
use crate::config::{LoginArgs, LoginTool};
use crate::net::{Secret, redact_url};

/// Where the files go.
struct Places {
    home: PathBuf,
    config: PathBuf,
    docker: PathBuf,
}

/// The index URL, with and without the credentials.
struct Index {
    bare: url::Url,
    with_credentials: url::Url,
    username: String,
    password: Secret,
}

pub(super) async fn login(args: &LoginArgs) -> Result<Report, CommandError> {
    let bad = CommandError::Argument;
    let bare = parse_index_url(&args.index_url).map_err(bad)?;
    check_name(&args.name).map_err(bad)?;
    let home = args
        .home
        .clone()
        .ok_or_else(|| bad("no home directory: set HOME or pass --home".to_owned()))?;
    let places = Places {
        config: args
            .config_dir
            .clone()
            .unwrap_or_else(|| home.join(".config")),
        docker: args
            .docker_config
            .clone()
            .unwrap_or_else(|| home.join(".docker")),
        home,
    };
    let (username, password, source) = match (&args.username, &args.password) {
        (Some(username), Some(password)) => (
            username.clone(),
            Secret::new(password.clone()),
            "the command line".to_owned(),
        ),
        (None, Some(_)) | (Some(_), None) => {
            return Err(bad("give both --username and --password, or neither (then the docker credential store is asked)".to_owned()));
        }
        (None, None) => {
            let registry = match &args.registry {
                Some(registry) => registry.trim().trim_end_matches('/').to_owned(),
                None => registry_segment(&bare).map_err(bad)?,
            };
            let found = docker::lookup(&places.docker, &registry)
                .await
                .map_err(bad)?;
            (found.username, found.password, found.source)
        }
    };
    for (what, value) in [
        ("username", username.as_str()),
        ("password", password.expose()),
    ] {
        if value.chars().any(char::is_control) {
            return Err(bad(format!("the {what} has control characters")));
        }
    }
    let mut with_credentials = bare.clone();
    let encode = |text: &str| {
        percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    if with_credentials.set_username(&encode(&username)).is_err()
        || with_credentials
            .set_password(Some(&encode(password.expose())))
            .is_err()
    {
        return Err(bad(format!("`{}` cannot carry credentials", bare.as_str())));
    }
    let index = Index {
        bare,
        with_credentials,
        username,
        password,
    };
    let written = match args.tool {
        LoginTool::Env => return Ok(environment(&index, &args.name)),
        LoginTool::Pip => pip(&index, &places),
        LoginTool::Uv => uv(&index, &places, &args.name),
        LoginTool::Twine => twine(&index, &places, &args.name),
        LoginTool::Poetry => poetry(&index, &places, &args.name),
    }
    .map_err(bad)?;
    let shown: Vec<String> = written
        .iter()
        .map(|path| path.display().to_string())
        .collect();
    let mut text = format!(
        "configured {} for {} (credentials from {source}): {}",
        tool_name(args.tool),
        index.bare,
        shown.join(", ")
    );
    if index.bare.scheme() == "http" && !is_loopback(&index.bare) {
        text.push_str(
            "\nwarning: the index URL is plain http: credentials cross the network in clear",
        );
    }
    Ok(Report {
        text,
        json: json!({
            "tool": tool_name(args.tool),
            "index_url": index.bare.as_str(),
            "credentials_from": source,
            "files": shown,
        }),
    })
}

fn tool_name(tool: LoginTool) -> &'static str {
    match tool {
        LoginTool::Pip => "pip",
        LoginTool::Uv => "uv",
        LoginTool::Twine => "twine",
        LoginTool::Poetry => "poetry",
        LoginTool::Env => "env",
    }
}

fn parse_index_url(text: &str) -> Result<url::Url, String> {
    let shown = redact_url(text);
    let mut url = url::Url::parse(text.trim()).map_err(|_| {
        format!("`--index-url {shown}` is not a URL such as `https://pypi.example.com/ghcr.io/acme/python/`")
    })?;
    if !matches!(url.scheme(), "http" | "https") || !url.has_host() {
        return Err(format!("`--index-url {shown}` must be an http(s) URL"));
    }
    if !url.username().is_empty() || url.password().is_some() || url.query().is_some() {
        return Err(format!(
            "`--index-url {shown}` must carry no credentials or query: give them with --username and --password"
        ));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// The registry segment of an index URL without subpath: its first path segment.
fn registry_segment(url: &url::Url) -> Result<String, String> {
    let first = url
        .path_segments()
        .and_then(|mut segments| segments.next())
        .filter(|segment| !segment.is_empty())
        .ok_or_else(|| format!("`{url}` names no registry: pass --registry"))?;
    let decoded = percent_encoding::percent_decode_str(first).decode_utf8_lossy();
    // A percent-encoded origin (`http%3A%2F%2Fhost%3A5000`) names the registry `host:5000`.
    let host = decoded
        .split_once("://")
        .map_or(&*decoded, |(_, rest)| rest);
    Ok(host.trim_end_matches('/').to_owned())
}

fn check_name(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "`--name {}` must be letters, digits, `-` and `_`",
            name.escape_default()
        ))
    }
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// pip: `[global] index-url` in `<config>/pip/pip.conf`.
fn pip(index: &Index, places: &Places) -> Result<Vec<PathBuf>, String> {
    let path = places.config.join("pip").join("pip.conf");
    let text = files::read_or_empty(&path)?;
    let text = files::ini_set(
        &text,
        "global",
        "index-url",
        index.with_credentials.as_str(),
    );
    files::write_private(&path, &text)?;
    Ok(vec![path])
}

/// uv: a default `[[index]]` named `name` in `<config>/uv/uv.toml` (replacing one of that
/// name, keeping the others).
fn uv(index: &Index, places: &Places, name: &str) -> Result<Vec<PathBuf>, String> {
    let path = places.config.join("uv").join("uv.toml");
    let text = files::read_or_empty(&path)?;
    let mut root: toml::Table = toml::from_str(&text)
        .map_err(|error| format!("`{}`: {}", path.display(), error.message()))?;
    let mut ours = toml::Table::new();
    ours.insert("name".to_owned(), name.into());
    ours.insert("url".to_owned(), index.with_credentials.as_str().into());
    ours.insert("default".to_owned(), true.into());
    let mut indexes = match root.remove("index") {
        Some(toml::Value::Array(indexes)) => indexes,
        None => Vec::new(),
        Some(_) => {
            return Err(format!(
                "`{}`: `index` is not an array of tables",
                path.display()
            ));
        }
    };
    indexes.retain(|entry| entry.get("name").and_then(toml::Value::as_str) != Some(name));
    for entry in &mut indexes {
        if let Some(table) = entry.as_table_mut() {
            table.remove("default");
        }
    }
    indexes.insert(0, toml::Value::Table(ours));
    root.insert("index".to_owned(), toml::Value::Array(indexes));
    let text = toml::to_string(&root).map_err(|error| error.to_string())?;
    files::write_private(&path, &text)?;
    Ok(vec![path])
}

/// twine: a repository `name` in `~/.pypirc`, listed in `[distutils] index-servers`.
fn twine(index: &Index, places: &Places, name: &str) -> Result<Vec<PathBuf>, String> {
    let path = places.home.join(".pypirc");
    let mut text = files::read_or_empty(&path)?;
    let servers = files::ini_get(&text, "distutils", "index-servers").unwrap_or_default();
    let mut listed: Vec<&str> = servers.split_whitespace().collect();
    if !listed.contains(&name) {
        listed.push(name);
    }
    let value = format!("\n{}", listed.join("\n"));
    text = files::ini_set(&text, "distutils", "index-servers", &value);
    text = files::ini_set(&text, name, "repository", index.bare.as_str());
    text = files::ini_set(&text, name, "username", &index.username);
    text = files::ini_set(&text, name, "password", index.password.expose());
    files::write_private(&path, &text)?;
    Ok(vec![path])
}

/// poetry: `repositories.<name>.url` in `config.toml` and `http-basic.<name>` in `auth.toml`
/// of `<config>/pypoetry`.
fn poetry(index: &Index, places: &Places, name: &str) -> Result<Vec<PathBuf>, String> {
    let directory = places.config.join("pypoetry");
    let config = directory.join("config.toml");
    let text = files::read_or_empty(&config)?;
    let text = files::toml_set(
        &text,
        &["repositories", name, "url"],
        index.bare.as_str().into(),
    )
    .map_err(|reason| format!("`{}`: {reason}", config.display()))?;
    files::write_private(&config, &text)?;
    let auth = directory.join("auth.toml");
    let mut text = files::read_or_empty(&auth)?;
    for (key, value) in [
        ("username", index.username.as_str()),
        ("password", index.password.expose()),
    ] {
        text = files::toml_set(&text, &["http-basic", name, key], value.into())
            .map_err(|reason| format!("`{}`: {reason}", auth.display()))?;
    }
    files::write_private(&auth, &text)?;
    Ok(vec![config, auth])
}

/// `export` lines for every client; the JSON holds the same variables.
fn environment(index: &Index, name: &str) -> Report {
    let upper = name.to_ascii_uppercase().replace('-', "_");
    let variables = [
        (
            "PIP_INDEX_URL".to_owned(),
            index.with_credentials.to_string(),
        ),
        (
            "UV_DEFAULT_INDEX".to_owned(),
            index.with_credentials.to_string(),
        ),
        ("TWINE_REPOSITORY_URL".to_owned(), index.bare.to_string()),
        ("TWINE_USERNAME".to_owned(), index.username.clone()),
        (
            "TWINE_PASSWORD".to_owned(),
            index.password.expose().to_owned(),
        ),
        (
            format!("POETRY_REPOSITORIES_{upper}_URL"),
            index.bare.to_string(),
        ),
        (
            format!("POETRY_HTTP_BASIC_{upper}_USERNAME"),
            index.username.clone(),
        ),
        (
            format!("POETRY_HTTP_BASIC_{upper}_PASSWORD"),
            index.password.expose().to_owned(),
        ),
    ];
    let text = variables
        .iter()
        .map(|(key, value)| format!("export {key}='{}'", value.replace('\'', "'\\''")))
        .collect::<Vec<_>>()
        .join("\n");
    let json = variables
        .into_iter()
        .map(|(key, value)| (key, serde_json::Value::String(value)))
        .collect::<serde_json::Map<_, _>>();
    Report {
        text,
        json: serde_json::Value::Object(json),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_urls_and_their_registry() {
        let url = parse_index_url("http://127.0.0.1:8080/ghcr.io/acme/python").unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:8080/ghcr.io/acme/python/");
        assert_eq!(registry_segment(&url).unwrap(), "ghcr.io");
        let encoded =
            parse_index_url("https://pypi.example.com/http%3A%2F%2F10.0.0.5%3A5000/team/").unwrap();
        assert_eq!(registry_segment(&encoded).unwrap(), "10.0.0.5:5000");
        assert_eq!(
            parse_index_url("https://u:p@h/ghcr.io/x/").unwrap_err(),
            "`--index-url https://***@h/ghcr.io/x/` must carry no credentials or query: give them with --username and --password"
        );
        assert!(parse_index_url("ftp://h/x/").is_err());
        assert!(parse_index_url("not a url").is_err());
        assert!(registry_segment(&parse_index_url("https://h/").unwrap()).is_err());
        assert!(check_name("oci-pypi").is_ok());
        assert!(check_name("a b").is_err());
    }

    #[test]
    fn environment_lines_are_shell_quoted() {
        let bare = url::Url::parse("http://127.0.0.1:1/r/ns/").unwrap();
        let mut with_credentials = bare.clone();
        with_credentials.set_username("bob").unwrap();
        with_credentials.set_password(Some("it%27s")).unwrap();
        let index = Index {
            bare,
            with_credentials,
            username: "bob".to_owned(),
            password: Secret::new("it's".to_owned()),
        };
        let report = environment(&index, "oci-pypi");
        assert!(
            report.text.contains("export TWINE_PASSWORD='it'\\''s'"),
            "{}",
            report.text
        );
        assert!(
            report
                .text
                .contains("export PIP_INDEX_URL='http://bob:it%27s@127.0.0.1:1/r/ns/'"),
            "{}",
            report.text
        );
        assert_eq!(report.json["POETRY_HTTP_BASIC_OCI_PYPI_USERNAME"], "bob");
    }
}
