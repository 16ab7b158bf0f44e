//! The websocket attach (`GET /containers/{id}/attach/ws`) on
//! tokio-tungstenite: the handshake's checks and accept key, then the
//! container's output as one unmasked frame per chunk it wrote (binary from
//! API 1.28 on, text before, as dockerd), never stdcopy-multiplexed; the
//! client's data frames are the container's stdin, its close frame the end
//! of stdin.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use futures::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// The upgraded connection.
pub type Socket = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// How output frames go out: dockerd sends binary frames from API 1.28
/// on, text frames before (with the bytes as written, UTF-8 or not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Binary,
    Text,
}

/// The client's `Sec-WebSocket-Key` when the request is a websocket
/// handshake (RFC 6455 section 4.2.1), else why not.
pub fn handshake_key(h: &HeaderMap) -> Result<String, &'static str> {
    let has = |name: header::HeaderName, token: &str| {
        h.get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    if !has(header::UPGRADE, "websocket") || !has(header::CONNECTION, "upgrade") {
        return Err("not a websocket handshake: missing Upgrade: websocket");
    }
    if h.get(header::SEC_WEBSOCKET_VERSION)
        .and_then(|v| v.to_str().ok())
        != Some("13")
    {
        return Err("not a websocket handshake: Sec-WebSocket-Version must be 13");
    }
    h.get(header::SEC_WEBSOCKET_KEY)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .ok_or("not a websocket handshake: missing Sec-WebSocket-Key")
}

/// Answers 101 with the accept key and runs `f` on the upgraded
/// connection.
pub fn upgrade<F, Fut>(req: &mut Request, key: &str, f: F) -> Response
where
    F: FnOnce(Socket) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let on = hyper::upgrade::on(&mut *req);
    tokio::spawn(async move {
        match on.await {
            Ok(up) => {
                let ws =
                    WebSocketStream::from_raw_socket(TokioIo::new(up), Role::Server, None).await;
                f(ws).await
            }
            Err(e) => tracing::debug!("websocket upgrade failed: {e}"),
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "websocket")
        .header(
            header::SEC_WEBSOCKET_ACCEPT,
            derive_accept_key(key.as_bytes()),
        )
        .body(Body::empty())
        .unwrap_or_default()
}

/// One output message of `kind` carrying `payload`.
pub fn message(kind: Kind, payload: &[u8]) -> Message {
    match kind {
        Kind::Binary => Message::binary(payload.to_vec()),
        // A text frame built raw: the container's bytes need not be UTF-8.
        Kind::Text => Message::Frame(Frame::message(
            payload.to_vec(),
            OpCode::Data(Data::Text),
            true,
        )),
    }
}

/// Pumps a websocket client and a monitor attach connection (stdcopy
/// frames out, raw stdin in) until the output ends, the client goes or
/// types the detach keys (which end the attach, not stdin).
pub async fn pump(ws: Socket, monitor: UnixStream, kind: Kind, detach_keys: Vec<u8>) {
    let (mut mr, mut mw) = monitor.into_split();
    let (mut sink, mut stream) = ws.split();
    let (detached_tx, detached_rx) = tokio::sync::oneshot::channel::<()>();
    let input = tokio::spawn(async move {
        let mut scan = crate::detach_keys::Scanner::new(detach_keys);
        let mut fwd = Vec::new();
        // Pings are answered by tungstenite itself.
        while let Some(Ok(msg)) = stream.next().await {
            let data: &[u8] = match &msg {
                Message::Binary(b) => b,
                Message::Text(t) => t.as_bytes(),
                Message::Close(_) => break,
                _ => continue,
            };
            fwd.clear();
            let detach = scan.feed(data, &mut fwd);
            if !fwd.is_empty() && mw.write_all(&fwd).await.is_err() {
                break;
            }
            if detach {
                let _ = detached_tx.send(());
                return;
            }
        }
        // The client's close (or its going away) ends stdin.
        let _ = mw.shutdown().await;
    });
    let output = async {
        let mut head = [0u8; 8];
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            // With or without a tty the monitor frames its output: each
            // frame's payload becomes one websocket frame.
            if mr.read_exact(&mut head).await.is_err() {
                return;
            }
            let len = u32::from_be_bytes([head[4], head[5], head[6], head[7]]) as usize;
            if buf.len() < len {
                buf.resize(len, 0);
            }
            if mr.read_exact(&mut buf[..len]).await.is_err() {
                return;
            }
            if sink.send(message(kind, &buf[..len])).await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        _ = output => {}
        Ok(()) = detached_rx => {}
    }
    input.abort();
    let _ = sink.send(normal_close()).await;
    let _ = sink.close().await;
}

/// A close frame: 1000, normal closure.
fn normal_close() -> Message {
    Message::Close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "".into(),
    }))
}

/// Sends a close frame (1000, normal closure) and ends the connection.
pub async fn close(mut ws: Socket) {
    let _ = ws.send(normal_close()).await;
    let _ = ws.close(None).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_api_text_frames_carry_the_bytes_as_written() {
        match message(Kind::Text, &[0xff, b'a']) {
            Message::Frame(f) => {
                assert_eq!(f.header().opcode, OpCode::Data(Data::Text));
                assert_eq!(f.payload(), &[0xff, b'a'][..]);
            }
            other => panic!("not a raw frame: {other:?}"),
        }
        assert_eq!(
            message(Kind::Binary, b"hi"),
            Message::binary(b"hi".to_vec())
        );
    }

    #[test]
    fn handshakes_need_upgrade_version_and_key() {
        let mut h = HeaderMap::new();
        assert!(handshake_key(&h).is_err());
        h.insert(header::UPGRADE, "websocket".parse().expect("value"));
        h.insert(
            header::CONNECTION,
            "keep-alive, Upgrade".parse().expect("value"),
        );
        assert!(handshake_key(&h).is_err());
        h.insert(header::SEC_WEBSOCKET_VERSION, "13".parse().expect("value"));
        h.insert(header::SEC_WEBSOCKET_KEY, "abc".parse().expect("value"));
        assert_eq!(handshake_key(&h), Ok("abc".to_owned()));
    }
}
