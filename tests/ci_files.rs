//! The CI and deployment files lint clean (issue 7): the GitHub workflows (the repository's and
//! the example ones) with actionlint and its ShellCheck pass, the examples' `run.sh` scripts
//! with ShellCheck, the Dockerfile with hadolint. `scripts/lint-ci-files.sh` does the work (and
//! installs the pinned linters into the test venv when they are missing); this test makes it
//! part of `cargo test`.

use std::process::Command;

#[test]
fn ci_files_lint_clean() {
    let output = Command::new("bash")
        .arg("scripts/lint-ci-files.sh")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("running scripts/lint-ci-files.sh");
    assert!(
        output.status.success(),
        "scripts/lint-ci-files.sh failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
