//! `berth-macvlan`: a macvlan on `master` (modes `bridge` (default),
//! `private`, `vepa`, `passthru`), with `mtu`, a MAC from
//! `runtimeConfig.mac`/`args.cni.mac`/`CNI_ARGS MAC=`, and optional IPAM.

use berth_net::netlink::macvlan::{MacvlanConfig, MacvlanMode};
use serde::Deserialize;

use super::parent::{self, ParentConf};
use crate::plugin::{Plugin, Request};
use crate::types::{CniError, CniResult};

pub struct Macvlan;

#[derive(Debug, Deserialize)]
struct ModeConf {
    #[serde(default)]
    mode: Option<String>,
}

fn parse(req: &Request) -> Result<(ParentConf, MacvlanMode), CniError> {
    let c: ParentConf = req.conf.section()?;
    let m: ModeConf = req.conf.section()?;
    let mode = m
        .mode
        .as_deref()
        .unwrap_or("bridge")
        .parse::<MacvlanMode>()
        .map_err(|e| CniError::invalid_config(format!("network config: field `mode`: {e}")))?;
    Ok((c, mode))
}

impl Plugin for Macvlan {
    fn add(&self, req: &Request) -> Result<CniResult, CniError> {
        let (c, mode) = parse(req)?;
        let mac = super::bridge::requested_mac(req)?;
        parent::add(req, "macvlan", &c, |host, master, ns| {
            host.create_macvlan(
                &MacvlanConfig {
                    name: req.args.ifname.clone(),
                    parent: master.index,
                    mode,
                    mtu: c.mtu,
                    mac: mac.map(|m| berth_net::MacAddr(m.0)),
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
        parent::check(req, "macvlan", &c)
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
