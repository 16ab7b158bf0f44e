//! berthd's side of a monitor: starting one (fork+exec of `berth-monitor`
//! beside berthd, or of berthd's own binary in its `monitor` mode) and
//! speaking its attach-socket protocol.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use berth_monitor::protocol::Request;
use berth_monitor::MonitorConfig;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use crate::error::{EngineError, Result};

/// A monitor that reported ready.
#[derive(Debug, Clone)]
pub struct MonitorHandle {
    pub pid: i32,
    pub socket: PathBuf,
}

/// Starts a monitor for `cfg` and waits until it is ready (for a
/// container: created, its init waiting for `start`).
/// `args` go before the config path (`monitor` for berthd's own binary).
pub async fn spawn(binary: &Path, args: &[String], cfg: &MonitorConfig) -> Result<MonitorHandle> {
    let dir = &cfg.state_dir;
    let cfg_path = dir.join("monitor.json");
    let bytes = serde_json::to_vec(cfg)
        .map_err(|e| EngineError::Internal(format!("encoding monitor config: {e}")))?;
    tokio::fs::write(&cfg_path, bytes)
        .await
        .map_err(EngineError::io(format!("writing {}", cfg_path.display())))?;
    let log = std::fs::File::create(dir.join("monitor.log"))
        .map_err(EngineError::io("creating monitor log"))?;
    let mut child = tokio::process::Command::new(binary)
        .args(args)
        .arg(&cfg_path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .map_err(EngineError::io(format!(
            "starting monitor {}",
            binary.display()
        )))?;
    let pid = child.id().unwrap_or(0) as i32;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| EngineError::Internal("monitor has no stdout".into()))?;
    // The monitor outlives us or not: either way reap it when it exits.
    tokio::spawn(async move {
        let _ = child.wait().await;
    });
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .await
        .map_err(EngineError::io("reading from monitor"))?;
    let line = line.trim_end();
    if line == "ready" {
        return Ok(MonitorHandle {
            pid,
            socket: cfg.attach_socket(),
        });
    }
    let msg = line.strip_prefix("err ").unwrap_or(if line.is_empty() {
        "the monitor exited before it was ready"
    } else {
        line
    });
    Err(start_error(msg))
}

/// A start failure as Docker words it: the docker CLI maps "executable
/// file not found" / "no such file" to 127 and "permission denied" to 126.
pub fn start_error(msg: &str) -> EngineError {
    // Go's wording of the errno texts, which the CLI matches on.
    let msg = msg
        .replace("No such file or directory", "no such file or directory")
        .replace("Permission denied", "permission denied")
        .replace("Is a directory", "is a directory");
    EngineError::Invalid(format!(
        "failed to create task for container: OCI runtime create failed: {msg}"
    ))
}

/// Sends a one-line request and reads the one-line answer.
pub async fn request(socket: &Path, req: Request) -> Result<String> {
    let mut s = UnixStream::connect(socket)
        .await
        .map_err(EngineError::io(format!(
            "connecting to monitor {}",
            socket.display()
        )))?;
    s.write_all(req.line().as_bytes())
        .await
        .map_err(EngineError::io("writing to monitor"))?;
    let mut answer = String::new();
    BufReader::new(&mut s)
        .read_line(&mut answer)
        .await
        .map_err(EngineError::io("reading from monitor"))?;
    let answer = answer.trim_end().to_owned();
    match answer.strip_prefix("err ") {
        Some(e) => Err(EngineError::Internal(e.to_owned())),
        None if answer.is_empty() => Err(EngineError::Internal(
            "the monitor closed the connection".into(),
        )),
        None => Ok(answer
            .strip_prefix("ok")
            .unwrap_or(&answer)
            .trim()
            .to_owned()),
    }
}

/// An attach connection: stdcopy frames come out, stdin goes in.
pub async fn attach(socket: &Path, stdin: bool, stdout: bool, stderr: bool) -> Result<UnixStream> {
    let mut s = UnixStream::connect(socket)
        .await
        .map_err(EngineError::io(format!(
            "connecting to monitor {}",
            socket.display()
        )))?;
    s.write_all(
        Request::Attach {
            stdin,
            stdout,
            stderr,
        }
        .line()
        .as_bytes(),
    )
    .await
    .map_err(EngineError::io("writing to monitor"))?;
    Ok(s)
}

/// A connection that ends when the monitor has recorded the exit.
pub async fn wait_connection(socket: &Path) -> Result<UnixStream> {
    let mut s = UnixStream::connect(socket)
        .await
        .map_err(EngineError::io(format!(
            "connecting to monitor {}",
            socket.display()
        )))?;
    s.write_all(Request::Wait.line().as_bytes())
        .await
        .map_err(EngineError::io("writing to monitor"))?;
    Ok(s)
}

/// Resolves when the monitor closes a wait connection.
pub async fn until_closed(mut s: UnixStream) {
    let mut buf = [0u8; 64];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}
