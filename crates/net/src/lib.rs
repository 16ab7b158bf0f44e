//! berth-net: the network core.
//!
//! Owns network namespaces ([`netns`]), netlink plumbing ([`netlink`]: links,
//! addresses, routes, neighbours/FDB), per-namespace sysctls ([`sysctl`]), IP
//! address management persisted through berth-store ([`ipam`]), and berth's
//! own nftables tables ([`firewall`]: masquerade, published ports,
//! isolation). Multi-step operations are made transactional with [`undo`].
//!
//! The API is synchronous: callers (the OCI runtime, CNI plugin processes)
//! are synchronous, and each [`netlink::Netlink`] hides a tiny current-thread
//! runtime around one socket.

pub mod mac;
pub mod netlink;
pub mod netns;

pub use mac::MacAddr;
pub use netlink::{Link, Netlink, NetlinkError};
pub use netns::{NetNs, NetNsError};
pub mod firewall;
pub mod ipam;
pub mod sysctl;
pub mod undo;
