//! Which link the kernel would send a packet to an address out of
//! (`ip route get`), without a netlink runtime: one request, one answer.
//!
//! berth-portmap asks this for a container's address to find the host
//! link its published ports are reached through (the bridge), whatever
//! plugin attached the container.

use std::io;
use std::net::IpAddr;
use std::os::fd::AsRawFd;

use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_REQUEST};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

/// The serialized `RTM_GETROUTE` request (not a dump) for `dst`.
fn request(dst: IpAddr) -> Vec<u8> {
    let mut route = RouteMessage::default();
    let (family, len, addr) = match dst {
        IpAddr::V4(a) => (AddressFamily::Inet, 32, RouteAddress::Inet(a)),
        IpAddr::V6(a) => (AddressFamily::Inet6, 128, RouteAddress::Inet6(a)),
    };
    route.header.address_family = family;
    route.header.destination_prefix_length = len;
    route.attributes.push(RouteAttribute::Destination(addr));
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST;
    header.sequence_number = 1;
    let mut msg = NetlinkMessage::new(
        header,
        NetlinkPayload::InnerMessage(RouteNetlinkMessage::GetRoute(route)),
    );
    msg.finalize();
    let mut buf = vec![0u8; msg.buffer_len()];
    msg.serialize(&mut buf);
    buf
}

/// The output link of the kernel's answer; `None` when the route has none
/// (e.g. a blackhole).
fn parse(data: &[u8]) -> io::Result<Option<u32>> {
    let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(data)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
    match msg.payload {
        NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewRoute(r)) => {
            Ok(r.attributes.iter().find_map(|a| match a {
                RouteAttribute::Oif(i) => Some(*i),
                _ => None,
            }))
        }
        NetlinkPayload::Error(e) => {
            let errno = e.raw_code().abs();
            Err(io::Error::from_raw_os_error(if errno == 0 {
                libc::EPROTO
            } else {
                errno
            }))
        }
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "unexpected answer to a route lookup",
        )),
    }
}

/// The index of the link a packet to `dst` leaves through, in the calling
/// thread's network namespace; `Ok(None)` when no route has one, and the
/// kernel's error (ENETUNREACH, ...) when there is no route at all.
pub fn output_link(dst: IpAddr) -> io::Result<Option<u32>> {
    let sock = super::netlink_socket(libc::NETLINK_ROUTE, 0)?;
    if !super::send_to_kernel(sock.as_raw_fd(), &request(dst)) {
        return Err(io::Error::last_os_error());
    }
    let mut buf = vec![0u8; 8 * 1024];
    let n = super::recv_datagram(&sock, &mut buf)?;
    parse(&buf[..n])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_is_a_single_route_lookup_for_the_address() {
        let req = request("10.1.2.3".parse().unwrap_or(IpAddr::from([0, 0, 0, 0])));
        assert_eq!(u16::from_ne_bytes([req[4], req[5]]), 26, "RTM_GETROUTE");
        assert_eq!(u16::from_ne_bytes([req[6], req[7]]), NLM_F_REQUEST);
        // rtmsg: family AF_INET, dst_len 32; then RTA_DST (1) = 10.1.2.3.
        assert_eq!(req[16], libc::AF_INET as u8);
        assert_eq!(req[17], 32);
        let attr = &req[28..36];
        assert_eq!(u16::from_ne_bytes([attr[2], attr[3]]), 1);
        assert_eq!(&attr[4..8], &[10, 1, 2, 3]);
    }
}
