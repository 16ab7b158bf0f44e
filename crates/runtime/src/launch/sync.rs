//! The parent ⇄ child protocol over a `SOCK_SEQPACKET` socketpair: fixed
//! 16-byte messages (message boundaries are kept by the socket type), so the
//! child side needs no allocation and no parsing.

use std::ffi::c_int;

use super::sys;

/// Message kinds.
pub mod kind {
    /// Intermediate → parent: the PID of the real init (after a fork that
    /// put it into a joined or new PID/time namespace).
    pub const PID: u32 = 1;
    /// Child → parent: namespaces are in place; write the id maps, put the
    /// process into its cgroup, then send GO.
    pub const READY: u32 = 2;
    /// Parent → child: go on (the payload, if any, follows in the same
    /// message: the state JSON for hooks run by the child).
    pub const GO: u32 = 3;
    /// Child → parent: mounts are done, pivot_root not yet: run the
    /// prestart and createRuntime hooks, then send GO.
    pub const HOOKS: u32 = 4;
    /// Child → parent: the container is created (waiting for start), or
    /// for exec: about to execve.
    pub const CREATED: u32 = 5;
    /// Child → parent: a step failed; `a` = step, `b` = index, `c` = errno.
    pub const ERROR: u32 = 6;
}

/// One protocol message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Msg {
    pub kind: u32,
    pub a: u32,
    pub b: i32,
    pub c: i32,
}

pub const MSG_LEN: usize = 16;

impl Msg {
    pub fn new(kind: u32) -> Msg {
        Msg {
            kind,
            ..Msg::default()
        }
    }

    pub fn encode(&self) -> [u8; MSG_LEN] {
        let mut b = [0u8; MSG_LEN];
        b[0..4].copy_from_slice(&self.kind.to_ne_bytes());
        b[4..8].copy_from_slice(&self.a.to_ne_bytes());
        b[8..12].copy_from_slice(&self.b.to_ne_bytes());
        b[12..16].copy_from_slice(&self.c.to_ne_bytes());
        b
    }

    pub fn decode(b: &[u8]) -> Option<Msg> {
        let word = |i: usize| -> Option<[u8; 4]> { b.get(i..i + 4)?.try_into().ok() };
        Some(Msg {
            kind: u32::from_ne_bytes(word(0)?),
            a: u32::from_ne_bytes(word(4)?),
            b: i32::from_ne_bytes(word(8)?),
            c: i32::from_ne_bytes(word(12)?),
        })
    }
}

/// Child side: sends a message; false if the parent is gone.
pub fn send(fd: c_int, msg: Msg) -> bool {
    let b = msg.encode();
    // MSG_NOSIGNAL: a parent that is gone must not kill us with SIGPIPE.
    // SAFETY: b is a valid readable buffer of MSG_LEN bytes.
    let n = unsafe { libc::send(fd, b.as_ptr().cast(), b.len(), libc::MSG_NOSIGNAL) };
    n == b.len() as isize
}

/// Child side: reports a failed step and exits. When the parent has
/// already gone (after `create` returned), the report goes to stderr.
pub fn fail(fd: c_int, step: u32, index: u32, err: c_int) -> ! {
    let sent = send(
        fd,
        Msg {
            kind: kind::ERROR,
            a: step,
            b: index as i32,
            c: err,
        },
    );
    if !sent {
        report_late(step, err);
    }
    sys::exit_now(1)
}

/// Writes a last-resort message to stderr (after the parent has gone).
pub fn report_late(step_no: u32, err: c_int) {
    let mut b1 = [0u8; 20];
    let mut b2 = [0u8; 20];
    let s = sys::fmt_u64(&mut b1, u64::from(step_no));
    sys::write_all(2, b"berth: container init failed at step ");
    sys::write_all(2, s);
    sys::write_all(2, b", errno ");
    let e = sys::fmt_u64(&mut b2, err.unsigned_abs() as u64);
    sys::write_all(2, e);
    sys::write_all(2, b"\n");
}

/// Child side: receives one message into `buf` (header + payload); returns
/// the message and the payload length, or None on EOF/error.
pub fn recv(fd: c_int, buf: &mut [u8]) -> Option<(Msg, usize)> {
    loop {
        // SAFETY: buf is a valid writable slice of its length.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_TRUNC) };
        if n < 0 {
            if sys::errno() == libc::EINTR {
                continue;
            }
            return None;
        }
        let n = n as usize;
        if n < MSG_LEN || n > buf.len() {
            return None;
        }
        let msg = Msg::decode(buf)?;
        return Some((msg, n - MSG_LEN));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let m = Msg {
            kind: kind::ERROR,
            a: 7,
            b: -3,
            c: 13,
        };
        assert_eq!(Msg::decode(&m.encode()), Some(m));
        assert_eq!(Msg::decode(&[0u8; 3]), None);
    }
}
