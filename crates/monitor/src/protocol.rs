//! The monitor's attach-socket protocol: the client's first line.
//!
//! - `attach <stdin> <stdout> <stderr>` (each 0 or 1): stdcopy frames of
//!   the chosen streams follow; bytes the client sends go to stdin.
//! - `resize <height> <width>`: sets the pty size; answered `ok` or `err ...`.
//! - `start`: starts the process; answered `ok <pid>` or `err <message>`.
//! - `wait`: nothing is sent; the connection closes once the exit record
//!   is written.

/// A client request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    Attach {
        stdin: bool,
        stdout: bool,
        stderr: bool,
    },
    Resize {
        height: u16,
        width: u16,
    },
    Start,
    Wait,
}

impl Request {
    pub fn parse(line: &str) -> Option<Request> {
        let mut w = line.split_whitespace();
        let flag = |s: Option<&str>| s == Some("1");
        match w.next()? {
            "attach" => Some(Request::Attach {
                stdin: flag(w.next()),
                stdout: flag(w.next()),
                stderr: flag(w.next()),
            }),
            "resize" => Some(Request::Resize {
                height: w.next()?.parse().ok()?,
                width: w.next()?.parse().ok()?,
            }),
            "start" => Some(Request::Start),
            "wait" => Some(Request::Wait),
            _ => None,
        }
    }

    pub fn line(&self) -> String {
        let b = |v: bool| if v { 1 } else { 0 };
        match self {
            Request::Attach {
                stdin,
                stdout,
                stderr,
            } => format!("attach {} {} {}\n", b(*stdin), b(*stdout), b(*stderr)),
            Request::Resize { height, width } => format!("resize {height} {width}\n"),
            Request::Start => "start\n".into(),
            Request::Wait => "wait\n".into(),
        }
    }
}

/// Stream numbers of stdcopy frames.
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;

/// A stdcopy frame header for `len` bytes of `stream`.
pub fn frame_header(stream: u8, len: usize) -> [u8; 8] {
    let l = (len as u32).to_be_bytes();
    [stream, 0, 0, 0, l[0], l[1], l[2], l[3]]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip() {
        for r in [
            Request::Attach {
                stdin: true,
                stdout: false,
                stderr: true,
            },
            Request::Resize {
                height: 24,
                width: 80,
            },
            Request::Start,
            Request::Wait,
        ] {
            assert_eq!(Request::parse(r.line().trim_end()), Some(r));
        }
        assert_eq!(Request::parse("resize x 3"), None);
        assert_eq!(Request::parse("bogus"), None);
    }

    #[test]
    fn frame_header_is_big_endian() {
        assert_eq!(frame_header(STDERR, 0x0102), [2, 0, 0, 0, 0, 0, 1, 2]);
    }
}
