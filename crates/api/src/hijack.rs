//! Hijacked connections (attach, exec start): answer `101 Switching
//! Protocols` (`Upgrade: tcp`), then pump bytes between the client and
//! the monitor. Output arrives as stdcopy frames; with a tty the frames
//! are unwrapped into the raw stream Docker sends for terminals. A request
//! without `Upgrade` (dockerode's attach and exec start) gets, as from
//! dockerd, a `200 OK` whose body is the output stream.

use std::future::Future;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::response::Response;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::UnixStream;

/// The client connection's socket (a request extension set by `serve`).
#[derive(Debug, Clone, Copy)]
pub struct ConnFd(pub std::os::fd::RawFd);

/// Waits (at most 200 ms) until the client has read everything sent on
/// its connection, i.e. the 101 response. Clients that read the response
/// head through a buffered reader and then switch to the raw socket
/// (docker-py's exec_run and attach) lose any stream bytes that arrived
/// with the head; dockerd's slower process start hides that race, berth's
/// fast one would not.
async fn client_read_all(fd: ConnFd) {
    for _ in 0..200 {
        let mut queued: libc::c_int = 0;
        // SAFETY: SIOCOUTQ (== TIOCOUTQ) writes one int; the fd is the
        // connection being upgraded, open while its upgrade is alive. For
        // a unix stream socket it counts what the peer has not read yet.
        let r = unsafe { libc::ioctl(fd.0, libc::TIOCOUTQ, &mut queued) };
        if r != 0 || queued == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
}

/// The client's side of a hijacked stream: the upgraded connection, or
/// for a plain request a pipe whose other end is the response body.
pub type Client = Box<dyn ClientIo>;

/// What a [`Client`] is.
pub trait ClientIo: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> ClientIo for T {}

/// Answers 101 and runs `f` on the upgraded connection once the client
/// has read the 101; a request that did not ask for an upgrade gets a 200
/// streaming what `f` writes.
pub fn hijack<F, Fut>(req: &mut Request, tty: bool, f: F) -> Response
where
    F: FnOnce(Client) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    if !req.headers().contains_key(header::UPGRADE) {
        return streamed(f);
    }
    let on = hyper::upgrade::on(&mut *req);
    let fd = req.extensions().get::<ConnFd>().copied();
    tokio::spawn(async move {
        match on.await {
            Ok(up) => {
                if let Some(fd) = fd {
                    client_read_all(fd).await;
                }
                f(Box::new(TokioIo::new(up))).await
            }
            Err(e) => tracing::debug!("hijack failed: {e}"),
        }
    });
    let content_type = if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "tcp")
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::empty())
        .unwrap_or_default()
}

/// The response to an attach or exec start without `Upgrade`: dockerd
/// hijacks the connection anyway and writes a 200 with the stream as its
/// body (raw-stream whatever the framing, as dockerd's). The headers go
/// out at once, so a client can attach before it starts the container.
/// Nothing comes in: the client's input ends when the body is dropped
/// (the client went away), as the hijacked connection's would.
fn streamed<F, Fut>(f: F) -> Response
where
    F: FnOnce(Client) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    tokio::spawn(f(Box::new(ours)));
    let chunks = futures::stream::unfold(theirs, |mut r| async move {
        let mut buf = vec![0u8; 32 * 1024];
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(bytes::Bytes::from(buf)), r))
            }
        }
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/vnd.docker.raw-stream")
        .body(Body::from_stream(chunks))
        .unwrap_or_default()
}

/// Copies frames to `out`, writing only their payloads.
async fn unframe<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(mut r: R, mut out: W) {
    let mut head = [0u8; 8];
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        if r.read_exact(&mut head).await.is_err() {
            return;
        }
        let mut len = u32::from_be_bytes([head[4], head[5], head[6], head[7]]) as usize;
        while len > 0 {
            let n = len.min(buf.len());
            if r.read_exact(&mut buf[..n]).await.is_err() {
                return;
            }
            if out.write_all(&buf[..n]).await.is_err() {
                return;
            }
            len -= n;
        }
        let _ = out.flush().await;
    }
}

/// Pumps a client connection and a monitor attach connection until the
/// monitor's output ends. The client's end of input is passed on as a
/// half-close, so a `stdin_once` container sees EOF.
pub async fn pump<C>(client: C, monitor: UnixStream, tty: bool, detach_keys: Vec<u8>)
where
    C: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut mr, mut mw) = monitor.into_split();
    let (mut cr, mut cw) = tokio::io::split(client);
    let (detached_tx, detached_rx) = tokio::sync::oneshot::channel::<()>();
    // Input keeps being read (and dropped once the monitor is gone) until
    // the client closes: closing a socket with unread input would reset
    // the connection before the client has read all output. The detach
    // keys end the attach instead (the container keeps running).
    let input = tokio::spawn(async move {
        let mut buf = vec![0u8; 16 * 1024];
        let mut scan = crate::detach_keys::Scanner::new(detach_keys);
        let mut fwd = Vec::with_capacity(buf.len());
        let mut open = true;
        loop {
            match cr.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    fwd.clear();
                    let detach = scan.feed(&buf[..n], &mut fwd);
                    if open && !fwd.is_empty() && mw.write_all(&fwd).await.is_err() {
                        open = false;
                    }
                    if detach {
                        // Dropping the monitor connection without a
                        // half-close: a detach is not the end of stdin.
                        let _ = detached_tx.send(());
                        return;
                    }
                }
            }
        }
        let _ = mw.shutdown().await;
    });
    let output = async {
        if tty {
            unframe(&mut mr, &mut cw).await;
        } else {
            let _ = tokio::io::copy(&mut mr, &mut cw).await;
        }
    };
    tokio::select! {
        _ = output => {}
        Ok(()) = detached_rx => {}
    }
    let _ = cw.flush().await;
    let _ = cw.shutdown().await;
    let abort = input.abort_handle();
    if tokio::time::timeout(std::time::Duration::from_secs(5), input)
        .await
        .is_err()
    {
        abort.abort();
    }
}
