//! Installs with the real installers (pip, uv) into fresh target directories of a
//! [`Sandbox`], and what was installed, imported from the target alone.

use std::path::{Path, PathBuf};

use anyhow::bail;

use super::clients::{Output, Sandbox};

/// One of the venv's installers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Installer {
    /// `pip install`.
    Pip,
    /// `uv pip install`, with the venv's Python.
    Uv,
}

impl Sandbox {
    /// `pip install --target <sandbox>/site-N --index-url INDEX_URL NAMES...`
    /// (dependencies included). Returns the output and the target; check the
    /// output yourself (`.assert_success()`).
    pub async fn pip_install(
        &self,
        index_url: &str,
        names: &[&str],
    ) -> anyhow::Result<(Output, PathBuf)> {
        self.install(Installer::Pip, index_url, names, &[]).await
    }

    /// `uv pip install --target <sandbox>/site-N --index-url INDEX_URL NAMES...`
    /// with the venv's Python. Returns the output and the target.
    pub async fn uv_install(
        &self,
        index_url: &str,
        names: &[&str],
    ) -> anyhow::Result<(Output, PathBuf)> {
        self.install(Installer::Uv, index_url, names, &[]).await
    }

    /// `pip install` of `names` from `index_url`, which must succeed, and then
    /// [`Sandbox::assert_imports`] of `expected` from the target; the target.
    pub async fn assert_pip_installs(
        &self,
        index_url: &str,
        names: &[&str],
        expected: &[(&str, &str)],
    ) -> anyhow::Result<PathBuf> {
        self.assert_installs(Installer::Pip, index_url, names, &[], expected)
            .await
    }

    /// Like [`Sandbox::assert_pip_installs`], with `uv pip install`.
    pub async fn assert_uv_installs(
        &self,
        index_url: &str,
        names: &[&str],
        expected: &[(&str, &str)],
    ) -> anyhow::Result<PathBuf> {
        self.assert_installs(Installer::Uv, index_url, names, &[], expected)
            .await
    }

    /// Like [`Sandbox::assert_pip_installs`], without pip's cache (`--no-cache-dir`): every
    /// file from the index.
    pub async fn assert_pip_installs_uncached(
        &self,
        index_url: &str,
        names: &[&str],
        expected: &[(&str, &str)],
    ) -> anyhow::Result<PathBuf> {
        let extra = ["--no-cache-dir"];
        self.assert_installs(Installer::Pip, index_url, names, &extra, expected)
            .await
    }

    /// Like [`Sandbox::assert_uv_installs`], without uv's cache (`--no-cache`).
    pub async fn assert_uv_installs_uncached(
        &self,
        index_url: &str,
        names: &[&str],
        expected: &[(&str, &str)],
    ) -> anyhow::Result<PathBuf> {
        let extra = ["--no-cache"];
        self.assert_installs(Installer::Uv, index_url, names, &extra, expected)
            .await
    }

    /// Installs `names` from `index_url` with `installer` (`extra` arguments before the
    /// names), which must succeed, and checks `expected` in the target; the target.
    async fn assert_installs(
        &self,
        installer: Installer,
        index_url: &str,
        names: &[&str],
        extra: &[&str],
        expected: &[(&str, &str)],
    ) -> anyhow::Result<PathBuf> {
        let (out, target) = self.install(installer, index_url, names, extra).await?;
        out.assert_success();
        self.assert_imports(&target, expected).await?;
        Ok(target)
    }

    /// `installer` into a fresh target, with `extra` arguments before the names.
    async fn install(
        &self,
        installer: Installer,
        index_url: &str,
        names: &[&str],
        extra: &[&str],
    ) -> anyhow::Result<(Output, PathBuf)> {
        let target = self.fresh_path("site");
        let target_s = target.display().to_string();
        let python = self.venv().join("bin/python").display().to_string();
        let (program, mut args) = match installer {
            Installer::Pip => ("pip", vec!["install"]),
            Installer::Uv => ("uv", vec!["pip", "install", "--python", python.as_str()]),
        };
        args.extend(["--target", target_s.as_str(), "--index-url", index_url]);
        args.extend_from_slice(extra);
        args.extend_from_slice(names);
        let out = self.run_with_env(program, &args, &[]).await?;
        Ok((out, target))
    }

    /// Asserts that each `(module, version)` of `expected` is imported from `target` with
    /// that `__version__`.
    pub async fn assert_imports(
        &self,
        target: &Path,
        expected: &[(&str, &str)],
    ) -> anyhow::Result<()> {
        for (module, version) in expected {
            assert_eq!(
                self.import_version(target, module).await?,
                *version,
                "the version of `{module}` installed in {}",
                target.display()
            );
        }
        Ok(())
    }

    /// Imports `module` from `target` alone (not from the venv) and returns
    /// its `__version__`. Errors if the import fails or the module came from
    /// elsewhere.
    pub async fn import_version(&self, target: &Path, module: &str) -> anyhow::Result<String> {
        const CODE: &str = "\
import importlib, os, sys
target, name = os.path.realpath(sys.argv[1]), sys.argv[2]
sys.path.insert(0, target)
m = importlib.import_module(name)
origin = os.path.realpath(m.__file__)
if not origin.startswith(target + os.sep):
    sys.exit('imported %s from %s, not from %s' % (name, origin, target))
print(m.__version__)
";
        let target_s = target.display().to_string();
        // -I: ignore PYTHON* and the user site; -S: no venv site-packages.
        let out = self
            .python(&["-I", "-S", "-c", CODE, &target_s, module])
            .await?;
        if !out.success() {
            bail!(
                "cannot import {module} from {}\n{}",
                target.display(),
                out.dump()
            );
        }
        Ok(out.stdout.trim().to_owned())
    }
}
