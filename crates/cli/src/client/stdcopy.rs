//! Docker's multiplexed stream format (non-tty attach, logs and exec): each
//! frame is an 8-byte header `[stream, 0, 0, 0, size as u32 big-endian]`
//! followed by `size` bytes of that stream.

use std::io::{self, Read, Write};

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
/// The daemon's own error, sent in-band (moby's `Systemerr`).
const SYSTEMERR: u8 = 3;

/// Copy frames from `src` to `stdout`/`stderr` until EOF. A clean EOF between
/// frames ends the copy; EOF inside a frame or an unknown stream id is an error.
pub fn demux(mut src: impl Read, stdout: &mut dyn Write, stderr: &mut dyn Write) -> io::Result<()> {
    let mut header = [0u8; 8];
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match read_full_or_eof(&mut src, &mut header)? {
            0 => return Ok(()),
            8 => {}
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "stream ended inside a frame header",
                ))
            }
        }
        let size = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        let stream = header[0];
        if stream == SYSTEMERR {
            let mut msg = vec![0u8; size];
            src.read_exact(&mut msg)?;
            return Err(io::Error::other(format!(
                "error from daemon in stream: {}",
                String::from_utf8_lossy(&msg)
            )));
        }
        let out: &mut dyn Write = match stream {
            STDIN | STDOUT => &mut *stdout,
            STDERR => &mut *stderr,
            other => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("unknown stream id {other} in multiplexed stream"),
                ))
            }
        };
        let mut left = size;
        while left > 0 {
            let want = left.min(buf.len());
            src.read_exact(&mut buf[..want])?;
            out.write_all(&buf[..want])?;
            left -= want;
        }
        out.flush()?;
    }
}

/// Read exactly `buf.len()` bytes, or fewer only if EOF came first; returns
/// how many were read.
fn read_full_or_eof(src: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match src.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

#[cfg(test)]
pub fn frame(stream: u8, data: &[u8]) -> Vec<u8> {
    let mut f = vec![stream, 0, 0, 0];
    f.extend_from_slice(&(data.len() as u32).to_be_bytes());
    f.extend_from_slice(data);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_go_to_their_streams_in_order() {
        let mut input = frame(STDOUT, b"out1 ");
        input.extend(frame(STDERR, b"err1"));
        input.extend(frame(STDOUT, b"out2"));
        input.extend(frame(STDOUT, b""));
        let (mut out, mut err) = (Vec::new(), Vec::new());
        demux(&input[..], &mut out, &mut err).unwrap();
        assert_eq!(out, b"out1 out2");
        assert_eq!(err, b"err1");
    }

    #[test]
    fn large_frames_are_copied_whole() {
        let big = vec![b'x'; 100_000];
        let input = frame(STDERR, &big);
        let (mut out, mut err) = (Vec::new(), Vec::new());
        demux(&input[..], &mut out, &mut err).unwrap();
        assert_eq!(err.len(), 100_000);
        assert!(out.is_empty());
    }

    #[test]
    fn truncated_frame_is_an_error() {
        let mut input = frame(STDOUT, b"hello");
        input.truncate(10);
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert!(demux(&input[..], &mut out, &mut err).is_err());
        let header_only = &frame(STDOUT, b"hello")[..5];
        assert!(demux(header_only, &mut out, &mut err).is_err());
    }

    #[test]
    fn system_error_frame_carries_the_message() {
        let input = frame(SYSTEMERR, b"container gone");
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let e = demux(&input[..], &mut out, &mut err).unwrap_err();
        assert!(e.to_string().contains("container gone"), "{e}");
    }

    #[test]
    fn unknown_stream_id_is_refused() {
        let input = frame(9, b"x");
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert!(demux(&input[..], &mut out, &mut err).is_err());
    }
}
