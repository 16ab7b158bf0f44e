//! nf_tables over a raw `NETLINK_NETFILTER` socket, for the per-container
//! hot path (family `inet`, berth's own table only).
//!
//! Reads: does a chain exist, what elements does a set hold.
//! [`super::Firewall::open`] uses the first to see whether berth's table
//! already carries the current fixed rules, so that an attach does not
//! rewrite them. Rewriting them is not just a wasted transaction: flushing a
//! chain queues the old rules for freeing after an RCU grace period, and the
//! kernel makes the *next close of any nf_tables socket* wait for that
//! (10-20 ms on this machine kind). [`super::Firewall::add_network`] uses the
//! second to skip a transaction whose elements are all there already (every
//! attach after a network's first).
//!
//! Writes: [`apply`] adds and deletes map elements (published ports) in one
//! batch, which is one atomic kernel transaction, exactly what `nft` sends
//! for `add element` / `delete element` lines. Loading libnftables (six
//! shared libraries), making a context and filling its cache cost 3-4 ms per
//! process; a batch costs one round trip. The rules, sets and maps
//! themselves are still declared through libnftables (their expressions are
//! nft's business); only elements of known types are encoded here.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

pub(super) const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFT_MSG_NEWCHAIN: u16 = 3;
const NFT_MSG_GETCHAIN: u16 = 4;
const NFT_MSG_NEWSETELEM: u16 = 12;
const NFT_MSG_GETSETELEM: u16 = 13;
const NFT_MSG_DELSETELEM: u16 = 14;
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
const NFTA_SET_ELEM_DATA: u16 = 2;
const NLA_F_NESTED: u16 = 0x8000;
const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
const NFTA_SET_ELEM_LIST_SET: u16 = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_SET_ELEM_KEY: u16 = 1;
const NFTA_SET_ELEM_FLAGS: u16 = 3;
const NFTA_DATA_VALUE: u16 = 1;
/// `NFT_SET_ELEM_INTERVAL_END`: the element closes an interval.
pub(crate) const ELEM_INTERVAL_END: u32 = 1;
const NFTA_CHAIN_TABLE: u16 = 1;
const NFTA_CHAIN_NAME: u16 = 3;
pub(super) const NFPROTO_INET: u8 = 1;
pub(super) const NLMSG_HDRLEN: usize = 16;
pub(super) const NFGENMSG_LEN: usize = 4;

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Appends one NUL-terminated string attribute.
fn put_str_attr(buf: &mut Vec<u8>, kind: u16, value: &str) {
    let len = 4 + value.len() + 1;
    buf.extend_from_slice(&(len as u16).to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(value.as_bytes());
    buf.push(0);
    buf.resize(align4(buf.len()), 0);
}

/// A request of nf_tables message type `msg` with string attributes.
pub(super) fn request(msg: u16, flags: u16, attrs: &[(u16, &str)]) -> Vec<u8> {
    let mut buf = vec![0u8; NLMSG_HDRLEN];
    // nfgenmsg: family, version (NFNETLINK_V0), res_id (big endian, 0).
    buf.extend_from_slice(&[NFPROTO_INET, 0, 0, 0]);
    for (kind, value) in attrs {
        put_str_attr(&mut buf, *kind, value);
    }
    let len = buf.len() as u32;
    let kind = (NFNL_SUBSYS_NFTABLES << 8) | msg;
    buf[0..4].copy_from_slice(&len.to_ne_bytes());
    buf[4..6].copy_from_slice(&kind.to_ne_bytes());
    buf[6..8].copy_from_slice(&(libc::NLM_F_REQUEST as u16 | flags).to_ne_bytes());
    buf[8..12].copy_from_slice(&SEQ.to_ne_bytes());
    buf
}

/// The GETCHAIN request for `table`/`chain`.
fn chain_request(table: &str, chain: &str) -> Vec<u8> {
    request(
        NFT_MSG_GETCHAIN,
        0,
        &[(NFTA_CHAIN_TABLE, table), (NFTA_CHAIN_NAME, chain)],
    )
}

pub(super) const SEQ: u32 = 1;

/// What the kernel answered to the request: `Some(true)` for the chain,
/// `Some(false)` for ENOENT (no such table or chain), `None` otherwise.
fn parse_reply(reply: &[u8]) -> io::Result<bool> {
    if reply.len() < NLMSG_HDRLEN {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "short reply"));
    }
    let kind = u16::from_ne_bytes([reply[4], reply[5]]);
    if kind == (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWCHAIN {
        return Ok(reply.len() >= NLMSG_HDRLEN + NFGENMSG_LEN);
    }
    if kind == libc::NLMSG_ERROR as u16 && reply.len() >= NLMSG_HDRLEN + 4 {
        let b = &reply[NLMSG_HDRLEN..NLMSG_HDRLEN + 4];
        let err = i32::from_ne_bytes([b[0], b[1], b[2], b[3]]);
        return match -err {
            libc::ENOENT => Ok(false),
            0 => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "ack without chain",
            )),
            e => Err(io::Error::from_raw_os_error(e)),
        };
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidData,
        format!("unexpected netlink message type {kind}"),
    ))
}

/// A netfilter netlink socket with a receive timeout, request sent.
pub(super) fn send(req: &[u8]) -> io::Result<OwnedFd> {
    let sock = crate::netlink::netlink_socket(libc::NETLINK_NETFILTER, 0)?;
    // Never block forever on a kernel that does not answer.
    let tv = libc::timeval {
        tv_sec: 2,
        tv_usec: 0,
    };
    // SAFETY: setsockopt reads a timeval of the size given.
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    if !crate::netlink::send_to_kernel(sock.as_raw_fd(), req) {
        return Err(io::Error::last_os_error());
    }
    Ok(sock)
}

/// The netlink messages of a datagram, as (type, sequence, whole message).
pub(super) fn messages(mut data: &[u8]) -> impl Iterator<Item = (u16, u32, &[u8])> {
    std::iter::from_fn(move || {
        if data.len() < NLMSG_HDRLEN {
            return None;
        }
        let len = u32::from_ne_bytes([data[0], data[1], data[2], data[3]]) as usize;
        if len < NLMSG_HDRLEN || len > data.len() {
            return None;
        }
        let kind = u16::from_ne_bytes([data[4], data[5]]);
        let seq = u32::from_ne_bytes([data[8], data[9], data[10], data[11]]);
        let msg = &data[..len];
        data = &data[align4(len).min(data.len())..];
        Some((kind, seq, msg))
    })
}

/// The attributes in `data`, as (type without flag bits, payload).
pub(super) fn attrs(mut data: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if data.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([data[0], data[1]]) as usize;
        if len < 4 || len > data.len() {
            return None;
        }
        // Drop NLA_F_NESTED / NLA_F_NET_BYTEORDER.
        let kind = u16::from_ne_bytes([data[2], data[3]]) & 0x3fff;
        let payload = &data[4..len];
        data = &data[align4(len).min(data.len())..];
        Some((kind, payload))
    })
}

pub(super) fn nlmsg_errno(msg: &[u8]) -> io::Result<i32> {
    let b = msg
        .get(NLMSG_HDRLEN..NLMSG_HDRLEN + 4)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "short netlink error"))?;
    Ok(-i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
}

/// Whether chain `chain` exists in table `inet table`, in the calling
/// thread's network namespace. Errors mean "could not tell".
pub(crate) fn chain_exists(table: &str, chain: &str) -> io::Result<bool> {
    let sock = send(&chain_request(table, chain))?;
    let mut buf = vec![0u8; 8192];
    loop {
        let n = crate::netlink::recv_datagram(&sock, &mut buf)?;
        // Skip anything not answering our request.
        if n >= NLMSG_HDRLEN && u32::from_ne_bytes([buf[8], buf[9], buf[10], buf[11]]) != SEQ {
            continue;
        }
        return parse_reply(&buf[..n]);
    }
}

/// One element of a set: its key bytes and its flags
/// ([`ELEM_INTERVAL_END`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Element {
    pub key: Vec<u8>,
    pub flags: u32,
    /// The mapped value (maps), empty for a set.
    pub data: Vec<u8>,
}

/// The elements of set `set` in table `inet table` (empty if the table or
/// set does not exist), in the calling thread's network namespace.
pub(crate) fn set_elements(table: &str, set: &str) -> io::Result<Vec<Element>> {
    let req = request(
        NFT_MSG_GETSETELEM,
        libc::NLM_F_DUMP as u16,
        &[
            (NFTA_SET_ELEM_LIST_TABLE, table),
            (NFTA_SET_ELEM_LIST_SET, set),
        ],
    );
    let sock = send(&req)?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = Vec::new();
    loop {
        let n = crate::netlink::recv_datagram(&sock, &mut buf)?;
        for (kind, seq, msg) in messages(&buf[..n]) {
            if seq != SEQ {
                continue;
            }
            match kind {
                k if k == libc::NLMSG_DONE as u16 => return Ok(out),
                k if k == libc::NLMSG_ERROR as u16 => {
                    return match nlmsg_errno(msg)? {
                        libc::ENOENT => Ok(Vec::new()),
                        0 => Ok(out),
                        e => Err(io::Error::from_raw_os_error(e)),
                    };
                }
                k if k == (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWSETELEM => {
                    parse_elements(
                        msg.get(NLMSG_HDRLEN + NFGENMSG_LEN..).unwrap_or(&[]),
                        &mut out,
                    );
                }
                _ => {}
            }
        }
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "dump ended early",
            ));
        }
    }
}

/// Collects the elements of one NEWSETELEM message's attributes.
fn parse_elements(body: &[u8], out: &mut Vec<Element>) {
    for (kind, list) in attrs(body) {
        if kind != NFTA_SET_ELEM_LIST_ELEMENTS {
            continue;
        }
        for (kind, elem) in attrs(list) {
            if kind != NFTA_LIST_ELEM {
                continue;
            }
            let mut e = Element {
                key: Vec::new(),
                flags: 0,
                data: Vec::new(),
            };
            for (kind, v) in attrs(elem) {
                match kind {
                    NFTA_SET_ELEM_KEY => {
                        if let Some((_, value)) = attrs(v).find(|(k, _)| *k == NFTA_DATA_VALUE) {
                            e.key = value.to_vec();
                        }
                    }
                    NFTA_SET_ELEM_DATA => {
                        if let Some((_, value)) = attrs(v).find(|(k, _)| *k == NFTA_DATA_VALUE) {
                            e.data = value.to_vec();
                        }
                    }
                    NFTA_SET_ELEM_FLAGS if v.len() >= 4 => {
                        e.flags = u32::from_be_bytes([v[0], v[1], v[2], v[3]]);
                    }
                    _ => {}
                }
            }
            out.push(e);
        }
    }
}

/// Whether `elems` (of an interval set whose intervals do not overlap, as
/// nft keeps them) hold exactly the interval `[start, end)`: a start
/// element at `start` whose next boundary is an end element at `end`.
pub(crate) fn has_interval(elems: &[Element], start: &[u8], end: &[u8]) -> bool {
    let starts_here = elems
        .iter()
        .any(|e| e.key == start && e.flags & ELEM_INTERVAL_END == 0);
    if !starts_here {
        return false;
    }
    // Keys are big-endian byte strings of one length: byte order is
    // numeric order.
    let next = elems
        .iter()
        .filter(|e| e.key.as_slice() > start)
        .map(|e| e.key.as_slice())
        .min();
    next == Some(end)
        && elems
            .iter()
            .any(|e| e.key == end && e.flags & ELEM_INTERVAL_END != 0)
}

/// One element change of a batch: add (or delete) `key` (with `data`, for
/// a map) in set `set`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ElemOp {
    /// Delete rather than add.
    pub delete: bool,
    /// The set or map.
    pub set: &'static str,
    /// The key, as the set's key type lays it out.
    pub key: Vec<u8>,
    /// The mapped value (maps only; ignored for deletes).
    pub data: Option<Vec<u8>>,
}

fn put_attr(buf: &mut Vec<u8>, kind: u16, payload: &[u8]) {
    buf.extend_from_slice(&((4 + payload.len()) as u16).to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(payload);
    buf.resize(align4(buf.len()), 0);
}

fn put_nested(buf: &mut Vec<u8>, kind: u16, inner: &[u8]) {
    put_attr(buf, kind | NLA_F_NESTED, inner);
}

/// Appends one netlink message (header, nfgenmsg, attributes).
fn put_msg(
    buf: &mut Vec<u8>,
    kind: u16,
    flags: u16,
    seq: u32,
    family: u8,
    res_id: u16,
    attrs: &[u8],
) {
    let len = (NLMSG_HDRLEN + NFGENMSG_LEN + attrs.len()) as u32;
    buf.extend_from_slice(&len.to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(&flags.to_ne_bytes());
    buf.extend_from_slice(&seq.to_ne_bytes());
    buf.extend_from_slice(&0u32.to_ne_bytes());
    buf.push(family);
    buf.push(0);
    buf.extend_from_slice(&res_id.to_be_bytes());
    buf.extend_from_slice(attrs);
}

/// The batch for `ops` on table `inet table`: BEGIN, one acknowledged
/// message per op (sequence numbers 2..), END.
fn batch(table: &str, ops: &[ElemOp]) -> Vec<u8> {
    let mut buf = Vec::new();
    let req = libc::NLM_F_REQUEST as u16;
    put_msg(
        &mut buf,
        NFNL_MSG_BATCH_BEGIN,
        req,
        SEQ,
        0,
        NFNL_SUBSYS_NFTABLES,
        &[],
    );
    for (i, op) in ops.iter().enumerate() {
        let mut key = Vec::new();
        put_attr(&mut key, NFTA_DATA_VALUE, &op.key);
        let mut elem = Vec::new();
        put_nested(&mut elem, NFTA_SET_ELEM_KEY, &key);
        if let (Some(data), false) = (&op.data, op.delete) {
            let mut value = Vec::new();
            put_attr(&mut value, NFTA_DATA_VALUE, data);
            put_nested(&mut elem, NFTA_SET_ELEM_DATA, &value);
        }
        let mut list = Vec::new();
        put_nested(&mut list, NFTA_LIST_ELEM, &elem);
        let mut attrs = Vec::new();
        let mut name = table.as_bytes().to_vec();
        name.push(0);
        put_attr(&mut attrs, NFTA_SET_ELEM_LIST_TABLE, &name);
        let mut set = op.set.as_bytes().to_vec();
        set.push(0);
        put_attr(&mut attrs, NFTA_SET_ELEM_LIST_SET, &set);
        put_nested(&mut attrs, NFTA_SET_ELEM_LIST_ELEMENTS, &list);
        let (kind, flags) = if op.delete {
            (NFT_MSG_DELSETELEM, req | libc::NLM_F_ACK as u16)
        } else {
            // CREATE without EXCL: an identical element is no error, a key
            // mapped elsewhere is EEXIST (as `nft add element`).
            (
                NFT_MSG_NEWSETELEM,
                req | (libc::NLM_F_CREATE | libc::NLM_F_ACK) as u16,
            )
        };
        put_msg(
            &mut buf,
            (NFNL_SUBSYS_NFTABLES << 8) | kind,
            flags,
            op_seq(i),
            NFPROTO_INET,
            0,
            &attrs,
        );
    }
    put_msg(
        &mut buf,
        NFNL_MSG_BATCH_END,
        req,
        op_seq(ops.len()),
        0,
        NFNL_SUBSYS_NFTABLES,
        &[],
    );
    buf
}

fn op_seq(i: usize) -> u32 {
    SEQ + 1 + i as u32
}

/// Applies `ops` to table `inet table` as one transaction: all or nothing.
/// The error is the first errno the kernel reported (`EEXIST`: a key is
/// mapped to something else; `ENOENT`: no such table, map or element).
pub(crate) fn apply(table: &str, ops: &[ElemOp]) -> io::Result<()> {
    if ops.is_empty() {
        return Ok(());
    }
    let sock = send(&batch(table, ops))?;
    let mut answered = vec![false; ops.len()];
    let mut first_err: Option<i32> = None;
    let mut buf = vec![0u8; 16 * 1024];
    while answered.iter().any(|a| !a) {
        let n = crate::netlink::recv_datagram(&sock, &mut buf)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "no answer to the batch",
            ));
        }
        for (kind, seq, msg) in messages(&buf[..n]) {
            if kind != libc::NLMSG_ERROR as u16 {
                continue;
            }
            let i = (seq as usize).wrapping_sub(op_seq(0) as usize);
            if i >= answered.len() {
                // An error on BEGIN or END: the batch was refused whole.
                let errno = nlmsg_errno(msg)?;
                if (seq == SEQ || seq == op_seq(ops.len())) && errno != 0 {
                    return Err(io::Error::from_raw_os_error(errno));
                }
                continue;
            }
            answered[i] = true;
            let errno = nlmsg_errno(msg)?;
            if errno != 0 && first_err.is_none() {
                first_err = Some(errno);
            }
        }
        // The kernel stops answering after a failed message that it could
        // not even parse; the error is all there is to say.
        if first_err.is_some() && !wait_for_more(&sock)? {
            break;
        }
    }
    match first_err {
        None => Ok(()),
        Some(e) => Err(io::Error::from_raw_os_error(e)),
    }
}

/// Whether more replies are queued on `sock` (without blocking).
fn wait_for_more(sock: &OwnedFd) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd: sock.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: poll reads and writes one pollfd that lives across the call.
    let r = unsafe { libc::poll(&mut pfd, 1, 0) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(r > 0)
}

/// How many rules table `inet table` holds (0 if it does not exist), in
/// the calling thread's network namespace.
pub(crate) fn rule_count(table: &str) -> io::Result<usize> {
    const NFT_MSG_NEWRULE: u16 = 6;
    const NFT_MSG_GETRULE: u16 = 7;
    const NFTA_RULE_TABLE: u16 = 1;
    let req = request(
        NFT_MSG_GETRULE,
        libc::NLM_F_DUMP as u16,
        &[(NFTA_RULE_TABLE, table)],
    );
    let sock = send(&req)?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut count = 0;
    loop {
        let n = crate::netlink::recv_datagram(&sock, &mut buf)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "dump ended early",
            ));
        }
        for (kind, seq, msg) in messages(&buf[..n]) {
            if seq != SEQ {
                continue;
            }
            match kind {
                k if k == libc::NLMSG_DONE as u16 => return Ok(count),
                k if k == libc::NLMSG_ERROR as u16 => {
                    return match nlmsg_errno(msg)? {
                        libc::ENOENT | 0 => Ok(count),
                        e => Err(io::Error::from_raw_os_error(e)),
                    };
                }
                k if k == (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWRULE => count += 1,
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_layout() {
        let r = chain_request("berth", "c");
        // header 16 + nfgenmsg 4 + "berth\0" attr (4+6 -> 12) + "c\0" (4+2 -> 8)
        assert_eq!(r.len(), 40);
        assert_eq!(u32::from_ne_bytes([r[0], r[1], r[2], r[3]]), 40);
        assert_eq!(u16::from_ne_bytes([r[4], r[5]]), (10 << 8) | 4);
        assert_eq!(r[16], NFPROTO_INET);
        assert_eq!(&r[24..30], b"berth\0");
        assert_eq!(u16::from_ne_bytes([r[32], r[33]]), 6);
        assert_eq!(&r[36..38], b"c\0");
    }

    #[test]
    fn replies() {
        let mut err = vec![0u8; 36];
        err[4..6].copy_from_slice(&(libc::NLMSG_ERROR as u16).to_ne_bytes());
        err[16..20].copy_from_slice(&(-libc::ENOENT).to_ne_bytes());
        assert!(!parse_reply(&err).expect("enoent"));
        err[16..20].copy_from_slice(&(-libc::EPERM).to_ne_bytes());
        assert!(parse_reply(&err).is_err());
        let mut chain = vec![0u8; 40];
        chain[4..6].copy_from_slice(&((10u16 << 8) | 3).to_ne_bytes());
        assert!(parse_reply(&chain).expect("chain"));
        assert!(parse_reply(&[0u8; 4]).is_err());
    }

    fn el(key: &[u8], flags: u32) -> Element {
        Element {
            key: key.to_vec(),
            flags,
            data: Vec::new(),
        }
    }

    #[test]
    fn intervals() {
        // [10.0.0.0, 10.1.0.0) and [10.1.0.0, 10.2.0.0), adjacent.
        let set = vec![
            el(&[10, 0, 0, 0], 0),
            el(&[10, 1, 0, 0], ELEM_INTERVAL_END),
            el(&[10, 1, 0, 0], 0),
            el(&[10, 2, 0, 0], ELEM_INTERVAL_END),
        ];
        assert!(has_interval(&set, &[10, 0, 0, 0], &[10, 1, 0, 0]));
        assert!(has_interval(&set, &[10, 1, 0, 0], &[10, 2, 0, 0]));
        assert!(
            !has_interval(&set, &[10, 0, 0, 0], &[10, 2, 0, 0]),
            "two intervals are not one"
        );
        assert!(!has_interval(&set, &[10, 2, 0, 0], &[10, 3, 0, 0]));
        assert!(!has_interval(&[], &[10, 0, 0, 0], &[10, 1, 0, 0]));
    }

    #[test]
    fn element_dump_parsing() {
        // One NEWSETELEM body: LIST_ELEMENTS { LIST_ELEM { KEY { VALUE }, FLAGS } }.
        fn attr(kind: u16, payload: &[u8]) -> Vec<u8> {
            let mut v = Vec::new();
            v.extend_from_slice(&((4 + payload.len()) as u16).to_ne_bytes());
            v.extend_from_slice(&kind.to_ne_bytes());
            v.extend_from_slice(payload);
            v.resize(align4(v.len()), 0);
            v
        }
        let key = attr(
            NFTA_SET_ELEM_KEY | 0x8000,
            &attr(NFTA_DATA_VALUE, &[10, 2, 0, 0]),
        );
        let flags = attr(NFTA_SET_ELEM_FLAGS, &1u32.to_be_bytes());
        let elem = attr(NFTA_LIST_ELEM | 0x8000, &[key, flags].concat());
        let body = [
            attr(NFTA_SET_ELEM_LIST_TABLE, b"berth\0"),
            attr(NFTA_SET_ELEM_LIST_ELEMENTS | 0x8000, &elem),
        ]
        .concat();
        let mut out = Vec::new();
        parse_elements(&body, &mut out);
        assert_eq!(out, vec![el(&[10, 2, 0, 0], ELEM_INTERVAL_END)]);
    }

    #[test]
    fn batch_layout() {
        let ops = [
            ElemOp {
                delete: false,
                set: "m",
                key: vec![6, 0, 0, 0, 0x1f, 0x90, 0, 0],
                data: Some(vec![10, 0, 0, 2, 0, 80, 0, 0]),
            },
            ElemOp {
                delete: true,
                set: "m",
                key: vec![6, 0, 0, 0, 0x1f, 0x90, 0, 0],
                data: Some(vec![1]),
            },
        ];
        let b = batch("t", &ops);
        let msgs: Vec<_> = messages(&b).map(|(k, s, m)| (k, s, m.len())).collect();
        assert_eq!(msgs.len(), 4, "begin, two ops, end");
        assert_eq!((msgs[0].0, msgs[0].1), (NFNL_MSG_BATCH_BEGIN, 1));
        assert_eq!((msgs[1].0, msgs[1].1), ((10 << 8) | NFT_MSG_NEWSETELEM, 2));
        assert_eq!((msgs[2].0, msgs[2].1), ((10 << 8) | NFT_MSG_DELSETELEM, 3));
        assert_eq!((msgs[3].0, msgs[3].1), (NFNL_MSG_BATCH_END, 4));
        // begin: res_id is the subsystem, big endian.
        assert_eq!(&b[18..20], &10u16.to_be_bytes());
        // The add carries key and data; the delete only the key.
        assert!(msgs[1].2 > msgs[2].2);
        let add = &b[msgs[0].2..msgs[0].2 + msgs[1].2];
        let mut found = Vec::new();
        for (k, list) in attrs(&add[NLMSG_HDRLEN + NFGENMSG_LEN..]) {
            if k == NFTA_SET_ELEM_LIST_ELEMENTS {
                for (_, elem) in attrs(list) {
                    for (k, v) in attrs(elem) {
                        found.push((k, attrs(v).next().map(|(_, d)| d.to_vec())));
                    }
                }
            }
        }
        assert_eq!(
            found,
            vec![
                (NFTA_SET_ELEM_KEY, Some(ops[0].key.clone())),
                (NFTA_SET_ELEM_DATA, ops[0].data.clone()),
            ]
        );
    }
}
