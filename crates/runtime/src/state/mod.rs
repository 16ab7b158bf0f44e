//! Per-container state directories under the runtime root (`--root`):
//! `<root>/<id>/state.json` (runc's state JSON plus berth's private part),
//! `config.json` (the config as it was at create time), and `exec.fifo`
//! while the container is created but not started.
//!
//! Operations on one container are serialised with `flock` on its
//! directory; creation is made exclusive by `mkdir` itself, so two creates
//! of one id cannot both succeed.

mod proc_stat;
mod record;
pub mod time;

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;

pub use proc_stat::{proc_stat, ProcStat};
pub use record::{LaterHooks, Private, Record, State, Status};

/// Errors about container state.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("invalid container id {0:?} (use letters, digits, '_', '+', '-' and '.')")]
    InvalidId(String),
    #[error("container {0} already exists")]
    Exists(String),
    #[error("container {0} does not exist")]
    NotFound(String),
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("corrupt state file {path}: {source}")]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> StateError {
    let path = path.to_path_buf();
    move |source| StateError::Io { op, path, source }
}

/// Checks a container id the way runc does: a non-empty name made of
/// `[A-Za-z0-9_+.-]`, not `.` or `..` (it becomes a directory name).
pub fn check_id(id: &str) -> Result<(), StateError> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id.len() <= 1024
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(StateError::InvalidId(id.to_owned()))
    }
}

/// The runtime root: one directory per container.
#[derive(Debug, Clone)]
pub struct Root {
    path: PathBuf,
}

/// How a container directory is locked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    /// Readers (state, list, ps).
    Shared,
    /// Anything that changes the container.
    Exclusive,
}

impl Root {
    pub fn new(path: impl Into<PathBuf>) -> Root {
        Root { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Makes `<root>/<id>` (and the root itself if needed); fails if the id
    /// is taken. The new directory comes back locked exclusively.
    pub fn create(&self, id: &str) -> Result<ContainerDir, StateError> {
        check_id(id)?;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(&self.path)
            .map_err(io_err("create runtime root", &self.path))?;
        let dir = self.path.join(id);
        match fs::DirBuilder::new().mode(0o711).create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(StateError::Exists(id.to_owned()))
            }
            Err(e) => return Err(io_err("create state dir", &dir)(e)),
        }
        let cd = ContainerDir::open_dir(id, dir.clone(), Lock::Exclusive);
        if cd.is_err() {
            let _ = fs::remove_dir_all(&dir);
        }
        cd
    }

    /// Opens an existing container's directory, taking `lock`.
    pub fn open(&self, id: &str, lock: Lock) -> Result<ContainerDir, StateError> {
        check_id(id)?;
        let dir = self.path.join(id);
        let cd = ContainerDir::open_dir(id, dir, lock)?;
        // A delete may have removed the state while we waited for the lock.
        if !cd.state_path().exists() {
            return Err(StateError::NotFound(id.to_owned()));
        }
        Ok(cd)
    }

    /// Ids of every container under the root, sorted.
    pub fn ids(&self) -> Result<Vec<String>, StateError> {
        let entries = match fs::read_dir(&self.path) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err("list", &self.path)(e)),
        };
        let mut ids: Vec<String> = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|id| check_id(id).is_ok())
            .collect();
        ids.sort();
        Ok(ids)
    }
}

/// One container's locked state directory.
#[derive(Debug)]
pub struct ContainerDir {
    id: String,
    dir: PathBuf,
    /// Holds the flock; closing it releases the lock.
    lock: File,
}

impl ContainerDir {
    fn open_dir(id: &str, dir: PathBuf, lock: Lock) -> Result<ContainerDir, StateError> {
        let f = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
            .open(&dir)
            .map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => StateError::NotFound(id.to_owned()),
                _ => io_err("open state dir", &dir)(e),
            })?;
        let op = match lock {
            Lock::Shared => libc::LOCK_SH,
            Lock::Exclusive => libc::LOCK_EX,
        };
        loop {
            // SAFETY: flock on a descriptor we own; no memory is involved.
            let r = unsafe { libc::flock(f.as_raw_fd(), op) };
            if r == 0 {
                break;
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(io_err("lock state dir", &dir)(e));
            }
        }
        Ok(ContainerDir {
            id: id.to_owned(),
            dir,
            lock: f,
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The descriptor holding the lock (a child process must close its
    /// copy, or the lock would outlive this process).
    pub fn lock_fd(&self) -> i32 {
        self.lock.as_raw_fd()
    }

    pub fn state_path(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.json")
    }

    pub fn fifo_path(&self) -> PathBuf {
        self.dir.join("exec.fifo")
    }

    /// Reads `state.json`.
    pub fn read(&self) -> Result<Record, StateError> {
        let path = self.state_path();
        let bytes = fs::read(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StateError::NotFound(self.id.clone()),
            _ => io_err("read", &path)(e),
        })?;
        serde_json::from_slice(&bytes).map_err(|source| StateError::Corrupt { path, source })
    }

    /// Writes `state.json` atomically (temp file + rename).
    pub fn write(&self, record: &Record) -> Result<(), StateError> {
        let bytes = serde_json::to_vec(record).map_err(|source| StateError::Corrupt {
            path: self.state_path(),
            source,
        })?;
        write_atomic(&self.state_path(), &bytes)
    }

    /// Saves the config used at create time. Written in place, not through
    /// a temp file: it is written once, by `create`, under the exclusive
    /// lock and before `state.json` exists, and every reader locks the
    /// directory and finds `state.json` first (see [`Root::open`]).
    pub fn write_config(&self, spec: &Spec) -> Result<(), StateError> {
        let path = self.config_path();
        let bytes = serde_json::to_vec(spec).map_err(|source| StateError::Corrupt {
            path: path.clone(),
            source,
        })?;
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .custom_flags(libc::O_CLOEXEC)
            .open(&path)
            .map_err(io_err("create", &path))?;
        f.write_all(&bytes).map_err(io_err("write", &path))
    }

    /// Reads the config saved at create time.
    pub fn read_config(&self) -> Result<Spec, StateError> {
        let path = self.config_path();
        let bytes = fs::read(&path).map_err(io_err("read", &path))?;
        serde_json::from_slice(&bytes).map_err(|source| StateError::Corrupt { path, source })
    }

    /// Removes the whole directory (the lock goes with it).
    pub fn remove(self) -> Result<(), StateError> {
        fs::remove_dir_all(&self.dir).map_err(io_err("remove state dir", &self.dir))
    }
}

/// Writes `bytes` to `path` through a temp file in the same directory, so
/// readers never see a half-written file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    let tmp = path.with_extension("tmp");
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .custom_flags(libc::O_CLOEXEC)
        .open(&tmp)
        .map_err(io_err("create", &tmp))?;
    f.write_all(bytes).map_err(io_err("write", &tmp))?;
    drop(f);
    fs::rename(&tmp, path).map_err(io_err("rename", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        for ok in ["a", "web-1", "x.y_z+1", "ABC"] {
            assert!(check_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "a b", "é", "../x"] {
            assert!(check_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn create_refuses_duplicates_and_open_finds() -> Result<(), Box<dyn std::error::Error>> {
        let tmp = tempfile::tempdir()?;
        let root = Root::new(tmp.path().join("root"));
        let dir = root.create("c1")?;
        assert!(matches!(root.create("c1"), Err(StateError::Exists(_))));
        drop(dir);
        assert!(matches!(
            root.open("c1", Lock::Shared),
            Err(StateError::NotFound(_))
        ));
        assert!(matches!(
            root.open("nope", Lock::Shared),
            Err(StateError::NotFound(_))
        ));
        assert_eq!(root.ids()?, vec!["c1".to_owned()]);
        Ok(())
    }
}
