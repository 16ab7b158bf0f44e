//! The runtime's verbs, one file each, on a [`Runtime`] (the state root).

pub mod create;
pub mod delete;
pub mod events;
pub mod exec;
mod forward;
pub mod kill;
pub mod list;
pub mod pause;
pub mod ps;
pub mod run;
pub mod signal;
pub mod start;
pub mod status;
mod tty;
pub mod update;

use std::path::{Path, PathBuf};

use crate::state::Root;

/// Warnings an operation produced (hooks that failed where the spec says
/// "log and continue", capped rlimits, ignored config entries).
pub type Warnings = Vec<String>;

/// The runtime: a state root (`--root`) and the verbs on it.
#[derive(Debug, Clone)]
pub struct Runtime {
    root: Root,
}

impl Runtime {
    /// A runtime keeping state under `root` (runc's `--root`).
    pub fn new(root: impl Into<PathBuf>) -> Runtime {
        Runtime {
            root: Root::new(root),
        }
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }

    pub(crate) fn state_root(&self) -> &Root {
        &self.root
    }
}
