//! Which wheels a target (a CPython version on a platform) can install, from their
//! compatibility tags, and the marker environment of that target.
//!
//! Specification: <https://packaging.python.org/en/latest/specifications/platform-compatibility-tags/>.

use std::collections::BTreeMap;

use super::requirement::Environment;

/// A CPython `major.minor` on one platform tag (`manylinux_2_28_x86_64`, `win_amd64`,
/// `macosx_14_0_arm64`, `musllinux_1_2_aarch64`, `linux_x86_64`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    major: u32,
    minor: u32,
    platform: String,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Python {}.{} on {}",
            self.major, self.minor, self.platform
        )
    }
}

impl Target {
    /// A target from `3.12` and a platform tag.
    ///
    /// # Errors
    /// What is wrong with the Python version or the platform.
    pub fn new(python: &str, platform: &str) -> Result<Self, String> {
        let (major, minor) = python
            .trim()
            .split_once('.')
            .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
            .ok_or_else(|| format!("`{python}` is not a Python version such as `3.12`"))?;
        let platform = platform.trim().replace(['-', '.'], "_");
        if platform.is_empty()
            || !platform
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(format!(
                "`{platform}` is not a platform tag such as `manylinux_2_28_x86_64`"
            ));
        }
        Ok(Self {
            major,
            minor,
            platform,
        })
    }

    /// Whether a wheel named `filename` installs on this target.
    #[must_use]
    pub fn supports_wheel(&self, filename: &str) -> bool {
        let Some(stem) = filename.strip_suffix(".whl") else {
            return false;
        };
        let mut parts = stem.rsplitn(4, '-');
        let (Some(platforms), Some(abis), Some(pythons)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return false;
        };
        pythons.split('.').any(|python| {
            abis.split('.').any(|abi| {
                self.supports_interpreter(python, abi)
                    && platforms.split('.').any(|p| self.supports_platform(p))
            })
        })
    }

    fn supports_interpreter(&self, python: &str, abi: &str) -> bool {
        let own = format!("cp{}{}", self.major, self.minor);
        let older = |tag: &str, prefix: &str| {
            tag.strip_prefix(prefix).is_some_and(|version| {
                version == self.major.to_string()
                    || version
                        .strip_prefix(&self.major.to_string())
                        .and_then(|minor| minor.parse::<u32>().ok())
                        .is_some_and(|minor| minor <= self.minor)
            })
        };
        match abi {
            "none" => python == own || older(python, "py"),
            "abi3" => older(python, "cp") && python != format!("cp{}", self.major),
            _ => python == own && abi.trim_end_matches(['d', 'm', 'u']) == own,
        }
    }

    fn supports_platform(&self, platform: &str) -> bool {
        if platform == "any" || platform == self.platform {
            return true;
        }
        match (glibc_like(platform), glibc_like(&self.platform)) {
            (Some((family, version, arch)), Some((own_family, own_version, own_arch))) => {
                family == own_family && arch == own_arch && version <= own_version
            }
            _ => macos_supports(platform, &self.platform),
        }
    }

    /// The marker environment of this target (`python_full_version` is `X.Y.0`).
    #[must_use]
    pub fn environment(&self) -> Environment {
        let platform = self.platform.as_str();
        let (sys_platform, system, os_name) = if platform.starts_with("win") {
            ("win32", "Windows", "nt")
        } else if platform.starts_with("macosx") {
            ("darwin", "Darwin", "posix")
        } else {
            ("linux", "Linux", "posix")
        };
        let machine = match platform {
            "win_amd64" => "AMD64".to_owned(),
            "win32" => "x86".to_owned(),
            "win_arm64" => "ARM64".to_owned(),
            _ => architecture(platform).to_owned(),
        };
        let version = format!("{}.{}", self.major, self.minor);
        let full = format!("{version}.0");
        Environment::new(BTreeMap::from([
            ("python_version", version),
            ("python_full_version", full.clone()),
            ("implementation_version", full),
            ("os_name", os_name.to_owned()),
            ("sys_platform", sys_platform.to_owned()),
            ("platform_system", system.to_owned()),
            ("platform_machine", machine),
            ("platform_python_implementation", "CPython".to_owned()),
            ("implementation_name", "cpython".to_owned()),
            ("platform_release", String::new()),
            ("platform_version", String::new()),
        ]))
    }

    /// `3.12`.
    #[must_use]
    pub fn python(&self) -> String {
        format!("{}.{}", self.major, self.minor)
    }
}

/// The machine of a platform tag: what follows its versions (`x86_64`, `aarch64`, `arm64`).
fn architecture(platform: &str) -> &str {
    for (prefix, versions) in [("manylinux_", 2), ("musllinux_", 2), ("macosx_", 2)] {
        if let Some(rest) = platform.strip_prefix(prefix) {
            return rest.splitn(versions + 1, '_').nth(versions).unwrap_or(rest);
        }
    }
    for prefix in ["manylinux1_", "manylinux2010_", "manylinux2014_", "linux_"] {
        if let Some(arch) = platform.strip_prefix(prefix) {
            return arch;
        }
    }
    platform
}

/// `(family, (major, minor), arch)` of a manylinux or musllinux tag; legacy manylinux names
/// are their glibc versions (PEP 600).
fn glibc_like(platform: &str) -> Option<(&'static str, (u32, u32), &str)> {
    for (legacy, version) in [
        ("manylinux1_", (2, 5)),
        ("manylinux2010_", (2, 12)),
        ("manylinux2014_", (2, 17)),
    ] {
        if let Some(arch) = platform.strip_prefix(legacy) {
            return Some(("manylinux", version, arch));
        }
    }
    for family in ["manylinux", "musllinux"] {
        if let Some(rest) = platform
            .strip_prefix(family)
            .and_then(|r| r.strip_prefix('_'))
        {
            let mut parts = rest.splitn(3, '_');
            let major = parts.next()?.parse().ok()?;
            let minor = parts.next()?.parse().ok()?;
            return Some((family, (major, minor), parts.next()?));
        }
    }
    None
}

/// Whether a macOS wheel's platform installs on the target's (`macosx_11_0_arm64` on
/// `macosx_14_0_arm64`; universal2 on either machine).
fn macos_supports(platform: &str, target: &str) -> bool {
    let parse = |tag: &str| -> Option<((u32, u32), String)> {
        let rest = tag.strip_prefix("macosx_")?;
        let mut parts = rest.splitn(3, '_');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        Some(((major, minor), parts.next()?.to_owned()))
    };
    let (Some((version, arch)), Some((own_version, own_arch))) = (parse(platform), parse(target))
    else {
        return false;
    };
    let arch_fits = arch == own_arch
        || arch == "universal2" && matches!(own_arch.as_str(), "x86_64" | "arm64")
        || matches!(arch.as_str(), "intel" | "universal") && own_arch == "x86_64";
    arch_fits && version <= own_version
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wheels_fit_their_targets() {
        let linux = Target::new("3.11", "manylinux_2_28_x86_64").unwrap();
        for (wheel, expected) in [
            ("a-1.0-py3-none-any.whl", true),
            ("a-1.0-py2.py3-none-any.whl", true),
            ("a-1.0-py312-none-any.whl", false),
            ("a-1.0-py310-none-any.whl", true),
            (
                "a-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
                true,
            ),
            ("a-1.0-cp311-cp311-manylinux2014_x86_64.whl", true),
            ("a-1.0-cp311-cp311-manylinux_2_31_x86_64.whl", false),
            ("a-1.0-cp311-cp311-manylinux_2_17_aarch64.whl", false),
            ("a-1.0-cp311-cp311-musllinux_1_1_x86_64.whl", false),
            ("a-1.0-cp310-cp310-manylinux_2_17_x86_64.whl", false),
            ("a-1.0-cp38-abi3-manylinux_2_17_x86_64.whl", true),
            ("a-1.0-cp312-abi3-manylinux_2_17_x86_64.whl", false),
            ("a-1.0-cp311-cp311-win_amd64.whl", false),
            ("a-1.0-1-cp311-cp311-linux_x86_64.whl", false),
            ("a-1.0.tar.gz", false),
        ] {
            assert_eq!(linux.supports_wheel(wheel), expected, "{wheel}");
        }
        let mac = Target::new("3.12", "macosx_14_0_arm64").unwrap();
        assert!(mac.supports_wheel("a-1.0-cp312-cp312-macosx_11_0_universal2.whl"));
        assert!(mac.supports_wheel("a-1.0-cp312-cp312-macosx_11_0_arm64.whl"));
        assert!(!mac.supports_wheel("a-1.0-cp312-cp312-macosx_15_0_arm64.whl"));
        assert!(!mac.supports_wheel("a-1.0-cp312-cp312-macosx_10_9_x86_64.whl"));
        let windows = Target::new("3.12", "win_amd64").unwrap();
        assert!(windows.supports_wheel("a-1.0-cp312-cp312-win_amd64.whl"));
        assert!(!windows.supports_wheel("a-1.0-cp312-cp312-win32.whl"));
    }

    #[test]
    fn targets_are_validated() {
        assert_eq!(
            Target::new("three", "linux_x86_64").unwrap_err(),
            "`three` is not a Python version such as `3.12`"
        );
        assert!(Target::new("3.12", "").is_err());
        assert_eq!(
            Target::new("3.12", "manylinux-2-28-x86_64")
                .unwrap()
                .platform,
            "manylinux_2_28_x86_64"
        );
    }

    #[test]
    fn environments_follow_the_platform() {
        let requirement = super::super::requirement::Requirement::parse(
            "x; sys_platform == 'win32' and platform_machine == 'AMD64' and python_version >= '3.12'",
        )
        .unwrap();
        let windows = Target::new("3.12", "win_amd64").unwrap();
        assert!(requirement.applies(&windows.environment(), &[]));
        let linux = Target::new("3.12", "manylinux_2_28_x86_64").unwrap();
        assert!(!requirement.applies(&linux.environment(), &[]));
        let arm = Target::new("3.12", "manylinux_2_28_aarch64").unwrap();
        let machine =
            super::super::requirement::Marker::parse("platform_machine == 'aarch64'").unwrap();
        assert!(machine.evaluate(&arm.environment(), ""));
    }
}
