//! Snapshot tests of the rendered pages.

use super::*;
use crate::index::Release;
use crate::layout::{ProjectUrls, StoredFile};
use crate::packaging::{DistKind, Sha256, Version};
use crate::storage::Digest;

fn file(filename: &str, requires_python: Option<&str>, yanked: Option<&str>) -> StoredFile {
    let core_metadata = filename
        .ends_with(".whl")
        .then(|| Sha256::parse(&"cd".repeat(32)).unwrap());
    StoredFile {
        filename: filename.to_owned(),
        sha256: Sha256::parse(&"ab".repeat(32)).unwrap(),
        size: Some(10),
        uploaded: Some("2024-11-20T20:23:36Z".to_owned()),
        requires_python: requires_python.map(str::to_owned),
        project_urls: ProjectUrls::recorded(r#"{"Homepage":"https://x"}"#),
        yanked: yanked.map(str::to_owned),
        core_metadata,
        provenance: None,
        manifest: Digest::of(b"m"),
        kind: if filename.ends_with(".whl") {
            DistKind::Wheel
        } else {
            DistKind::Sdist
        },
        promoted: None,
    }
}

fn page() -> ProjectPage {
    ProjectPage {
        renders: crate::renders::Renders::default(),
        status: StatusMarker::default(),
        name: ProjectName::parse("Hello_World").unwrap(),
        releases: vec![
            Release {
                version: Version::parse("1.0").unwrap(),
                files: vec![file("hello_world-1.0.tar.gz", None, Some(""))].into(),
            },
            Release {
                version: Version::parse("2.0+local.1").unwrap(),
                files: vec![file(
                    "hello_world-2.0+local.1-py3-none-any.whl",
                    Some(">=3.8,<4"),
                    Some("broken <build>"),
                )]
                .into(),
            },
        ],
    }
}

#[test]
fn html_snapshot() {
    let sha = "ab".repeat(32);
    let meta = "cd".repeat(32);
    let expected = format!(
        r#"<!DOCTYPE html>
<html>
  <head>
    <meta name="pypi:repository-version" content="1.4">
    <title>Links for hello-world</title>
  </head>
  <body>
    <h1>Links for hello-world</h1>
    <a href="hello_world-1.0.tar.gz#sha256={sha}" data-yanked="" data-size="10" data-upload-time="2024-11-20T20:23:36Z">hello_world-1.0.tar.gz</a><br>
    <a href="hello_world-2.0+local.1-py3-none-any.whl#sha256={sha}" data-requires-python="&gt;=3.8,&lt;4" data-core-metadata="sha256={meta}" data-dist-info-metadata="sha256={meta}" data-yanked="broken &lt;build&gt;" data-size="10" data-upload-time="2024-11-20T20:23:36Z">hello_world-2.0+local.1-py3-none-any.whl</a><br>
  </body>
</html>
"#
    );
    assert_eq!(render_project_html(&page()), expected);
}

#[test]
fn json_snapshot() {
    let sha = "ab".repeat(32);
    let expected = json!({
        "meta": { "api-version": "1.4" },
        "name": "hello-world",
        "versions": ["1.0", "2.0+local.1"],
        "files": [
            {
                "filename": "hello_world-1.0.tar.gz",
                "url": "hello_world-1.0.tar.gz",
                "hashes": { "sha256": sha },
                "requires-python": null,
                "size": 10,
                "upload-time": "2024-11-20T20:23:36Z",
                "yanked": true,
                "core-metadata": false,
                "provenance": null,
            },
            {
                "filename": "hello_world-2.0+local.1-py3-none-any.whl",
                "url": "hello_world-2.0+local.1-py3-none-any.whl",
                "hashes": { "sha256": sha },
                "requires-python": ">=3.8,<4",
                "size": 10,
                "upload-time": "2024-11-20T20:23:36Z",
                "yanked": "broken <build>",
                "core-metadata": { "sha256": "cd".repeat(32) },
                "provenance": null,
            },
        ],
        "project-status": { "status": "active" },
    });
    let rendered = render_project_json(&page());
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&rendered).unwrap(),
        expected
    );
    // Byte for byte what a `Value` writes (compact, keys sorted): the same as before the
    // page was serialized without one, so its ETag did not change.
    assert_eq!(rendered, expected.to_string());
}

#[test]
fn escaping_replaces_the_five_characters_and_keeps_the_rest() {
    assert_eq!(
        escape("a&b<c>d\"e'f é—g&&"),
        "a&amp;b&lt;c&gt;d&quot;e&#x27;f é—g&amp;&amp;"
    );
    assert_eq!(escape(""), "");
    assert_eq!(escape("plain"), "plain");
    assert_eq!(escape("<"), "&lt;");
}

#[test]
fn status_snapshots() {
    use crate::packaging::ProjectStatus;
    let archived = page().with_status(StatusMarker::new(ProjectStatus::Archived, "moved to <b>"));
    let html = render_project_html(&archived);
    assert!(
        html.contains(concat!(
            "    <meta name=\"pypi:repository-version\" content=\"1.4\">\n",
            "    <meta name=\"pypi:project-status\" content=\"archived\">\n",
            "    <meta name=\"pypi:project-status-reason\" content=\"moved to &lt;b&gt;\">\n",
            "    <title>"
        )),
        "{html}"
    );
    assert_eq!(html.matches("<a href=").count(), 2, "{html}");
    let json: serde_json::Value = serde_json::from_str(&render_project_json(&archived)).unwrap();
    assert_eq!(
        json["project-status"],
        json!({ "status": "archived", "reason": "moved to <b>" })
    );
    assert_eq!(json["files"].as_array().unwrap().len(), 2);

    let quarantined = page().with_status(StatusMarker::new(ProjectStatus::Quarantined, ""));
    let html = render_project_html(&quarantined);
    assert!(html.contains("<meta name=\"pypi:project-status\" content=\"quarantined\">"));
    assert!(!html.contains("pypi:project-status-reason"), "{html}");
    assert!(!html.contains("<a "), "{html}");
    let json: serde_json::Value = serde_json::from_str(&render_project_json(&quarantined)).unwrap();
    assert_eq!(json["project-status"], json!({ "status": "quarantined" }));
    assert_eq!(json["files"], json!([]));
    assert_eq!(json["versions"], json!(["1.0", "2.0+local.1"]));
    let releases: serde_json::Value =
        serde_json::from_str(&render_releases_json(&quarantined, "/x/")).unwrap();
    assert_eq!(releases["releases"]["1.0"], json!([]));
    assert_eq!(releases["urls"], json!([]));
    // The default status adds no meta tag.
    assert!(!render_project_html(&page()).contains("project-status"));
}

fn projects() -> Vec<ProjectName> {
    ["Hello_World", "zope.interface"]
        .into_iter()
        .map(|name| ProjectName::parse(name).unwrap())
        .collect()
}

#[test]
fn list_html_snapshot() {
    let expected = r#"<!DOCTYPE html>
<html>
  <head>
    <meta name="pypi:repository-version" content="1.4">
    <title>Simple index</title>
  </head>
  <body>
    <h1>Simple index</h1>
    <a href="hello-world/">hello-world</a><br>
    <a href="zope-interface/">zope-interface</a><br>
  </body>
</html>
"#;
    assert_eq!(render_list_html(&projects()), expected);
}

#[test]
fn list_json_snapshot() {
    let expected = json!({
        "meta": { "api-version": "1.4" },
        "projects": [{ "name": "hello-world" }, { "name": "zope-interface" }],
    });
    assert_eq!(render_list_json(&projects()), expected);
}

#[test]
fn empty_list_snapshots() {
    assert!(render_list_html(&[]).ends_with("<h1>Simple index</h1>\n  </body>\n</html>\n"));
    assert_eq!(
        render_list_json(&[]),
        json!({ "meta": { "api-version": "1.4" }, "projects": [] })
    );
}

#[test]
fn releases_json_shape() {
    let rendered = render_releases_json(&page(), "/r/ns/hello-world/");
    let value: serde_json::Value = serde_json::from_str(&rendered).unwrap();
    // Byte for byte what a `Value` writes (compact, keys sorted), as before it was written
    // without one.
    assert_eq!(rendered, value.to_string());
    assert_eq!(value["vulnerabilities"], json!([]));
    let keys = |value: &serde_json::Value| {
        value
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        keys(&value),
        ["info", "releases", "urls", "vulnerabilities"]
    );
    assert_eq!(
        keys(&value["info"]),
        [
            "name",
            "project_urls",
            "requires_python",
            "version",
            "yanked"
        ]
    );
    assert_eq!(
        keys(&value["urls"][0]),
        [
            "digests",
            "filename",
            "packagetype",
            "python_version",
            "requires_python",
            "size",
            "upload_time",
            "upload_time_iso_8601",
            "url",
            "yanked",
            "yanked_reason"
        ]
    );
    assert_eq!(value["urls"][0]["size"], 10);
    assert_eq!(value["urls"][0]["python_version"], "py3");
    assert_eq!(
        value["urls"][0]["digests"],
        json!({ "sha256": "ab".repeat(32) })
    );
    assert_eq!(
        value["releases"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["1.0", "2.0+local.1"]
    );
    assert_eq!(value["info"]["name"], "hello-world");
    // 2.0+local.1 is the newest but wholly yanked: 1.0 is yanked too, so the newest stays.
    assert_eq!(value["info"]["version"], "2.0+local.1");
    assert_eq!(value["info"]["project_urls"]["Homepage"], "https://x");
    let file = &value["releases"]["1.0"][0];
    assert_eq!(file["url"], "/r/ns/hello-world/hello_world-1.0.tar.gz");
    assert_eq!(file["packagetype"], "sdist");
    assert_eq!(file["python_version"], "source");
    assert_eq!(file["upload_time"], "2024-11-20T20:23:36");
    assert_eq!(file["upload_time_iso_8601"], "2024-11-20T20:23:36Z");
    assert_eq!(file["yanked"], true);
    assert_eq!(file["yanked_reason"], serde_json::Value::Null);
    assert_eq!(value["urls"][0]["packagetype"], "bdist_wheel");
    assert_eq!(value["urls"][0]["requires_python"], ">=3.8,<4");
    assert_eq!(value["urls"][0]["yanked_reason"], "broken <build>");
}

#[test]
fn escapes_html() {
    assert_eq!(
        escape(r#"<a href="x">'&'</a>"#),
        "&lt;a href=&quot;x&quot;&gt;&#x27;&amp;&#x27;&lt;/a&gt;"
    );
}
