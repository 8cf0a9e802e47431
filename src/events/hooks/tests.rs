use super::*;

fn environment(name: &str) -> Option<String> {
    (name == "HOOK_SECRET").then(|| "s3cret\n".to_owned())
}

fn parse_text(text: &str) -> Result<Webhooks, String> {
    parse(text, Path::new("/etc/oci-pypi/webhooks.toml"), &environment).map_err(|e| e.to_string())
}

const PLAIN: &str = r#"
[[webhook]]
namespace = "ghcr.io/acme/staging"
url = "https://hooks.example.com/oci"
secret_env = "HOOK_SECRET"
"#;

#[test]
fn a_minimal_webhook_gets_every_event_and_the_default_delivery() {
    let hooks = parse_text(PLAIN).unwrap();
    assert_eq!(hooks.delivery, DeliverySettings::default());
    let [hook] = hooks.hooks.as_slice() else {
        panic!("one webhook expected");
    };
    assert_eq!(hook.name, "webhook-1");
    assert_eq!(hook.events, EventKind::ALL);
    assert!(!hook.allowed_origin);
    assert!(matches!(hook.preset, Preset::Plain));
    let secret = hook.secret.as_ref().unwrap().read().unwrap();
    assert_eq!(secret.expose(), "s3cret");
    let staging = Place {
        registry: "ghcr.io".to_owned(),
        namespace: "acme/staging".to_owned(),
    };
    let production = Place {
        namespace: "acme/production".to_owned(),
        ..staging.clone()
    };
    assert!(hook.wants(EventKind::Upload, &staging));
    assert!(!hook.wants(EventKind::Upload, &production));
}

#[test]
fn presets_wildcards_and_allowed_origins() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), "ghp_abc\n").unwrap();
    let text = r#"
[delivery]
attempts = 3
backoff_seconds = 0
allow_origins = ["http://127.0.0.1:9000"]

[[webhook]]
name = "dispatch"
namespace = "*"
events = ["upload", "promote"]
url = "https://api.github.com/repos/acme/app/dispatches"
preset = "github"
token_file = "token"
event_type = "promote-package"

[[webhook]]
name = "pipeline"
namespace = "127.0.0.1:5000/team/*"
url = "http://127.0.0.1:9000/api/v4/projects/7/trigger/pipeline"
preset = "gitlab"
token_file = "token"
ref = "main"
"#;
    let hooks = parse(text, &dir.path().join("webhooks.toml"), &environment).unwrap();
    assert_eq!(hooks.delivery.attempts, 3);
    assert_eq!(hooks.delivery.backoff, Duration::ZERO);
    let [github, gitlab] = hooks.hooks.as_slice() else {
        panic!("two webhooks expected");
    };
    let Preset::GitHub { token, event_type } = &github.preset else {
        panic!("{:?}", github.preset);
    };
    assert_eq!(token.read().unwrap().expose(), "ghp_abc");
    assert_eq!(event_type.as_deref(), Some("promote-package"));
    let anywhere = Place {
        registry: "local".to_owned(),
        namespace: "x/y".to_owned(),
    };
    assert!(github.wants(EventKind::Promote, &anywhere));
    assert!(!github.wants(EventKind::Delete, &anywhere));
    assert!(gitlab.allowed_origin);
    let Preset::GitLab { git_ref, .. } = &gitlab.preset else {
        panic!("{:?}", gitlab.preset);
    };
    assert_eq!(git_ref, "main");
    let team = Place {
        registry: "127.0.0.1:5000".to_owned(),
        namespace: "Team/Staging".to_owned(),
    };
    assert!(gitlab.wants(EventKind::Yank, &team));
    assert!(!gitlab.wants(
        EventKind::Yank,
        &Place {
            namespace: "other/staging".to_owned(),
            ..team
        }
    ));
}

/// Every mistake is named with its line and field.
#[test]
fn errors_name_the_line_and_the_field() {
    let cases: &[(&str, &str)] = &[
        (
            "[[webhook]]\nnamespace = \"*\"\nurl = \"http://hooks.example.com/\"\nsecret_env = \"HOOK_SECRET\"\n",
            "line 3: `url`: `http://hooks.example.com/` must be https (or its origin listed in `[delivery] allow_origins`)",
        ),
        (
            "[[webhook]]\nnamespace = \"*\"\nurl = \"https://169.254.169.254/latest\"\nsecret_env = \"HOOK_SECRET\"\n",
            "line 3: `url`: `https://169.254.169.254/latest` is a private, loopback or link-local address: list its origin in `[delivery] allow_origins` to allow it",
        ),
        (
            "[[webhook]]\nnamespace = \"*\"\nurl = \"https://user:pw@hooks.example.com/\"\nsecret_env = \"HOOK_SECRET\"\n",
            "line 3: `url`: `https://***@hooks.example.com/` carries credentials: give them with `token_file` or `secret_file`",
        ),
        (
            "[[webhook]]\nnamespace = \"*\"\nurl = \"https://hooks.example.com/\"\nevents = [\"uploaded\"]\nsecret_env = \"HOOK_SECRET\"\n",
            "line 4: `events`: `uploaded` is not an event: use `upload`, `yank`, `unyank`, `delete`, `promote` or `*`",
        ),
        (
            "[[webhook]]\nnamespace = \"staging\"\nurl = \"https://hooks.example.com/\"\nsecret_env = \"HOOK_SECRET\"\n",
            "line 2: `namespace`: `staging` is not `<registry>/<namespace>` (such as `ghcr.io/acme/staging` or `local/team`) nor `*`",
        ),
        (
            "[[webhook]]\nnamespace = \"*\"\nurl = \"https://hooks.example.com/\"\nsecret_env = \"MISSING\"\n",
            "line 4: `secret_env`: the variable `MISSING` is not set or empty",
        ),
        (
            "[[webhook]]\nnamespace = \"*\"\nurl = \"https://hooks.example.com/\"\n",
            "line 3: `secret_file`: a plain webhook needs `secret_file` or `secret_env`: deliveries are signed",
        ),
        (
            "[[webhook]]\nnamespace = \"*\"\nurl = \"https://api.github.com/\"\npreset = \"github\"\n",
            "line 3: `token_file`: `preset = \"github\"` needs `token_file` or `token_env`",
        ),
        (
            "[[webhook]]\nnamespace = \"*\"\nurl = \"https://hooks.example.com/\"\npreset = \"jenkins\"\n",
            "line 4: `preset`: `jenkins` is not a preset: use `plain`, `github` or `gitlab`",
        ),
        (
            "[delivery]\nattempts = 0\n[[webhook]]\nnamespace = \"*\"\nurl = \"https://hooks.example.com/\"\nsecret_env = \"HOOK_SECRET\"\n",
            "line 2: `attempts`: `0` is not between 1 and 100",
        ),
        (
            "[delivery]\nallow_origins = [\"ftp://x\"]\n[[webhook]]\nnamespace = \"*\"\nurl = \"https://h.example.com/\"\nsecret_env = \"HOOK_SECRET\"\n",
            "line 2: `allow_origins`: `ftp://x`: the scheme must be `http` or `https`",
        ),
        (
            "[[webhook]]\nnamespace = \"*\"\nurl = \"https://hooks.example.com/\"\nsecret_file = \"/nonexistent/oci-pypi-secret\"\n",
            "line 4: `secret_file`: cannot read `/nonexistent/oci-pypi-secret`: No such file or directory (os error 2)",
        ),
        (
            "[delivery]\nqueue = 5\n",
            "it has no `[[webhook]]`: add at least one, or remove --webhooks",
        ),
    ];
    for (text, expected) in cases {
        let error = parse_text(text).unwrap_err();
        assert_eq!(
            error,
            format!("webhooks file `/etc/oci-pypi/webhooks.toml`: {expected}"),
            "{text}"
        );
    }
}

#[test]
fn syntax_errors_and_unknown_fields_name_the_line() {
    let unknown = parse_text(
        "[[webhook]]\nnamespace = \"*\"\nurl = \"https://hooks.example.com/\"\nsecrets_env = \"X\"\n",
    )
    .unwrap_err();
    assert!(
        unknown.starts_with(
            "webhooks file `/etc/oci-pypi/webhooks.toml`: line 4: unknown field `secrets_env`"
        ),
        "{unknown}"
    );
    let syntax = parse_text("[[webhook]]\nnamespace = \"*\nurl = 1\n").unwrap_err();
    assert!(syntax.contains(": line 2: "), "{syntax}");
    let missing = parse_text("[[webhook]]\nnamespace = \"*\"\n").unwrap_err();
    assert!(missing.contains("line 1: missing field `url`"), "{missing}");
    let duplicate = parse_text(&format!(
        "{PLAIN}{}",
        PLAIN.replace("webhook]]", "webhook]]\nname = \"webhook-1\"")
    ))
    .unwrap_err();
    assert!(
        duplicate.contains("two webhooks are named `webhook-1`"),
        "{duplicate}"
    );
}

#[test]
fn secrets_never_show_in_errors_or_debug() {
    let hooks = parse_text(PLAIN).unwrap();
    assert!(!format!("{hooks:?}").contains("s3cret"));
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "\n").unwrap();
    assert_eq!(
        SecretSource::File(empty.clone()).read().unwrap_err(),
        format!("`{}` is empty", empty.display())
    );
}

#[test]
fn webhook_namespaces_are_wildcard_patterns() {
    for (pattern, text, expected) in [
        ("*", "ghcr.io/a/b", true),
        ("ghcr.io/a/*", "ghcr.io/a/b/c", true),
        ("ghcr.io/a/*", "ghcr.io/ab", false),
        ("*/staging", "local/team/staging", true),
        ("*/staging", "local/team/staging2", false),
        ("a*b*c", "aXbYc", true),
        ("a*b*c", "acb", false),
        ("exact/ns", "exact/ns", true),
        ("exact/ns", "exact/ns2", false),
    ] {
        assert_eq!(
            wildcard_matches(pattern, text),
            expected,
            "{pattern} {text}"
        );
    }
}

#[test]
fn the_spool_is_a_directory_next_to_the_file_unless_absolute() {
    let spooled = |spool: &str| {
        parse_text(&format!("[delivery]\nspool = \"{spool}\"\n{PLAIN}"))
            .map(|hooks| hooks.delivery.spool)
    };
    assert_eq!(
        spooled("spool").unwrap(),
        Some(PathBuf::from("/etc/oci-pypi/spool"))
    );
    assert_eq!(
        spooled("/var/lib/oci-pypi/webhooks").unwrap(),
        Some(PathBuf::from("/var/lib/oci-pypi/webhooks"))
    );
    assert_eq!(
        spooled("").unwrap_err(),
        "webhooks file `/etc/oci-pypi/webhooks.toml`: line 2: `spool`: the directory is empty"
    );
    assert_eq!(parse_text(PLAIN).unwrap().delivery.spool, None);
}
