//! `berth-macvlan`: a macvlan on `master` (modes `bridge` (default),
//! `private`, `vepa`, `passthru`), with `mtu`, a MAC from
//! `runtimeConfig.mac`/`args.cni.mac`/`CNI_ARGS MAC=`, and optional IPAM.

use berth_net::netlink::macvlan::{MacvlanConfig, MacvlanMode};
use berth_net::{Link, MacAddr, NetNs, Netlink, NetlinkError};

use super::parent::{ParentConf, ParentKind};
use crate::plugin::Request;
use crate::types::CniError;

pub struct Macvlan;

impl ParentKind for Macvlan {
    const KIND: &'static str = "macvlan";
    const DEFAULT_MODE: &'static str = "bridge";
    type Mode = MacvlanMode;
    type Spec = (MacvlanMode, Option<u32>, Option<MacAddr>);

    fn spec(req: &Request, c: &ParentConf, mode: MacvlanMode) -> Result<Self::Spec, CniError> {
        let mac = super::bridge::requested_mac(req)?;
        Ok((mode, c.mtu, mac.map(|m| MacAddr(m.0))))
    }

    fn create(
        req: &Request,
        (mode, mtu, mac): Self::Spec,
        host: &Netlink,
        master: &Link,
        ns: &NetNs,
    ) -> Result<(), NetlinkError> {
        host.create_macvlan(
            &MacvlanConfig {
                name: req.args.ifname.clone(),
                parent: master.index,
                mode,
                mtu,
                mac,
            },
            Some(ns),
        )
    }
}
