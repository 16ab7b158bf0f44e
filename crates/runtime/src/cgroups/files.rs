//! Reading and writing cgroup control files. Kept in one place so every
//! failure carries the file name (and, for writes, the value).

use std::fs;
use std::io::{self, Write};
use std::path::Path;

use super::error::CgroupError;

/// Writes `value` to `dir/file` with a single `write(2)`, which is what the
/// kernel's cgroup files expect (a split write would be two requests).
pub(crate) fn write(dir: &Path, file: &str, value: &str) -> Result<(), CgroupError> {
    let path = dir.join(file);
    let result = fs::OpenOptions::new()
        .write(true)
        .truncate(false)
        .open(&path)
        .and_then(|mut f| f.write_all(value.as_bytes()));
    result.map_err(|source| CgroupError::Write {
        path,
        value: value.to_owned(),
        source,
    })
}

/// A control file kept open for several writes (devices.allow takes one
/// rule per `write(2)`): one open instead of one per value.
pub(crate) struct ControlFile<'a> {
    dir: &'a Path,
    name: &'a str,
    file: Option<fs::File>,
}

impl<'a> ControlFile<'a> {
    /// Nothing is opened until the first write.
    pub(crate) fn new(dir: &'a Path, name: &'a str) -> Self {
        ControlFile {
            dir,
            name,
            file: None,
        }
    }

    /// Writes `value` as one request, as [`write`] does.
    pub(crate) fn write(&mut self, value: &str) -> Result<(), CgroupError> {
        let result = match &mut self.file {
            Some(f) => f.write_all(value.as_bytes()),
            None => fs::OpenOptions::new()
                .write(true)
                .truncate(false)
                .open(self.dir.join(self.name))
                .and_then(|mut f| {
                    f.write_all(value.as_bytes())?;
                    self.file = Some(f);
                    Ok(())
                }),
        };
        result.map_err(|source| CgroupError::Write {
            path: self.dir.join(self.name),
            value: value.to_owned(),
            source,
        })
    }
}

/// Like [`write`], but a missing file is reported as `Ok(false)` so callers can
/// fall back to another file name (e.g. `blkio.weight` vs `blkio.bfq.weight`).
pub(crate) fn write_if_exists(dir: &Path, file: &str, value: &str) -> Result<bool, CgroupError> {
    match write(dir, file, value) {
        Ok(()) => Ok(true),
        Err(CgroupError::Write { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// Reads `dir/file` as a string with the trailing newline removed.
pub(crate) fn read(dir: &Path, file: &str) -> Result<String, CgroupError> {
    let path = dir.join(file);
    match fs::read_to_string(&path) {
        Ok(s) => Ok(s.trim_end_matches('\n').to_owned()),
        Err(source) => Err(CgroupError::Read { path, source }),
    }
}

/// Reads `dir/file`, `None` if the file does not exist (controller absent, or
/// a kernel without that feature).
pub(crate) fn read_opt(dir: &Path, file: &str) -> Result<Option<String>, CgroupError> {
    match read(dir, file) {
        Ok(s) => Ok(Some(s)),
        Err(CgroupError::Read { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Reads a single number; "max" reads as `u64::MAX` (how runc reports it).
pub(crate) fn read_u64(dir: &Path, file: &str) -> Result<u64, CgroupError> {
    let s = read(dir, file)?;
    parse_u64(&s).ok_or_else(|| CgroupError::Parse {
        path: dir.join(file),
        reason: format!("{s:?} is not a number"),
    })
}

/// [`read_u64`] for an optional file: `Ok(0)` if it does not exist.
pub(crate) fn read_u64_or_zero(dir: &Path, file: &str) -> Result<u64, CgroupError> {
    if dir.join(file).exists() {
        read_u64(dir, file)
    } else {
        Ok(0)
    }
}

pub(crate) fn parse_u64(s: &str) -> Option<u64> {
    let s = s.trim();
    if s == "max" {
        return Some(u64::MAX);
    }
    s.parse().ok()
}

/// Parses a flat keyed file ("key value" per line: memory.stat, cpu.stat,
/// memory.events, pids.events, ...). Lines that are not `key number` are
/// skipped: kernels add fields over time and some are not numbers.
pub(crate) fn parse_flat_keyed(text: &str) -> Vec<(String, u64)> {
    text.lines()
        .filter_map(|line| {
            let mut it = line.split_whitespace();
            let key = it.next()?;
            let value = parse_u64(it.next()?)?;
            if it.next().is_some() {
                return None;
            }
            Some((key.to_owned(), value))
        })
        .collect()
}

/// Reads a flat keyed file; a missing file gives an empty list.
pub(crate) fn read_flat_keyed(dir: &Path, file: &str) -> Result<Vec<(String, u64)>, CgroupError> {
    Ok(read_opt(dir, file)?
        .map(|t| parse_flat_keyed(&t))
        .unwrap_or_default())
}

/// Looks up `key` in a parsed flat keyed file.
pub(crate) fn keyed(entries: &[(String, u64)], key: &str) -> Option<u64> {
    entries.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // in tests a panic is the failure report
mod tests {
    use super::*;

    #[test]
    fn flat_keyed_skips_malformed_lines() {
        let parsed = parse_flat_keyed("low 0\nhigh 3\nmax max\nbogus\nthree a b\noom_kill 2\n");
        assert_eq!(keyed(&parsed, "high"), Some(3));
        assert_eq!(keyed(&parsed, "max"), Some(u64::MAX));
        assert_eq!(keyed(&parsed, "oom_kill"), Some(2));
        assert_eq!(keyed(&parsed, "bogus"), None);
        assert_eq!(parsed.len(), 4);
    }

    #[test]
    fn parse_u64_accepts_max_and_trims() {
        assert_eq!(parse_u64(" 42\n"), Some(42));
        assert_eq!(parse_u64("max"), Some(u64::MAX));
        assert_eq!(parse_u64("-1"), None);
    }
}
