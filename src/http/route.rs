//! The URL scheme, parsed from the raw request path. PyOCI-compatible:
//!
//! | method | path | meaning |
//! |---|---|---|
//! | GET | `/<registry>/<namespace>/<project>/` | project page (PEP 503) |
//! | GET | `/<registry>/<namespace>/<project>/<filename>` | file |
//! | GET | `/<registry>/<namespace>/<project>/<filename>.metadata` | core metadata (PEP 658) |
//! | GET | `/<registry>/<namespace>/<project>/<filename>.provenance` | provenance (PEP 740) |
//! | GET | `/<registry>/<namespace>/<project>/json` | releases JSON (PyPI JSON API shape) |
//! | DELETE | `/<registry>/<namespace>/<project>/<filename>` | delete a file |
//! | DELETE | `/<registry>/<namespace>/<project>/<version>` | delete a release |
//! | POST | `/<registry>/<namespace>/` or `.../legacy/` | upload (legacy API) |
//! | GET | `/<registry>/<namespace>/+simple/` | all projects (PEP 503 root) |
//! | GET | `/<registry>/<namespace>/+simple/<project>/` | project page, under that root |
//!
//! | POST, DELETE | `/<registry>/<namespace>/+yank/<project>/<version or filename>` | yank, un-yank (PEP 592) |
//! | POST | `/<registry>/<namespace>/+status/<project>` | set the project status (PEP 792; `status`, `reason`) |
//! | POST | `/<registry>/<namespace>/+promote/<project>/<version or filename>` | promote (`to=<registry>/<namespace>`) |
//! | GET | `/_/oidc/audience` | trusted publishing audience |
//! | POST | `/_/oidc/mint-token` | OIDC token → upload token (trusted publishing) |
//! | POST | `/_/oidc/github/mint-token` | the same (PyPI's URL, used by gh-action-pypi-publish and pdm) |
//!
//! `<namespace>` has one or more segments. `+simple` cannot be a project name, so the project
//! list never collides with a project page. Every segment is percent-decoded; the registry
//! segment may be a host (`ghcr.io`) or a percent-encoded origin (`http%3A%2F%2Fhost%3A5000`).

use http::Method;

use crate::index::{Index, IndexError, Location, ReleaseRef};
use crate::packaging::{DistFilename, ProjectName};

/// The reserved segment of the project list (never a valid project name).
pub const SIMPLE_SEGMENT: &str = "+simple";
/// The reserved segment of the yank API.
pub const YANK_SEGMENT: &str = "+yank";
/// The reserved segment of the project status API.
pub const STATUS_SEGMENT: &str = "+status";
/// The reserved segment of the promotion API.
pub const PROMOTE_SEGMENT: &str = "+promote";
/// Where the trusted publishing endpoints live, at the host root and under the subpath.
pub const OIDC_PREFIX: &str = "/_/oidc/";

/// What a request is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/`
    Root,
    /// `/health`: liveness.
    Health,
    /// `/ready`: the configured registries answer.
    Ready,
    /// `/metrics`: Prometheus metrics.
    Metrics,
    /// `GET /_/oidc/audience`: the audience of trusted publishing.
    OidcAudience,
    /// `POST /_/oidc/mint-token`: an OIDC token exchanged for an upload token.
    MintToken,
    /// All projects of a namespace.
    ProjectList(Scope),
    /// One project's page.
    ProjectPage(ProjectPath),
    /// A project page asked for without its trailing slash.
    AddSlash,
    /// A project's releases as JSON.
    ReleasesJson(ProjectPath),
    /// One file of a project.
    File(FilePath),
    /// The core metadata of one file (PEP 658): `<filename>.metadata`.
    Metadata(FilePath),
    /// The provenance of one file (PEP 740): `<filename>.provenance`.
    Provenance(FilePath),
    /// One release of a project (DELETE only).
    Version(TargetPath),
    /// An upload.
    Upload(Scope),
    /// Yank (POST) or un-yank (DELETE) a release or a file.
    Yank(TargetPath),
    /// Promote a release or a file (POST).
    Promote(TargetPath),
    /// Set a project's status (POST; PEP 792).
    Status(ProjectPath),
}

impl Route {
    /// A low-cardinality name for metrics and logs.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Self::Root => "root",
            Self::Health => "health",
            Self::Ready => "ready",
            Self::Metrics => "metrics",
            Self::OidcAudience => "oidc_audience",
            Self::MintToken => "mint_token",
            Self::ProjectList(_) => "project_list",
            Self::ProjectPage(..) => "project_page",
            Self::AddSlash => "redirect",
            Self::ReleasesJson(..) => "releases_json",
            Self::File(..) => "file",
            Self::Metadata(..) => "metadata",
            Self::Provenance(..) => "provenance",
            Self::Version(..) => "version",
            Self::Upload(_) => "upload",
            Self::Yank(..) => "yank",
            Self::Promote(..) => "promote",
            Self::Status(..) => "status",
        }
    }
}

impl Route {
    /// The registry and namespace the request is about, if any.
    #[must_use]
    pub fn scope(&self) -> Option<&Scope> {
        match self {
            Self::ProjectList(scope) | Self::Upload(scope) => Some(scope),
            Self::ProjectPage(path) | Self::ReleasesJson(path) | Self::Status(path) => {
                Some(&path.scope)
            }
            Self::File(path) | Self::Metadata(path) | Self::Provenance(path) => Some(&path.scope),
            Self::Version(path) | Self::Yank(path) | Self::Promote(path) => Some(&path.scope),
            Self::Root
            | Self::Health
            | Self::Ready
            | Self::Metrics
            | Self::OidcAudience
            | Self::MintToken
            | Self::AddSlash => None,
        }
    }
}

/// Registry and namespace, as written in the URL (decoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// The registry segment.
    pub registry: String,
    /// The namespace, segments joined with `/`.
    pub namespace: String,
}

/// A project of a namespace, as the URL names it (decoded, not yet checked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectPath {
    /// Registry and namespace.
    pub scope: Scope,
    /// The project name.
    pub project: String,
}

/// One file of a project, as the URL names it (decoded, not yet checked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePath {
    /// Registry and namespace.
    pub scope: Scope,
    /// The project name.
    pub project: String,
    /// The distribution filename.
    pub filename: String,
}

/// A release or one file of a project, as the URL names it after the project (a version or
/// a filename; decoded, not yet checked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetPath {
    /// Registry and namespace.
    pub scope: Scope,
    /// The project name.
    pub project: String,
    /// A version, or a filename.
    pub target: String,
}

impl Scope {
    /// The namespace the scope names, located.
    ///
    /// # Errors
    /// A registry that may not be reached; an invalid namespace.
    pub fn locate(&self, index: &Index) -> Result<Location, IndexError> {
        index.locate(&self.registry, &self.namespace)
    }

    /// The namespace located and `project` checked.
    ///
    /// # Errors
    /// As [`Scope::locate`]; an invalid project name.
    fn locate_project(
        &self,
        index: &Index,
        project: &str,
    ) -> Result<(Location, ProjectName), IndexError> {
        Ok((self.locate(index)?, ProjectName::parse(project)?))
    }
}

impl ProjectPath {
    /// The namespace located and the project name checked.
    ///
    /// # Errors
    /// As [`Scope::locate`]; an invalid project name.
    pub fn resolve(&self, index: &Index) -> Result<(Location, ProjectName), IndexError> {
        self.scope.locate_project(index, &self.project)
    }
}

impl FilePath {
    /// The namespace located and the project name checked (the filename is the index's to
    /// check: an upstream may offer names this server would not parse).
    ///
    /// # Errors
    /// As [`Scope::locate`]; an invalid project name.
    pub fn resolve(&self, index: &Index) -> Result<(Location, ProjectName), IndexError> {
        self.scope.locate_project(index, &self.project)
    }

    /// The namespace located and the file as a release reference.
    ///
    /// # Errors
    /// As [`FilePath::resolve`]; a malformed filename or one of another project.
    pub fn release(&self, index: &Index) -> Result<(Location, ReleaseRef), IndexError> {
        let (location, project) = self.resolve(index)?;
        let filename = DistFilename::parse(&self.filename)?;
        Ok((location, ReleaseRef::file(&project, filename)?))
    }
}

impl TargetPath {
    /// The namespace located and the target (a version or a filename) as a release
    /// reference.
    ///
    /// # Errors
    /// As [`Scope::locate`]; an invalid project name, version or filename.
    pub fn release(&self, index: &Index) -> Result<(Location, ReleaseRef), IndexError> {
        let (location, project) = self.scope.locate_project(index, &self.project)?;
        Ok((location, ReleaseRef::parse(&project, &self.target)?))
    }
}

/// Why a path does not route.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// A `%` not followed by two hex digits, or bytes that are not UTF-8.
    #[error("malformed percent-encoding in path segment `{0}`")]
    BadEncoding(String),
    /// Nothing lives at this path.
    #[error("no such page: `{0}`")]
    NotFound(String),
    /// The path exists but not for this method.
    #[error("method {0} is not allowed here")]
    MethodNotAllowed(Method),
}

/// Parses a raw (still percent-encoded) request path, already stripped of the subpath prefix.
///
/// # Errors
/// [`RouteError`] for malformed encoding, unknown paths and wrong methods.
pub fn parse(method: &Method, raw_path: &str) -> Result<Route, RouteError> {
    let trailing_slash = raw_path.len() > 1 && raw_path.ends_with('/');
    let trimmed = raw_path.trim_start_matches('/').trim_end_matches('/');
    if trimmed.is_empty() {
        return Ok(Route::Root);
    }
    let mut segments = trimmed
        .split('/')
        .map(decode)
        .collect::<Result<Vec<String>, RouteError>>()?;
    join_decoded_origin(&mut segments);
    match segments.as_slice() {
        [only] if only == "health" => return Ok(Route::Health),
        [only] if only == "ready" => return Ok(Route::Ready),
        [only] if only == "metrics" => return Ok(Route::Metrics),
        [underscore, oidc, endpoint] if underscore == "_" && oidc == "oidc" => {
            return oidc_route(method, endpoint, raw_path);
        }
        [underscore, oidc, github, endpoint]
            if underscore == "_" && oidc == "oidc" && github == "github" =>
        {
            return oidc_route(method, &format!("github/{endpoint}"), raw_path);
        }
        _ => {}
    }
    let not_found = || RouteError::NotFound(raw_path.chars().take(200).collect());
    if segments.len() < 2 {
        return Err(not_found());
    }
    let is_action = |s: &String| s == YANK_SEGMENT || s == PROMOTE_SEGMENT || s == STATUS_SEGMENT;
    if let Some(position) = segments.iter().position(is_action) {
        return action(method, &segments, position).ok_or_else(not_found);
    }
    match *method {
        Method::POST => Ok(Route::Upload(upload_scope(&segments))),
        Method::GET | Method::HEAD if trailing_slash => Ok(page(&segments)),
        Method::GET | Method::HEAD => leaf(&segments, false).ok_or_else(not_found),
        Method::DELETE => leaf(&segments, true).ok_or_else(not_found),
        _ => Err(RouteError::MethodNotAllowed(method.clone())),
    }
}

/// `/_/oidc/audience` (GET) and `/_/oidc/mint-token` (POST), also as
/// `/_/oidc/github/mint-token`, where pypa/gh-action-pypi-publish and pdm exchange tokens
/// (PyPI's URL).
fn oidc_route(method: &Method, endpoint: &str, raw_path: &str) -> Result<Route, RouteError> {
    match (endpoint, method) {
        ("audience", &Method::GET | &Method::HEAD) => Ok(Route::OidcAudience),
        ("mint-token" | "github/mint-token", &Method::POST) => Ok(Route::MintToken),
        ("audience" | "mint-token" | "github/mint-token", _) => {
            Err(RouteError::MethodNotAllowed(method.clone()))
        }
        _ => Err(RouteError::NotFound(raw_path.chars().take(200).collect())),
    }
}

/// A proxy that decoded `%2F` turns `http%3A%2F%2Fhost` into `http:` `` `host`: join them back.
fn join_decoded_origin(segments: &mut Vec<String>) {
    let is_scheme = segments
        .first()
        .is_some_and(|s| s == "http:" || s == "https:");
    if is_scheme && segments.len() > 2 && segments.get(1).is_some_and(String::is_empty) {
        let scheme = segments.remove(0);
        segments.remove(0);
        if let Some(host) = segments.first_mut() {
            *host = format!("{scheme}//{host}");
        }
    }
}

fn scope(segments: &[String]) -> Scope {
    Scope {
        registry: segments.first().cloned().unwrap_or_default(),
        namespace: segments.get(1..).unwrap_or_default().join("/"),
    }
}

fn upload_scope(segments: &[String]) -> Scope {
    let end = match segments.last() {
        Some(last) if last == "legacy" && segments.len() > 2 => segments.len() - 1,
        _ => segments.len(),
    };
    scope(segments.get(..end).unwrap_or_default())
}

/// `/<registry>/<namespace>/+yank|+promote/<project>/<target>`.
fn action(method: &Method, segments: &[String], position: usize) -> Option<Route> {
    if segments.get(position)? == STATUS_SEGMENT {
        // `/<registry>/<namespace>/+status/<project>`
        let project = segments.get(position + 1)?.clone();
        let valid = position >= 2 && segments.len() == position + 2 && method == Method::POST;
        let scope = scope(segments.get(..position).unwrap_or_default());
        return valid.then_some(Route::Status(ProjectPath { scope, project }));
    }
    if position < 2 || segments.len() != position + 3 {
        return None;
    }
    let project = segments.get(position + 1)?.clone();
    let target = segments.get(position + 2)?.clone();
    let scope = scope(segments.get(..position)?);
    let path = TargetPath {
        scope,
        project,
        target,
    };
    match (segments.get(position)?.as_str(), method) {
        (YANK_SEGMENT, &Method::POST | &Method::DELETE) => Some(Route::Yank(path)),
        (PROMOTE_SEGMENT, &Method::POST) => Some(Route::Promote(path)),
        _ => None,
    }
}

/// Paths ending in `/`: the project list or a project page.
fn page(segments: &[String]) -> Route {
    let n = segments.len();
    let last = segments.last().cloned().unwrap_or_default();
    let before_last = segments.get(n.saturating_sub(2)).map(String::as_str);
    if n == 2 || (n >= 3 && last == SIMPLE_SEGMENT) {
        let end = if last == SIMPLE_SEGMENT { n - 1 } else { n };
        return Route::ProjectList(scope(segments.get(..end).unwrap_or_default()));
    }
    let end = if n >= 4 && before_last == Some(SIMPLE_SEGMENT) {
        n - 2
    } else {
        n - 1
    };
    Route::ProjectPage(ProjectPath {
        scope: scope(segments.get(..end).unwrap_or_default()),
        project: last,
    })
}

/// Paths without a trailing `/`: a file, the JSON, a release (DELETE), or a page to redirect.
fn leaf(segments: &[String], delete: bool) -> Option<Route> {
    let n = segments.len();
    let last = segments.last()?.clone();
    if n < 4 {
        return (!delete).then_some(Route::AddSlash);
    }
    let project = segments.get(n - 2)?.clone();
    let simple_root = n >= 5 && segments.get(n - 3).is_some_and(|s| s == SIMPLE_SEGMENT);
    let end = if simple_root { n - 3 } else { n - 2 };
    let scope = scope(segments.get(..end)?);
    let file = |filename: String| FilePath {
        scope: scope.clone(),
        project: project.clone(),
        filename,
    };
    if is_distribution_filename(&last) {
        return Some(Route::File(file(last)));
    }
    if let Some(name) = last
        .strip_suffix(".metadata")
        .filter(|f| is_distribution_filename(f))
    {
        return (!delete).then(|| Route::Metadata(file(name.to_owned())));
    }
    if let Some(name) = last
        .strip_suffix(".provenance")
        .filter(|f| is_distribution_filename(f))
    {
        return (!delete).then(|| Route::Provenance(file(name.to_owned())));
    }
    if delete {
        return Some(Route::Version(TargetPath {
            scope,
            project,
            target: last,
        }));
    }
    if last == "json" {
        return Some(Route::ReleasesJson(ProjectPath { scope, project }));
    }
    Some(Route::AddSlash)
}

/// Whether a segment names a distribution file rather than a project or a version.
#[must_use]
pub fn is_distribution_filename(segment: &str) -> bool {
    [".whl", ".tar.gz", ".zip"]
        .iter()
        .any(|ext| segment.ends_with(ext))
}

/// Strict percent-decoding: every `%` must start a valid escape, the result must be UTF-8.
fn decode(segment: &str) -> Result<String, RouteError> {
    let bad = || RouteError::BadEncoding(segment.chars().take(200).collect());
    let bytes = segment.as_bytes();
    for (i, byte) in bytes.iter().enumerate() {
        if *byte == b'%' {
            let escape = bytes.get(i + 1..i + 3).ok_or_else(bad)?;
            if !escape.iter().all(u8::is_ascii_hexdigit) {
                return Err(bad());
            }
        }
    }
    percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .map(std::borrow::Cow::into_owned)
        .map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(registry: &str, namespace: &str) -> Scope {
        Scope {
            registry: registry.to_owned(),
            namespace: namespace.to_owned(),
        }
    }

    fn project_path(scope: Scope, project: &str) -> ProjectPath {
        ProjectPath {
            scope,
            project: project.to_owned(),
        }
    }

    fn file_path(scope: Scope, project: &str, filename: &str) -> FilePath {
        FilePath {
            scope,
            project: project.to_owned(),
            filename: filename.to_owned(),
        }
    }

    fn target_path(scope: Scope, project: &str, target: &str) -> TargetPath {
        TargetPath {
            scope,
            project: project.to_owned(),
            target: target.to_owned(),
        }
    }

    fn get(path: &str) -> Route {
        parse(&Method::GET, path).unwrap()
    }

    #[test]
    fn pages_and_lists() {
        assert_eq!(get("/"), Route::Root);
        assert_eq!(get("/health"), Route::Health);
        assert_eq!(
            get("/ghcr.io/org/"),
            Route::ProjectList(scope("ghcr.io", "org"))
        );
        assert_eq!(
            get("/ghcr.io/org/+simple/"),
            Route::ProjectList(scope("ghcr.io", "org"))
        );
        assert_eq!(
            get("/ghcr.io/a/b/c/+simple/"),
            Route::ProjectList(scope("ghcr.io", "a/b/c"))
        );
        assert_eq!(
            get("/ghcr.io/org/hello/"),
            Route::ProjectPage(project_path(scope("ghcr.io", "org"), "hello"))
        );
        assert_eq!(
            get("/ghcr.io/org/team1/python/hello-world/"),
            Route::ProjectPage(project_path(
                scope("ghcr.io", "org/team1/python"),
                "hello-world"
            ))
        );
        assert_eq!(
            get("/ghcr.io/org/+simple/hello/"),
            Route::ProjectPage(project_path(scope("ghcr.io", "org"), "hello"))
        );
        assert_eq!(get("/ghcr.io/org/hello"), Route::AddSlash);
        assert_eq!(get("/ghcr.io/org"), Route::AddSlash);
    }

    #[test]
    fn files_and_json() {
        assert_eq!(
            get("/ghcr.io/org/hello/hello-1.0.tar.gz"),
            Route::File(file_path(
                scope("ghcr.io", "org"),
                "hello",
                "hello-1.0.tar.gz"
            ))
        );
        assert_eq!(
            get("/ghcr.io/a/b/hello/hello-1.0-py3-none-any.whl"),
            Route::File(file_path(
                scope("ghcr.io", "a/b"),
                "hello",
                "hello-1.0-py3-none-any.whl"
            ))
        );
        assert_eq!(
            get("/ghcr.io/org/+simple/hello/hello-1.0.tar.gz"),
            Route::File(file_path(
                scope("ghcr.io", "org"),
                "hello",
                "hello-1.0.tar.gz"
            ))
        );
        assert_eq!(
            get("/ghcr.io/org/hello/hello-1.0-py3-none-any.whl.metadata"),
            Route::Metadata(file_path(
                scope("ghcr.io", "org"),
                "hello",
                "hello-1.0-py3-none-any.whl"
            ))
        );
        assert!(
            parse(
                &Method::DELETE,
                "/ghcr.io/org/hello/hello-1.0-py3-none-any.whl.metadata"
            )
            .is_err()
        );
        assert_eq!(
            get("/ghcr.io/org/hello/json"),
            Route::ReleasesJson(project_path(scope("ghcr.io", "org"), "hello"))
        );
    }

    #[test]
    fn oidc_endpoints() {
        assert_eq!(get("/_/oidc/audience"), Route::OidcAudience);
        assert_eq!(
            parse(&Method::POST, "/_/oidc/mint-token").unwrap(),
            Route::MintToken
        );
        assert_eq!(
            parse(&Method::GET, "/_/oidc/mint-token"),
            Err(RouteError::MethodNotAllowed(Method::GET))
        );
        assert_eq!(
            parse(&Method::POST, "/_/oidc/github/mint-token").unwrap(),
            Route::MintToken
        );
        assert_eq!(
            parse(&Method::GET, "/_/oidc/github/mint-token"),
            Err(RouteError::MethodNotAllowed(Method::GET))
        );
        assert!(matches!(
            parse(&Method::GET, "/_/oidc/other"),
            Err(RouteError::NotFound(_))
        ));
    }

    #[test]
    fn registry_segment_forms() {
        assert_eq!(
            get("/http%3A%2F%2F127.0.0.1%3A5000/org/hello/"),
            Route::ProjectPage(project_path(scope("http://127.0.0.1:5000", "org"), "hello"))
        );
        assert_eq!(
            get("/http://127.0.0.1:5000/org/hello/"),
            Route::ProjectPage(project_path(scope("http://127.0.0.1:5000", "org"), "hello"))
        );
        assert_eq!(
            get("/127.0.0.1:5000/org/hello/"),
            Route::ProjectPage(project_path(scope("127.0.0.1:5000", "org"), "hello"))
        );
    }

    #[test]
    fn uploads_and_deletes() {
        let post = |path| parse(&Method::POST, path).unwrap();
        assert_eq!(
            post("/ghcr.io/org/"),
            Route::Upload(scope("ghcr.io", "org"))
        );
        assert_eq!(post("/ghcr.io/org"), Route::Upload(scope("ghcr.io", "org")));
        assert_eq!(
            post("/ghcr.io/org/legacy/"),
            Route::Upload(scope("ghcr.io", "org"))
        );
        assert_eq!(
            post("/ghcr.io/a/b/legacy"),
            Route::Upload(scope("ghcr.io", "a/b"))
        );
        let delete = |path| parse(&Method::DELETE, path).unwrap();
        assert_eq!(
            delete("/ghcr.io/org/hello/1.0"),
            Route::Version(target_path(scope("ghcr.io", "org"), "hello", "1.0"))
        );
        assert_eq!(
            delete("/ghcr.io/org/hello/hello-1.0.tar.gz"),
            Route::File(file_path(
                scope("ghcr.io", "org"),
                "hello",
                "hello-1.0.tar.gz"
            ))
        );
        assert!(parse(&Method::DELETE, "/ghcr.io/org").is_err());
        assert_eq!(
            parse(&Method::POST, "/ghcr.io/a/b/+yank/hello/1.0").unwrap(),
            Route::Yank(target_path(scope("ghcr.io", "a/b"), "hello", "1.0"))
        );
        assert_eq!(
            delete("/ghcr.io/a/+yank/hello/hello-1.0.tar.gz"),
            Route::Yank(target_path(
                scope("ghcr.io", "a"),
                "hello",
                "hello-1.0.tar.gz"
            ))
        );
        assert!(parse(&Method::GET, "/ghcr.io/a/+yank/hello/1.0").is_err());
        assert!(parse(&Method::POST, "/ghcr.io/+yank/hello/1.0").is_err());
        assert!(parse(&Method::POST, "/ghcr.io/a/+yank/hello").is_err());
        assert_eq!(
            parse(&Method::POST, "/ghcr.io/a/+promote/hello/1.0").unwrap(),
            Route::Promote(target_path(scope("ghcr.io", "a"), "hello", "1.0"))
        );
        assert!(parse(&Method::DELETE, "/ghcr.io/a/+promote/hello/1.0").is_err());
    }

    #[test]
    fn errors() {
        assert_eq!(
            parse(&Method::GET, "/ghcr.io/o%zzrg/x/")
                .unwrap_err()
                .to_string(),
            "malformed percent-encoding in path segment `o%zzrg`"
        );
        assert_eq!(
            parse(&Method::GET, "/ghcr.io/org%/x/")
                .unwrap_err()
                .to_string(),
            "malformed percent-encoding in path segment `org%`"
        );
        assert!(matches!(
            parse(&Method::GET, "/%FF/x/y/"),
            Err(RouteError::BadEncoding(_))
        ));
        assert!(matches!(
            parse(&Method::PUT, "/a/b/c/"),
            Err(RouteError::MethodNotAllowed(_))
        ));
        assert!(matches!(
            parse(&Method::GET, "/favicon.ico"),
            Err(RouteError::NotFound(_))
        ));
    }
}
