//! `logs`: entries of the json-file log (rotated files oldest first),
//! filtered by since/until/tail, and followed while the container runs.

use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::mpsc;

use super::inspect::parse_time;
use crate::error::{EngineError, Result};
use crate::Engine;

/// One log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// 1 stdout, 2 stderr (stdcopy's numbers).
    pub stream: u8,
    /// RFC 3339 with nanoseconds, as recorded.
    pub time: String,
    pub line: Vec<u8>,
}

/// What the client asked for.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    pub follow: bool,
    pub stdout: bool,
    pub stderr: bool,
    /// Unix seconds (with fraction) bounds.
    pub since: Option<f64>,
    pub until: Option<f64>,
    pub tail: Option<usize>,
}

#[derive(serde::Deserialize)]
struct Raw {
    log: String,
    stream: String,
    time: String,
}

fn parse_line(l: &str) -> Option<LogEntry> {
    let r: Raw = serde_json::from_str(l).ok()?;
    Some(LogEntry {
        stream: if r.stream == "stderr" { 2 } else { 1 },
        time: r.time,
        line: r.log.into_bytes(),
    })
}

fn when(e: &LogEntry) -> f64 {
    parse_time(&e.time)
        .map(|(s, n)| s as f64 + n as f64 / 1e9)
        .unwrap_or(0.0)
}

/// Docker's since/until: unix seconds with fraction, or RFC 3339.
pub fn parse_timestamp(s: &str) -> Result<Option<f64>> {
    if s.is_empty() {
        return Ok(None);
    }
    if let Ok(v) = s.parse::<f64>() {
        return Ok(Some(v));
    }
    parse_time(s)
        .map(|(sec, n)| Some(sec as f64 + n as f64 / 1e9))
        .ok_or_else(|| EngineError::Invalid(format!("invalid timestamp: {s}")))
}

impl Engine {
    /// Streams entries to the returned receiver; ends when the log is read
    /// (and, following, once the container has stopped).
    pub fn logs(&self, name: &str, opts: LogOptions) -> Result<mpsc::Receiver<LogEntry>> {
        let entry = self.lookup(name)?;
        let rec = entry.record();
        let driver = rec
            .host_config
            .log_config
            .as_ref()
            .and_then(|l| l.typ.clone())
            .unwrap_or_default();
        if driver == "none" {
            return Err(EngineError::Invalid(
                "configured logging driver does not support reading".into(),
            ));
        }
        let path = self
            .inner
            .cfg
            .container_dir(&rec.id)
            .join(format!("{}-json.log", rec.id));
        let (tx, rx) = mpsc::channel(256);
        let mut notice = entry.notice.subscribe();
        tokio::task::spawn_blocking(move || {
            let wanted = |e: &LogEntry| {
                ((e.stream == 1 && opts.stdout) || (e.stream == 2 && opts.stderr))
                    && opts.since.is_none_or(|s| when(e) >= s)
                    && opts.until.is_none_or(|u| when(e) <= u)
            };
            let mut files: Vec<PathBuf> = (1..100)
                .map(|n| PathBuf::from(format!("{}.{n}", path.display())))
                .take_while(|p| p.exists())
                .collect();
            files.reverse();
            let mut past: Vec<LogEntry> = Vec::new();
            for f in &files {
                if let Ok(file) = std::fs::File::open(f) {
                    for l in BufReader::new(file).lines().map_while(|l| l.ok()) {
                        if let Some(e) = parse_line(&l).filter(|e| wanted(e)) {
                            past.push(e);
                        }
                    }
                }
            }
            // The current file stays open between reads, so a container
            // removed while its log is followed (docker-py's run does that)
            // is still read to the end; a rotation shows as a new inode.
            let mut pos = 0u64;
            let mut partial = String::new();
            let mut held: Option<std::fs::File> = None;
            let mut read_current = |out: &mut Vec<LogEntry>| {
                use std::os::unix::fs::MetadataExt;
                let on_disk = std::fs::metadata(&path).ok().map(|m| m.ino());
                let held_ino = held
                    .as_ref()
                    .and_then(|f| f.metadata().ok())
                    .map(|m| m.ino());
                let mut rotated = false;
                if held.is_none() || (on_disk.is_some() && on_disk != held_ino) {
                    rotated = held.is_some();
                    match std::fs::File::open(&path) {
                        Ok(f) => held = Some(f),
                        Err(_) if held.is_some() => {}
                        Err(_) => return,
                    }
                }
                if rotated {
                    pos = 0;
                    partial.clear();
                }
                let Some(file) = held.as_mut() else { return };
                if file.seek(SeekFrom::Start(pos)).is_err() {
                    return;
                }
                let mut r = BufReader::new(&*file);
                let mut l = String::new();
                while let Ok(n) = r.read_line(&mut l) {
                    if n == 0 {
                        break;
                    }
                    pos += n as u64;
                    if !l.ends_with('\n') {
                        partial.push_str(&l);
                        l.clear();
                        continue;
                    }
                    let full = std::mem::take(&mut partial) + &l;
                    if let Some(e) = parse_line(full.trim_end()).filter(|e| wanted(e)) {
                        out.push(e);
                    }
                    l.clear();
                }
            };
            read_current(&mut past);
            if let Some(t) = opts.tail {
                let skip = past.len().saturating_sub(t);
                past.drain(..skip);
            }
            for e in past {
                if tx.blocking_send(e).is_err() {
                    return;
                }
            }
            if !opts.follow {
                return;
            }
            loop {
                let running = notice.borrow_and_update().running;
                let mut more = Vec::new();
                read_current(&mut more);
                for e in more {
                    if opts.until.is_some_and(|u| when(&e) > u) {
                        return;
                    }
                    if tx.blocking_send(e).is_err() {
                        return;
                    }
                }
                if !running || tx.is_closed() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        Ok(rx)
    }
}
