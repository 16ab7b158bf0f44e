//! The one error type of the cgroup module. Every variant that touches a file
//! names it, and writes name the value, so a rejected limit is never a mystery.

use std::io;
use std::path::PathBuf;

/// What can go wrong while managing a container's cgroups.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("no cgroup hierarchy is mounted (none found in /proc/self/mountinfo)")]
    NoHierarchy,

    #[error("read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("write {value:?} to {path}: {source}")]
    Write {
        path: PathBuf,
        value: String,
        #[source]
        source: io::Error,
    },

    #[error("create cgroup {path}: {source}")]
    Create {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("parse {path}: {reason}")]
    Parse { path: PathBuf, reason: String },

    #[error("invalid cgroups path {path:?}: {reason}")]
    InvalidPath { path: String, reason: &'static str },

    #[error("invalid {what} {value}: {reason}")]
    InvalidValue {
        what: &'static str,
        value: String,
        reason: String,
    },

    #[error("{what} needs the {controller} cgroup controller, which is not available ({detail})")]
    MissingController {
        what: &'static str,
        controller: &'static str,
        detail: String,
    },

    #[error("{what} is not supported on cgroup v2")]
    UnsupportedOnV2 { what: &'static str },

    #[error("the kernel stored {stored:?} in {path} instead of {wanted:?}")]
    NotApplied {
        path: PathBuf,
        wanted: String,
        stored: String,
    },

    #[error("memory usage {usage} of {path} is above the new limit {limit}")]
    UsageAboveLimit {
        path: PathBuf,
        usage: u64,
        limit: i64,
    },

    #[error("freezing {path} did not finish (state still {state:?}); thawed it again")]
    FreezeIncomplete { path: PathBuf, state: String },

    #[error("remove cgroup: {}", list_failures(.0))]
    Remove(Vec<(PathBuf, io::Error)>),

    #[error("device cgroup program for {path}: {reason}")]
    DeviceProgram { path: PathBuf, reason: String },
}

fn list_failures(failures: &[(PathBuf, io::Error)]) -> String {
    failures
        .iter()
        .map(|(p, e)| format!("{}: {e}", p.display()))
        .collect::<Vec<_>>()
        .join("; ")
}
