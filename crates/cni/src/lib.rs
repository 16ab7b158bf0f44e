//! berth-cni: the Container Network Interface, spec 1.1.0, both sides.
//!
//! Owns the CNI types and version negotiation, berth's plugins (bridge,
//! macvlan, ipvlan, host-local, loopback, portmap) built on berth-net, and a
//! client that loads a conflist and runs any plugin chain, with a result cache
//! like libcni's.

pub mod client;
pub mod entry;
pub mod plugin;
pub mod plugins;
pub mod types;
