//! Which daemon socket to talk to: `-H/--host`, then `BERTH_HOST`, then
//! `DOCKER_HOST`, then berth's default socket.

use std::path::PathBuf;

use super::error::{ClientError, Result};

pub const DEFAULT_SOCKET: &str = "/run/berth/berth.sock";

/// Resolve the host from the flag and the environment (passed in so tests
/// need not touch the process environment).
pub fn resolve(
    flag: Option<&str>,
    berth_host: Option<&str>,
    docker_host: Option<&str>,
) -> Result<PathBuf> {
    let chosen = flag
        .or(berth_host)
        .or(docker_host)
        .filter(|h| !h.is_empty());
    match chosen {
        None => Ok(PathBuf::from(DEFAULT_SOCKET)),
        Some(h) => parse(h),
    }
}

/// `unix:///path` or a bare absolute path; tcp/ssh/npipe are refused.
pub fn parse(host: &str) -> Result<PathBuf> {
    if let Some(path) = host.strip_prefix("unix://") {
        if path.is_empty() {
            return Ok(PathBuf::from(DEFAULT_SOCKET));
        }
        return Ok(PathBuf::from(path));
    }
    if host.starts_with('/') {
        return Ok(PathBuf::from(host));
    }
    Err(ClientError::UnsupportedHost(host.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_wins_over_environment() {
        let p = resolve(Some("unix:///a.sock"), Some("unix:///b.sock"), Some("/c")).unwrap();
        assert_eq!(p, PathBuf::from("/a.sock"));
        let p = resolve(None, Some("unix:///b.sock"), Some("/c")).unwrap();
        assert_eq!(p, PathBuf::from("/b.sock"));
        let p = resolve(None, None, Some("/c")).unwrap();
        assert_eq!(p, PathBuf::from("/c"));
        assert_eq!(
            resolve(None, None, None).unwrap(),
            PathBuf::from(DEFAULT_SOCKET)
        );
    }

    #[test]
    fn tcp_hosts_are_refused() {
        assert!(matches!(
            parse("tcp://127.0.0.1:2375"),
            Err(ClientError::UnsupportedHost(_))
        ));
    }
}
