//! Watching berth's table for damage done by others (`nft flush ruleset`,
//! `nft delete table inet berth`, a deleted or flushed chain), so a daemon
//! can put its rules back.
//!
//! nf_tables multicasts every committed change to the `NFNLGRP_NFTABLES`
//! group of `NETLINK_NETFILTER` sockets in the same network namespace (what
//! `nft monitor` prints). [`Monitor`] joins that group and reports deletions
//! of berth's table, chains, rules or sets. Element deletions are not
//! reported: berth's own detach deletes elements all the time, and an
//! element deleted by hand is not something a flush does.
//!
//! A notification does not say whose transaction it was (the generation
//! message names a thread, not a process), so the caller checks the table
//! with [`super::Firewall::rules_intact`] before repairing: berth's own
//! changes never leave it broken, and a repair is idempotent.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

use super::nfnl::{
    attrs, messages, NFGENMSG_LEN, NFNL_SUBSYS_NFTABLES, NFPROTO_INET, NLMSG_HDRLEN,
};

/// `NFNLGRP_NFTABLES` (linux/netfilter/nfnetlink.h).
const NFNLGRP_NFTABLES: u32 = 7;
const SOL_NETLINK: libc::c_int = 270;
const NETLINK_ADD_MEMBERSHIP: libc::c_int = 1;
const NFT_MSG_DELTABLE: u16 = 2;
const NFT_MSG_DELCHAIN: u16 = 5;
const NFT_MSG_DELRULE: u16 = 8;
const NFT_MSG_DELSET: u16 = 11;
/// The table name is attribute 1 of table, chain, rule and set messages.
const NFTA_TABLE: u16 = 1;

/// What [`Monitor::wait`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Something of the table was deleted.
    Deleted,
    /// The socket overflowed: notifications were lost, anything may have
    /// happened.
    Lost,
}

/// A subscription to nf_tables changes in the calling thread's network
/// namespace, filtered for one `inet` table.
#[derive(Debug)]
pub struct Monitor {
    sock: OwnedFd,
    table: String,
}

fn setsockopt_int(fd: &OwnedFd, level: libc::c_int, opt: libc::c_int, v: u32) -> io::Result<()> {
    // SAFETY: setsockopt reads one u32 of the size given.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            opt,
            (&v as *const u32).cast(),
            std::mem::size_of::<u32>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

impl Monitor {
    /// Subscribes to changes of table `inet table`.
    pub fn open(table: &str) -> io::Result<Monitor> {
        let sock = crate::netlink::netlink_socket(libc::NETLINK_NETFILTER, 0)?;
        // A flush of a big ruleset is many messages at once; overflow is
        // survivable (Change::Lost) but needless.
        let _ = setsockopt_int(&sock, libc::SOL_SOCKET, libc::SO_RCVBUF, 1 << 20);
        // Bound with the group in the (legacy) mask as well: joining by
        // setsockopt alone leaves an unbound socket without a port id.
        let addr = crate::netlink::netlink_addr(1 << (NFNLGRP_NFTABLES - 1));
        // SAFETY: bind reads a sockaddr_nl of the size given.
        let r = unsafe {
            libc::bind(
                sock.as_raw_fd(),
                (&addr as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        setsockopt_int(&sock, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, NFNLGRP_NFTABLES)?;
        Ok(Monitor {
            sock,
            table: table.to_string(),
        })
    }

    /// Waits up to `timeout` (`None`: forever) for a deletion in the table;
    /// `Ok(None)` when the time ran out first.
    pub fn wait(&self, timeout: Option<Duration>) -> io::Result<Option<Change>> {
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let ms = match deadline {
                None => -1,
                Some(d) => {
                    let left = d.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        return Ok(None);
                    }
                    left.as_millis().clamp(1, i32::MAX as u128) as i32
                }
            };
            let mut pfd = libc::pollfd {
                fd: self.sock.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: poll reads and writes one pollfd that lives across the call.
            let r = unsafe { libc::poll(&mut pfd, 1, ms) };
            if r < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            if r == 0 {
                continue;
            }
            let n = match crate::netlink::recv_datagram(&self.sock, &mut buf) {
                Ok(n) => n,
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => return Ok(Some(Change::Lost)),
                Err(e) => return Err(e),
            };
            if touches(&buf[..n], &self.table) {
                return Ok(Some(Change::Deleted));
            }
        }
    }

    /// Waits until no notification came for `quiet` (a transaction's
    /// messages come together; one repair serves them all).
    pub fn settle(&self, quiet: Duration) -> io::Result<()> {
        while self.wait(Some(quiet))?.is_some() {}
        Ok(())
    }
}

/// Whether a datagram of notifications deletes something of `inet table`.
fn touches(data: &[u8], table: &str) -> bool {
    messages(data).any(|(kind, _, msg)| {
        if kind >> 8 != NFNL_SUBSYS_NFTABLES {
            return false;
        }
        if !matches!(
            kind & 0xff,
            NFT_MSG_DELTABLE | NFT_MSG_DELCHAIN | NFT_MSG_DELRULE | NFT_MSG_DELSET
        ) {
            return false;
        }
        if msg.get(NLMSG_HDRLEN) != Some(&NFPROTO_INET) {
            return false;
        }
        let body = msg.get(NLMSG_HDRLEN + NFGENMSG_LEN..).unwrap_or(&[]);
        attrs(body)
            .any(|(k, v)| k == NFTA_TABLE && v.split(|b| *b == 0).next() == Some(table.as_bytes()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(kind: u16, family: u8, table: &str) -> Vec<u8> {
        let mut name = table.as_bytes().to_vec();
        name.push(0);
        let alen = 4 + name.len();
        let mut attr = Vec::new();
        attr.extend_from_slice(&(alen as u16).to_ne_bytes());
        attr.extend_from_slice(&NFTA_TABLE.to_ne_bytes());
        attr.extend_from_slice(&name);
        attr.resize((attr.len() + 3) & !3, 0);
        let len = NLMSG_HDRLEN + NFGENMSG_LEN + attr.len();
        let mut m = Vec::new();
        m.extend_from_slice(&(len as u32).to_ne_bytes());
        m.extend_from_slice(&((NFNL_SUBSYS_NFTABLES << 8) | kind).to_ne_bytes());
        m.extend_from_slice(&[0; 10]);
        m.extend_from_slice(&[family, 0, 0, 0]);
        m.extend_from_slice(&attr);
        m
    }

    #[test]
    fn only_deletions_in_our_table_count() {
        assert!(touches(
            &msg(NFT_MSG_DELTABLE, NFPROTO_INET, "berth"),
            "berth"
        ));
        assert!(touches(
            &[
                msg(1, NFPROTO_INET, "berth"),
                msg(NFT_MSG_DELRULE, NFPROTO_INET, "berth")
            ]
            .concat(),
            "berth"
        ));
        // Another table, another family, an addition.
        assert!(!touches(
            &msg(NFT_MSG_DELTABLE, NFPROTO_INET, "filter"),
            "berth"
        ));
        assert!(!touches(
            &msg(NFT_MSG_DELTABLE, NFPROTO_INET, "berth2"),
            "berth"
        ));
        assert!(!touches(&msg(NFT_MSG_DELTABLE, 2, "berth"), "berth"));
        assert!(!touches(&msg(1, NFPROTO_INET, "berth"), "berth"));
        // An element deletion (berth's own detach).
        assert!(!touches(&msg(14, NFPROTO_INET, "berth"), "berth"));
    }
}
