//! ADD's local archives: a tar (plain or gzip) in the context is
//! extracted at the destination instead of copied, as docker's ADD does.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use crate::error::{BuildError, Result};

/// If `p` is a tar archive, its content extracted into a temp dir.
pub fn extract_if_archive(p: &Path) -> Result<Option<tempfile::TempDir>> {
    let open =
        || std::fs::File::open(p).map_err(BuildError::io(format!("opening {}", p.display())));
    let mut r = BufReader::new(open()?);
    let head = r
        .fill_buf()
        .map_err(BuildError::io(format!("reading {}", p.display())))?;
    let gz = head.starts_with(&[0x1f, 0x8b]);
    let reader: Box<dyn Read> = if gz {
        Box::new(flate2::read::GzDecoder::new(r))
    } else {
        Box::new(r)
    };
    if !gz && !is_tar(p)? {
        return Ok(None);
    }
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
    if let Err(e) = a.unpack(dir.path()) {
        if gz {
            return Err(BuildError::Context(format!(
                "ADD {}: extracting: {e}",
                p.display()
            )));
        }
        return Ok(None);
    }
    Ok(Some(dir))
}

/// A ustar header at offset 257 ("ustar").
fn is_tar(p: &Path) -> Result<bool> {
    let mut f =
        std::fs::File::open(p).map_err(BuildError::io(format!("opening {}", p.display())))?;
    let mut buf = [0u8; 512];
    let mut n = 0;
    while n < 512 {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) => return Err(BuildError::io(format!("reading {}", p.display()))(e)),
        }
    }
    Ok(n == 512 && &buf[257..262] == b"ustar")
}
