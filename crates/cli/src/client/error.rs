//! What can go wrong talking to the daemon, typed so commands can pick
//! docker's exit codes (a daemon error, an unreachable daemon, bad input).

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ClientError {
    /// The socket could not be reached: docker's "Cannot connect" message.
    #[error("Cannot connect to the berth daemon at {host} ({cause}). Is the daemon running?")]
    Connect { host: String, cause: std::io::Error },
    #[error("unsupported host {0:?}: only unix:// sockets are supported")]
    UnsupportedHost(String),
    /// The daemon answered with a non-2xx status and (usually) a JSON `{"message"}`.
    #[error("Error response from daemon: {message}")]
    Daemon { status: u16, message: String },
    #[error("i/o error talking to the daemon")]
    Io(#[from] std::io::Error),
    #[error("malformed HTTP response from the daemon: {0}")]
    Protocol(String),
    #[error("cannot decode the daemon's answer")]
    Decode(#[from] serde_json::Error),
}

impl ClientError {
    /// The HTTP status of a daemon error, if this is one.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Daemon { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }
}

pub type Result<T> = std::result::Result<T, ClientError>;
