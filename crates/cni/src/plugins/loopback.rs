//! `berth-loopback`: brings `lo` up in the container (and down on DEL).
//!
//! Like the reference plugin it ignores CNI_IFNAME (the loopback is always
//! `lo`), reports `lo` and its addresses as the result, and passes a
//! `prevResult` through unchanged when chained after another plugin.

use berth_net::Netlink;

use super::netns;
use crate::plugin::{Plugin, Request};
use crate::types::{CniError, CniResult, Interface, IpConfig};

pub struct Loopback;

fn lo(nl: &Netlink) -> Result<berth_net::Link, CniError> {
    nl.require_link("lo")
        .map_err(|e| CniError::setup(format!("finding lo: {e}")))
}

impl Plugin for Loopback {
    fn add(&self, req: &Request) -> Result<CniResult, CniError> {
        let ns = netns::open_required(req)?;
        let nl = Netlink::for_netns(&ns).map_err(|e| CniError::setup(e.to_string()))?;
        let link = lo(&nl)?;
        nl.set_up(link.index)
            .map_err(|e| CniError::setup(format!("setting lo up: {e}")))?;
        if let Some(prev) = &req.conf.prev_result {
            return Ok(prev.clone());
        }
        let addrs = nl
            .link_addresses(link.index)
            .map_err(|e| CniError::setup(format!("listing lo addresses: {e}")))?;
        Ok(CniResult {
            interfaces: vec![Interface {
                name: "lo".into(),
                mac: Some("00:00:00:00:00:00".into()),
                sandbox: Some(ns.path().display().to_string()),
                ..Default::default()
            }],
            ips: addrs
                .into_iter()
                .map(|a| IpConfig {
                    address: a,
                    gateway: None,
                    interface: Some(0),
                })
                .collect(),
            ..Default::default()
        })
    }

    fn del(&self, req: &Request) -> Result<(), CniError> {
        let Some(ns) = netns::open_for_del(req)? else {
            return Ok(());
        };
        let nl = Netlink::for_netns(&ns).map_err(|e| CniError::setup(e.to_string()))?;
        if let Some(link) = nl
            .link_by_name("lo")
            .map_err(|e| CniError::setup(e.to_string()))?
        {
            nl.set_down(link.index)
                .map_err(|e| CniError::setup(format!("setting lo down: {e}")))?;
        }
        Ok(())
    }

    fn check(&self, req: &Request) -> Result<(), CniError> {
        let ns = netns::open_required(req)?;
        let nl = Netlink::for_netns(&ns).map_err(|e| CniError::setup(e.to_string()))?;
        if !lo(&nl)?.up {
            return Err(CniError::check("lo is down in the container"));
        }
        Ok(())
    }
}
