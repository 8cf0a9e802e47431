//! docs/configuration.md is generated from the clap configuration, so it cannot drift: this test
//! renders it again and compares. Run with `OCI_PYPI_UPDATE_DOCS=1` to rewrite the file.

#![expect(clippy::pedantic, reason = "a test")]

use clap::CommandFactory as _;
use oci_pypi::config::{Cli, Config, DEFAULT_PORT};

fn render() -> String {
    let command = Config::command();
    let mut out = String::from(
        "# Configuration reference\n\n\
         Generated from the server's clap configuration by `tests/config_docs.rs` (run\n\
         `OCI_PYPI_UPDATE_DOCS=1 cargo test --test config_docs` after changing an option).\n\
         Every option is a command-line flag and an environment variable; flags win.\n",
    );
    // The options come section by section, each under its `--help` heading.
    let mut section = None;
    for argument in command.get_arguments() {
        let id = argument.get_id().as_str();
        if id == "help" || id == "version" {
            continue;
        }
        if argument.get_help_heading() != section {
            section = argument.get_help_heading();
            out.push_str(&format!(
                "\n## {}\n\n| flag | environment | default | description |\n|---|---|---|---|\n",
                section.unwrap_or("Options")
            ));
        }
        let (flag, env) = flag_and_env(argument);
        let env = if id == "port" {
            format!("{env}, then `PORT`")
        } else {
            env
        };
        let defaults: Vec<String> = argument
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect();
        let default = match defaults.join(",") {
            d if d.is_empty() && id == "port" => format!("`{DEFAULT_PORT}`"),
            d if d.is_empty() => "(none)".to_owned(),
            d => format!("`{d}`"),
        };
        let help = argument
            .get_long_help()
            .or_else(|| argument.get_help())
            .map(|h| h.to_string().replace('\n', " "))
            .unwrap_or_default();
        let values: Vec<String> = argument
            .get_possible_values()
            .iter()
            .map(|v| format!("`{}`", v.get_name()))
            .collect();
        let help = if values.is_empty() {
            help
        } else {
            format!(
                "{}. One of {}.",
                help.trim_end_matches('.'),
                values.join(", ")
            )
        };
        out.push_str(&format!("| {flag} | {env} | {default} | {help} |\n"));
    }
    out.push_str(
        "\n## Commands\n\n`oci-pypi <command>` runs a one-off command with the settings above \
         (registries, store) instead of serving. Secrets are read from the environment.\n",
    );
    for command in Cli::command().get_subcommands() {
        if command.get_name() == "help" {
            continue;
        }
        let about = command
            .get_about()
            .map(ToString::to_string)
            .unwrap_or_default();
        out.push_str(&format!(
            "\n### `oci-pypi {}`\n\n{about}.\n\n| flag | environment | description |\n|---|---|---|\n",
            command.get_name()
        ));
        for argument in command.get_arguments() {
            let id = argument.get_id().as_str();
            if id == "help" {
                continue;
            }
            let (flag, env) = flag_and_env(argument);
            let help = argument
                .get_help()
                .map(ToString::to_string)
                .unwrap_or_default();
            out.push_str(&format!("| {flag} | {env} | {help} |\n"));
        }
    }
    out
}

#[test]
fn configuration_reference_is_up_to_date() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/configuration.md");
    let rendered = render();
    if std::env::var_os("OCI_PYPI_UPDATE_DOCS").is_some() {
        std::fs::write(path, &rendered).unwrap();
    }
    let written = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        written == rendered,
        "docs/configuration.md is out of date: run `OCI_PYPI_UPDATE_DOCS=1 cargo test --test config_docs`"
    );
}

#[test]
fn every_option_has_an_environment_variable_and_help() {
    let _ = Cli::command();
    for argument in Config::command().get_arguments() {
        let id = argument.get_id().as_str();
        if id == "help" || id == "version" {
            continue;
        }
        let env = argument
            .get_env()
            .unwrap_or_else(|| panic!("--{id} has no environment variable"));
        assert!(env.to_string_lossy().starts_with("OCI_PYPI_"), "{id}");
        assert!(argument.get_help().is_some(), "--{id} has no help");
        assert!(
            argument.get_help_heading().is_some(),
            "--{id} is in no section of the configuration"
        );
    }
}

/// An argument's `` `--flag` `` and `` `ENV` `` cells (empty when it has none).
fn flag_and_env(argument: &clap::Arg) -> (String, String) {
    let flag = argument
        .get_long()
        .map(|l| format!("`--{l}`"))
        .unwrap_or_default();
    let env = argument
        .get_env()
        .map(|e| format!("`{}`", e.to_string_lossy()))
        .unwrap_or_default();
    (flag, env)
}
