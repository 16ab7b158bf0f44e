//! A raw HTTP/1.1 exchange on berthd's socket for streamed answers curl
//! cannot show as they come (a response head before the body exists).

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// A request whose response head has been read; the body is still coming.
pub struct Streaming {
    reader: BufReader<UnixStream>,
    /// The status code.
    pub status: u16,
    /// The header lines, lower-cased names (`content-type: ...`).
    pub headers: Vec<String>,
}

/// Sends `method path` (no `Upgrade`, as dockerode does) with `body` and
/// reads the response head. Reads time out after 60 s so a server that
/// never answers fails the test instead of hanging it.
pub fn request(sock: &Path, method: &str, path: &str, body: &str) -> Streaming {
    let mut s = UnixStream::connect(sock).expect("connect to berthd");
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("read timeout");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: berth\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).expect("send request");
    let mut reader = BufReader::new(s);
    let mut line = String::new();
    reader.read_line(&mut line).expect("status line");
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).expect("header line");
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (name, value) = l.split_once(':').unwrap_or((l, ""));
        headers.push(format!("{}: {}", name.to_ascii_lowercase(), value.trim()));
    }
    Streaming {
        reader,
        status,
        headers,
    }
}

impl Streaming {
    /// The value of header `name` (lower case), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        let prefix = format!("{name}: ");
        self.headers.iter().find_map(|h| h.strip_prefix(&prefix))
    }

    /// The rest of the body, until the server ends it (chunked or not).
    pub fn body(mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.header("transfer-encoding") != Some("chunked") {
            self.reader.read_to_end(&mut out).expect("body");
            return out;
        }
        let mut line = String::new();
        loop {
            line.clear();
            self.reader.read_line(&mut line).expect("chunk size");
            let size = usize::from_str_radix(line.trim(), 16).expect("chunk size in hex");
            let mut chunk = vec![0u8; size + 2];
            self.reader.read_exact(&mut chunk).expect("chunk");
            if size == 0 {
                return out;
            }
            out.extend_from_slice(&chunk[..size]);
        }
    }
}

/// The (stream, payload) frames of a multiplexed (stdcopy) stream.
pub fn demux(mut b: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut frames = Vec::new();
    while b.len() >= 8 {
        let len = u32::from_be_bytes([b[4], b[5], b[6], b[7]]) as usize;
        let end = (8 + len).min(b.len());
        frames.push((b[0], b[8..end].to_vec()));
        b = &b[end..];
    }
    frames
}
