//! Links in general: lookups by name or index, and changes that apply to
//! every kind (up/down, mtu, mac, master, name, promisc, namespace, delete),
//! and [`index_of`], a name's index without a netlink socket.

use std::io;
use std::os::fd::AsRawFd;

use futures::TryStreamExt;
use netlink_packet_route::link::{InfoData, LinkAttribute, LinkFlags, LinkInfo, LinkMessage};
use rtnetlink::LinkUnspec;

use super::{Netlink, NetlinkError};
use crate::mac::MacAddr;
use crate::netns::NetNs;

/// A link as the kernel reports it.
#[derive(Debug, Clone)]
pub struct Link {
    /// Interface index (unique within its namespace).
    pub index: u32,
    /// Interface name.
    pub name: String,
    /// Link kind (`bridge`, `veth`, `macvlan`, ...); `None` for physical
    /// devices and `lo`.
    pub kind: Option<String>,
    /// MTU.
    pub mtu: u32,
    /// Hardware address, if it has a 6-byte one.
    pub mac: Option<MacAddr>,
    /// Index of the master (e.g. the bridge of a bridge port).
    pub master: Option<u32>,
    /// Index of the lower/parent link (`IFLA_LINK`: a veth's peer, a
    /// macvlan's parent). May refer to another namespace when
    /// `link_netnsid` is set.
    pub parent: Option<u32>,
    /// The namespace id of `parent`'s namespace, if it is another one.
    pub link_netnsid: Option<i32>,
    /// Administratively up (`IFF_UP`).
    pub up: bool,
    /// Promiscuous mode (`IFF_PROMISC`).
    pub promisc: bool,
    /// The full message, for kind-specific details (macvlan mode, ...).
    pub raw: LinkMessage,
}

impl Link {
    /// Builds a [`Link`] from a kernel link message.
    pub fn from_message(msg: LinkMessage) -> Self {
        let mut link = Link {
            index: msg.header.index,
            name: String::new(),
            kind: None,
            mtu: 0,
            mac: None,
            master: None,
            parent: None,
            link_netnsid: None,
            up: msg.header.flags.contains(LinkFlags::Up),
            promisc: msg.header.flags.contains(LinkFlags::Promisc),
            raw: LinkMessage::default(),
        };
        for attr in &msg.attributes {
            match attr {
                LinkAttribute::IfName(n) => link.name = n.clone(),
                LinkAttribute::Mtu(m) => link.mtu = *m,
                LinkAttribute::Address(a) => link.mac = MacAddr::from_slice(a),
                LinkAttribute::Controller(m) if *m != 0 => link.master = Some(*m),
                LinkAttribute::Link(p) if *p != 0 => link.parent = Some(*p),
                LinkAttribute::LinkNetNsId(id) => link.link_netnsid = Some(*id),
                LinkAttribute::LinkInfo(infos) => {
                    for info in infos {
                        if let LinkInfo::Kind(k) = info {
                            link.kind = Some(k.to_string());
                        }
                    }
                }
                _ => {}
            }
        }
        link.raw = msg;
        link
    }

    /// The kind-specific data (`IFLA_INFO_DATA`), if any.
    pub fn info_data(&self) -> Option<&InfoData> {
        self.raw.attributes.iter().find_map(|a| match a {
            LinkAttribute::LinkInfo(infos) => infos.iter().find_map(|i| match i {
                LinkInfo::Data(d) => Some(d),
                _ => None,
            }),
            _ => None,
        })
    }

    /// Whether this link is of `kind` (`"bridge"`, `"veth"`, ...).
    pub fn is_kind(&self, kind: &str) -> bool {
        self.kind.as_deref() == Some(kind)
    }

    /// Errors with [`NetlinkError::WrongKind`] unless this link is of `kind`.
    pub fn expect_kind(&self, kind: &'static str) -> Result<(), NetlinkError> {
        if self.is_kind(kind) {
            return Ok(());
        }
        Err(NetlinkError::WrongKind {
            name: self.name.clone(),
            expected: kind,
            actual: self.kind.clone().unwrap_or_else(|| "device".to_string()),
        })
    }
}

/// The index of link `name` in the calling thread's network namespace
/// (`if_nametoindex`: one ioctl, no netlink socket), `None` if absent.
pub fn index_of(name: &str) -> io::Result<Option<u32>> {
    let cname = std::ffi::CString::new(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in link name"))?;
    // SAFETY: cname is a valid NUL-terminated string.
    let index = unsafe { libc::if_nametoindex(cname.as_ptr()) };
    if index != 0 {
        return Ok(Some(index));
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::ENODEV) | Some(libc::ENXIO) => Ok(None),
        _ => Err(e),
    }
}

/// The name of link `index` in the calling thread's network namespace
/// (`if_indextoname`: one ioctl, no netlink runtime), or `None` if there
/// is no such link.
pub fn name_of(index: u32) -> io::Result<Option<String>> {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: buf has the IF_NAMESIZE bytes if_indextoname may write.
    let p = unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) };
    if p.is_null() {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ENXIO) | Some(libc::ENODEV) => Ok(None),
            _ => Err(e),
        };
    }
    // SAFETY: on success buf holds a NUL-terminated name.
    let name = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
    Ok(Some(name.to_string_lossy().into_owned()))
}

impl Netlink {
    /// All links of this namespace.
    pub fn links(&self) -> Result<Vec<Link>, NetlinkError> {
        let msgs = self.collect(
            || "list links".to_string(),
            self.handle.link().get().execute(),
        )?;
        Ok(msgs.into_iter().map(Link::from_message).collect())
    }

    /// The link named `name`, or `None`.
    pub fn link_by_name(&self, name: &str) -> Result<Option<Link>, NetlinkError> {
        super::check_ifname(name)?;
        let req = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute();
        self.one_link(format!("get link {name}"), req)
    }

    /// The link with index `index`, or `None`.
    pub fn link_by_index(&self, index: u32) -> Result<Option<Link>, NetlinkError> {
        let req = self.handle.link().get().match_index(index).execute();
        self.one_link(format!("get link #{index}"), req)
    }

    /// The link named `name`; [`NetlinkError::LinkNotFound`] if absent.
    pub fn require_link(&self, name: &str) -> Result<Link, NetlinkError> {
        self.link_by_name(name)?
            .ok_or_else(|| NetlinkError::LinkNotFound(name.to_string()))
    }

    fn one_link<S>(&self, op: String, s: S) -> Result<Option<Link>, NetlinkError>
    where
        S: futures::Stream<Item = Result<LinkMessage, rtnetlink::Error>>,
    {
        match self.block(async move {
            futures::pin_mut!(s);
            s.try_next().await
        }) {
            Ok(m) => Ok(m.map(Link::from_message)),
            Err(e) => {
                let e = NetlinkError::request(op, e);
                if e.is_not_found() {
                    Ok(None)
                } else {
                    Err(e)
                }
            }
        }
    }

    fn set(&self, op: impl FnOnce() -> String, msg: LinkMessage) -> Result<(), NetlinkError> {
        self.exec(op, self.handle.link().set(msg).execute())
    }

    /// Brings link `index` up.
    pub fn set_up(&self, index: u32) -> Result<(), NetlinkError> {
        self.set(
            || format!("set link #{index} up"),
            LinkUnspec::new_with_index(index).up().build(),
        )
    }

    /// Stops the kernel from generating IPv6 addresses for link `index`
    /// (`IN6_ADDR_GEN_MODE_NONE`; set it while the link is down): no
    /// link-local address, hence no DAD, router solicitation or MLD report
    /// from it. Kernels without IPv6 refuse it ([`NetlinkError::is_unsupported`]).
    pub fn set_ipv6_addr_gen_none(&self, index: u32) -> Result<(), NetlinkError> {
        use netlink_packet_route::link::{
            AfSpecInet6, AfSpecUnspec, In6AddrGenMode, LinkAttribute,
        };
        self.set(
            || format!("turn off IPv6 address generation on link #{index}"),
            LinkUnspec::new_with_index(index)
                .append_extra_attribute(LinkAttribute::AfSpecUnspec(vec![AfSpecUnspec::Inet6(
                    vec![AfSpecInet6::AddrGenMode(In6AddrGenMode::None)],
                )]))
                .build(),
        )
    }

    /// Brings link `index` down.
    pub fn set_down(&self, index: u32) -> Result<(), NetlinkError> {
        self.set(
            || format!("set link #{index} down"),
            LinkUnspec::new_with_index(index).down().build(),
        )
    }

    /// Sets the MTU of link `index`.
    pub fn set_mtu(&self, index: u32, mtu: u32) -> Result<(), NetlinkError> {
        self.set(
            || format!("set mtu {mtu} on link #{index}"),
            LinkUnspec::new_with_index(index).mtu(mtu).build(),
        )
    }

    /// Sets the hardware address of link `index`.
    pub fn set_mac(&self, index: u32, mac: MacAddr) -> Result<(), NetlinkError> {
        self.set(
            || format!("set mac {mac} on link #{index}"),
            LinkUnspec::new_with_index(index)
                .address(mac.0.to_vec())
                .build(),
        )
    }

    /// Enslaves link `index` to `master` (a bridge), like `ip link set master`.
    pub fn set_master(&self, index: u32, master: u32) -> Result<(), NetlinkError> {
        self.set(
            || format!("set master #{master} on link #{index}"),
            LinkUnspec::new_with_index(index).controller(master).build(),
        )
    }

    /// Releases link `index` from its master.
    pub fn set_nomaster(&self, index: u32) -> Result<(), NetlinkError> {
        self.set(
            || format!("set nomaster on link #{index}"),
            LinkUnspec::new_with_index(index).nocontroller().build(),
        )
    }

    /// Renames link `index` (it must be down).
    pub fn set_name(&self, index: u32, name: &str) -> Result<(), NetlinkError> {
        super::check_ifname(name)?;
        self.set(
            || format!("rename link #{index} to {name}"),
            LinkUnspec::new_with_index(index).name(name).build(),
        )
    }

    /// Turns promiscuous mode on or off on link `index`.
    pub fn set_promisc(&self, index: u32, on: bool) -> Result<(), NetlinkError> {
        self.set(
            || format!("set promisc {on} on link #{index}"),
            LinkUnspec::new_with_index(index).promiscuous(on).build(),
        )
    }

    /// Moves link `index` into namespace `ns` (it keeps its name, so the
    /// name must be free there).
    pub fn move_to_netns(&self, index: u32, ns: &NetNs) -> Result<(), NetlinkError> {
        self.set(
            || format!("move link #{index} to netns {}", ns.path().display()),
            LinkUnspec::new_with_index(index)
                .setns_by_fd(ns.as_raw_fd())
                .build(),
        )
    }

    /// Deletes link `index` (a veth takes its peer with it).
    pub fn delete_link(&self, index: u32) -> Result<(), NetlinkError> {
        self.exec(
            || format!("delete link #{index}"),
            self.handle.link().del(index).execute(),
        )
    }

    /// Deletes the link named `name` if it exists; returns whether it did.
    pub fn delete_link_by_name(&self, name: &str) -> Result<bool, NetlinkError> {
        match self.link_by_name(name)? {
            None => Ok(false),
            Some(l) => match self.delete_link(l.index) {
                Ok(()) => Ok(true),
                Err(e) if e.is_not_found() => Ok(false),
                Err(e) => Err(e),
            },
        }
    }

    /// Sends a raw `RTM_NEWLINK` create request (used by the kind modules).
    pub(crate) fn add_link(
        &self,
        op: impl FnOnce() -> String,
        msg: LinkMessage,
    ) -> Result<(), NetlinkError> {
        self.exec(op, self.handle.link().add(msg).execute())
    }
}
