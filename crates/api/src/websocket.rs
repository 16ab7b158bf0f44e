//! The websocket attach (`GET /containers/{id}/attach/ws`): RFC 6455's
//! handshake and framing, just what dockerd's endpoint speaks. Output goes
//! out as one unmasked frame per chunk the container wrote (binary from
//! API 1.28 on, text before, as dockerd), never stdcopy-multiplexed; the
//! client's (masked) frames are the container's stdin, its close frame
//! the end of stdin.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::UnixStream;

const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
const OP_CONTINUATION: u8 = 0x0;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

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

/// `Sec-WebSocket-Accept` for a key: base64(SHA-1(key + GUID)).
pub fn accept_key(key: &str) -> String {
    base64(&sha1(format!("{key}{GUID}").as_bytes()))
}

/// Answers 101 and runs `f` on the upgraded connection.
pub fn upgrade<F, Fut>(req: &mut Request, key: &str, f: F) -> Response
where
    F: FnOnce(TokioIo<hyper::upgrade::Upgraded>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let on = hyper::upgrade::on(&mut *req);
    tokio::spawn(async move {
        match on.await {
            Ok(up) => f(TokioIo::new(up)).await,
            Err(e) => tracing::debug!("websocket upgrade failed: {e}"),
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "websocket")
        .header(header::SEC_WEBSOCKET_ACCEPT, accept_key(key))
        .body(Body::empty())
        .unwrap_or_default()
}

/// One unmasked server frame with FIN set.
pub fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 10);
    out.push(0x80 | opcode);
    match payload.len() {
        n if n < 126 => out.push(n as u8),
        n if n <= 0xFFFF => {
            out.push(126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
    out
}

/// A frame as read from the client, unmasked.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame {
    pub opcode: u8,
    pub payload: Vec<u8>,
}

/// The largest client frame accepted (stdin arrives in small pieces).
const MAX_FRAME: u64 = 16 << 20;

/// Reads one frame; None at EOF or on a broken frame.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> Option<Frame> {
    let mut head = [0u8; 2];
    r.read_exact(&mut head).await.ok()?;
    let opcode = head[0] & 0x0F;
    let masked = head[1] & 0x80 != 0;
    let len = match head[1] & 0x7F {
        126 => {
            let mut b = [0u8; 2];
            r.read_exact(&mut b).await.ok()?;
            u64::from(u16::from_be_bytes(b))
        }
        127 => {
            let mut b = [0u8; 8];
            r.read_exact(&mut b).await.ok()?;
            u64::from_be_bytes(b)
        }
        n => u64::from(n),
    };
    if len > MAX_FRAME {
        return None;
    }
    let mut mask = [0u8; 4];
    if masked {
        r.read_exact(&mut mask).await.ok()?;
    }
    let mut payload = vec![0u8; len as usize];
    r.read_exact(&mut payload).await.ok()?;
    if masked {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= mask[i % 4];
        }
    }
    Some(Frame { opcode, payload })
}

/// Pumps a websocket client and a monitor attach connection (stdcopy
/// frames out, raw stdin in) until the output ends, the client goes or
/// types the detach keys (which end the attach, not stdin).
pub async fn pump<C>(client: C, monitor: UnixStream, opcode: u8, detach_keys: Vec<u8>)
where
    C: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut mr, mut mw) = monitor.into_split();
    let (mut cr, cw) = tokio::io::split(client);
    let cw = std::sync::Arc::new(tokio::sync::Mutex::new(cw));
    let pong_to = cw.clone();
    let (detached_tx, detached_rx) = tokio::sync::oneshot::channel::<()>();
    let input = tokio::spawn(async move {
        let mut scan = crate::detach_keys::Scanner::new(detach_keys);
        let mut fwd = Vec::new();
        while let Some(f) = read_frame(&mut cr).await {
            match f.opcode {
                OP_TEXT | OP_BINARY | OP_CONTINUATION => {
                    fwd.clear();
                    let detach = scan.feed(&f.payload, &mut fwd);
                    if !fwd.is_empty() && mw.write_all(&fwd).await.is_err() {
                        break;
                    }
                    if detach {
                        let _ = detached_tx.send(());
                        return;
                    }
                }
                OP_PING => {
                    let _ = pong_to
                        .lock()
                        .await
                        .write_all(&frame(OP_PONG, &f.payload))
                        .await;
                }
                OP_CLOSE => break,
                _ => {}
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
            let mut w = cw.lock().await;
            if w.write_all(&frame(opcode, &buf[..len])).await.is_err() {
                return;
            }
            let _ = w.flush().await;
        }
    };
    tokio::select! {
        _ = output => {}
        Ok(()) = detached_rx => {}
    }
    close(&cw).await;
    input.abort();
}

/// Sends a close frame (1000, normal closure) and ends the connection.
pub async fn close<W: AsyncWrite + Unpin>(w: &tokio::sync::Mutex<W>) {
    let mut w = w.lock().await;
    let _ = w.write_all(&frame(OP_CLOSE, &1000u16.to_be_bytes())).await;
    let _ = w.flush().await;
    let _ = w.shutdown().await;
}

/// SHA-1 (FIPS 180-4), only for the handshake's accept key.
fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    let mut msg = data.to_vec();
    let bits = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bits.to_be_bytes());
    for chunk in msg.chunks(64) {
        let mut w = [0u32; 80];
        for (i, word) in chunk.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (i, x) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&x.to_be_bytes());
    }
    out
}

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if c.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_accept_key_is_rfc_6455s() {
        // The example of RFC 6455 section 1.3.
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn sha1_matches_known_digests() {
        let hex = |d: [u8; 20]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
        assert_eq!(hex(sha1(b"")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(
            hex(sha1(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        let long = vec![b'a'; 1000];
        assert_eq!(hex(sha1(&long)), "291e9a6c66994949b57ba5e650361e98fc36b1ba");
    }

    #[test]
    fn frames_encode_their_length_in_three_sizes() {
        assert_eq!(frame(OP_BINARY, b"hi"), vec![0x82, 2, b'h', b'i']);
        let mid = frame(OP_BINARY, &[0u8; 300]);
        assert_eq!(&mid[..4], &[0x82, 126, 1, 44]);
        let big = frame(OP_TEXT, &vec![0u8; 70_000]);
        assert_eq!(&big[..2], &[0x81, 127]);
        assert_eq!(
            u64::from_be_bytes(big[2..10].try_into().unwrap_or_default()),
            70_000
        );
    }

    #[tokio::test]
    async fn masked_client_frames_are_unmasked() {
        let mask = [1u8, 2, 3, 4];
        let mut wire = vec![0x82, 0x80 | 5];
        wire.extend_from_slice(&mask);
        wire.extend(b"hello".iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        let mut r = &wire[..];
        let f = read_frame(&mut r).await;
        assert_eq!(
            f,
            Some(Frame {
                opcode: OP_BINARY,
                payload: b"hello".to_vec()
            })
        );
        assert_eq!(read_frame(&mut r).await, None);
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
