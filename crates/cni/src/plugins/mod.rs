//! berth's CNI plugins, one module each, and what they share.

pub mod bridge;
pub mod host_local;
pub mod iface;
pub mod ipam;
pub mod ipvlan;
pub mod loopback;
pub mod macvlan;
pub mod netns;
pub mod parent;
pub mod portmap;
pub mod rollback;

use crate::plugin::Plugin;

/// The plugin a program name stands for (`berth-bridge` → bridge), if any.
pub fn by_name(name: &str) -> Option<Box<dyn Plugin>> {
    match name {
        "berth-loopback" => Some(Box::new(loopback::Loopback)),
        "berth-host-local" => Some(Box::new(host_local::HostLocal)),
        "berth-bridge" => Some(Box::new(bridge::Bridge)),
        "berth-macvlan" => Some(Box::new(parent::OnParent(macvlan::Macvlan))),
        "berth-ipvlan" => Some(Box::new(parent::OnParent(ipvlan::Ipvlan))),
        "berth-portmap" => Some(Box::new(portmap::Portmap)),
        _ => None,
    }
}
