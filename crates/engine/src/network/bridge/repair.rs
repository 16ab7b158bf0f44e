//! Repairs of the bridge driver's state: the firewall after someone else
//! flushed or deleted berth's table, and what a daemon killed in the middle
//! of an attach left behind (an address lease, published ports, DNS names
//! of a container whose endpoint was never recorded).

use std::collections::HashSet;
use std::net::IpAddr;

use berth_net::firewall::{Firewall, PortMapping};
use berth_net::ipam::Ipam;
use berth_net::Netlink;

use super::{host_ip_of, internal, protocol_of, BridgeDriver, AUX_OWNER, DNS_PREFIX};
use crate::error::Result;
use crate::network::Endpoint;

impl BridgeDriver {
    /// Fixed rules (when damaged), every network's bridge and elements, and
    /// the published ports of `live`: what daemon start and the attaches
    /// since made. Adding what is there already changes nothing.
    pub(super) fn repair_firewall_state(&self, live: &[(String, Endpoint)]) -> Result<()> {
        // --iptables=false: no rule to repair; the running containers'
        // host ports are held again (for clashes).
        if !self.firewall {
            let nets = self.networks.lock().unwrap_or_else(|p| p.into_inner());
            let ours = live
                .iter()
                .filter(|(network, _)| nets.iter().any(|n| &n.name == network));
            let mut held = self.recorded.lock().unwrap_or_else(|e| e.into_inner());
            for p in ours.flat_map(|(_, ep)| &ep.ports) {
                if let (Ok(proto), Ok(hip)) = (protocol_of(p), host_ip_of(p)) {
                    held.insert((proto, hip, p.host_port));
                }
            }
            return Ok(());
        }
        let damaged = match Firewall::open_existing() {
            Ok(Some(fw)) => !fw.rules_intact().unwrap_or(false),
            // No table (or an old marker): open() below writes it whole.
            Ok(None) => false,
            Err(e) => return Err(internal("opening firewall", e)),
        };
        let fw = Firewall::open().map_err(|e| internal("opening firewall", e))?;
        if damaged {
            fw.restore_rules()
                .map_err(|e| internal("restoring the firewall rules", e))?;
        }
        let nets = self
            .networks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let host = Netlink::new().map_err(|e| internal("netlink", e))?;
        let mut first_err = None;
        for net in &nets {
            if let Err(e) = self.ensure_network(&host, net) {
                tracing::warn!(network = %net.name, "restoring: {e}");
                first_err.get_or_insert(e);
            }
        }
        for (network, ep) in live {
            if ep.ports.is_empty() || !nets.iter().any(|n| &n.name == network) {
                continue;
            }
            let Ok(ip) = ep.ip_address.parse::<IpAddr>() else {
                continue;
            };
            for p in &ep.ports {
                let (Ok(proto), Ok(host_ip)) = (protocol_of(p), host_ip_of(p)) else {
                    continue;
                };
                let m = PortMapping {
                    host_ip,
                    ..PortMapping::new(proto, p.host_port, ip, p.container_port)
                };
                match fw.publish(&[m]) {
                    Ok(()) => {}
                    // Published already (the elements survived).
                    Err(e) if e.is_exists() => {}
                    Err(e) => {
                        first_err.get_or_insert(internal("restoring a published port", e));
                    }
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Releases the leases, DNS names and published ports of containers
    /// not in `live`.
    pub(super) fn release_orphan_leases(&self, live: &HashSet<String>) -> Result<()> {
        let nets = self
            .networks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut stale_ips = Vec::new();
        for net in &nets {
            // Leases live in the lease files, beside the DNS names; the
            // network's --aux-address reservations are no container's.
            let ipam = Ipam::new(&*self.leases, &net.name).map_err(|e| internal("ipam", e))?;
            let leases = ipam.leases().map_err(|e| internal("listing leases", e))?;
            for lease in leases
                .iter()
                .filter(|l| l.container_id != AUX_OWNER && !live.contains(&l.container_id))
            {
                tracing::info!(
                    container = %lease.container_id,
                    network = %net.name,
                    ip = %lease.ip,
                    "releasing an address no recorded endpoint holds"
                );
                ipam.release(&lease.container_id, Some(&lease.ifname))
                    .map_err(|e| internal("releasing a stale address", e))?;
                stale_ips.push(lease.ip);
            }
        }
        for (key, _) in self.leases.list_prefix(DNS_PREFIX)? {
            let rest = key.trim_start_matches(DNS_PREFIX);
            let Some((network, cid)) = rest.split_once('/') else {
                continue;
            };
            if !live.contains(cid) {
                self.dns.remove(network, cid);
                self.leases.delete(&key)?;
            }
        }
        if !stale_ips.is_empty() && self.firewall {
            if let Some(fw) =
                Firewall::open_existing().map_err(|e| internal("opening firewall", e))?
            {
                let n = fw
                    .unpublish_to(&stale_ips)
                    .map_err(|e| internal("removing stale published ports", e))?;
                if n > 0 {
                    tracing::info!("removed {n} published ports of unrecorded endpoints");
                }
            }
        }
        Ok(())
    }
}
