//! Builders shared by the tests of the zip and tar sides: a tiny zip writer (stored and deflated
//! entries, zip64, data descriptors), a tiny tar writer (ustar, GNU long names, pax), gzip, and
//! incompressible noise and deflate bombs.

use std::io::Write;

use flate2::write::{DeflateEncoder, GzEncoder};
use flate2::{Compress, Compression, FlushCompress};

pub(crate) const METADATA: &[u8] =
    b"Metadata-Version: 2.1\nName: foo-bar\nVersion: 1.0\n\nThe description.\n";
pub(crate) const DIST_INFO: &str = "foo_bar-1.0.dist-info";
pub(crate) const PATH: &str = "foo_bar-1.0.dist-info/METADATA";
// ---- a tiny zip writer ----------------------------------------------------------------

/// One zip entry as written: its (compressed) data and what the central directory declares.
#[derive(Clone)]
pub(crate) struct ZipEntry {
    pub(crate) name: Vec<u8>,
    pub(crate) method: u16,
    pub(crate) flags: u16,
    pub(crate) data: Vec<u8>,
    pub(crate) size: u64,
    pub(crate) crc: u32,
}

impl ZipEntry {
    pub(crate) fn stored(name: &str, content: &[u8]) -> Self {
        let (size, crc) = (content.len() as u64, crc32fast::hash(content));
        let (name, data) = (name.as_bytes().to_vec(), content.to_vec());
        Self {
            name,
            method: 0,
            flags: 0,
            data,
            size,
            crc,
        }
    }

    pub(crate) fn deflated(name: &str, content: &[u8]) -> Self {
        let mut encoder = DeflateEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(content).unwrap();
        Self {
            data: encoder.finish().unwrap(),
            method: 8,
            ..Self::stored(name, content)
        }
    }
}

#[derive(Clone, Copy, Default)]
pub(crate) struct ZipOptions {
    pub(crate) zip64: bool,
    pub(crate) descriptor: bool,
}

fn put16(out: &mut Vec<u8>, value: u16) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn zip64_extra(values: &[u64]) -> Vec<u8> {
    let mut extra = Vec::new();
    put16(&mut extra, 0x0001);
    put16(&mut extra, u16::try_from(values.len() * 8).unwrap());
    for value in values {
        put64(&mut extra, *value);
    }
    extra
}

impl ZipOptions {
    /// A 32-bit size or offset, saturated when writing zip64.
    fn narrow(self, value: u64) -> u32 {
        if self.zip64 {
            u32::MAX
        } else {
            u32::try_from(value).unwrap()
        }
    }

    fn flags(self, entry: &ZipEntry) -> u16 {
        entry.flags | if self.descriptor { 8 } else { 0 }
    }

    fn write_local(self, out: &mut Vec<u8>, entry: &ZipEntry) {
        let compressed = entry.data.len() as u64;
        let extra = if self.zip64 {
            zip64_extra(&[entry.size, compressed])
        } else {
            vec![]
        };
        let (crc, compressed_field, size_field) = if self.descriptor {
            (0, 0, 0)
        } else {
            (entry.crc, self.narrow(compressed), self.narrow(entry.size))
        };
        put32(out, 0x0403_4b50);
        put16(out, 45);
        put16(out, self.flags(entry));
        put16(out, entry.method);
        put32(out, 0x0021_0000);
        put32(out, crc);
        put32(out, compressed_field);
        put32(out, size_field);
        put16(out, u16::try_from(entry.name.len()).unwrap());
        put16(out, u16::try_from(extra.len()).unwrap());
        out.extend_from_slice(&[&entry.name[..], &extra, &entry.data].concat());
        if self.descriptor {
            put32(out, 0x0807_4b50);
            put32(out, entry.crc);
            if self.zip64 {
                put64(out, compressed);
                put64(out, entry.size);
            } else {
                put32(out, self.narrow(compressed));
                put32(out, self.narrow(entry.size));
            }
        }
    }

    fn write_central(self, central: &mut Vec<u8>, entry: &ZipEntry, offset: u64) {
        let compressed = entry.data.len() as u64;
        let extra = if self.zip64 {
            zip64_extra(&[entry.size, compressed, offset])
        } else {
            vec![]
        };
        put32(central, 0x0201_4b50);
        put16(central, 0x031e);
        put16(central, 45);
        put16(central, self.flags(entry));
        put16(central, entry.method);
        put32(central, 0x0021_0000);
        put32(central, entry.crc);
        put32(central, self.narrow(compressed));
        put32(central, self.narrow(entry.size));
        put16(central, u16::try_from(entry.name.len()).unwrap());
        put16(central, u16::try_from(extra.len()).unwrap());
        central.extend_from_slice(&[0; 10]); // comment length, disk, attributes
        put32(central, self.narrow(offset));
        central.extend_from_slice(&[&entry.name[..], &extra].concat());
    }

    fn write_end(self, out: &mut Vec<u8>, count: u64, directory_offset: u64) {
        let directory_size = out.len() as u64 - directory_offset;
        if self.zip64 {
            let record = out.len() as u64;
            put32(out, 0x0606_4b50);
            put64(out, 44);
            put16(out, 0x031e);
            put16(out, 45);
            put64(out, 0); // disk numbers
            put64(out, count);
            put64(out, count);
            put64(out, directory_size);
            put64(out, directory_offset);
            put32(out, 0x0706_4b50);
            put32(out, 0);
            put64(out, record);
            put32(out, 1);
        }
        put32(out, 0x0605_4b50);
        put32(out, 0); // disk numbers
        let short_count = if self.zip64 {
            0xFFFF
        } else {
            u16::try_from(count).unwrap()
        };
        put16(out, short_count);
        put16(out, short_count);
        put32(out, self.narrow(directory_size));
        put32(out, self.narrow(directory_offset));
        put16(out, 0);
    }
}

pub(crate) fn write_zip(entries: &[ZipEntry], options: ZipOptions) -> Vec<u8> {
    let (mut out, mut central) = (Vec::new(), Vec::new());
    for entry in entries {
        options.write_central(&mut central, entry, out.len() as u64);
        options.write_local(&mut out, entry);
    }
    let directory_offset = out.len() as u64;
    out.extend_from_slice(&central);
    options.write_end(&mut out, entries.len() as u64, directory_offset);
    out
}

pub(crate) fn wheel_entries(metadata: ZipEntry) -> Vec<ZipEntry> {
    vec![
        ZipEntry::deflated("foo_bar/__init__.py", b"print('hello')\n"),
        ZipEntry::stored("foo_bar-1.0.dist-info/WHEEL", b"Wheel-Version: 1.0\n"),
        metadata,
        ZipEntry::stored("foo_bar-1.0.dist-info/RECORD", b""),
    ]
}

pub(crate) fn wheel(options: ZipOptions) -> Vec<u8> {
    write_zip(&wheel_entries(ZipEntry::deflated(PATH, METADATA)), options)
}

/// Pseudo-random, incompressible bytes.
pub(crate) fn noise(length: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    (0..length)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect()
}

/// Raw deflate blocks for `mebibytes` MiB of zeros, built by repeating one sync-flushed
/// MiB: a bomb of any size without compressing it.
pub(crate) fn zeros_deflated(mebibytes: usize, last: bool) -> Vec<u8> {
    let mut compressor = Compress::new(Compression::fast(), false);
    let mut chunk = Vec::with_capacity(1 << 20);
    compressor
        .compress_vec(&vec![0; 1 << 20], &mut chunk, FlushCompress::Sync)
        .unwrap();
    assert_eq!(compressor.total_in(), 1 << 20);
    let mut stream = chunk.repeat(mebibytes);
    if last {
        stream.extend_from_slice(&[0x03, 0x00]); // an empty final fixed-Huffman block
    }
    stream
}

// ---- a tiny tar writer -----------------------------------------------------------------
pub(crate) fn tar_header(name: &[u8], size: u64, kind: u8, prefix: &[u8]) -> Vec<u8> {
    let mut block = vec![0; 512];
    block[..name.len()].copy_from_slice(name);
    block[100..124].copy_from_slice(b"0000644\x000000000\x000000000\x00");
    block[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
    block[136..148].copy_from_slice(b"00000000000\0");
    block[156] = kind;
    block[257..265].copy_from_slice(b"ustar\x0000");
    block[345..345 + prefix.len()].copy_from_slice(prefix);
    block[148..156].copy_from_slice(b"        ");
    let sum: u32 = block.iter().map(|byte| u32::from(*byte)).sum();
    block[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    block
}

pub(crate) fn tar_entry(tar: &mut Vec<u8>, header: &[u8], content: &[u8]) {
    tar.extend_from_slice(header);
    tar.extend_from_slice(content);
    tar.resize(tar.len().next_multiple_of(512), 0);
}

pub(crate) fn tar_file(tar: &mut Vec<u8>, name: &str, content: &[u8]) {
    tar_entry(
        tar,
        &tar_header(name.as_bytes(), content.len() as u64, b'0', b""),
        content,
    );
}

pub(crate) fn pax_record(key: &str, value: &str) -> Vec<u8> {
    let body = format!(" {key}={value}\n");
    let mut length = body.len() + 1;
    while format!("{length}{body}").len() != length {
        length += 1;
    }
    format!("{length}{body}").into_bytes()
}

pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
    gzip_with(bytes, Compression::fast())
}

pub(crate) fn gzip_with(bytes: &[u8], level: Compression) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), level);
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// A gzipped tar of regular files, closed by two zero blocks.
pub(crate) fn sdist(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut tar = Vec::new();
    for (name, content) in files {
        tar_file(&mut tar, name, content);
    }
    tar.extend_from_slice(&[0; 1024]);
    gzip(&tar)
}
