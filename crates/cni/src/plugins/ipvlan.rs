//! `berth-ipvlan`: an ipvlan on `master` (modes `l2` (default), `l3`,
//! `l3s`), with `mtu` and optional IPAM. ipvlan links share the parent's
//! MAC. A kernel built without ipvlan gets a clear error (code 104), not a
//! half-made attachment.

use berth_net::netlink::ipvlan::{IpvlanConfig, IpvlanFlag, IpvlanMode};
use berth_net::{Link, NetNs, Netlink, NetlinkError};

use super::parent::{ParentConf, ParentKind};
use crate::plugin::Request;
use crate::types::CniError;

pub struct Ipvlan;

impl ParentKind for Ipvlan {
    const KIND: &'static str = "ipvlan";
    const DEFAULT_MODE: &'static str = "l2";
    type Mode = IpvlanMode;
    type Spec = (IpvlanMode, Option<u32>);

    fn spec(_: &Request, c: &ParentConf, mode: IpvlanMode) -> Result<Self::Spec, CniError> {
        Ok((mode, c.mtu))
    }

    fn create(
        req: &Request,
        (mode, mtu): Self::Spec,
        host: &Netlink,
        master: &Link,
        ns: &NetNs,
    ) -> Result<(), NetlinkError> {
        host.create_ipvlan(
            &IpvlanConfig {
                name: req.args.ifname.clone(),
                parent: master.index,
                mode,
                flag: IpvlanFlag::Bridge,
                mtu,
            },
            Some(ns),
        )
    }
}
