//! The engine's errors, each with the HTTP status Docker gives it.

/// An engine error; [`EngineError::status`] is Docker's status code for it.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// 404: no such container, image, exec instance, volume or network.
    #[error("{0}")]
    NotFound(String),
    /// 409: name in use, container running, volume in use.
    #[error("{0}")]
    Conflict(String),
    /// 400: a bad parameter or body.
    #[error("{0}")]
    Invalid(String),
    /// 501: a feature berth does not have.
    #[error("{0}")]
    NotImplemented(String),
    /// 403: an operation Docker forbids (removing a pre-defined network).
    #[error("{0}")]
    Forbidden(String),
    /// 401: a registry refused the credentials (`POST /auth`).
    #[error("{0}")]
    Unauthorized(String),
    /// 304: nothing to do (start of a running container, stop of a stopped one).
    #[error("{0}")]
    NotModified(String),
    #[error("store: {0}")]
    Store(#[from] berth_store::StoreError),
    #[error("runtime: {0}")]
    Runtime(#[from] berth_runtime::Error),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// 500 with a message for the user.
    #[error("{0}")]
    Internal(String),
    /// A build's RUN step exited non-zero: the message and the exit code
    /// (dockerd's build stream carries it as `errorDetail.code`).
    #[error("{message}")]
    BuildRun { message: String, code: i32 },
}

impl EngineError {
    /// Docker's HTTP status for this error.
    pub fn status(&self) -> u16 {
        match self {
            EngineError::NotFound(_) => 404,
            EngineError::Conflict(_) => 409,
            EngineError::Invalid(_) => 400,
            EngineError::NotImplemented(_) => 501,
            EngineError::NotModified(_) => 304,
            EngineError::Forbidden(_) => 403,
            EngineError::Unauthorized(_) => 401,
            _ => 500,
        }
    }

    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> EngineError {
        let context = context.into();
        move |source| EngineError::Io { context, source }
    }

    pub fn no_container(id: &str) -> EngineError {
        EngineError::NotFound(format!("No such container: {id}"))
    }
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;
