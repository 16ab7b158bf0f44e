//! Synchronous netlink (rtnetlink) access, one socket per namespace.
//!
//! A [`Netlink`] owns one `NETLINK_ROUTE` socket and a current-thread tokio
//! runtime that drives it: the rest of berth (runtime, CNI plugins) is
//! synchronous, and CNI plugins are short-lived processes, so setup must be
//! cheap (one socket, no thread pool). A netlink socket acts on the namespace
//! it was *created* in, whatever thread later uses it, so
//! [`Netlink::for_netns`] creates the socket with the calling thread briefly
//! inside the target namespace ([`NetNs::run_in`]) and then drives it from
//! there.
//!
//! Requests are grouped one module per link kind ([`bridge`], [`veth`],
//! [`macvlan`], [`ipvlan`], [`vlan`], [`vxlan`]) plus [`link`] (lookups and
//! generic changes), [`addr`], [`route`] and [`neigh`] (neighbours and FDB),
//! each adding methods to [`Netlink`]; [`unlist`] (deleting a link without
//! waiting for the kernel to free it), [`ports`] (does a bridge still
//! have a port) and [`route_get`] (the link a packet to an address leaves
//! through) use raw sockets of their own.

pub mod addr;
pub mod bridge;
pub mod ipvlan;
pub mod link;
pub mod macvlan;
pub mod neigh;
pub mod ports;
pub mod route;
pub mod route_get;
pub mod unlist;
pub mod veth;
pub mod vlan;
pub mod vxlan;

use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};

use futures::TryStreamExt;
use rtnetlink::sys::TokioSocket;

use crate::netns::{NetNs, NetNsError};

pub use link::Link;

/// Errors from netlink requests.
#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    /// The netlink socket or its runtime could not be set up.
    #[error("netlink socket: {0}")]
    Socket(#[source] io::Error),
    /// The socket could not be created inside the target namespace.
    #[error(transparent)]
    NetNs(#[from] NetNsError),
    /// The kernel (or rtnetlink) refused a request. `op` names the request
    /// (`create veth v0`), `errno` is the kernel's error number if it gave one.
    #[error("{op}: {detail}")]
    Request {
        /// What was being done.
        op: String,
        /// The kernel's errno (positive), if the kernel answered with one.
        errno: Option<i32>,
        /// The kernel's message (or rtnetlink's).
        detail: String,
    },
    /// A link looked up by name or index does not exist.
    #[error("link {0} not found")]
    LinkNotFound(String),
    /// A link exists but is not of the kind required.
    #[error("link {name} is a {actual}, not a {expected}")]
    WrongKind {
        /// The link's name.
        name: String,
        /// The kind required.
        expected: &'static str,
        /// The kind found (`device` when the link has no kind).
        actual: String,
    },
    /// A request was malformed before reaching the kernel.
    #[error("invalid {what}: {detail}")]
    Invalid {
        /// Which argument.
        what: &'static str,
        /// Why.
        detail: String,
    },
}

impl NetlinkError {
    /// The kernel's errno for a refused request.
    pub fn errno(&self) -> Option<i32> {
        match self {
            NetlinkError::Request { errno, .. } => *errno,
            _ => None,
        }
    }

    /// The object already exists (`EEXIST`).
    pub fn is_exists(&self) -> bool {
        self.errno() == Some(libc::EEXIST)
    }

    /// The object does not exist (`ENODEV`, `ENOENT`, `ESRCH`,
    /// `EADDRNOTAVAIL`, or a failed lookup).
    pub fn is_not_found(&self) -> bool {
        matches!(self, NetlinkError::LinkNotFound(_))
            || matches!(
                self.errno(),
                Some(libc::ENODEV)
                    | Some(libc::ENOENT)
                    | Some(libc::ESRCH)
                    | Some(libc::EADDRNOTAVAIL)
            )
    }

    /// The kernel does not support the request, e.g. a link kind it was built
    /// without (`ip link add type ipvlan` → "Unknown device type",
    /// `EOPNOTSUPP`).
    pub fn is_unsupported(&self) -> bool {
        matches!(
            self.errno(),
            Some(libc::EOPNOTSUPP) | Some(libc::EPROTONOSUPPORT) | Some(libc::EAFNOSUPPORT)
        )
    }

    pub(crate) fn request(op: impl Into<String>, e: rtnetlink::Error) -> Self {
        let op = op.into();
        match e {
            rtnetlink::Error::NetlinkError(msg) if msg.raw_code() != 0 => {
                let errno = msg.raw_code().abs();
                NetlinkError::Request {
                    op,
                    errno: Some(errno),
                    detail: io::Error::from_raw_os_error(errno).to_string(),
                }
            }
            other => NetlinkError::Request {
                op,
                errno: None,
                detail: other.to_string(),
            },
        }
    }
}

/// One rtnetlink socket bound to one network namespace, with a synchronous API.
pub struct Netlink {
    rt: tokio::runtime::Runtime,
    handle: rtnetlink::Handle,
    /// The socket's fd (owned by the connection task), for socket options
    /// set around single requests.
    fd: std::os::fd::RawFd,
}

impl std::fmt::Debug for Netlink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Netlink")
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, NetlinkError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(NetlinkError::Socket)
}

/// A new close-on-exec netlink socket of `protocol` (`NETLINK_ROUTE`,
/// `NETLINK_NETFILTER`) in the calling thread's network namespace, with
/// extra socket `flags` (e.g. `SOCK_NONBLOCK`).
pub(crate) fn netlink_socket(protocol: libc::c_int, flags: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2) call; the returned fd is checked and owned below.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC | flags,
            protocol,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a freshly created, valid descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A netlink address: the kernel (pid 0), with multicast `groups` for a
/// bind.
pub(crate) fn netlink_addr(groups: u32) -> libc::sockaddr_nl {
    // SAFETY: sockaddr_nl is plain data; all-zero is valid (pid 0 = kernel).
    let mut a: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    a.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    a.nl_groups = groups;
    a
}

/// Sends one request datagram on netlink socket `fd` to the kernel; false
/// (errno set) if it could not be sent. Raw syscalls on the stack only, so
/// a forked child may call it.
pub(crate) fn send_to_kernel(fd: std::os::fd::RawFd, req: &[u8]) -> bool {
    let kernel = netlink_addr(0);
    // SAFETY: req and kernel are valid for the lengths given.
    let sent = unsafe {
        libc::sendto(
            fd,
            req.as_ptr().cast(),
            req.len(),
            0,
            (&kernel as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    sent >= 0
}

/// Receives one datagram (one or more netlink messages) into `buf`,
/// retrying when a signal interrupts the wait.
pub(crate) fn recv_datagram(sock: &OwnedFd, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        // SAFETY: recv writes at most buf.len() bytes into buf.
        let n = unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

fn route_socket() -> io::Result<OwnedFd> {
    netlink_socket(libc::NETLINK_ROUTE, libc::SOCK_NONBLOCK)
}

impl Netlink {
    /// A socket in the calling thread's network namespace.
    pub fn new() -> Result<Self, NetlinkError> {
        Self::from_fd(route_socket().map_err(NetlinkError::Socket)?)
    }

    /// A socket in `ns`, usable from any thread; every request acts in `ns`.
    pub fn for_netns(ns: &NetNs) -> Result<Self, NetlinkError> {
        let fd = ns.run_in(route_socket)?.map_err(NetlinkError::Socket)?;
        Self::from_fd(fd)
    }

    fn from_fd(fd: OwnedFd) -> Result<Self, NetlinkError> {
        let rt = runtime()?;
        let raw = fd.as_raw_fd();
        let handle = {
            let _guard = rt.enter();
            // SAFETY: we own fd and hand it over; TokioSocket takes ownership.
            // It is already non-blocking, so from_raw_fd's own set_non_blocking
            // cannot fail on it, and registration with the entered runtime's
            // reactor only fails when out of memory.
            let socket = unsafe { TokioSocket::from_raw_fd(fd.into_raw_fd()) };
            let (conn, handle, _) = rtnetlink::from_socket(socket);
            rt.spawn(conn);
            handle
        };
        Ok(Netlink {
            rt,
            handle,
            fd: raw,
        })
    }

    /// Turns `NETLINK_GET_STRICT_CHK` on or off for this socket. With it on,
    /// the kernel honours filters in dump requests (e.g. one link's
    /// addresses) instead of dumping everything for us to filter, which
    /// matters on a host with a thousand veths. Kernels before 4.20 lack the
    /// option; callers then simply filter in user space.
    pub(crate) fn set_strict_dump(&self, on: bool) -> io::Result<()> {
        const SOL_NETLINK: libc::c_int = 270;
        const NETLINK_GET_STRICT_CHK: libc::c_int = 12;
        let v: libc::c_int = on.into();
        // SAFETY: setsockopt reads one c_int; fd is the live socket owned by
        // this Netlink's connection task, which lives as long as self.
        let r = unsafe {
            libc::setsockopt(
                self.fd,
                SOL_NETLINK,
                NETLINK_GET_STRICT_CHK,
                (&v as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Runs one request future to completion on this socket's runtime.
    pub(crate) fn block<F: Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// Runs a request and maps its error, naming the operation.
    pub(crate) fn exec<F, T>(&self, op: impl FnOnce() -> String, f: F) -> Result<T, NetlinkError>
    where
        F: Future<Output = Result<T, rtnetlink::Error>>,
    {
        self.block(f).map_err(|e| NetlinkError::request(op(), e))
    }

    /// Collects a dump stream, mapping its error.
    pub(crate) fn collect<S, T>(
        &self,
        op: impl FnOnce() -> String,
        s: S,
    ) -> Result<Vec<T>, NetlinkError>
    where
        S: futures::Stream<Item = Result<T, rtnetlink::Error>>,
    {
        self.exec(op, s.try_collect::<Vec<T>>())
    }

    /// The underlying rtnetlink handle, for requests this crate does not wrap.
    /// Futures made from it must be run with [`Netlink::run`].
    pub fn handle(&self) -> &rtnetlink::Handle {
        &self.handle
    }

    /// Runs a future built from [`Netlink::handle`] to completion.
    pub fn run<F: Future>(&self, f: F) -> F::Output {
        self.block(f)
    }
}

/// Checks a link name as the kernel will (1..=15 bytes, no `/`, no
/// whitespace, not `.`/`..`), so a bad name gets a precise error early.
pub fn check_ifname(name: &str) -> Result<(), NetlinkError> {
    let bad = |detail: &str| {
        Err(NetlinkError::Invalid {
            what: "interface name",
            detail: format!("{name:?}: {detail}"),
        })
    };
    if name.is_empty() {
        return bad("empty");
    }
    if name.len() > 15 {
        return bad("longer than 15 bytes");
    }
    if name == "." || name == ".." {
        return bad("reserved name");
    }
    if name
        .chars()
        .any(|c| c == '/' || c == ':' || c.is_whitespace() || c == '\0')
    {
        return bad("contains '/', ':', NUL or whitespace");
    }
    Ok(())
}
