//! A small synchronous HTTP/1.1 client over one unix-socket connection per
//! request. A CLI does one request at a time (or a few on threads), and the
//! hijacked attach/exec streams need the raw socket with half-close, which a
//! blocking `UnixStream` gives directly; no async runtime is started.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

use super::error::{ClientError, Result};

/// A request body: nothing, bytes with a content type, or a stream sent
/// with chunked transfer encoding (tar archives of unknown length).
pub enum Body {
    Empty,
    Bytes(Vec<u8>, &'static str),
    Stream(Box<dyn Read + Send>, &'static str),
}

pub struct Request<'a> {
    pub method: &'a str,
    /// Path with query, already versioned.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Body,
    /// Ask for `Upgrade: tcp` (attach, exec start).
    pub upgrade: bool,
}

/// The head of a response and a reader over its body.
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: BodyReader,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn read_all(mut self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.body.read_to_end(&mut out)?;
        Ok(out)
    }
}

enum Framing {
    Length(u64),
    /// Bytes left in the current chunk; `None` before the first size line.
    Chunked {
        left: u64,
        done: bool,
    },
    UntilEof,
}

/// Reads a response body as framed by its headers. A hijacked connection is
/// read `UntilEof` with the buffered bytes kept.
pub struct BodyReader {
    conn: BufReader<UnixStream>,
    framing: Framing,
}

impl BodyReader {
    /// The socket behind this body, for writes after a hijack.
    pub fn stream(&self) -> &UnixStream {
        self.conn.get_ref()
    }
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        match &mut self.framing {
            Framing::UntilEof => self.conn.read(buf),
            Framing::Length(left) => {
                if *left == 0 {
                    return Ok(0);
                }
                let want = buf.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                let n = self.conn.read(&mut buf[..want])?;
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "connection closed before the end of the body",
                    ));
                }
                *left -= n as u64;
                Ok(n)
            }
            Framing::Chunked { left, done } => {
                if *done {
                    return Ok(0);
                }
                if *left == 0 {
                    let size = read_chunk_size(&mut self.conn)?;
                    if size == 0 {
                        // Trailers, then the empty line.
                        loop {
                            let mut line = String::new();
                            if self.conn.read_line(&mut line)? == 0 || line.trim().is_empty() {
                                break;
                            }
                        }
                        *done = true;
                        return Ok(0);
                    }
                    *left = size;
                }
                let want = buf.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                let n = self.conn.read(&mut buf[..want])?;
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "connection closed inside a chunk",
                    ));
                }
                *left -= n as u64;
                if *left == 0 {
                    let mut crlf = [0u8; 2];
                    self.conn.read_exact(&mut crlf)?;
                }
                Ok(n)
            }
        }
    }
}

fn read_chunk_size(r: &mut impl BufRead) -> io::Result<u64> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed before a chunk size",
        ));
    }
    let hex = line.trim().split(';').next().unwrap_or("").trim();
    u64::from_str_radix(hex, 16).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bad chunk size line {line:?}"),
        )
    })
}

/// Open the socket, send `req`, and read the response head.
pub fn send(socket: &Path, host_label: &str, req: Request<'_>) -> Result<Response> {
    let stream = UnixStream::connect(socket).map_err(|cause| ClientError::Connect {
        host: host_label.to_owned(),
        cause,
    })?;
    let reader = BufReader::new(stream.try_clone()?);
    let head_only = req.method == "HEAD";
    match write_request(stream, req) {
        Ok(()) => read_head(reader, head_only),
        // The daemon may answer (an error) and close before reading a
        // streamed body; its answer says more than the broken pipe.
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
            ) =>
        {
            read_head(reader, head_only).map_err(|_| ClientError::Io(e))
        }
        Err(e) => Err(ClientError::Io(e)),
    }
}

fn write_request(stream: UnixStream, req: Request<'_>) -> io::Result<()> {
    let mut w = io::BufWriter::new(stream);
    write!(
        w,
        "{} {} HTTP/1.1\r\nHost: api.moby.localhost\r\n",
        req.method, req.target
    )?;
    write!(w, "User-Agent: berth-cli/{}\r\n", env!("CARGO_PKG_VERSION"))?;
    if req.upgrade {
        write!(w, "Connection: Upgrade\r\nUpgrade: tcp\r\n")?;
    } else {
        write!(w, "Connection: close\r\n")?;
    }
    for (k, v) in &req.headers {
        write!(w, "{k}: {v}\r\n")?;
    }
    match req.body {
        Body::Empty => {
            if matches!(req.method, "POST" | "PUT") {
                write!(w, "Content-Length: 0\r\n")?;
            }
            write!(w, "\r\n")?;
        }
        Body::Bytes(bytes, ctype) => {
            write!(
                w,
                "Content-Type: {ctype}\r\nContent-Length: {}\r\n\r\n",
                bytes.len()
            )?;
            w.write_all(&bytes)?;
        }
        Body::Stream(mut r, ctype) => {
            write!(
                w,
                "Content-Type: {ctype}\r\nTransfer-Encoding: chunked\r\n\r\n"
            )?;
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = r.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                write!(w, "{n:x}\r\n")?;
                w.write_all(&buf[..n])?;
                write!(w, "\r\n")?;
            }
            write!(w, "0\r\n\r\n")?;
        }
    }
    w.flush()
}

fn read_head(mut conn: BufReader<UnixStream>, head_only: bool) -> Result<Response> {
    let mut raw = Vec::new();
    loop {
        let mut line = Vec::new();
        let n = conn.read_until(b'\n', &mut line)?;
        if n == 0 {
            return Err(ClientError::Protocol(
                "connection closed before the response head".into(),
            ));
        }
        raw.extend_from_slice(&line);
        if line == b"\r\n" || line == b"\n" {
            break;
        }
        if raw.len() > 64 * 1024 {
            return Err(ClientError::Protocol("response head too large".into()));
        }
    }
    let mut hdrs = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Response::new(&mut hdrs);
    match parsed.parse(&raw) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => {
            return Err(ClientError::Protocol("incomplete response head".into()))
        }
        Err(e) => return Err(ClientError::Protocol(e.to_string())),
    }
    let status = parsed.code.unwrap_or(0);
    let headers: Vec<(String, String)> = parsed
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_owned(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    let find = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let framing = if head_only || status == 204 || status == 304 {
        Framing::Length(0)
    } else if status == 101 {
        Framing::UntilEof
    } else if find("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    {
        Framing::Chunked {
            left: 0,
            done: false,
        }
    } else if let Some(len) = find("content-length").and_then(|v| v.trim().parse::<u64>().ok()) {
        Framing::Length(len)
    } else {
        Framing::UntilEof
    };
    Ok(Response {
        status,
        headers,
        body: BodyReader { conn, framing },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    fn serve_once(
        answer: &'static [u8],
    ) -> (
        tempfile::TempDir,
        std::path::PathBuf,
        std::thread::JoinHandle<Vec<u8>>,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let t = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut req = Vec::new();
            let mut buf = [0u8; 4096];
            // Read until the end of the head (no request bodies in these tests).
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = s.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                req.extend_from_slice(&buf[..n]);
            }
            s.write_all(answer).unwrap();
            req
        });
        (dir, path, t)
    }

    fn get(target: &str) -> Request<'static> {
        Request {
            method: "GET",
            target: target.to_owned(),
            headers: vec![],
            body: Body::Empty,
            upgrade: false,
        }
    }

    #[test]
    fn chunked_body_is_reassembled() {
        let (_d, path, t) = serve_once(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7;x=y\r\n, world\r\n0\r\n\r\n",
        );
        let resp = send(&path, "test", get("/x")).unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(resp.read_all().unwrap(), b"hello, world");
        let req = String::from_utf8(t.join().unwrap()).unwrap();
        assert!(req.starts_with("GET /x HTTP/1.1\r\n"), "{req}");
    }

    #[test]
    fn content_length_body_stops_at_length() {
        let (_d, path, _t) = serve_once(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\nApi-Version: 1.44\r\n\r\n{}trailing",
        );
        let resp = send(&path, "test", get("/y")).unwrap();
        assert_eq!(resp.status, 404);
        assert_eq!(resp.header("API-Version"), Some("1.44"));
        assert_eq!(resp.read_all().unwrap(), b"{}");
    }

    #[test]
    fn truncated_body_is_an_error() {
        let (_d, path, _t) = serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
        let resp = send(&path, "test", get("/z")).unwrap();
        assert!(resp.read_all().is_err());
    }

    #[test]
    fn an_answer_before_the_body_is_read_is_returned() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let t = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 256];
            let _ = s.read(&mut buf).unwrap();
            s.write_all(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 20\r\n\r\n{\"message\":\"nope!\"}",
            )
            .unwrap();
            // Close without reading the rest of the upload.
        });
        let big = vec![0u8; 8 << 20];
        let req = Request {
            method: "POST",
            target: "/images/load".into(),
            headers: vec![],
            body: Body::Stream(Box::new(std::io::Cursor::new(big)), "application/x-tar"),
            upgrade: false,
        };
        let resp = send(&path, "test", req).unwrap();
        assert_eq!(resp.status, 404);
        t.join().unwrap();
    }

    #[test]
    fn missing_socket_is_a_connect_error() {
        let err = send(
            Path::new("/nonexistent/berth.sock"),
            "unix:///nonexistent/berth.sock",
            get("/_ping"),
        )
        .err()
        .unwrap();
        assert!(matches!(err, ClientError::Connect { .. }), "{err}");
    }
}
