//! Detach keys: the key sequence (default ctrl-p ctrl-q) that, typed on an
//! attached stdin, ends the attach and leaves the container running.
//! Format as dockerd takes it (`detachKeys` on attach, `DetachKeys` of an
//! exec): comma-separated keys, each one character or `ctrl-<c>` with
//! `<c>` in `a-z @ [ \ ] ^ _`.

use crate::error::ApiError;

const DEFAULT: [u8; 2] = [0x10, 0x11];

/// Parses a detach key sequence; empty or absent is the default.
pub fn parse(spec: Option<&str>) -> Result<Vec<u8>, ApiError> {
    let spec = spec.unwrap_or("");
    if spec.is_empty() {
        return Ok(DEFAULT.to_vec());
    }
    let invalid = || ApiError::bad_request(format!("Invalid detach keys ({spec}) provided"));
    spec.split(',')
        .map(|key| {
            let k = key.as_bytes();
            if k.len() == 1 {
                return Ok(k[0]);
            }
            let c = key
                .strip_prefix("ctrl-")
                .filter(|c| c.len() == 1)
                .ok_or_else(invalid)?
                .as_bytes()[0];
            match c {
                b'a'..=b'z' => Ok(c - b'a' + 1),
                b'@' => Ok(0),
                b'[' => Ok(27),
                b'\\' => Ok(28),
                b']' => Ok(29),
                b'^' => Ok(30),
                b'_' => Ok(31),
                _ => Err(invalid()),
            }
        })
        .collect()
}

/// Scans stdin for the sequence. Bytes that might begin it are held back
/// until the next byte decides (as dockerd's escape proxy does), so a
/// lone ctrl-p still reaches the container once another key follows.
#[derive(Debug)]
pub struct Scanner {
    keys: Vec<u8>,
    matched: usize,
}

impl Scanner {
    pub fn new(keys: Vec<u8>) -> Scanner {
        Scanner { keys, matched: 0 }
    }

    /// Appends to `out` what of `input` goes on to the container; true
    /// when the sequence is complete (the caller detaches after writing
    /// `out`).
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> bool {
        for &b in input {
            if self.keys.is_empty() {
                out.push(b);
                continue;
            }
            if b != self.keys[self.matched] {
                out.extend_from_slice(&self.keys[..self.matched]);
                self.matched = 0;
                if b != self.keys[0] {
                    out.push(b);
                    continue;
                }
            }
            self.matched += 1;
            if self.matched == self.keys.len() {
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dockers_forms() {
        assert_eq!(parse(None).unwrap(), vec![0x10, 0x11]);
        assert_eq!(parse(Some("ctrl-x")).unwrap(), vec![0x18]);
        assert_eq!(parse(Some("a,ctrl-@,ctrl-_")).unwrap(), vec![b'a', 0, 31]);
        for bad in ["ctrl-", "ctrl-1", "ab", "ctrl-p,,"] {
            let e = parse(Some(bad)).unwrap_err();
            assert_eq!(e.status, axum::http::StatusCode::BAD_REQUEST, "{bad}");
        }
    }

    #[test]
    fn detaches_on_the_sequence_and_forwards_the_rest() {
        let mut s = Scanner::new(parse(None).unwrap());
        let mut out = Vec::new();
        assert!(!s.feed(b"ab\x10", &mut out));
        assert_eq!(out, b"ab");
        // a broken prefix is forwarded with the byte that broke it
        assert!(!s.feed(b"c", &mut out));
        assert_eq!(out, b"ab\x10c");
        out.clear();
        assert!(!s.feed(b"x\x10", &mut out));
        assert!(s.feed(b"\x11", &mut out));
        assert_eq!(out, b"x");
        let mut s = Scanner::new(parse(None).unwrap());
        out.clear();
        assert!(s.feed(b"\x10\x10\x11", &mut out));
        assert_eq!(out, b"\x10");
    }
}
