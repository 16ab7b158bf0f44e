//! Deleting a link without waiting for the kernel to free it.
//!
//! The kernel answers an `RTM_DELLINK` request only after
//! `netdev_run_todo` has waited for an RCU barrier and the device's last
//! references: 15-20 ms on this machine kind, most of a CNI DEL. The link is
//! gone well before that. Under the RTNL lock the kernel unlists the device
//! (its name and index are free again), runs the unregister notifiers (its
//! addresses, routes and bridge port go) and then announces `RTM_DELLINK`
//! to the namespace's link listeners; only the freeing of its memory is
//! left for after the lock is dropped.
//!
//! [`delete_link_by_name`] therefore sends the request from a detached
//! helper process (a grandchild, so nobody has to reap it but init or a
//! subreaper) and returns when the announcement for that link arrives on a
//! listener socket bound before the request was sent. The helper waits out
//! the freeing alone, reports the kernel's answer through a pipe (used when
//! the request fails, so no announcement comes), and exits. Where no
//! process can be forked, the request is made here and waited for.
//!
//! Code in the helper runs between `fork` and `_exit`: raw syscalls on
//! memory prepared before the fork, nothing else.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_REQUEST,
};
use netlink_packet_route::link::LinkMessage;
use netlink_packet_route::RouteNetlinkMessage;

use super::NetlinkError;
use crate::netns::NetNs;

/// `RTMGRP_LINK`: the multicast group of link announcements.
const RTMGRP_LINK: u32 = 1;
const RTM_DELLINK: u16 = 17;
const NLMSG_HDRLEN: usize = 16;
/// `struct ifinfomsg`: family, pad, type, index (at byte 4), flags, change.
const IFINFOMSG_LEN: usize = 16;

/// Sockets made inside the link's namespace.
struct Sockets {
    /// Bound to `RTMGRP_LINK` before the request is sent.
    listener: OwnedFd,
    /// Carries the request (in the helper).
    request: OwnedFd,
}

fn route_socket() -> io::Result<OwnedFd> {
    super::netlink_socket(libc::NETLINK_ROUTE, 0)
}

fn listener() -> io::Result<OwnedFd> {
    let fd = route_socket()?;
    let addr = super::netlink_addr(RTMGRP_LINK);
    // SAFETY: addr is a valid sockaddr_nl of the size given.
    let r = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

/// In the calling thread's namespace: the index of `name` (None: no such
/// link) and, if it exists, the two sockets.
fn prepare(name: &str) -> io::Result<Option<(u32, Sockets)>> {
    let Some(index) = super::link::index_of(name)? else {
        return Ok(None);
    };
    Ok(Some((
        index,
        Sockets {
            listener: listener()?,
            request: route_socket()?,
        },
    )))
}

/// The serialized `RTM_DELLINK` request for link `index`, with an ack.
fn del_request(index: u32) -> Vec<u8> {
    let mut link = LinkMessage::default();
    link.header.index = index;
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_ACK;
    header.sequence_number = 1;
    let mut msg = NetlinkMessage::new(
        header,
        NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelLink(link)),
    );
    msg.finalize();
    let mut buf = vec![0u8; msg.buffer_len()];
    msg.serialize(&mut buf);
    buf
}

/// Sends `req` on `fd` and waits for the kernel's answer: 0 or a positive
/// errno. Only raw syscalls and the stack: the helper calls this after fork.
fn send_and_wait(fd: RawFd, req: &[u8]) -> i32 {
    if !super::send_to_kernel(fd, req) {
        return errno();
    }
    let mut buf = [0u8; 1024];
    loop {
        // SAFETY: buf is a valid, writable stack buffer of that length.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            let e = errno();
            if e == libc::EINTR {
                continue;
            }
            return e;
        }
        let n = n as usize;
        if n < NLMSG_HDRLEN + 4 {
            return libc::EPROTO;
        }
        let kind = u16::from_ne_bytes([buf[4], buf[5]]);
        if kind != libc::NLMSG_ERROR as u16 {
            continue;
        }
        let code = i32::from_ne_bytes([buf[16], buf[17], buf[18], buf[19]]);
        return code.saturating_neg();
    }
}

fn errno() -> i32 {
    io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// Closes every descriptor except `keep`. Raw syscalls only (after fork).
fn close_all_but(keep: [RawFd; 2]) {
    let (lo, hi) = (keep[0].min(keep[1]), keep[0].max(keep[1]));
    let ranges = [(0, lo - 1), (lo + 1, hi - 1), (hi + 1, libc::c_int::MAX)];
    for (first, last) in ranges {
        if first > last {
            continue;
        }
        // SAFETY: close_range only closes descriptors of this process.
        let r = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0) };
        if r < 0 {
            // Kernels before 5.9: close one by one up to a sane bound.
            for fd in first..=last.min(4096) {
                // SAFETY: closing a descriptor (EBADF for unused ones is fine).
                unsafe { libc::close(fd) };
            }
        }
    }
}

/// Whether `data` holds an `RTM_DELLINK` announcement for `index`.
fn announces_deletion(mut data: &[u8], index: u32) -> bool {
    while data.len() >= NLMSG_HDRLEN {
        let len = u32::from_ne_bytes([data[0], data[1], data[2], data[3]]) as usize;
        if len < NLMSG_HDRLEN || len > data.len() {
            return false;
        }
        let kind = u16::from_ne_bytes([data[4], data[5]]);
        if kind == RTM_DELLINK && len >= NLMSG_HDRLEN + IFINFOMSG_LEN {
            let body = &data[NLMSG_HDRLEN..];
            let i = i32::from_ne_bytes([body[4], body[5], body[6], body[7]]);
            if i as u32 == index {
                return true;
            }
        }
        data = &data[(len + 3) & !3..];
    }
    false
}

/// How the wait for a deletion ended.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// The kernel announced the link's deletion.
    Announced,
    /// The helper reported the kernel's answer (0 or an errno).
    Answered(i32),
    /// The helper died without answering.
    Lost,
}

/// Waits for the announcement on `listener` or the helper's answer on
/// `answer`, whichever comes first.
fn wait(listener: &OwnedFd, answer: &OwnedFd, index: u32) -> io::Result<Outcome> {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let mut fds = [
            libc::pollfd {
                fd: listener.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: answer.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: fds is a valid array of two pollfd.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if fds[0].revents & libc::POLLIN != 0 {
            // SAFETY: buf is a valid writable buffer of that length.
            let n = unsafe {
                libc::recv(
                    listener.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            // ENOBUFS (missed announcements) or EAGAIN: the answer on the
            // pipe still comes.
            if n > 0 && announces_deletion(&buf[..n as usize], index) {
                return Ok(Outcome::Announced);
            }
        }
        if fds[1].revents & (libc::POLLIN | libc::POLLHUP) != 0 {
            let mut code = [0u8; 4];
            // SAFETY: code is a valid writable 4-byte buffer.
            let n = unsafe { libc::read(answer.as_raw_fd(), code.as_mut_ptr().cast(), 4) };
            return Ok(if n == 4 {
                Outcome::Answered(i32::from_ne_bytes(code))
            } else {
                Outcome::Lost
            });
        }
    }
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: fds is a valid array of two ints for pipe2 to fill.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both fds are fresh and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Starts the detached helper that sends `req` on `sock` and writes the
/// kernel's answer to `answer`. Returns false if no process could be made.
fn spawn_helper(sock: &OwnedFd, req: &[u8], answer: &OwnedFd) -> bool {
    let (sock, answer) = (sock.as_raw_fd(), answer.as_raw_fd());
    // SAFETY: the child runs only raw syscalls on memory prepared before the
    // fork (req, the fds) and leaves with _exit, as fork in a possibly
    // multi-threaded process requires.
    let child = unsafe { libc::fork() };
    if child < 0 {
        return false;
    }
    if child == 0 {
        // The intermediate child: fork the helper and leave at once, so the
        // helper is orphaned (reparented to init or a subreaper, which reap
        // it) and our caller only waits for this short-lived process.
        // SAFETY: as above.
        unsafe {
            if libc::fork() == 0 {
                // Hold no descriptor (a caller's pipe would stay open) and no
                // directory (a mount could not be unmounted) of the caller's.
                close_all_but([sock, answer]);
                libc::chdir(c"/".as_ptr());
                let code = send_and_wait(sock, req);
                libc::write(answer, (&code as *const i32).cast(), 4);
                libc::_exit(0);
            }
            libc::_exit(0);
        }
    }
    let mut status = 0;
    // SAFETY: waiting for our own child, status is a valid int.
    while unsafe { libc::waitpid(child, &mut status, 0) } < 0 && errno() == libc::EINTR {}
    // If the intermediate child's fork failed it exited without a helper;
    // the pipe then reports EOF and the caller sees `Lost`.
    true
}

fn request_error(name: &str, errno: i32) -> NetlinkError {
    NetlinkError::Request {
        op: format!("delete link {name}"),
        errno: Some(errno),
        detail: io::Error::from_raw_os_error(errno).to_string(),
    }
}

/// Deletes the link `name` in `ns` and returns once the kernel has unlisted
/// it (see the module docs); returns whether it existed. Deleting one end of
/// a veth pair deletes both.
pub fn delete_link_by_name(ns: &NetNs, name: &str) -> Result<bool, NetlinkError> {
    super::check_ifname(name)?;
    let prepared = ns.run_in(|| prepare(name))?.map_err(NetlinkError::Socket)?;
    let Some((index, socks)) = prepared else {
        return Ok(false);
    };
    let req = del_request(index);
    let (answer_r, answer_w) = pipe().map_err(NetlinkError::Socket)?;
    if !spawn_helper(&socks.request, &req, &answer_w) {
        return match send_and_wait(socks.request.as_raw_fd(), &req) {
            0 => Ok(true),
            libc::ENODEV => Ok(false),
            e => Err(request_error(name, e)),
        };
    }
    // Our copy of the write end must go, or a dead helper is never seen.
    drop(answer_w);
    match wait(&socks.listener, &answer_r, index).map_err(NetlinkError::Socket)? {
        Outcome::Announced | Outcome::Answered(0) => Ok(true),
        Outcome::Answered(libc::ENODEV) => Ok(false),
        Outcome::Answered(e) => Err(request_error(name, e)),
        Outcome::Lost => {
            // The helper died before answering (or could not be forked by the
            // intermediate): ask the kernel ourselves. ENODEV now means it
            // was deleted before the helper died.
            match send_and_wait(socks.request.as_raw_fd(), &req) {
                0 | libc::ENODEV => Ok(true),
                e => Err(request_error(name, e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(kind: u16, index: i32) -> Vec<u8> {
        let len = (NLMSG_HDRLEN + IFINFOMSG_LEN) as u32;
        let mut m = Vec::new();
        m.extend_from_slice(&len.to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&[0; 10]);
        m.extend_from_slice(&[0; 4]);
        m.extend_from_slice(&index.to_ne_bytes());
        m.extend_from_slice(&[0; 8]);
        m
    }

    #[test]
    fn deletion_announcement_is_matched_by_index() {
        assert!(announces_deletion(&msg(RTM_DELLINK, 7), 7));
        assert!(!announces_deletion(&msg(RTM_DELLINK, 8), 7));
        // RTM_NEWLINK (16) for the same link is not a deletion.
        assert!(!announces_deletion(&msg(16, 7), 7));
        let mut two = msg(16, 7);
        two.extend(msg(RTM_DELLINK, 7));
        assert!(announces_deletion(&two, 7));
        assert!(!announces_deletion(&two[..20], 7));
    }

    #[test]
    fn request_is_a_dellink_with_ack_for_the_index() {
        let req = del_request(42);
        assert_eq!(req.len(), NLMSG_HDRLEN + IFINFOMSG_LEN);
        assert_eq!(u16::from_ne_bytes([req[4], req[5]]), RTM_DELLINK);
        let flags = u16::from_ne_bytes([req[6], req[7]]);
        assert_eq!(flags, NLM_F_REQUEST | NLM_F_ACK);
        assert_eq!(i32::from_ne_bytes([req[20], req[21], req[22], req[23]]), 42);
    }
}
