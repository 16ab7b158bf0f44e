//! The crate's error: one variant per module error, plus the lifecycle
//! errors (wrong state) that runtime-spec requires.

use std::path::PathBuf;

use crate::bundle::BundleError;
use crate::cgroups::CgroupError;
use crate::hooks::HookError;
use crate::launch::build::BuildError;
use crate::launch::{LaunchError, NsError};
use crate::rootfs::RootfsError;
use crate::state::{StateError, Status};

/// Everything a runtime operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("cgroups: {0}")]
    Cgroup(#[from] CgroupError),
    #[error(transparent)]
    Launch(#[from] LaunchError),
    #[error(transparent)]
    Namespace(#[from] NsError),
    #[error(transparent)]
    Rootfs(#[from] RootfsError),
    #[error(transparent)]
    Process(#[from] BuildError),
    #[error(transparent)]
    Hook(#[from] HookError),
    #[error("cannot {op} container {id}: it is {status}")]
    WrongState {
        op: &'static str,
        id: String,
        status: Status,
    },
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
    /// An external OCI runtime (runc, crun) failed a verb.
    #[error("{runtime} {op}: {message}")]
    External {
        runtime: String,
        op: &'static str,
        message: String,
    },
}

impl Error {
    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { op, path, source }
    }
}
