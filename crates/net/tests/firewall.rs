//! nftables: rule and element presence, atomicity, and real DNAT through a
//! bridge (busybox httpd in a container netns), each in its own SandboxHost.

mod common;

use std::process::{Child, Command, Stdio};

use berth_net::firewall::{nft, Firewall, NetworkRules, PortMapping, Protocol};
use berth_net::netlink::bridge::BridgeConfig;
use berth_net::netlink::route::Route;
use berth_net::netlink::veth::VethConfig;
use berth_net::{sysctl, NetNs, Netlink};
use berth_testsupport::SandboxHost;
use common::{in_ns, ip, lo_up, net};

fn nft_list_all() -> String {
    let out = Command::new("nft")
        .args(["list", "ruleset"])
        .output()
        .expect("nft list ruleset");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn rules_and_elements_are_where_they_belong() {
    let host = SandboxHost::new().expect("sandbox");
    host.enter_keep_pidns(|| {
        // Someone else's table, which berth must never touch.
        let other = "table ip other {\n chain c {\n  type filter hook input priority 0; policy accept;\n  counter\n }\n}\n";
        nft::run("test setup", other).expect("other table");
        let before_other = Command::new("nft").args(["list", "table", "ip", "other"]).output().expect("list");

        Firewall::open().expect("open");
        let fw = Firewall::open().expect("open again is idempotent");
        let listed = fw.list().expect("list");
        assert_eq!(listed.matches("masquerade").count(), 5, "fixed rules not duplicated:\n{listed}");

        let netw = NetworkRules {
            bridge: Some("br-a".into()),
            subnets: vec![net("10.20.0.0/24"), net("fd00:20::/64")],
            masquerade: true,
            isolate: true,
            ..Default::default()
        };
        fw.add_network(&netw).expect("add network");
        fw.add_network(&netw).expect("add network twice");
        let web = PortMapping::new(Protocol::Tcp, 8080, ip("10.20.0.2"), 80);
        let dns = PortMapping { host_ip: Some(ip("192.0.2.1")), ..PortMapping::new(Protocol::Udp, 53, ip("10.20.0.3"), 5353) };
        let v6 = PortMapping::new(Protocol::Tcp, 8080, ip("fd00:20::2"), 80);
        fw.publish(&[web, dns, v6]).expect("publish");
        fw.publish(&[web]).expect("same mapping twice");
        let listed = fw.list().expect("list");
        for needle in [
            "tcp . 8080 : 10.20.0.2 . 80",
            "192.0.2.1 . udp . 53 : 10.20.0.3 . 5353",
            "tcp . 8080 : fd00:20::2 . 80",
            "10.20.0.0/24",
            "fd00:20::/64",
            "\"br-a\" . \"br-a\"",
        ] {
            assert!(listed.contains(needle), "missing {needle:?} in\n{listed}");
        }

        // A conflicting mapping fails the whole transaction: the other,
        // valid mapping in it is not applied either.
        let fresh = PortMapping::new(Protocol::Tcp, 9000, ip("10.20.0.9"), 90);
        let clash = PortMapping::new(Protocol::Tcp, 8080, ip("10.20.0.9"), 80);
        let err = fw.publish(&[fresh, clash]).expect_err("port taken");
        assert!(err.is_exists(), "{err}");
        assert!(!fw.list().expect("list").contains("10.20.0.9"), "nothing of a failed transaction");
        assert!(fw.publish(&[PortMapping::new(Protocol::Tcp, 0, ip("10.20.0.9"), 80)]).is_err());
        let mixed = PortMapping { host_ip: Some(ip("::1")), ..web };
        assert!(fw.publish(&[mixed]).is_err());

        // Unpublish is idempotent and leaves a port re-published elsewhere alone.
        fw.unpublish(&[web, dns, v6]).expect("unpublish");
        fw.unpublish(&[web, dns, v6]).expect("unpublish twice");
        fw.publish(&[clash]).expect("port free again");
        fw.unpublish(&[web]).expect("stale unpublish");
        assert!(fw.list().expect("list").contains("tcp . 8080 : 10.20.0.9 . 80"));
        fw.unpublish(&[clash]).expect("unpublish clash");
        fw.remove_network(&netw).expect("remove network");
        fw.remove_network(&netw).expect("remove network twice");
        let listed = fw.list().expect("list");
        assert!(!listed.contains("10.20.0.0/24") && !listed.contains("br-a"), "{listed}");

        fw.delete().expect("delete table");
        let all = nft_list_all();
        assert!(!all.contains("table inet berth"), "{all}");
        let after_other = Command::new("nft").args(["list", "table", "ip", "other"]).output().expect("list");
        assert_eq!(before_other.stdout, after_other.stdout, "other table untouched");
    })
    .expect("enter");
}

/// The marker chains (`rules_<hash>`) of berth's table, from `nft list chains`.
fn marker_chains(fw: &Firewall) -> Vec<String> {
    let listed = nft::run("list", &format!("list table inet {}", fw.table())).expect("list table");
    listed
        .lines()
        .filter_map(|l| l.trim().strip_prefix("chain rules_"))
        .map(|rest| format!("rules_{}", rest.trim_end_matches('{').trim()))
        .collect()
}

#[test]
fn open_rewrites_the_fixed_rules_only_when_their_version_is_missing() {
    let host = SandboxHost::new().expect("sandbox");
    host.enter_keep_pidns(|| {
        let fw = Firewall::open().expect("open");
        let markers = marker_chains(&fw);
        assert_eq!(markers.len(), 1, "one version marker: {markers:?}");
        // A rule only a rewrite would remove: a current table is left as is.
        nft::run("test", "add rule inet berth forward meta mark 0x42 accept").expect("extra rule");
        Firewall::open().expect("open current");
        assert!(
            fw.list().expect("list").contains("0x00000042"),
            "current table rewritten"
        );

        // Another version's table: the marker is replaced, the rules rewritten.
        let old = "rules_0000000000000000";
        nft::run(
            "test",
            &format!(
                "delete chain inet berth {}\nadd chain inet berth {old}\n",
                markers[0]
            ),
        )
        .expect("fake an old version");
        Firewall::open().expect("open old version");
        let listed = fw.list().expect("list");
        assert!(!listed.contains("0x00000042"), "old rules kept:\n{listed}");
        assert_eq!(
            marker_chains(&fw),
            markers,
            "old marker replaced by the current one"
        );
        assert_eq!(
            listed.matches("masquerade").count(),
            5,
            "fixed rules once:\n{listed}"
        );
        fw.delete().expect("delete table");
    })
    .expect("enter");
}

#[test]
fn has_network_reads_the_elements_nft_wrote() {
    let host = SandboxHost::new().expect("sandbox");
    host.enter_keep_pidns(|| {
        let fw = Firewall::open().expect("open");
        let a = NetworkRules {
            bridge: Some("br-a".into()),
            subnets: vec![net("10.20.0.0/16"), net("fd00:20::/64")],
            masquerade: true,
            isolate: true,
            ..Default::default()
        };
        let b = NetworkRules {
            bridge: Some("br-b".into()),
            subnets: vec![net("10.21.0.0/24")],
            masquerade: true,
            isolate: false,
            ..Default::default()
        };
        assert!(!fw.has_network(&a).expect("probe"), "empty table");
        fw.add_network(&a).expect("add a");
        assert!(fw.has_network(&a).expect("probe"));
        assert!(!fw.has_network(&b).expect("probe"), "b not added yet");
        fw.add_network(&b).expect("add b");
        assert!(fw.has_network(&b).expect("probe"));
        // Covered by an added subnet, or covering one, is not "present".
        for other in [
            "10.20.1.0/24",
            "10.20.0.0/15",
            "10.21.0.0/25",
            "10.21.1.0/24",
        ] {
            let n = NetworkRules {
                subnets: vec![net(other)],
                ..b.clone()
            };
            assert!(!fw.has_network(&n).expect("probe"), "{other}");
        }
        let other_bridge = NetworkRules {
            bridge: Some("br-c".into()),
            ..a.clone()
        };
        assert!(
            !fw.has_network(&other_bridge).expect("probe"),
            "bridge not in the isolation sets"
        );
        // add_network of present elements changes nothing; a missing one is added.
        let before = fw.list().expect("list");
        fw.add_network(&a).expect("add a again");
        assert_eq!(fw.list().expect("list"), before);
        let c = NetworkRules {
            subnets: vec![net("10.20.0.0/16"), net("10.22.0.0/16")],
            ..a.clone()
        };
        fw.add_network(&c).expect("add c");
        assert!(fw.list().expect("list").contains("10.22.0.0/16"));
        fw.remove_network(&a).expect("remove a");
        assert!(!fw.has_network(&a).expect("probe"), "removed");
        assert!(fw.has_network(&b).expect("probe"), "b untouched");
        let handle = fw.clone();
        fw.delete().expect("delete table");
        assert!(!handle.has_network(&b).expect("probe on a missing table"));
    })
    .expect("enter");
}

/// Kills and reaps a server process even when the test panics.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// HTTP GET `http://<addr>:<port>/` from `ns`; the body when the answer
/// is 200. busybox wget crashes (SIGSEGV) on this machine kind even for
/// loopback, so the request goes through `busybox nc` (proxy variables are
/// cleared by `ns_command` regardless).
fn http_get(ns: Option<&NetNs>, url: &str) -> Option<String> {
    let hostport = url.trim_start_matches("http://").trim_end_matches('/');
    let (addr, port) = hostport.rsplit_once(':').unwrap_or((hostport, "80"));
    let script = format!(
        "printf 'GET / HTTP/1.0\\r\\nHost: {addr}\\r\\n\\r\\n' | busybox nc -w 3 {addr} {port}"
    );
    let out = in_ns(ns, "sh", &["-c", &script]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.").then_some(())?;
    head.lines()
        .next()?
        .contains(" 200 ")
        .then(|| body.to_string())
}

#[test]
fn published_port_dnat_through_a_bridge() {
    let host = SandboxHost::new().expect("sandbox");
    let dirs = host.dirs().clone();
    let www = host.root().join("www");
    std::fs::create_dir_all(&www).expect("www dir");
    let page = format!("hello from berth {}\n", std::process::id());
    std::fs::write(www.join("index.html"), &page).expect("page");

    host.enter_keep_pidns(|| {
        let nl = Netlink::new().expect("nl");
        lo_up(&nl);
        sysctl::set_ipv4_forwarding(true).expect("forwarding");
        let br = nl.ensure_bridge(&BridgeConfig::new("br0")).expect("bridge");
        nl.add_address(br.index, net("10.30.0.1/24"))
            .expect("bridge address");
        sysctl::set_route_localnet("br0", true).expect("route_localnet");

        // The container: veth into the bridge, hairpin on, default route.
        let ctr = NetNs::create(&dirs.netns, "web").expect("ctr ns");
        let h = nl
            .create_veth(&VethConfig::new("vweb", "eth0"), Some(&ctr))
            .expect("veth");
        nl.set_master(h.index, br.index).expect("master");
        nl.set_hairpin(h.index, true).expect("hairpin");
        nl.set_up(h.index).expect("up");
        let cnl = Netlink::for_netns(&ctr).expect("ctr nl");
        lo_up(&cnl);
        let eth0 = cnl.require_link("eth0").expect("eth0");
        cnl.add_address(eth0.index, net("10.30.0.2/24"))
            .expect("ctr addr");
        cnl.set_up(eth0.index).expect("up");
        cnl.add_route(&Route::default_via(ip("10.30.0.1")))
            .expect("route");

        // An outside client on another link of the "host".
        let client = NetNs::create(&dirs.netns, "client").expect("client ns");
        let x = nl
            .create_veth(&VethConfig::new("ext0", "eth0"), Some(&client))
            .expect("ext veth");
        nl.add_address(x.index, net("192.168.50.1/24"))
            .expect("ext addr");
        nl.set_up(x.index).expect("up");
        let xnl = Netlink::for_netns(&client).expect("client nl");
        let ceth = xnl.require_link("eth0").expect("client eth0");
        xnl.add_address(ceth.index, net("192.168.50.2/24"))
            .expect("client addr");
        xnl.set_up(ceth.index).expect("up");

        let www = www.to_string_lossy().into_owned();
        let httpd = common::ns_command(
            Some(&ctr),
            "busybox",
            &["httpd", "-f", "-p", "80", "-h", &www],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("httpd");
        let _server = Server(httpd);

        // Direct first (and wait for httpd to listen: wget retries are the
        // readiness check, not a timing assertion).
        let direct = (0..50).find_map(|_| {
            let r = http_get(None, "http://10.30.0.2/");
            if r.is_none() {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            r
        });
        assert_eq!(
            direct.as_deref(),
            Some(page.as_str()),
            "httpd reachable directly"
        );
        assert!(
            http_get(Some(&client), "http://192.168.50.1:8080/").is_none(),
            "nothing published yet"
        );

        let fw = Firewall::open().expect("fw");
        fw.add_network(&NetworkRules {
            bridge: Some("br0".into()),
            subnets: vec![net("10.30.0.0/24")],
            masquerade: true,
            isolate: true,
            ..Default::default()
        })
        .expect("network rules");
        let any = PortMapping::new(Protocol::Tcp, 8080, ip("10.30.0.2"), 80);
        let only = PortMapping {
            host_ip: Some(ip("192.168.50.1")),
            ..PortMapping::new(Protocol::Tcp, 9090, ip("10.30.0.2"), 80)
        };
        fw.publish(&[any, only]).expect("publish");

        assert_eq!(
            http_get(Some(&client), "http://192.168.50.1:8080/").as_deref(),
            Some(page.as_str()),
            "outside → published port"
        );
        assert_eq!(
            http_get(Some(&client), "http://192.168.50.1:9090/").as_deref(),
            Some(page.as_str()),
            "host-ip-bound port"
        );
        assert_eq!(
            http_get(None, "http://10.30.0.1:8080/").as_deref(),
            Some(page.as_str()),
            "host itself → published port"
        );
        assert_eq!(
            http_get(None, "http://127.0.0.1:8080/").as_deref(),
            Some(page.as_str()),
            "localhost → published port"
        );
        assert_eq!(
            http_get(Some(&ctr), "http://10.30.0.1:8080/").as_deref(),
            Some(page.as_str()),
            "hairpin: container → own published port"
        );
        assert!(
            http_get(None, "http://10.30.0.1:9090/").is_none(),
            "9090 is bound to 192.168.50.1 only"
        );

        fw.unpublish(&[any, only]).expect("unpublish");
        assert!(
            http_get(Some(&client), "http://192.168.50.1:8080/").is_none(),
            "unpublished"
        );
    })
    .expect("enter");
}

#[test]
fn isolated_networks_cannot_talk_but_each_reaches_its_gateway() {
    let host = SandboxHost::new().expect("sandbox");
    let dirs = host.dirs().clone();
    host.enter_keep_pidns(|| {
        let nl = Netlink::new().expect("nl");
        sysctl::set_ipv4_forwarding(true).expect("forwarding");
        let fw = Firewall::open().expect("fw");
        let mut ctrs = Vec::new();
        for (i, name) in ["bra", "brb"].iter().enumerate() {
            let br = nl.ensure_bridge(&BridgeConfig::new(name)).expect("bridge");
            nl.add_address(br.index, net(&format!("10.4{i}.0.1/24")))
                .expect("gw");
            let ns = NetNs::create(&dirs.netns, &format!("c{i}")).expect("ns");
            let h = nl
                .create_veth(&VethConfig::new(&format!("v{i}"), "eth0"), Some(&ns))
                .expect("veth");
            nl.set_master(h.index, br.index).expect("master");
            nl.set_up(h.index).expect("up");
            let cnl = Netlink::for_netns(&ns).expect("nl");
            let e = cnl.require_link("eth0").expect("eth0");
            cnl.add_address(e.index, net(&format!("10.4{i}.0.2/24")))
                .expect("addr");
            cnl.set_up(e.index).expect("up");
            cnl.add_route(&Route::default_via(ip(&format!("10.4{i}.0.1"))))
                .expect("route");
            ctrs.push(ns);
        }
        // Not isolated yet: routed between the bridges.
        assert!(
            common::ping(&ctrs[0], ip("10.41.0.2")),
            "routed before isolation"
        );
        for (i, name) in ["bra", "brb"].iter().enumerate() {
            fw.add_network(&NetworkRules {
                bridge: Some(name.to_string()),
                subnets: vec![net(&format!("10.4{i}.0.0/24"))],
                masquerade: false,
                isolate: true,
                ..Default::default()
            })
            .expect("isolate");
        }
        assert!(
            !common::ping(&ctrs[0], ip("10.41.0.2")),
            "isolated networks"
        );
        assert!(
            common::ping(&ctrs[0], ip("10.40.0.1")),
            "own gateway still reachable"
        );
    })
    .expect("enter");
}

#[test]
fn icc_off_and_untracked_traffic_are_elements_of_their_network() {
    use berth_net::firewall::IccOpening;
    let host = SandboxHost::new().expect("sandbox");
    host.enter_keep_pidns(|| {
        let fw = Firewall::open().expect("open");
        let open = NetworkRules {
            bridge: Some("br-open".into()),
            subnets: vec![net("10.50.0.0/24"), net("fd00:50::/64")],
            masquerade: true,
            isolate: true,
            block_icc: false,
            gateways: vec![ip("10.50.0.1"), ip("fd00:50::1")],
        };
        let closed = NetworkRules {
            bridge: Some("br-closed".into()),
            subnets: vec![net("10.51.0.0/24")],
            gateways: vec![ip("10.51.0.1")],
            block_icc: true,
            ..open.clone()
        };
        // No masquerade: hairpin answers come back bridged, so tracked.
        let no_masq = NetworkRules {
            bridge: Some("br-nomasq".into()),
            subnets: vec![net("10.52.0.0/24")],
            gateways: vec![ip("10.52.0.1")],
            masquerade: false,
            ..open.clone()
        };
        for n in [&open, &closed, &no_masq] {
            assert!(!fw.has_network(n).expect("probe"), "{n:?}");
            fw.add_network(n).expect("add");
            assert!(fw.has_network(n).expect("probe"), "{n:?}");
        }
        let set = |name: &str| {
            nft::run("list", &format!("list set inet berth {name}")).expect("list set")
        };
        let intra4 = set("intra4");
        assert!(intra4.contains("10.50.0.0/24"), "{intra4}");
        assert!(
            !intra4.contains("10.51.0.0/24") && !intra4.contains("10.52.0.0/24"),
            "{intra4}"
        );
        assert!(set("intra6").contains("fd00:50::/64"));
        let gw4 = set("gw4");
        assert!(
            gw4.contains("10.50.0.1") && !gw4.contains("10.51.0.1"),
            "{gw4}"
        );
        let no_icc = set("no_icc");
        assert!(no_icc.contains("\"br-closed\" . \"br-closed\""), "{no_icc}");
        assert!(!no_icc.contains("br-open"), "{no_icc}");

        let hole = IccOpening {
            client: "10.51.0.2".parse().expect("ip"),
            server: "10.51.0.3".parse().expect("ip"),
            protocol: Protocol::Tcp,
            port: 80,
        };
        fw.open_icc(&hole).expect("open icc");
        fw.open_icc(&hole).expect("open icc twice");
        assert!(set("icc_open4").contains("10.51.0.2 . 10.51.0.3 . tcp . 80"));
        fw.close_icc(&hole).expect("close icc");
        fw.close_icc(&hole).expect("close icc twice");
        assert!(!set("icc_open4").contains("10.51.0.2"));

        fw.remove_network(&closed).expect("remove");
        fw.remove_network(&open).expect("remove");
        assert!(!set("no_icc").contains("br-closed"));
        assert!(!set("intra4").contains("10.50.0.0/24"));
        assert!(!set("gw6").contains("fd00:50::1"));
        assert!(fw.rules_intact().expect("intact"));
        fw.delete().expect("delete");
    })
    .expect("in sandbox");
}
