//! A CNI ADD result as the engine's [`Endpoint`]: the container's
//! interface (the one in its netns, named as asked), its first IPv4 and
//! IPv6 address with their gateways, and its MAC.

use berth_cni::types::CniResult;

use crate::network::Endpoint;

/// The endpoint a result describes for interface `ifname` of netns `netns`.
pub(crate) fn from_result(result: &CniResult, netns: &str, ifname: &str) -> Endpoint {
    // Plugins report host-side interfaces too (the bridge, the host veth):
    // the container's is the one with a sandbox, preferably this netns.
    let index = result
        .interfaces
        .iter()
        .position(|i| i.name == ifname && i.sandbox.as_deref() == Some(netns))
        .or_else(|| {
            result
                .interfaces
                .iter()
                .position(|i| i.name == ifname && i.sandbox.is_some())
        });
    let mine = |ip: &&berth_cni::types::IpConfig| match (ip.interface, index) {
        (Some(i), Some(want)) => i == want,
        // An IPAM-style result names no interface: its addresses are ours.
        (None, _) => true,
        (Some(_), None) => false,
    };
    let v4 = result
        .ips
        .iter()
        .filter(mine)
        .find(|ip| ip.address.addr().is_ipv4());
    let v6 = result
        .ips
        .iter()
        .filter(mine)
        .find(|ip| ip.address.addr().is_ipv6());
    let text = |g: Option<std::net::IpAddr>| g.map(|g| g.to_string()).unwrap_or_default();
    Endpoint {
        ip_address: v4
            .map(|ip| ip.address.addr().to_string())
            .unwrap_or_default(),
        ip_prefix_len: v4.map_or(0, |ip| i64::from(ip.address.prefix_len())),
        gateway: text(v4.and_then(|ip| ip.gateway)),
        global_ipv6_address: v6
            .map(|ip| ip.address.addr().to_string())
            .unwrap_or_default(),
        global_ipv6_prefix_len: v6.map_or(0, |ip| i64::from(ip.address.prefix_len())),
        ipv6_gateway: text(v6.and_then(|ip| ip.gateway)),
        mac_address: index
            .and_then(|i| result.interfaces[i].mac.clone())
            .unwrap_or_default(),
        ifname: ifname.to_owned(),
        ..Endpoint::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_container_interface_and_its_addresses() {
        let result = CniResult::from_json(
            &serde_json::json!({
                "cniVersion": "1.0.0",
                "interfaces": [
                    {"name": "cni0", "mac": "aa:aa:aa:aa:aa:aa"},
                    {"name": "veth1", "mac": "bb:bb:bb:bb:bb:bb"},
                    {"name": "eth0", "mac": "cc:cc:cc:cc:cc:cc", "sandbox": "/run/ns/c1"}
                ],
                "ips": [
                    {"address": "10.9.0.1/24", "interface": 0},
                    {"address": "fd00::5/64", "gateway": "fd00::1", "interface": 2},
                    {"address": "10.9.0.5/24", "gateway": "10.9.0.1", "interface": 2}
                ]
            }),
            "test",
        )
        .expect("result");
        let ep = from_result(&result, "/run/ns/c1", "eth0");
        assert_eq!(ep.ip_address, "10.9.0.5");
        assert_eq!(ep.ip_prefix_len, 24);
        assert_eq!(ep.gateway, "10.9.0.1");
        assert_eq!(ep.global_ipv6_address, "fd00::5");
        assert_eq!(ep.ipv6_gateway, "fd00::1");
        assert_eq!(ep.mac_address, "cc:cc:cc:cc:cc:cc");
        assert_eq!(ep.ifname, "eth0");
    }

    #[test]
    fn an_ipam_only_result_still_gives_the_address() {
        let result = CniResult::from_json(
            &serde_json::json!({"cniVersion": "1.0.0", "ips": [{"address": "10.9.0.7/16"}]}),
            "test",
        )
        .expect("result");
        let ep = from_result(&result, "/run/ns/c1", "eth1");
        assert_eq!((ep.ip_address.as_str(), ep.ip_prefix_len), ("10.9.0.7", 16));
        assert_eq!(ep.mac_address, "");
    }
}
