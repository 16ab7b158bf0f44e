//! IP addresses on links (IPv4 and IPv6).

use std::net::IpAddr;

use ipnet::IpNet;
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};

use super::{Netlink, NetlinkError};

fn ipnet(addr: IpAddr, prefix: u8) -> Option<IpNet> {
    IpNet::new(addr, prefix).ok()
}

/// The address of a kernel address message: `IFA_LOCAL` when present (it is
/// the interface's own address on point-to-point links), else `IFA_ADDRESS`.
fn message_net(m: &AddressMessage) -> Option<IpNet> {
    let local = m.attributes.iter().find_map(|a| match a {
        AddressAttribute::Local(ip) => Some(*ip),
        _ => None,
    });
    let addr = m.attributes.iter().find_map(|a| match a {
        AddressAttribute::Address(ip) => Some(*ip),
        _ => None,
    });
    ipnet(local.or(addr)?, m.header.prefix_len)
}

impl Netlink {
    /// Adds `net` (address + prefix, e.g. `10.88.0.2/16`) to link `index`.
    /// Fails with `EEXIST` if it is already there.
    pub fn add_address(&self, index: u32, net: IpNet) -> Result<(), NetlinkError> {
        self.add_address_inner(index, net, false)
    }

    /// Like [`Netlink::add_address`] but skips IPv6 duplicate address
    /// detection, so the address is usable at once instead of "tentative" for
    /// a second or more (CNI plugins do this for addresses IPAM guarantees
    /// unique).
    pub fn add_address_nodad(&self, index: u32, net: IpNet) -> Result<(), NetlinkError> {
        self.add_address_inner(index, net, true)
    }

    fn add_address_inner(&self, index: u32, net: IpNet, nodad: bool) -> Result<(), NetlinkError> {
        let mut req = self
            .handle
            .address()
            .add(index, net.addr(), net.prefix_len());
        if nodad && net.addr().is_ipv6() {
            req.message_mut()
                .attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        self.exec(
            || format!("add address {net} to link #{index}"),
            req.execute(),
        )
    }

    /// Removes `net` from link `index`.
    pub fn del_address(&self, index: u32, net: IpNet) -> Result<(), NetlinkError> {
        let msg = self
            .address_messages(Some(index))?
            .into_iter()
            .find(|m| message_net(m) == Some(net))
            .ok_or_else(|| NetlinkError::Request {
                op: format!("delete address {net} from link #{index}"),
                errno: Some(libc::EADDRNOTAVAIL),
                detail: "no such address".to_string(),
            })?;
        self.exec(
            || format!("delete address {net} from link #{index}"),
            self.handle.address().del(msg).execute(),
        )
    }

    /// The addresses of link `index` (all links when `None`), as
    /// `(link index, address/prefix)`.
    pub fn addresses(&self, index: Option<u32>) -> Result<Vec<(u32, IpNet)>, NetlinkError> {
        Ok(self
            .address_messages(index)?
            .iter()
            .filter_map(|m| message_net(m).map(|n| (m.header.index, n)))
            .collect())
    }

    /// The addresses of link `index`.
    pub fn link_addresses(&self, index: u32) -> Result<Vec<IpNet>, NetlinkError> {
        Ok(self
            .addresses(Some(index))?
            .into_iter()
            .map(|(_, n)| n)
            .collect())
    }

    fn address_messages(&self, index: Option<u32>) -> Result<Vec<AddressMessage>, NetlinkError> {
        let mut req = self.handle.address().get();
        let Some(i) = index else {
            return self.collect(|| "list addresses".to_string(), req.execute());
        };
        // Ask the kernel for this link's addresses only (a strict dump with
        // ifa_index set); the user-space filter stays for kernels without
        // strict dumps, where the whole namespace comes back.
        let strict = self.set_strict_dump(true).is_ok();
        if strict {
            req.message_mut().header.index = i;
        }
        req = req.set_link_index_filter(i);
        let res = self.collect(|| format!("list addresses of link #{i}"), req.execute());
        if strict {
            if let Err(e) = self.set_strict_dump(false) {
                tracing::debug!(error = %e, "turning strict netlink dumps off again");
            }
        }
        res
    }
}
