//! Whether a bridge (any master link) still has a port, without listing
//! them all.
//!
//! A DEL asks this to know whether the network's last container just left.
//! [`super::Netlink::links_of_master`] would serialize every port (a
//! thousand link messages on a full bridge) on each DEL; here the dump,
//! filtered by the kernel to the master's ports, is read only until its
//! first port, then the socket is closed, which ends the dump.

use std::io;
use std::os::fd::AsRawFd;

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_route::link::{LinkAttribute, LinkMessage};
use netlink_packet_route::RouteNetlinkMessage;

/// The serialized `RTM_GETLINK` dump request for the ports of `master`.
fn request(master: u32) -> Vec<u8> {
    let mut link = LinkMessage::default();
    link.attributes.push(LinkAttribute::Controller(master));
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    header.sequence_number = 1;
    let mut msg = NetlinkMessage::new(
        header,
        NetlinkPayload::InnerMessage(RouteNetlinkMessage::GetLink(link)),
    );
    msg.finalize();
    let mut buf = vec![0u8; msg.buffer_len()];
    msg.serialize(&mut buf);
    buf
}

/// What one datagram of the dump says: a port of `master` was seen
/// (`Some(true)`), the dump ended without one (`Some(false)`), or read on.
fn scan(mut data: &[u8], master: u32) -> io::Result<Option<bool>> {
    while data.len() >= 16 {
        let len = u32::from_ne_bytes([data[0], data[1], data[2], data[3]]) as usize;
        if len < 16 || len > data.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "truncated netlink message",
            ));
        }
        let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&data[..len])
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        match msg.payload {
            // Kernels that ignore the filter send every link.
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(l))
                if l.attributes
                    .iter()
                    .any(|a| matches!(a, LinkAttribute::Controller(m) if *m == master)) =>
            {
                return Ok(Some(true));
            }
            NetlinkPayload::Done(_) => return Ok(Some(false)),
            NetlinkPayload::Error(e) => {
                let errno = e.raw_code().abs();
                if errno != 0 {
                    return Err(io::Error::from_raw_os_error(errno));
                }
            }
            _ => {}
        }
        data = &data[(len + 3) & !3..];
    }
    Ok(None)
}

/// Whether link `master` (in the calling thread's network namespace) has
/// at least one port.
pub fn has_ports(master: u32) -> io::Result<bool> {
    let sock = super::netlink_socket(libc::NETLINK_ROUTE, 0)?;
    let req = request(master);
    if !super::send_to_kernel(sock.as_raw_fd(), &req) {
        return Err(io::Error::last_os_error());
    }
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = super::recv_datagram(&sock, &mut buf)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "link dump ended without NLMSG_DONE",
            ));
        }
        if let Some(answer) = scan(&buf[..n], master)? {
            return Ok(answer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_is_a_link_dump_filtered_by_master() {
        let req = request(7);
        assert_eq!(u16::from_ne_bytes([req[4], req[5]]), 18, "RTM_GETLINK");
        assert_eq!(
            u16::from_ne_bytes([req[6], req[7]]),
            NLM_F_REQUEST | NLM_F_DUMP
        );
        // IFLA_MASTER (10) = 7 after the 16-byte ifinfomsg.
        let attr = &req[32..40];
        assert_eq!(u16::from_ne_bytes([attr[2], attr[3]]), 10);
        assert_eq!(u32::from_ne_bytes([attr[4], attr[5], attr[6], attr[7]]), 7);
    }
}
