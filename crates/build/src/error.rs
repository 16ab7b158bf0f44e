//! The builder's errors.

use crate::dockerfile::ParseError;

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// An instruction failed; the message is docker's where it has one.
    #[error("Dockerfile line {line}: {message}")]
    Step { line: usize, message: String },
    /// A RUN command exited non-zero; `code` is its exit code (dockerd's
    /// error message carries it as `errorDetail.code`).
    #[error("Dockerfile line {line}: {message}")]
    RunFailed {
        line: usize,
        message: String,
        code: i32,
    },
    /// The context (missing file, path outside it, unreadable).
    #[error("{0}")]
    Context(String),
    /// A bad build option (`--target`, `--network`, a tag).
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Image(#[from] berth_image::ImageError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl BuildError {
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BuildError {
        let what = what.into();
        move |source| BuildError::Io { what, source }
    }

    /// This error, said to come from the instruction at `line` (errors
    /// that carry a line already keep theirs).
    pub(crate) fn at(self, line: usize) -> BuildError {
        match self {
            e @ (BuildError::Step { .. } | BuildError::RunFailed { .. } | BuildError::Parse(_)) => {
                e
            }
            e => BuildError::Step {
                line,
                message: e.to_string(),
            },
        }
    }
}

pub type Result<T> = std::result::Result<T, BuildError>;
