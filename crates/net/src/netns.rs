//! Network namespace handles.
//!
//! A [`NetNs`] is an open file descriptor on a network namespace (an nsfs
//! file: `/proc/<pid>/ns/net`, or a bind mount of one such as
//! `/run/berth/netns/<id>`). Holding the fd keeps the namespace alive.
//!
//! Namespaces are per *thread*: `setns` on a thread moves only that thread,
//! and a thread of a multi-threaded process cannot safely be moved back and
//! forth while other code runs on it. So [`NetNs::run_in`] runs a closure on a
//! fresh, short-lived thread that joins the namespace and then exits; the
//! caller's thread never changes namespace.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};

/// `NS_GET_NSTYPE` from `<linux/nsfs.h>`: `_IO(0xb7, 0x3)`.
const NS_GET_NSTYPE: libc::c_ulong = 0xb703;
/// `SIOCGSKNS` from `<linux/sockios.h>`: an fd for a socket's netns.
const SIOCGSKNS: libc::c_ulong = 0x894c;

/// An fd on the calling thread's network namespace, found through a socket
/// (`SIOCGSKNS`) rather than `/proc/thread-self`: a thread that joined
/// another PID namespace's mount namespace may have no entry in its `/proc`.
fn thread_netns_fd() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2); the result is checked and owned at once.
    let sock = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if sock < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: sock is a fresh valid fd that nothing else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(sock) };
    // SAFETY: SIOCGSKNS takes no argument and returns a new fd (or -1).
    let ns = unsafe { libc::ioctl(sock.as_raw_fd(), SIOCGSKNS as _) };
    if ns < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the ioctl returned a fresh fd that we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(ns) })
}

/// Bind-mounts the namespace `ns_fd` on `target` with the new mount API
/// (open_tree + move_mount), which needs no `/proc` path.
fn bind_ns_fd(ns_fd: &OwnedFd, target: &Path) -> io::Result<()> {
    let empty = c"";
    let target = std::ffi::CString::new(target.as_os_str().as_encoded_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: open_tree reads the NUL-terminated empty path and the fd only;
    // the result is checked and owned below.
    let tree = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            ns_fd.as_raw_fd(),
            empty.as_ptr(),
            (libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC | libc::AT_EMPTY_PATH as u32)
                as libc::c_uint,
        )
    };
    if tree < 0 {
        return Err(io::Error::last_os_error());
    }
    let tree_fd = i32::try_from(tree).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
    // SAFETY: open_tree returned a fresh fd that we own from here on.
    let tree = unsafe { OwnedFd::from_raw_fd(tree_fd) };
    // SAFETY: move_mount reads two NUL-terminated paths and two fds, all valid
    // for the duration of the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_FDCWD,
            target.as_ptr(),
            libc::MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Errors from namespace handling.
#[derive(Debug, thiserror::Error)]
pub enum NetNsError {
    /// The path could not be opened.
    #[error("cannot open netns {path}: {source}")]
    Open {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The path exists but is not a network namespace.
    #[error("{path} is not a network namespace")]
    NotNetNs {
        /// The path.
        path: PathBuf,
    },
    /// Creating a new namespace failed at `step`.
    #[error("cannot create netns {path}: {step}: {source}")]
    Create {
        /// The bind-mount path.
        path: PathBuf,
        /// Which step failed (mkdir, create file, unshare, bind mount).
        step: &'static str,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Unmounting or removing a bind-mounted namespace failed.
    #[error("cannot delete netns {path}: {step}: {source}")]
    Delete {
        /// The bind-mount path.
        path: PathBuf,
        /// Which step failed (unmount, remove).
        step: &'static str,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The worker thread could not join the namespace.
    #[error("cannot enter netns {path}: {source}")]
    Enter {
        /// The namespace's path (or a description).
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The worker thread could not be spawned.
    #[error("cannot spawn netns worker thread: {0}")]
    Spawn(#[source] io::Error),
    /// The closure run inside the namespace panicked.
    #[error("closure run in netns {path} panicked")]
    Panicked {
        /// The namespace's path.
        path: PathBuf,
    },
}

/// An open handle on a network namespace.
#[derive(Debug)]
pub struct NetNs {
    file: File,
    path: PathBuf,
}

impl NetNs {
    /// Opens the namespace at `path` (an nsfs file or a bind mount of one).
    /// Fails with [`NetNsError::NotNetNs`] for any other file, including a
    /// namespace of another type.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, NetNsError> {
        let path = path.as_ref().to_path_buf();
        let file = File::open(&path).map_err(|source| NetNsError::Open {
            path: path.clone(),
            source,
        })?;
        // SAFETY: NS_GET_NSTYPE takes no argument and only reads the fd; on a
        // file that is not an nsfs file it fails with ENOTTY.
        let kind = unsafe { libc::ioctl(file.as_raw_fd(), NS_GET_NSTYPE as _) };
        if kind != libc::CLONE_NEWNET {
            return Err(NetNsError::NotNetNs { path });
        }
        Ok(NetNs { file, path })
    }

    /// The namespace of the calling thread.
    pub fn current() -> Result<Self, NetNsError> {
        let path = PathBuf::from("/proc/thread-self/ns/net");
        let fd = thread_netns_fd().map_err(|source| NetNsError::Open {
            path: path.clone(),
            source,
        })?;
        Ok(NetNs {
            file: File::from(fd),
            path,
        })
    }

    /// The namespace of process `pid`.
    pub fn from_pid(pid: u32) -> Result<Self, NetNsError> {
        Self::open(format!("/proc/{pid}/ns/net"))
    }

    /// Creates a new, empty network namespace (only a down `lo`) and
    /// bind-mounts it at `dir/name` (creating `dir`), like `ip netns add`.
    /// The namespace lives until [`NetNs::delete`] (or [`NetNs::remove`])
    /// unmounts it and every handle and process in it is gone.
    pub fn create(dir: impl AsRef<Path>, name: &str) -> Result<Self, NetNsError> {
        let path = dir.as_ref().join(name);
        let err = |step: &'static str| {
            let path = path.clone();
            move |source: io::Error| NetNsError::Create { path, step, source }
        };
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return Err(NetNsError::Create {
                path,
                step: "check name",
                source: io::Error::from(io::ErrorKind::InvalidInput),
            });
        }
        fs::create_dir_all(dir.as_ref()).map_err(err("create directory"))?;
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(err("create mount point"))?;
        let mounted = std::thread::scope(|s| {
            std::thread::Builder::new()
                .name("berth-netns-create".into())
                .spawn_scoped(s, || -> Result<(), NetNsError> {
                    // This thread alone moves to the new namespace, then exits.
                    unshare(CloneFlags::CLONE_NEWNET).map_err(|e| err("unshare")(e.into()))?;
                    let fd = thread_netns_fd().map_err(err("open new netns"))?;
                    match bind_ns_fd(&fd, &path) {
                        Ok(()) => Ok(()),
                        // Kernels before 5.2 lack open_tree: use the /proc path.
                        Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => mount(
                            Some("/proc/thread-self/ns/net"),
                            &path,
                            None::<&str>,
                            MsFlags::MS_BIND,
                            None::<&str>,
                        )
                        .map_err(|e| err("bind mount")(e.into())),
                        Err(e) => Err(err("bind mount")(e)),
                    }
                })
                .map_err(NetNsError::Spawn)?
                .join()
                .map_err(|_| NetNsError::Panicked { path: path.clone() })?
        });
        if let Err(e) = mounted {
            let _ = fs::remove_file(&path);
            return Err(e);
        }
        match Self::open(&path) {
            Ok(ns) => Ok(ns),
            Err(e) => {
                let _ = Self::remove(&path);
                Err(e)
            }
        }
    }

    /// Unmounts and removes a namespace bind mount made by [`NetNs::create`]
    /// (or `ip netns add`). A path that does not exist is not an error, so
    /// deletion is idempotent.
    pub fn remove(path: impl AsRef<Path>) -> Result<(), NetNsError> {
        let path = path.as_ref();
        let err = |step: &'static str| {
            let path = path.to_path_buf();
            move |source: io::Error| NetNsError::Delete { path, step, source }
        };
        match umount2(path, MntFlags::MNT_DETACH) {
            Ok(()) => {}
            // EINVAL: exists but not a mount point (a half-made namespace);
            // ENOENT: already gone.
            Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
            Err(e) => return Err(err("unmount")(e.into())),
        }
        match fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(err("remove mount point")(e)),
        }
    }

    /// Closes this handle and unmounts/removes its bind mount (see
    /// [`NetNs::remove`]). Do not call on a `/proc/.../ns/net` handle.
    pub fn delete(self) -> Result<(), NetNsError> {
        let NetNs { file, path } = self;
        drop(file);
        Self::remove(&path)
    }

    /// The path this handle was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` with the calling thread in this namespace, and returns its
    /// result. Sockets (netlink included) that `f` creates belong to this
    /// namespace and stay there when used from other threads.
    ///
    /// The thread joins the namespace and goes back to its own when `f`
    /// returns or unwinds: two `setns` calls. A dedicated thread, as this
    /// did before, cost a clone, a stack and a malloc arena per call, which
    /// a CNI plugin paid on every ADD and DEL. Should going back ever fail,
    /// the process aborts rather than go on acting in the wrong network.
    /// Where the thread's own namespace cannot be opened (no /proc), `f`
    /// runs on a dedicated thread as before; the kernel refuses to start
    /// one from a thread that has joined another PID namespace (`EINVAL`,
    /// reported as [`NetNsError::Spawn`]).
    pub fn run_in<T, F>(&self, f: F) -> Result<T, NetNsError>
    where
        F: FnOnce() -> T + Send,
        T: Send,
    {
        let Ok(home) = File::open("/proc/thread-self/ns/net") else {
            return self.run_in_thread(f);
        };
        setns(self.file.as_fd(), CloneFlags::CLONE_NEWNET).map_err(|e| NetNsError::Enter {
            path: self.path.clone(),
            source: e.into(),
        })?;
        let _back = GoBack(home);
        Ok(f())
    }

    fn run_in_thread<T, F>(&self, f: F) -> Result<T, NetNsError>
    where
        F: FnOnce() -> T + Send,
        T: Send,
    {
        std::thread::scope(|s| {
            std::thread::Builder::new()
                .name("berth-netns".into())
                .spawn_scoped(s, || -> Result<T, NetNsError> {
                    setns(self.file.as_fd(), CloneFlags::CLONE_NEWNET).map_err(|e| {
                        NetNsError::Enter {
                            path: self.path.clone(),
                            source: e.into(),
                        }
                    })?;
                    Ok(f())
                })
                .map_err(NetNsError::Spawn)?
                .join()
                .map_err(|_| NetNsError::Panicked {
                    path: self.path.clone(),
                })?
        })
    }

    /// Whether `self` and `other` are the same namespace (same nsfs inode).
    pub fn same_as(&self, other: &NetNs) -> Result<bool, NetNsError> {
        use std::os::unix::fs::MetadataExt;
        let meta = |ns: &NetNs| {
            ns.file.metadata().map_err(|source| NetNsError::Open {
                path: ns.path.clone(),
                source,
            })
        };
        let (a, b) = (meta(self)?, meta(other)?);
        Ok(a.dev() == b.dev() && a.ino() == b.ino())
    }
}

/// Puts the calling thread back into the network namespace `0` on drop.
struct GoBack(File);

impl Drop for GoBack {
    fn drop(&mut self) {
        if let Err(e) = setns(self.0.as_fd(), CloneFlags::CLONE_NEWNET) {
            // Every later network call of this thread would act in the
            // other namespace: stop here.
            eprintln!("berth: cannot return to the thread's network namespace: {e}");
            std::process::abort();
        }
    }
}

impl AsFd for NetNs {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

impl AsRawFd for NetNs {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.file.as_raw_fd()
    }
}
