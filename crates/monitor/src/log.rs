//! Docker's json-file log: each line of output becomes
//! `{"log":"...\n","stream":"stdout","time":"<RFC 3339 nanos>"}`; a line
//! longer than 16 KiB is cut into several entries (as dockerd does). The
//! file is rotated at `max_size`: `<path>.1` is the newest old file, and
//! `max_file` counts every file including the current one.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// Longest entry before a line is cut (dockerd's buffer size).
const MAX_ENTRY: usize = 16 * 1024;

#[derive(Serialize)]
struct Entry<'a> {
    log: &'a str,
    stream: &'a str,
    time: &'a str,
}

/// Appends output to a json-file log, line by line per stream.
pub struct JsonFileLog {
    path: PathBuf,
    file: File,
    size: u64,
    max_size: Option<u64>,
    max_file: u32,
    /// Unfinished line of stdout (0) and stderr (1).
    partial: [Vec<u8>; 2],
}

fn stream_name(stream: usize) -> &'static str {
    if stream == 0 {
        "stdout"
    } else {
        "stderr"
    }
}

impl JsonFileLog {
    pub fn open(path: &Path, max_size: Option<u64>, max_file: u32) -> std::io::Result<JsonFileLog> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(JsonFileLog {
            path: path.to_path_buf(),
            file,
            size,
            max_size,
            max_file: max_file.max(1),
            partial: [Vec::new(), Vec::new()],
        })
    }

    /// Output of `stream` (0 stdout, 1 stderr): complete lines are written.
    pub fn write(&mut self, stream: usize, data: &[u8]) -> std::io::Result<()> {
        let mut buf = std::mem::take(&mut self.partial[stream]);
        buf.extend_from_slice(data);
        let mut start = 0;
        while let Some(nl) = buf[start..].iter().position(|&b| b == b'\n') {
            let end = start + nl + 1;
            self.entry(stream, &buf[start..end])?;
            start = end;
        }
        while buf.len() - start >= MAX_ENTRY {
            self.entry(stream, &buf[start..start + MAX_ENTRY])?;
            start += MAX_ENTRY;
        }
        buf.drain(..start);
        self.partial[stream] = buf;
        Ok(())
    }

    /// Writes what is left of unfinished lines (at exit).
    pub fn flush(&mut self) -> std::io::Result<()> {
        for stream in 0..2 {
            let rest = std::mem::take(&mut self.partial[stream]);
            if !rest.is_empty() {
                self.entry(stream, &rest)?;
            }
        }
        Ok(())
    }

    fn entry(&mut self, stream: usize, line: &[u8]) -> std::io::Result<()> {
        let time = berth_runtime::state::time::now_rfc3339();
        let text = String::from_utf8_lossy(line);
        let mut out = serde_json::to_vec(&Entry {
            log: &text,
            stream: stream_name(stream),
            time: &time,
        })
        .map_err(std::io::Error::other)?;
        out.push(b'\n');
        if let Some(max) = self.max_size {
            if self.size > 0 && self.size + out.len() as u64 > max {
                self.rotate()?;
            }
        }
        self.file.write_all(&out)?;
        self.size += out.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        let name = |n: u32| PathBuf::from(format!("{}.{n}", self.path.display()));
        if self.max_file > 1 {
            let _ = std::fs::remove_file(name(self.max_file - 1));
            for n in (1..self.max_file - 1).rev() {
                let _ = std::fs::rename(name(n), name(n + 1));
            }
            std::fs::rename(&self.path, name(1))?;
        }
        self.file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(path: &Path) -> Vec<serde_json::Value> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("each line is JSON"))
            .collect()
    }

    #[test]
    fn lines_become_entries_per_stream() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c-json.log");
        let mut log = JsonFileLog::open(&path, None, 1).expect("open");
        log.write(0, b"hel").expect("write");
        log.write(1, b"oops\n").expect("write");
        log.write(0, b"lo\nwor").expect("write");
        log.flush().expect("flush");
        let e = entries(&path);
        assert_eq!(e.len(), 3);
        assert_eq!(e[0]["log"], "oops\n");
        assert_eq!(e[0]["stream"], "stderr");
        assert_eq!(e[1]["log"], "hello\n");
        assert_eq!(e[1]["stream"], "stdout");
        assert_eq!(e[2]["log"], "wor");
        assert!(e[2]["time"].as_str().is_some_and(|t| t.ends_with('Z')));
    }

    #[test]
    fn rotation_keeps_max_file_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c-json.log");
        let mut log = JsonFileLog::open(&path, Some(200), 3).expect("open");
        for i in 0..40 {
            log.write(0, format!("line {i}\n").as_bytes())
                .expect("write");
        }
        let rotated = |n: u32| PathBuf::from(format!("{}.{n}", path.display()));
        assert!(rotated(1).exists());
        assert!(rotated(2).exists());
        assert!(!rotated(3).exists());
        let cur = entries(&path);
        assert!(!cur.is_empty());
        assert_eq!(
            cur.last().map(|e| e["log"].clone()),
            Some("line 39\n".into())
        );
        assert!(std::fs::metadata(&path).expect("stat").len() <= 200);
    }
}
