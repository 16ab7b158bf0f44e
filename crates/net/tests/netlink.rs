//! Netlink plumbing as root, each test in its own SandboxHost.

mod common;

use berth_net::netlink::bridge::BridgeConfig;
use berth_net::netlink::ipvlan::{IpvlanConfig, IpvlanFlag, IpvlanMode};
use berth_net::netlink::macvlan::{MacvlanConfig, MacvlanMode};
use berth_net::netlink::neigh::FdbTarget;
use berth_net::netlink::route::Route;
use berth_net::netlink::veth::VethConfig;
use berth_net::netlink::vlan::VlanConfig;
use berth_net::netlink::vxlan::VxlanConfig;
use berth_net::{MacAddr, NetNs, NetNsError, Netlink};
use berth_testsupport::SandboxHost;
use common::{ip, lo_up, net, ping};
use netlink_packet_route::link::{InfoData, InfoMacVlan, MacVlanMode};

fn sandbox() -> SandboxHost {
    SandboxHost::new().expect("sandbox host")
}

#[test]
fn netns_create_run_in_and_delete() {
    let host = sandbox();
    let dir = host.dirs().netns.clone();
    host.enter_keep_pidns(|| {
        let ns = NetNs::create(&dir, "c1").expect("create");
        let here = NetNs::current().expect("current");
        assert!(!ns.same_as(&here).expect("compare"));
        let inside = ns
            .run_in(|| NetNs::current().expect("current inside"))
            .expect("run_in");
        assert!(ns.same_as(&inside).expect("compare"));
        // Only lo, down, in a fresh namespace.
        let links = Netlink::for_netns(&ns)
            .expect("netlink")
            .links()
            .expect("links");
        assert_eq!(links.len(), 1);
        assert_eq!(links[0].name, "lo");
        // A second create with the same name fails and leaves the first alone.
        assert!(matches!(
            NetNs::create(&dir, "c1"),
            Err(NetNsError::Create { .. })
        ));
        let reopened = NetNs::open(dir.join("c1")).expect("reopen");
        assert!(reopened.same_as(&ns).expect("compare"));
        drop(reopened);
        ns.delete().expect("delete");
        assert!(!dir.join("c1").exists());
        NetNs::remove(dir.join("c1")).expect("remove is idempotent");
    })
    .expect("enter");
}

#[test]
fn netns_open_rejects_non_netns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("plain");
    std::fs::write(&f, b"x").expect("write");
    assert!(matches!(NetNs::open(&f), Err(NetNsError::NotNetNs { .. })));
    assert!(matches!(
        NetNs::open("/proc/self/ns/mnt"),
        Err(NetNsError::NotNetNs { .. })
    ));
    assert!(matches!(
        NetNs::open(dir.path().join("missing")),
        Err(NetNsError::Open { .. })
    ));
    assert!(NetNs::create(dir.path(), "a/b").is_err());
}

#[test]
fn veth_pair_between_two_netns_pings() {
    let host = sandbox();
    let dir = host.dirs().netns.clone();
    host.enter_keep_pidns(|| {
        let a = NetNs::create(&dir, "a").expect("ns a");
        let b = NetNs::create(&dir, "b").expect("ns b");
        let nla = Netlink::for_netns(&a).expect("nl a");
        let nlb = Netlink::for_netns(&b).expect("nl b");
        let mut cfg = VethConfig::new("va", "vb");
        cfg.mtu = Some(1400);
        cfg.peer_mac = Some("02:00:00:00:00:0b".parse().expect("mac"));
        let va = nla.create_veth(&cfg, Some(&b)).expect("veth");
        assert!(va.is_kind("veth"));
        assert_eq!(va.mtu, 1400);
        // The peer went straight to b; a never had it.
        assert!(nla.link_by_name("vb").expect("lookup").is_none());
        let vb = nlb.require_link("vb").expect("peer in b");
        assert_eq!(vb.mtu, 1400);
        assert_eq!(vb.mac, Some(MacAddr([2, 0, 0, 0, 0, 0x0b])));
        for (nl, link, addr) in [(&nla, &va, "10.1.0.1/24"), (&nlb, &vb, "10.1.0.2/24")] {
            lo_up(nl);
            nl.add_address(link.index, net(addr)).expect("address");
            nl.set_up(link.index).expect("up");
        }
        nlb.add_address_nodad(vb.index, net("fd00:1::2/64"))
            .expect("v6");
        nla.add_address_nodad(va.index, net("fd00:1::1/64"))
            .expect("v6");
        assert!(nla
            .link_addresses(va.index)
            .expect("addrs")
            .contains(&net("10.1.0.1/24")));
        let again = nla
            .add_address(va.index, net("10.1.0.1/24"))
            .expect_err("duplicate");
        assert!(again.is_exists(), "{again}");

        assert!(ping(&a, ip("10.1.0.2")), "ping a -> b over veth");
        assert!(ping(&b, ip("fd00:1::1")), "ping6 b -> a over veth");

        nla.del_address(va.index, net("10.1.0.1/24"))
            .expect("del address");
        assert!(!nla
            .link_addresses(va.index)
            .expect("addrs")
            .contains(&net("10.1.0.1/24")));
        nla.delete_link(va.index).expect("delete veth");
        assert!(
            nlb.link_by_name("vb").expect("lookup").is_none(),
            "peer goes with it"
        );
        assert!(!nla.delete_link_by_name("va").expect("idempotent delete"));
        a.delete().expect("del a");
        b.delete().expect("del b");
    })
    .expect("enter");
}

#[test]
fn bridge_with_two_veths_pings_and_routes() {
    let host = sandbox();
    let dir = host.dirs().netns.clone();
    host.enter_keep_pidns(|| {
        let nl = Netlink::new().expect("nl host");
        let mut cfg = BridgeConfig::new("br0");
        cfg.mtu = Some(1450);
        let br = nl.ensure_bridge(&cfg).expect("bridge");
        assert!(br.is_kind("bridge") && br.up);
        // Idempotent, and racing creators are fine.
        assert_eq!(nl.ensure_bridge(&cfg).expect("again").index, br.index);
        nl.add_address(br.index, net("10.2.0.1/24"))
            .expect("gw address");

        let mut ctrs = Vec::new();
        for (i, name) in ["c1", "c2"].iter().enumerate() {
            let ns = NetNs::create(&dir, name).expect("ns");
            let hostif = format!("veth{i}");
            let host_end = nl
                .create_veth(&VethConfig::new(&hostif, "eth0"), Some(&ns))
                .expect("veth");
            nl.set_master(host_end.index, br.index).expect("master");
            nl.set_hairpin(host_end.index, true).expect("hairpin");
            nl.set_up(host_end.index).expect("up");
            let got = nl
                .link_by_index(host_end.index)
                .expect("get")
                .expect("exists");
            assert_eq!(got.master, Some(br.index));

            let cnl = Netlink::for_netns(&ns).expect("nl ctr");
            lo_up(&cnl);
            let eth0 = cnl.require_link("eth0").expect("eth0");
            cnl.add_address(eth0.index, net(&format!("10.2.0.{}/24", i + 2)))
                .expect("addr");
            cnl.set_up(eth0.index).expect("up");
            cnl.add_route(&Route::default_via(ip("10.2.0.1")))
                .expect("default route");
            let routes = cnl.routes(false).expect("routes");
            assert!(
                routes
                    .iter()
                    .any(|r| r.dst == net("0.0.0.0/0") && r.gateway == Some(ip("10.2.0.1"))),
                "{routes:?}"
            );
            ctrs.push(ns);
        }
        assert!(
            ping(&ctrs[0], ip("10.2.0.3")),
            "c1 -> c2 through the bridge"
        );
        assert!(
            ping(&ctrs[1], ip("10.2.0.1")),
            "c2 -> gateway on the bridge"
        );

        // A route with a gateway, then its deletion.
        let cnl = Netlink::for_netns(&ctrs[0]).expect("nl c1");
        let r = Route::to(net("192.168.77.0/24")).via(ip("10.2.0.3"));
        cnl.add_route(&r).expect("add route");
        cnl.del_route(&r).expect("del route");
        assert!(!cnl
            .routes(false)
            .expect("routes")
            .iter()
            .any(|x| x.dst == net("192.168.77.0/24")));

        // A link that exists but is not a bridge is refused by name.
        let err = nl
            .ensure_bridge(&BridgeConfig::new("veth0"))
            .expect_err("not a bridge");
        assert_eq!(err.to_string(), "link veth0 is a veth, not a bridge");
        for ns in ctrs {
            ns.delete().expect("delete ns");
        }
    })
    .expect("enter");
}

fn macvlan_mode(link: &berth_net::Link) -> Option<MacVlanMode> {
    match link.info_data()? {
        InfoData::MacVlan(infos) => infos.iter().find_map(|i| match i {
            InfoMacVlan::Mode(m) => Some(*m),
            _ => None,
        }),
        _ => None,
    }
}

#[test]
fn macvlan_modes_on_a_veth_parent() {
    let host = sandbox();
    let dir = host.dirs().netns.clone();
    host.enter_keep_pidns(|| {
        let nl = Netlink::new().expect("nl");
        let parent = nl
            .create_veth(&VethConfig::new("p0", "p1"), None)
            .expect("parent veth");
        nl.set_up(parent.index).expect("up");
        let p1 = nl.require_link("p1").expect("p1");
        nl.set_up(p1.index).expect("up");

        // Passthru must be the parent's only macvlan, so it goes first, and
        // each one is deleted explicitly (a deleted namespace's links go away
        // asynchronously).
        for (mode, expect) in [
            (MacvlanMode::Passthru, MacVlanMode::Passthrough),
            (MacvlanMode::Private, MacVlanMode::Private),
            (MacvlanMode::Vepa, MacVlanMode::Vepa),
            (MacvlanMode::Bridge, MacVlanMode::Bridge),
        ] {
            let ns = NetNs::create(&dir, mode.as_str()).expect("ns");
            let cfg = MacvlanConfig {
                name: "eth0".into(),
                parent: parent.index,
                mode,
                mtu: Some(1400),
                mac: None,
            };
            nl.create_macvlan(&cfg, Some(&ns)).expect("macvlan");
            let cnl = Netlink::for_netns(&ns).expect("nl ns");
            let l = cnl.require_link("eth0").expect("eth0 in ns");
            assert!(l.is_kind("macvlan"));
            assert_eq!(macvlan_mode(&l), Some(expect), "mode {}", mode.as_str());
            assert_eq!(l.mtu, 1400);
            cnl.delete_link(l.index).expect("delete macvlan");
            ns.delete().expect("delete ns");
        }

        // Two bridge-mode macvlans on one parent reach each other.
        let mut nss = Vec::new();
        for i in 0..2u8 {
            let ns = NetNs::create(&dir, &format!("m{i}")).expect("ns");
            let cfg = MacvlanConfig {
                name: "eth0".into(),
                parent: parent.index,
                mode: MacvlanMode::Bridge,
                mtu: None,
                mac: None,
            };
            nl.create_macvlan(&cfg, Some(&ns)).expect("macvlan");
            let cnl = Netlink::for_netns(&ns).expect("nl");
            let l = cnl.require_link("eth0").expect("eth0");
            cnl.add_address(l.index, net(&format!("10.3.0.{}/24", i + 1)))
                .expect("addr");
            cnl.set_up(l.index).expect("up");
            nss.push(ns);
        }
        assert!(ping(&nss[0], ip("10.3.0.2")), "bridge-mode macvlans talk");

        let bad = nl.create_macvlan(
            &MacvlanConfig {
                name: "x".into(),
                parent: 999_999,
                mode: MacvlanMode::Bridge,
                mtu: None,
                mac: None,
            },
            None,
        );
        assert!(bad.expect_err("no parent").is_not_found());
        assert!("l9".parse::<MacvlanMode>().is_err());
    })
    .expect("enter");
}

/// Creates an ipvlan to find out whether this kernel has ipvlan at all.
fn ipvlan_missing(nl: &Netlink, parent: u32) -> Option<String> {
    let cfg = IpvlanConfig {
        name: "probe0".into(),
        parent,
        mode: IpvlanMode::L2,
        flag: IpvlanFlag::Bridge,
        mtu: None,
    };
    match nl.create_ipvlan(&cfg, None) {
        Ok(()) => {
            nl.delete_link_by_name("probe0").expect("remove probe");
            None
        }
        Err(e) if e.is_unsupported() => Some(format!(
            "kernel {} has no ipvlan (creating one failed: {e})",
            berth_testsupport::kernel::release()
        )),
        Err(e) => panic!("probing ipvlan: {e}"),
    }
}

#[test]
fn vm_ipvlan_modes_ping() {
    let host = sandbox();
    let dir = host.dirs().netns.clone();
    let skipped = host
        .enter_keep_pidns(|| {
            let nl = Netlink::new().expect("nl");
            let parent = nl
                .create_veth(&VethConfig::new("p0", "p1"), None)
                .expect("parent");
            nl.set_up(parent.index).expect("up");
            // A veth has carrier only while its peer is up too, and ipvlan
            // slaves take their parent's carrier.
            let peer = nl.require_link("p1").expect("p1");
            nl.set_up(peer.index).expect("peer up");
            if let Some(why) = ipvlan_missing(&nl, parent.index) {
                return Some(why);
            }
            for (k, mode) in [IpvlanMode::L2, IpvlanMode::L3, IpvlanMode::L3s]
                .into_iter()
                .enumerate()
            {
                let mut nss = Vec::new();
                for i in 0..2usize {
                    let ns = NetNs::create(&dir, &format!("{}-{i}", mode.as_str())).expect("ns");
                    let cfg = IpvlanConfig {
                        name: "eth0".into(),
                        parent: parent.index,
                        mode,
                        flag: IpvlanFlag::Bridge,
                        mtu: None,
                    };
                    nl.create_ipvlan(&cfg, Some(&ns)).expect("ipvlan");
                    let cnl = Netlink::for_netns(&ns).expect("nl");
                    let l = cnl.require_link("eth0").expect("eth0");
                    assert!(l.is_kind("ipvlan"));
                    cnl.add_address(l.index, net(&format!("10.4.{k}.{}/24", i + 1)))
                        .expect("addr");
                    cnl.set_up(l.index).expect("up");
                    nss.push(ns);
                }
                assert!(
                    ping(&nss[0], ip(&format!("10.4.{k}.2"))),
                    "ipvlan {} slaves talk",
                    mode.as_str()
                );
                for ns in nss {
                    ns.delete().expect("delete");
                }
            }
            None
        })
        .expect("enter");
    if let Some(why) = skipped {
        if berth_testsupport::kernel::in_vm() {
            panic!("{why}");
        }
        berth_testsupport::skip!("{why}");
    }
}

#[test]
fn vm_vlan_subinterfaces_ping() {
    let host = sandbox();
    let dir = host.dirs().netns.clone();
    let skipped = host
        .enter_keep_pidns(|| {
            let nl = Netlink::new().expect("nl");
            let a = NetNs::create(&dir, "a").expect("ns a");
            let b = NetNs::create(&dir, "b").expect("ns b");
            let nla = Netlink::for_netns(&a).expect("nl a");
            let nlb = Netlink::for_netns(&b).expect("nl b");
            let pa = nla
                .create_veth(&VethConfig::new("pa", "pb"), Some(&b))
                .expect("veth");
            let pb = nlb.require_link("pb").expect("pb");
            nla.set_up(pa.index).expect("up");
            nlb.set_up(pb.index).expect("up");
            let cfg = VlanConfig {
                name: "pa.10".into(),
                parent: pa.index,
                id: 10,
                mtu: None,
            };
            match nla.create_vlan(&cfg, None) {
                Ok(()) => {}
                Err(e) if e.is_unsupported() => {
                    return Some(format!(
                        "kernel {} has no 802.1q vlan (creating one failed: {e})",
                        berth_testsupport::kernel::release()
                    ))
                }
                Err(e) => panic!("create vlan: {e}"),
            }
            let cfg_b = VlanConfig {
                name: "pb.10".into(),
                parent: pb.index,
                id: 10,
                mtu: None,
            };
            nlb.create_vlan(&cfg_b, None).expect("vlan b");
            for (nl, name, addr) in [
                (&nla, "pa.10", "10.5.0.1/24"),
                (&nlb, "pb.10", "10.5.0.2/24"),
            ] {
                let l = nl.require_link(name).expect("vlan link");
                assert!(l.is_kind("vlan"));
                nl.add_address(l.index, net(addr)).expect("addr");
                nl.set_up(l.index).expect("up");
            }
            assert!(ping(&a, ip("10.5.0.2")), "vlan 10 across the veth");
            assert!(nla
                .create_vlan(
                    &VlanConfig {
                        name: "x".into(),
                        parent: pa.index,
                        id: 0,
                        mtu: None
                    },
                    None
                )
                .is_err());
            drop(nl);
            None
        })
        .expect("enter");
    if let Some(why) = skipped {
        if berth_testsupport::kernel::in_vm() {
            panic!("{why}");
        }
        berth_testsupport::skip!("{why}");
    }
}

#[test]
fn vxlan_with_static_fdb_and_neighbours() {
    let host = sandbox();
    host.enter_keep_pidns(|| {
        let nl = Netlink::new().expect("nl");
        let under = nl
            .create_veth(&VethConfig::new("u0", "u1"), None)
            .expect("underlay");
        nl.add_address(under.index, net("192.0.2.1/24"))
            .expect("addr");
        nl.set_up(under.index).expect("up");
        let mut cfg = VxlanConfig::new("vx42", 42);
        cfg.local = Some(ip("192.0.2.1"));
        cfg.dev = Some(under.index);
        cfg.mtu = Some(1450);
        let vx = nl.create_vxlan(&cfg).expect("vxlan");
        assert!(vx.is_kind("vxlan"));
        assert_eq!(vx.mtu, 1450);
        nl.set_up(vx.index).expect("up");
        let mac: MacAddr = "02:00:00:00:42:01".parse().expect("mac");
        nl.fdb_add(vx.index, mac, Some(ip("192.0.2.2")), FdbTarget::SelfDevice)
            .expect("fdb add");
        let fdb = nl.fdb_entries(Some(vx.index)).expect("fdb");
        assert!(
            fdb.iter()
                .any(|e| e.mac == Some(mac) && e.ip == Some(ip("192.0.2.2"))),
            "{fdb:?}"
        );
        nl.add_address(vx.index, net("10.6.0.1/24"))
            .expect("overlay addr");
        nl.add_neighbour(vx.index, ip("10.6.0.2"), mac)
            .expect("neigh add");
        nl.add_neighbour(vx.index, ip("10.6.0.2"), mac)
            .expect("neigh add is idempotent");
        let n = nl.neighbours(Some(vx.index)).expect("neighbours");
        assert!(
            n.iter()
                .any(|e| e.ip == Some(ip("10.6.0.2")) && e.mac == Some(mac) && e.permanent),
            "{n:?}"
        );
        nl.del_neighbour(vx.index, ip("10.6.0.2"))
            .expect("neigh del");
        nl.fdb_del(vx.index, mac, Some(ip("192.0.2.2")), FdbTarget::SelfDevice)
            .expect("fdb del");
        let fdb = nl.fdb_entries(Some(vx.index)).expect("fdb");
        assert!(!fdb.iter().any(|e| e.mac == Some(mac)), "{fdb:?}");
        assert!(nl
            .create_vxlan(&VxlanConfig::new("vxbad", 1 << 24))
            .is_err());
    })
    .expect("enter");
}

#[test]
fn bad_names_are_refused_before_the_kernel() {
    let nl = Netlink::new().expect("nl"); // lookups only: safe in any namespace
    for bad in ["", "a/b", "0123456789abcdefg", "with space", ".."] {
        assert!(nl.link_by_name(bad).is_err(), "{bad:?}");
    }
    assert!(nl
        .link_by_name("berthnosuchlnk0")
        .expect("lookup")
        .is_none());
    assert!(nl
        .require_link("berthnosuchlnk0")
        .expect_err("missing")
        .is_not_found());
}

#[test]
fn link_addresses_are_one_links_and_other_dumps_still_work() {
    // link_addresses asks the kernel for one link's addresses (a strict,
    // filtered dump); it must return exactly that link's v4 and v6
    // addresses, and leave the socket fit for unfiltered dumps after.
    let host = sandbox();
    let dir = host.dirs().netns.clone();
    host.enter_keep_pidns(|| {
        let ns = NetNs::create(&dir, "a").expect("ns");
        let nl = Netlink::for_netns(&ns).expect("nl");
        lo_up(&nl);
        let mut links = Vec::new();
        for i in 1..=3u8 {
            let v = nl
                .create_veth(&VethConfig::new(&format!("x{i}"), &format!("y{i}")), None)
                .expect("veth");
            nl.add_address(v.index, net(&format!("10.9.{i}.1/24")))
                .expect("v4");
            nl.add_address_nodad(v.index, net(&format!("fd00:9:{i}::1/64")))
                .expect("v6");
            nl.set_up(v.index).expect("up");
            links.push(v);
        }
        let mut got = nl.link_addresses(links[1].index).expect("addrs");
        got.sort();
        assert_eq!(got, vec![net("10.9.2.1/24"), net("fd00:9:2::1/64")]);
        let all = nl.addresses(None).expect("all addresses");
        for i in 1..=3 {
            assert!(
                all.iter()
                    .any(|(_, n)| *n == net(&format!("10.9.{i}.1/24"))),
                "{all:?}"
            );
        }
        assert!(
            nl.links().expect("link dump").len() >= 7,
            "lo + 3 veth pairs"
        );
        assert!(
            !nl.routes(false).expect("route dump").is_empty(),
            "connected routes of x1..x3"
        );
        ns.delete().expect("del ns");
    })
    .expect("enter");
}

#[test]
fn unlisted_delete_frees_both_veth_ends_and_the_bridge_port_at_return() {
    use berth_net::netlink::unlist::delete_link_by_name;
    let host = sandbox();
    let dir = host.dirs().netns.clone();
    host.enter_keep_pidns(|| {
        let c = NetNs::create(&dir, "c").expect("ns");
        let nl = Netlink::new().expect("nl");
        let nlc = Netlink::for_netns(&c).expect("nl c");
        let br = nl
            .ensure_bridge(&BridgeConfig::new("br-unlist"))
            .expect("bridge");
        for round in 0..3 {
            let hv = nl
                .create_veth(&VethConfig::new("vhost", "eth0"), Some(&c))
                .expect("veth");
            nl.set_master(hv.index, br.index).expect("enslave");
            assert!(
                delete_link_by_name(&c, "eth0").expect("delete"),
                "round {round}: eth0 existed"
            );
            // Unlisted when the call returns: both names are free, the
            // bridge has no port, and the same names can be made again.
            assert!(nlc.link_by_name("eth0").expect("lookup").is_none());
            assert!(nl.link_by_name("vhost").expect("lookup").is_none());
            let ports = nl.links().expect("links");
            assert!(!ports.iter().any(|l| l.master == Some(br.index)));
        }
        assert!(
            !delete_link_by_name(&c, "eth0").expect("idempotent"),
            "a missing link is reported as absent"
        );
        // The kernel's refusal comes back with its errno and the link named.
        let e = delete_link_by_name(&c, "lo").expect_err("lo cannot be deleted");
        assert_eq!(e.errno(), Some(libc::EOPNOTSUPP), "{e}");
        assert!(e.to_string().contains("delete link lo"), "{e}");
        assert!(delete_link_by_name(&c, "a/b").is_err(), "bad name refused");
        nl.delete_link(br.index).expect("delete bridge");
        c.delete().expect("del c");
    })
    .expect("enter");
}

#[test]
fn bridge_keeps_its_mac_when_a_port_with_a_lower_one_joins() {
    let host = sandbox();
    host.enter_keep_pidns(|| {
        let nl = Netlink::new().expect("nl");
        let br = nl
            .ensure_bridge(&BridgeConfig::new("brmac"))
            .expect("bridge");
        let before = br.mac.expect("bridge mac");
        // Lower than any random locally administered MAC but this one.
        let mut cfg = VethConfig::new("pmac", "pmac-peer");
        cfg.mac = Some(MacAddr([2, 0, 0, 0, 0, 1]));
        let port = nl.create_veth(&cfg, None).expect("veth");
        nl.set_master(port.index, br.index).expect("enslave");
        nl.set_up(port.index).expect("up");
        let after = nl.require_link("brmac").expect("bridge").mac;
        assert_eq!(after, Some(before), "the bridge MAC followed its port");
        nl.delete_link(port.index).expect("delete veth");
        nl.delete_link(br.index).expect("delete bridge");
    })
    .expect("enter");
}

#[test]
fn has_ports_tells_a_bridge_with_ports_from_an_empty_one() {
    use berth_net::netlink::ports::has_ports;
    let host = sandbox();
    host.enter_keep_pidns(|| {
        let nl = Netlink::new().expect("nl");
        let full = nl
            .ensure_bridge(&BridgeConfig::new("brfull"))
            .expect("bridge");
        let empty = nl
            .ensure_bridge(&BridgeConfig::new("brempty"))
            .expect("bridge");
        assert!(!has_ports(full.index).expect("query"), "no port yet");
        // Enough ports that the dump spans several datagrams.
        let mut ports = Vec::new();
        for i in 0..40 {
            let v = nl
                .create_veth(&VethConfig::new(&format!("hp{i}"), &format!("hq{i}")), None)
                .expect("veth");
            nl.set_master(v.index, full.index).expect("enslave");
            ports.push(v.index);
        }
        assert!(has_ports(full.index).expect("query"));
        assert!(!has_ports(empty.index).expect("query"));
        for p in ports {
            nl.delete_link(p).expect("delete veth");
        }
        assert!(!has_ports(full.index).expect("query"), "all ports gone");
        nl.delete_link(full.index).expect("delete");
        nl.delete_link(empty.index).expect("delete");
    })
    .expect("enter");
}

#[test]
fn veth_ends_are_made_with_one_queue_each() {
    let host = sandbox();
    host.enter_keep_pidns(|| {
        let nl = Netlink::new().expect("nl");
        nl.create_veth(&VethConfig::new("q0", "q1"), None)
            .expect("veth");
    })
    .expect("enter");
    for end in ["q0", "q1"] {
        let out = host
            .sh(&format!("ip -d -j link show dev {end}"))
            .expect("ip");
        let v: serde_json::Value = serde_json::from_str(&out).expect("json");
        assert_eq!(v[0]["num_tx_queues"], 1, "{end}: {out}");
        assert_eq!(v[0]["num_rx_queues"], 1, "{end}: {out}");
    }
}
