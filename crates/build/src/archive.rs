//! ADD's local archives: a tar in the context (plain, gzip, bzip2, xz or
//! zstd, told by its content as docker does) is extracted at the
//! destination instead of copied. A compressed file that is not a tar
//! inside (`notes.txt.gz`) is copied as it is, as docker copies it.

use std::io::Read;
use std::path::Path;

use berth_image::compression::{self, StreamFormat};

use crate::error::{BuildError, Result};

/// If `p` is a tar archive, its content extracted into a temp dir.
pub fn extract_if_archive(p: &Path) -> Result<Option<tempfile::TempDir>> {
    let open = || -> Result<(StreamFormat, Box<dyn Read>)> {
        let f =
            std::fs::File::open(p).map_err(BuildError::io(format!("opening {}", p.display())))?;
        compression::open_stream(f).map_err(BuildError::io(format!("reading {}", p.display())))
    };
    let (format, mut r) = open()?;
    // The first header block, decompressed: a file whose content does not
    // start with a tar header is not an archive (and a compressed stream
    // that does not decode is a file to copy, as docker's isArchivePath says).
    let mut head = [0u8; 512];
    if read_full(&mut r, &mut head).map_or(true, |n| n < 512) || !is_tar_header(&head) {
        return Ok(None);
    }
    let (_, reader) = open()?;
    let dir = tempfile::tempdir().map_err(BuildError::io("creating a temp dir"))?;
    // The destination takes this dir's mode: a directory's usual one, not
    // the temp dir's 0700.
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .map_err(BuildError::io("chmod of a temp dir"))?;
    let mut a = tar::Archive::new(reader);
    a.set_preserve_permissions(true);
    a.set_preserve_ownerships(true);
    a.set_overwrite(true);
    a.unpack(dir.path()).map_err(|e| {
        BuildError::Context(format!("ADD {}: extracting ({format:?}): {e}", p.display()))
    })?;
    Ok(Some(dir))
}

fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// A tar header block: "ustar" at offset 257, or (old v7 tars) a valid
/// checksum over a block that is not all zeros.
fn is_tar_header(b: &[u8; 512]) -> bool {
    if &b[257..262] == b"ustar" {
        return true;
    }
    if b.iter().all(|&x| x == 0) {
        return false;
    }
    let text = String::from_utf8_lossy(&b[148..156]);
    let Ok(want) = u32::from_str_radix(text.trim_matches(|c| c == ' ' || c == '\0'), 8) else {
        return false;
    };
    let sum: u32 = b
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            if (148..156).contains(&i) {
                32
            } else {
                c as u32
            }
        })
        .sum();
    sum == want
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn tarball() -> Vec<u8> {
        let mut tar = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(6);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_cksum();
        tar.append_data(&mut h, "inner/file.txt", &b"in tar"[..])
            .expect("tar");
        tar.into_inner().expect("tar")
    }

    fn compressed(kind: &str, plain: &[u8]) -> Vec<u8> {
        match kind {
            "tar" => plain.to_vec(),
            "gz" => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                e.write_all(plain).expect("gz");
                e.finish().expect("gz")
            }
            "bz2" => {
                let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
                e.write_all(plain).expect("bz2");
                e.finish().expect("bz2")
            }
            "xz" => {
                let mut e = liblzma::write::XzEncoder::new(Vec::new(), 1);
                e.write_all(plain).expect("xz");
                e.finish().expect("xz")
            }
            _ => zstd::encode_all(plain, 1).expect("zstd"),
        }
    }

    #[test]
    fn tars_are_extracted_whatever_their_compression() -> Result<()> {
        let dir = tempfile::tempdir().map_err(BuildError::io("tempdir"))?;
        for kind in ["tar", "gz", "bz2", "xz", "zst"] {
            // A name that does not say the format: the content does.
            let p = dir.path().join(format!("bundle-{kind}.bin"));
            std::fs::write(&p, compressed(kind, &tarball())).map_err(BuildError::io("write"))?;
            let out = extract_if_archive(&p)?
                .ok_or_else(|| BuildError::Context(format!("{kind}: not taken for an archive")))?;
            let text = std::fs::read_to_string(out.path().join("inner/file.txt")).map_err(
                BuildError::io(format!("{kind}: reading the extracted file")),
            )?;
            assert_eq!(text, "in tar", "{kind}");
        }
        Ok(())
    }

    #[test]
    fn compressed_files_that_are_not_tars_are_copied() -> Result<()> {
        let dir = tempfile::tempdir().map_err(BuildError::io("tempdir"))?;
        for kind in ["tar", "gz", "bz2", "xz", "zst"] {
            let p = dir.path().join(format!("notes.{kind}"));
            let text = b"just some notes, long enough to fill a tar header block? no.".repeat(20);
            std::fs::write(&p, compressed(kind, &text)).map_err(BuildError::io("write"))?;
            assert!(extract_if_archive(&p)?.is_none(), "{kind}");
        }
        Ok(())
    }

    #[test]
    fn a_truncated_compressed_tar_is_an_error() -> Result<()> {
        let dir = tempfile::tempdir().map_err(BuildError::io("tempdir"))?;
        let mut tar = tar::Builder::new(Vec::new());
        let body = vec![7u8; 100_000];
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, "big.bin", &body[..])
            .map_err(BuildError::io("tar"))?;
        let full = compressed("xz", &tar.into_inner().map_err(BuildError::io("tar"))?);
        let p = dir.path().join("cut.tar.xz");
        std::fs::write(&p, &full[..full.len() / 2]).map_err(BuildError::io("write"))?;
        match extract_if_archive(&p) {
            Err(BuildError::Context(m)) => assert!(m.contains("extracting"), "{m}"),
            other => panic!("expected an extraction error, got {other:?}"),
        }
        Ok(())
    }
}
