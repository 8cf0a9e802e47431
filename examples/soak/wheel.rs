//! Small valid wheels, built in memory: a stored (uncompressed) zip holding the package, then
//! `<name>-<version>.dist-info/METADATA`, `WHEEL` and `RECORD`, the last entries of the archive,
//! as the wheel specification recommends.

use sha2::{Digest as _, Sha256};

/// A wheel and what the index must serve for it.
#[derive(Debug, Clone)]
pub struct Wheel {
    pub project: String,
    pub version: String,
    pub filename: String,
    pub bytes: Vec<u8>,
    /// Its METADATA, which `<filename>.metadata` must serve byte for byte.
    pub metadata: Vec<u8>,
    /// sha256 of `bytes`, lowercase hex.
    pub sha256: String,
}

/// A wheel of `project` (a normalized name) `version`, with platform tag `platform` and
/// `payload` as the content of its module.
pub fn build(project: &str, version: &str, platform: &str, payload: &[u8]) -> Wheel {
    let stem = format!("{}-{version}", project.replace('-', "_"));
    let filename = format!("{stem}-py3-none-{platform}.whl");
    let metadata = format!(
        "Metadata-Version: 2.1\nName: {project}\nVersion: {version}\nSummary: soak test\n\
         Requires-Python: >=3.8\n"
    )
    .into_bytes();
    let wheel = format!(
        "Wheel-Version: 1.0\nGenerator: oci-pypi-soak\nRoot-Is-Purelib: true\nTag: py3-none-{platform}\n"
    );
    let module = format!("{}/__init__.py", project.replace('-', "_"));
    let dist_info = format!("{stem}.dist-info");
    let mut entries: Vec<(String, Vec<u8>)> = vec![
        (module, payload.to_vec()),
        (format!("{dist_info}/METADATA"), metadata.clone()),
        (format!("{dist_info}/WHEEL"), wheel.into_bytes()),
    ];
    let record: String = entries
        .iter()
        .map(|(name, data)| format!("{name},sha256={},{}\n", record_hash(data), data.len()))
        .chain(std::iter::once(format!("{dist_info}/RECORD,,\n")))
        .collect();
    entries.push((format!("{dist_info}/RECORD"), record.into_bytes()));
    let bytes = zip(&entries);
    Wheel {
        project: project.to_owned(),
        version: version.to_owned(),
        filename,
        sha256: hex::encode(Sha256::digest(&bytes)),
        bytes,
        metadata,
    }
}

/// RECORD's hash form: URL-safe base64 of the sha256, without padding.
fn record_hash(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(data))
}

/// A stored zip of `entries` (APPNOTE 6.3: local headers and data, central directory, end
/// record; no zip64, DOS date 1980-01-01).
fn zip(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    const DOS_DATE: u16 = 0x0021;
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in entries {
        let offset = u32_of(out.len());
        let crc = crc32fast::hash(data);
        let (size, name_length) = (u32_of(data.len()), u16_of(name.len()));
        out.extend_from_slice(&0x0403_4b50_u32.to_le_bytes());
        for value in [20_u16, 0, 0, 0, DOS_DATE] {
            out.extend_from_slice(&value.to_le_bytes());
        }
        for value in [crc, size, size] {
            out.extend_from_slice(&value.to_le_bytes());
        }
        for value in [name_length, 0] {
            out.extend_from_slice(&value.to_le_bytes());
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);

        central.extend_from_slice(&0x0201_4b50_u32.to_le_bytes());
        for value in [20_u16, 20, 0, 0, 0, DOS_DATE] {
            central.extend_from_slice(&value.to_le_bytes());
        }
        for value in [crc, size, size] {
            central.extend_from_slice(&value.to_le_bytes());
        }
        for value in [name_length, 0, 0, 0, 0] {
            central.extend_from_slice(&value.to_le_bytes());
        }
        for value in [0_u32, offset] {
            central.extend_from_slice(&value.to_le_bytes());
        }
        central.extend_from_slice(name.as_bytes());
    }
    let (directory_offset, directory_size) = (u32_of(out.len()), u32_of(central.len()));
    let count = u16_of(entries.len());
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50_u32.to_le_bytes());
    for value in [0_u16, 0, count, count] {
        out.extend_from_slice(&value.to_le_bytes());
    }
    for value in [directory_size, directory_offset] {
        out.extend_from_slice(&value.to_le_bytes());
    }
    out.extend_from_slice(&0_u16.to_le_bytes());
    out
}

/// Soak wheels are a few KiB: every size fits the fields of a zip without zip64.
fn u32_of(value: usize) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

fn u16_of(value: usize) -> u16 {
    u16::try_from(value).unwrap_or(u16::MAX)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_index_accepts_the_wheel() {
        let wheel = super::build("soak-p1", "1.2", "soak_c1_f1", b"x = 1\n");
        assert_eq!(wheel.filename, "soak_p1-1.2-py3-none-soak_c1_f1.whl");
        let filename = oci_pypi::packaging::DistFilename::parse(&wheel.filename).unwrap();
        let mut capture = oci_pypi::packaging::MetadataCapture::default();
        capture.push(&wheel.bytes);
        let found = oci_pypi::packaging::inspect_wheel(
            &wheel.bytes,
            wheel.bytes.len() as u64,
            &capture,
            &filename.dist_info_dir(),
        )
        .unwrap();
        assert_eq!(found, wheel.metadata);
    }
}
