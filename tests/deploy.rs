//! The Kubernetes material in deploy/ (issue 16): every manifest of the kustomize base and
//! the overlay passes the Kubernetes schemas (kubernetes-validate, pinned in the test venv by
//! scripts/test-venv.sh, in strict mode: no unknown field), the overlay renders (with
//! `kubectl kustomize` where kubectl is installed) to valid resources, the example trust
//! policy parses with the server's own parser, and every `OCI_PYPI_*` variable the Deployment
//! sets is one the server reads.

#![expect(
    clippy::unwrap_used,
    reason = "a test: a file it cannot read is a failure"
)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn validator() -> PathBuf {
    let venv = std::env::var_os("OCI_PYPI_TEST_VENV")
        .map_or_else(|| root().join("target/test-venv"), PathBuf::from);
    let program = venv.join("bin/kubernetes-validate");
    assert!(
        program.is_file(),
        "{} not found: run scripts/test-venv.sh",
        program.display()
    );
    program
}

/// Runs kubernetes-validate --strict on `files`; (success, output).
fn validate(files: &[PathBuf]) -> (bool, String) {
    let output = Command::new(validator())
        .arg("--strict")
        .args(files)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

fn yaml(path: &Path) -> serde_norway::Value {
    serde_norway::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The resources (files, or directories of other kustomizations) a kustomization lists.
fn resources(directory: &Path) -> Vec<PathBuf> {
    let kustomization = yaml(&directory.join("kustomization.yaml"));
    kustomization["resources"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|entry| directory.join(entry.as_str().unwrap()))
        .collect()
}

/// Every manifest file of a kustomization, following directories.
fn manifests(directory: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for resource in resources(directory) {
        assert!(
            resource.exists(),
            "{} is listed but missing",
            resource.display()
        );
        if resource.is_dir() {
            files.extend(manifests(&resource));
        } else {
            files.push(resource);
        }
    }
    files
}

#[test]
fn manifests_pass_the_kubernetes_schemas() {
    let overlay = root().join("deploy/overlays/production");
    let files = manifests(&overlay);
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for wanted in [
        "deployment.yaml",
        "service.yaml",
        "ingress.yaml",
        "pdb.yaml",
        "secrets.yaml",
    ] {
        assert!(
            names.iter().any(|n| n == wanted),
            "{wanted} not in {names:?}"
        );
    }
    let (ok, output) = validate(&files);
    assert!(ok, "{output}");
    for kind in [
        "deployment",
        "service",
        "ingress",
        "poddisruptionbudget",
        "secret",
    ] {
        assert!(
            output.contains(&format!("passed for resource {kind}/")),
            "{output}"
        );
    }
    // Patches point at something the base has.
    let kustomization = yaml(&overlay.join("kustomization.yaml"));
    for patch in kustomization["patches"].as_sequence().unwrap() {
        assert!(overlay.join(patch["path"].as_str().unwrap()).is_file());
        assert_eq!(patch["target"]["name"].as_str(), Some("oci-pypi"));
    }
}

/// The validator does refuse: a Deployment with a misspelt field and a port as text.
#[test]
fn the_validator_refuses_a_broken_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.yaml");
    let text = std::fs::read_to_string(root().join("deploy/base/deployment.yaml"))
        .unwrap()
        .replace("replicas: 2", "replicaz: 2")
        .replace("containerPort: 8080", "containerPort: eighty");
    std::fs::write(&broken, text).unwrap();
    let (ok, output) = validate(&[broken]);
    assert!(!ok, "{output}");
}

/// With kubectl installed, the overlay renders to valid resources in its namespace, with
/// its replicas and host, the dockerconfigjson Secret as the image pull secret.
#[test]
fn the_overlay_renders_where_kubectl_is_installed() {
    let Ok(output) = Command::new("kubectl")
        .args(["kustomize"])
        .arg(root().join("deploy/overlays/production"))
        .output()
    else {
        eprintln!("kubectl is not installed: the rendering is not checked here");
        return;
    };
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rendered = String::from_utf8(output.stdout).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rendered.yaml");
    std::fs::write(&path, &rendered).unwrap();
    let (ok, report) = validate(&[path]);
    assert!(ok, "{report}");
    let documents: Vec<serde_norway::Value> = serde_norway::Deserializer::from_str(&rendered)
        .map(|document| serde::Deserialize::deserialize(document).unwrap())
        .collect();
    assert_eq!(documents.len(), 7, "{rendered}");
    for document in &documents {
        assert_eq!(
            document["metadata"]["namespace"].as_str(),
            Some("pypi"),
            "{document:?}"
        );
    }
    let find = |kind: &str| {
        documents
            .iter()
            .find(|d| d["kind"].as_str() == Some(kind))
            .unwrap()
    };
    let deployment = find("Deployment");
    assert_eq!(deployment["spec"]["replicas"].as_u64(), Some(3));
    assert_eq!(
        deployment["spec"]["template"]["spec"]["imagePullSecrets"][0]["name"].as_str(),
        Some("oci-pypi-registry")
    );
    assert_eq!(
        find("Ingress")["spec"]["rules"][0]["host"].as_str(),
        Some("pypi.acme.example")
    );
}

/// The example trust policy is one the server accepts, and the Deployment sets only
/// variables the server reads.
#[test]
fn the_example_configuration_is_the_servers() {
    let secrets =
        std::fs::read_to_string(root().join("deploy/overlays/production/secrets.yaml")).unwrap();
    let documents: Vec<serde_norway::Value> = serde_norway::Deserializer::from_str(&secrets)
        .map(|document| serde::Deserialize::deserialize(document).unwrap())
        .collect();
    let publishers = documents
        .iter()
        .find(|d| d["metadata"]["name"].as_str() == Some("oci-pypi-trusted-publishers"))
        .unwrap();
    let registry = documents
        .iter()
        .find(|d| d["type"].as_str() == Some("kubernetes.io/dockerconfigjson"))
        .unwrap();
    // Mounted as in the Deployment: the policies and the registry Secret side by side.
    let dir = tempfile::tempdir().unwrap();
    for (directory, key, value) in [
        (
            "trusted-publishers",
            "publishers.toml",
            &publishers["stringData"]["publishers.toml"],
        ),
        (
            "registry",
            ".dockerconfigjson",
            &registry["stringData"][".dockerconfigjson"],
        ),
    ] {
        std::fs::create_dir_all(dir.path().join(directory)).unwrap();
        std::fs::write(
            dir.path().join(directory).join(key),
            value.as_str().unwrap(),
        )
        .unwrap();
    }
    let policies = oci_pypi::publishing::policy::load(
        &dir.path().join("trusted-publishers/publishers.toml"),
        &|_| None,
    )
    .unwrap();
    let policy = &policies.policies[0];
    assert_eq!(policy.promotions.len(), 1);
    assert_eq!(policy.credential.username(), "acme-bot");

    let command = <oci_pypi::config::Cli as clap::CommandFactory>::command();
    let known: Vec<String> = command
        .get_arguments()
        .filter_map(|arg| arg.get_env().map(|env| env.to_string_lossy().into_owned()))
        .collect();
    let deployment = yaml(&root().join("deploy/base/deployment.yaml"));
    let env = &deployment["spec"]["template"]["spec"]["containers"][0]["env"];
    for variable in env.as_sequence().unwrap() {
        let name = variable["name"].as_str().unwrap();
        assert!(
            known.iter().any(|k| k == name),
            "the server reads no `{name}`"
        );
    }
}
