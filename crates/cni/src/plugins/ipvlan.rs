//! `berth-ipvlan`: an ipvlan on `master` (modes `l2` (default), `l3`,
//! `l3s`), with `mtu` and optional IPAM. ipvlan links share the parent's
//! MAC. A kernel built without ipvlan gets a clear error (code 104), not a
//! half-made attachment.

use berth_net::netlink::ipvlan::{IpvlanConfig, IpvlanFlag, IpvlanMode};
use serde::Deserialize;

use super::parent::{self, ParentConf};
use crate::plugin::{Plugin, Request};
use crate::types::{CniError, CniResult};

pub struct Ipvlan;

#[derive(Debug, Deserialize)]
struct ModeConf {
    #[serde(default)]
    mode: Option<String>,
}

fn parse(req: &Request) -> Result<(ParentConf, IpvlanMode), CniError> {
    let c: ParentConf = req.conf.section()?;
    let m: ModeConf = req.conf.section()?;
    let mode = m
        .mode
        .as_deref()
        .unwrap_or("l2")
        .parse::<IpvlanMode>()
        .map_err(|e| CniError::invalid_config(format!("network config: field `mode`: {e}")))?;
    Ok((c, mode))
}

impl Plugin for Ipvlan {
    fn add(&self, req: &Request) -> Result<CniResult, CniError> {
        let (c, mode) = parse(req)?;
        parent::add(req, "ipvlan", &c, |host, master, ns| {
            host.create_ipvlan(
                &IpvlanConfig {
                    name: req.args.ifname.clone(),
                    parent: master.index,
                    mode,
                    flag: IpvlanFlag::Bridge,
                    mtu: c.mtu,
                },
                Some(ns),
            )
        })
    }

    fn del(&self, req: &Request) -> Result<(), CniError> {
        parse(req)?;
        parent::del(req)
    }

    fn check(&self, req: &Request) -> Result<(), CniError> {
        let (c, _) = parse(req)?;
        parent::check(req, "ipvlan", &c)
    }

    fn status(&self, req: &Request) -> Result<(), CniError> {
        parse(req)?;
        parent::status(req)
    }

    fn gc(&self, req: &Request) -> Result<(), CniError> {
        parse(req)?;
        parent::gc(req)
    }
}
