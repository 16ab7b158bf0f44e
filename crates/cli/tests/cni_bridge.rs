//! berth-bridge with berth-host-local, end to end as root, each test in its
//! own sandbox host: ADD/CHECK/DEL/GC, traffic between two containers,
//! differential against Debian's reference bridge + host-local, interop
//! (reference bridge with berth-host-local), and bad input.

mod cni_support;

use std::path::Path;

use berth_cni::types::{GcAttachment, NetConfList};
use cni_support::{json_out, CniEnv};
use serde_json::{json, Value};

fn bridge_conf(env: &CniEnv, bridge_type: &str, ipam_type: &str, br: &str, subnet: &str) -> Value {
    json!({
        "cniVersion": "1.0.0",
        "name": "testnet",
        "type": bridge_type,
        "bridge": br,
        "isGateway": true,
        "isDefaultGateway": true,
        "ipMasq": true,
        "hairpinMode": true,
        "ipam": {"type": ipam_type, "subnet": subnet,
                 "dataDir": env.ipam_dir().to_string_lossy()}
    })
}

fn list(env: &CniEnv, file: &str, conf: &Value) -> NetConfList {
    NetConfList::load(&env.conf(file, conf)).expect("load conf")
}

/// berth-bridge + berth-host-local on bridge `br` with `subnet`.
fn berth_conf(env: &CniEnv, br: &str, subnet: &str) -> Value {
    bridge_conf(env, "berth-bridge", "berth-host-local", br, subnet)
}

fn berth_list(env: &CniEnv, file: &str, br: &str, subnet: &str) -> NetConfList {
    list(env, file, &berth_conf(env, br, subnet))
}

fn kind_of(env: &CniEnv, ns: &Path, dev: &str) -> String {
    let v: Value = serde_json::from_str(&env.in_ns(ns, &format!("ip -d -j link show dev {dev}")))
        .expect("json");
    v[0]["linkinfo"]["info_kind"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

fn host_has_link(env: &CniEnv, name: &str) -> bool {
    env.host
        .output(std::process::Command::new("ip").args(["link", "show", "dev", name]))
        .map(|o| o.status.success())
        .unwrap_or(false)
}

#[test]
fn bridge_add_check_del() {
    let env = CniEnv::new();
    let l = berth_list(&env, "br.conf", "bbr0", "10.78.1.0/24");
    let ns = env.netns("c1");
    let att = CniEnv::attachment("c1", &ns, "eth0");
    let r = env.with_client(|c| c.add(&l, &att)).expect("ADD");

    // The result: bridge, host veth, container veth; one address on the latter.
    assert_eq!(r.interfaces.len(), 3, "{r:?}");
    assert_eq!(r.interfaces[0].name, "bbr0");
    assert_eq!(r.interfaces[2].name, "eth0");
    assert_eq!(r.interfaces[2].sandbox.as_deref(), Some("/run/netns/c1"));
    assert_eq!(r.ips.len(), 1);
    assert_eq!(r.ips[0].address.to_string(), "10.78.1.2/24");
    assert_eq!(
        r.ips[0].gateway.map(|g| g.to_string()).as_deref(),
        Some("10.78.1.1")
    );
    assert_eq!(r.ips[0].interface, Some(2));

    // The container: a veth with that address and a default route.
    assert_eq!(kind_of(&env, &ns, "eth0"), "veth");
    assert_eq!(env.addrs(&ns, "eth0"), ["10.78.1.2/24"]);
    assert!(
        env.routes(&ns)
            .contains(&"default via 10.78.1.1".to_owned()),
        "{:?}",
        env.routes(&ns)
    );
    // The host: a bridge with the gateway address, the host veth on it.
    let host_veth = r.interfaces[1].name.clone();
    assert!(host_veth.starts_with("veth"), "{host_veth}");
    let br: Value =
        serde_json::from_str(&env.host.sh("ip -j addr show dev bbr0").expect("ip")).expect("json");
    assert_eq!(br[0]["addr_info"][0]["local"], "10.78.1.1");
    let hv: Value = serde_json::from_str(
        &env.host
            .sh(&format!("ip -d -j link show dev {host_veth}"))
            .expect("ip"),
    )
    .expect("json");
    assert_eq!(hv[0]["master"], "bbr0");
    assert_eq!(hv[0]["linkinfo"]["info_slave_data"]["hairpin"], true);
    // The container reaches its gateway.
    env.in_ns(&ns, "busybox ping -c1 -W5 10.78.1.1 >/dev/null");
    // Masquerade for the subnet is in berth's table.
    let nft = env.host.sh("nft list table inet berth").expect("nft");
    assert!(nft.contains("10.78.1.0/24"), "{nft}");

    env.with_client(|c| c.check(&l, &att)).expect("CHECK");
    // CHECK detects a removed address, and a removed route.
    env.in_ns(&ns, "ip addr del 10.78.1.2/24 dev eth0");
    let e = env
        .with_client(|c| c.check(&l, &att))
        .expect_err("CHECK without address");
    assert!(e.to_string().contains("10.78.1.2/24 is missing"), "{e}");
    env.in_ns(
        &ns,
        "ip addr add 10.78.1.2/24 dev eth0 && ip route add default via 10.78.1.1",
    );
    env.with_client(|c| c.check(&l, &att))
        .expect("CHECK after repair");
    env.in_ns(&ns, "ip route del default");
    let e = env
        .with_client(|c| c.check(&l, &att))
        .expect_err("CHECK without route");
    assert!(
        e.to_string()
            .contains("route to 0.0.0.0/0 via 10.78.1.1 is missing"),
        "{e}"
    );

    env.with_client(|c| c.del(&l, &att)).expect("DEL");
    assert!(!env.has_link(&ns, "eth0"), "container veth left");
    assert!(!host_has_link(&env, &host_veth), "host veth left");
    env.with_client(|c| c.del(&l, &att)).expect("second DEL");
    // The lease was released: the next container gets an address again, and
    // the network still works after a DEL with the netns gone.
    let ns2 = env.netns("c2");
    let att2 = CniEnv::attachment("c2", &ns2, "eth0");
    env.with_client(|c| c.add(&l, &att2)).expect("ADD c2");
    env.host.sh("ip netns del c2").expect("netns del");
    env.with_client(|c| c.del(&l, &att2))
        .expect("DEL with netns gone");
}

#[test]
fn two_containers_ping_and_transfer_over_tcp() {
    let env = CniEnv::new();
    let l = berth_list(&env, "br.conf", "bbr1", "10.78.2.0/24");
    let ns1 = env.netns("c1");
    let ns2 = env.netns("c2");
    let r1 = env
        .with_client(|c| c.add(&l, &CniEnv::attachment("c1", &ns1, "eth0")))
        .expect("ADD c1");
    let r2 = env
        .with_client(|c| c.add(&l, &CniEnv::attachment("c2", &ns2, "eth0")))
        .expect("ADD c2");
    let ip1 = r1.ips[0].address.addr();
    let ip2 = r2.ips[0].address.addr();
    assert_ne!(ip1, ip2);
    env.in_ns(&ns1, &format!("busybox ping -c1 -W5 {ip2} >/dev/null"));
    env.in_ns(&ns2, &format!("busybox ping -c1 -W5 {ip1} >/dev/null"));
    // 256 KiB over TCP from c1 to c2, checked by hash. The listener's stdin
    // (a FIFO held open) must not end: busybox nc stops on EOF of its stdin.
    let payload = env.host.root().join("payload");
    env.host
        .sh(&format!(
            "head -c 262144 /dev/urandom > {}",
            payload.display()
        ))
        .expect("payload");
    let want = env
        .host
        .sh(&format!("md5sum < {}", payload.display()))
        .expect("md5");
    let got = env.in_ns(
        &ns2,
        &format!(
            "mkfifo /tmp/in-$$; busybox nc -l -p 5001 < /tmp/in-$$ > /tmp/recv-$$ & L=$!; exec 3>/tmp/in-$$; \
             for i in $(seq 1 100); do busybox netstat -ltn | grep -q ':5001 ' && break; busybox usleep 20000; done; \
             nsenter --net={ns1} busybox nc -w 5 {ip2} 5001 < {p}; wait $L; exec 3>&-; md5sum < /tmp/recv-$$; rm -f /tmp/recv-$$ /tmp/in-$$",
            ns1 = ns1.display(),
            p = payload.display()
        ),
    );
    assert_eq!(
        got.trim(),
        want.trim(),
        "payload differs after TCP transfer"
    );
}

#[test]
fn gc_releases_leases_not_in_valid_attachments() {
    let env = CniEnv::new();
    let conf = berth_conf(&env, "bbr2", "10.78.3.0/24");
    let mut conf11 = conf.clone();
    conf11["cniVersion"] = json!("1.1.0");
    let stdin = serde_json::to_vec(&conf11).expect("json");
    let ns1 = env.netns("c1");
    let ns2 = env.netns("c2");
    let plugin = env.plugin("berth-bridge");
    let add = |cid: &str, ns: &Path, extra: &[(&str, &str)]| {
        let ns = ns.to_string_lossy().into_owned();
        let mut e = vec![
            ("CNI_COMMAND", "ADD"),
            ("CNI_CONTAINERID", cid),
            ("CNI_NETNS", ns.as_str()),
            ("CNI_IFNAME", "eth0"),
        ];
        e.extend_from_slice(extra);
        let o = env.invoke(&plugin, &e, &stdin);
        assert!(
            o.status.success(),
            "ADD {cid}: {}",
            String::from_utf8_lossy(&o.stdout)
        );
        json_out(&o)
    };
    add("c1", &ns1, &[]);
    let r2 = add("c2", &ns2, &[]);
    let ip2 = r2["ips"][0]["address"]
        .as_str()
        .expect("ip")
        .split('/')
        .next()
        .expect("ip")
        .to_owned();

    // GC keeping only c1: c2's lease goes (the plugin has no cache; the
    // runtime's DEL of c2 would remove its link).
    let mut gc = conf11.clone();
    gc["cni.dev/valid-attachments"] = json!([{"containerID": "c1", "ifname": "eth0"}]);
    let o = env.invoke(
        &plugin,
        &[("CNI_COMMAND", "GC")],
        &serde_json::to_vec(&gc).expect("json"),
    );
    assert!(
        o.status.success(),
        "GC: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(
        o.stdout.is_empty(),
        "GC printed {:?}",
        String::from_utf8_lossy(&o.stdout)
    );
    // c2's address is free again: a third container can ask for it ...
    env.in_ns(&ns2, "ip link del eth0");
    let ns3 = env.netns("c3");
    let ip_arg = format!("IP={ip2}");
    let r3 = add("c3", &ns3, &[("CNI_ARGS", ip_arg.as_str())]);
    assert_eq!(
        r3["ips"][0]["address"]
            .as_str()
            .map(|a| a.starts_with(&format!("{ip2}/"))),
        Some(true)
    );
    // ... while c1's is still held.
    let r1ip = env.addrs(&ns1, "eth0")[0]
        .split('/')
        .next()
        .expect("ip")
        .to_owned();
    let taken = format!("IP={r1ip}");
    let ns4 = env.netns("c4");
    let ns4s = ns4.to_string_lossy().into_owned();
    let o = env.invoke(
        &plugin,
        &[
            ("CNI_COMMAND", "ADD"),
            ("CNI_CONTAINERID", "c4"),
            ("CNI_NETNS", ns4s.as_str()),
            ("CNI_IFNAME", "eth0"),
            ("CNI_ARGS", taken.as_str()),
        ],
        &stdin,
    );
    assert!(!o.status.success(), "c1's address was handed out twice");
    assert!(
        json_out(&o)["msg"]
            .as_str()
            .unwrap_or("")
            .contains("already allocated"),
        "{:?}",
        json_out(&o)
    );
    assert!(!env.has_link(&ns4, "eth0"), "failed ADD left a link");
}

#[test]
fn client_gc_deletes_stale_berth_attachments() {
    let env = CniEnv::new();
    let mut conf = berth_conf(&env, "bbr3", "10.78.4.0/24");
    conf["cniVersion"] = json!("1.1.0");
    let l = list(&env, "br.conf", &conf);
    let ns1 = env.netns("c1");
    let ns2 = env.netns("c2");
    env.with_client(|c| c.add(&l, &CniEnv::attachment("c1", &ns1, "eth0")))
        .expect("ADD c1");
    env.with_client(|c| c.add(&l, &CniEnv::attachment("c2", &ns2, "eth0")))
        .expect("ADD c2");
    let keep = [GcAttachment {
        container_id: "c1".into(),
        ifname: "eth0".into(),
    }];
    env.with_client(|c| c.gc(&l, &keep)).expect("GC");
    assert!(env.has_link(&ns1, "eth0"));
    assert!(!env.has_link(&ns2, "eth0"), "GC left c2's link");
    env.with_client(|c| c.status(&l)).expect("STATUS");
}

/// What a container looks like, names and MACs aside.
fn snapshot(env: &CniEnv, ns: &Path) -> (Vec<String>, Vec<String>, String, String) {
    (
        env.addrs(ns, "eth0"),
        env.routes(ns),
        kind_of(env, ns, "eth0"),
        kind_of(env, ns, "lo"),
    )
}

#[test]
fn differential_against_reference_bridge_and_host_local() {
    let run = |bridge: &str, ipam: &str| {
        let env = CniEnv::new();
        let mut conf = bridge_conf(&env, bridge, ipam, "dbr0", "10.78.5.0/24");
        conf["ipam"]["routes"] = json!([{"dst": "192.168.50.0/24", "gw": "10.78.5.254"}]);
        let l = list(&env, "d.conf", &conf);
        let ns1 = env.netns("c1");
        let ns2 = env.netns("c2");
        env.with_client(|c| c.add(&l, &CniEnv::attachment("c1", &ns1, "eth0")))
            .expect("ADD c1");
        env.with_client(|c| c.add(&l, &CniEnv::attachment("c2", &ns2, "eth0")))
            .expect("ADD c2");
        let snap = (snapshot(&env, &ns1), snapshot(&env, &ns2));
        let host_br = {
            let v: Value =
                serde_json::from_str(&env.host.sh("ip -d -j addr show dev dbr0").expect("ip"))
                    .expect("json");
            (
                v[0]["linkinfo"]["info_kind"].clone(),
                v[0]["addr_info"][0]["local"].clone(),
            )
        };
        env.with_client(|c| c.del(&l, &CniEnv::attachment("c1", &ns1, "eth0")))
            .expect("DEL c1");
        env.with_client(|c| c.del(&l, &CniEnv::attachment("c2", &ns2, "eth0")))
            .expect("DEL c2");
        (snap, host_br)
    };
    let reference = run("bridge", "host-local");
    let berth = run("berth-bridge", "berth-host-local");
    assert_eq!(berth, reference, "berth differs from the reference plugins");
}

#[test]
fn reference_bridge_with_berth_host_local() {
    let env = CniEnv::new();
    let l = list(
        &env,
        "i.conf",
        &bridge_conf(&env, "bridge", "berth-host-local", "ibr0", "10.78.6.0/24"),
    );
    let ns = env.netns("c1");
    let att = CniEnv::attachment("c1", &ns, "eth0");
    let r = env.with_client(|c| c.add(&l, &att)).expect("ADD");
    assert_eq!(r.ips[0].address.to_string(), "10.78.6.2/24");
    assert_eq!(env.addrs(&ns, "eth0"), ["10.78.6.2/24"]);
    env.with_client(|c| c.check(&l, &att)).expect("CHECK");
    env.with_client(|c| c.del(&l, &att)).expect("DEL");
    // The lease went back: the same address comes again for a new container
    // after the round-robin wraps only, so check the store instead: a
    // static request for it succeeds.
    let ns2 = env.netns("c2");
    let mut att2 = CniEnv::attachment("c2", &ns2, "eth0");
    // The reference bridge refuses CNI_ARGS it does not know unless told.
    att2.args = vec![
        ("IgnoreUnknown".into(), "1".into()),
        ("IP".into(), "10.78.6.2".into()),
    ];
    let r2 = env
        .with_client(|c| c.add(&l, &att2))
        .expect("ADD c2 with the released address");
    assert_eq!(r2.ips[0].address.to_string(), "10.78.6.2/24");
}

/// Runs one ADD with `stdin` and `env` overrides and returns (code, msg).
fn add_error(env: &CniEnv, stdin: &[u8], vars: &[(&str, &str)]) -> (u64, String) {
    let o = env.invoke(&env.plugin("berth-bridge"), vars, stdin);
    assert!(
        !o.status.success(),
        "ADD succeeded: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    let v = json_out(&o);
    (
        v["code"].as_u64().unwrap_or(0),
        v["msg"].as_str().unwrap_or("").to_owned(),
    )
}

#[test]
fn bad_input_gets_spec_codes_and_leaves_nothing() {
    let env = CniEnv::new();
    let ns = env.netns("c1");
    let nss = ns.to_string_lossy().into_owned();
    let vars = [
        ("CNI_COMMAND", "ADD"),
        ("CNI_CONTAINERID", "c1"),
        ("CNI_NETNS", nss.as_str()),
        ("CNI_IFNAME", "eth0"),
    ];
    let good = berth_conf(&env, "bbr9", "10.78.9.0/24");
    let links_before = env.host.sh("ip -o link show | wc -l").expect("ip");

    // Malformed JSON.
    let (code, msg) = add_error(&env, b"{\"cniVersion\": ", &vars);
    assert_eq!(code, 6, "{msg}");
    // A field of the wrong type, named.
    let mut c = good.clone();
    c["isGateway"] = json!("yes");
    let (code, msg) = add_error(&env, &serde_json::to_vec(&c).expect("json"), &vars);
    assert_eq!(code, 6, "{msg}");
    assert!(msg.contains("isGateway"), "{msg}");
    let mut c = good.clone();
    c["ipam"]["subnet"] = json!(42);
    let (code, msg) = add_error(&env, &serde_json::to_vec(&c).expect("json"), &vars);
    assert_eq!(code, 6, "{msg}");
    assert!(msg.contains("ipam.subnet"), "{msg}");
    // Missing CNI_* variables, all named.
    let (code, msg) = add_error(
        &env,
        &serde_json::to_vec(&good).expect("json"),
        &[("CNI_COMMAND", "ADD")],
    );
    assert_eq!(code, 4, "{msg}");
    for v in ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"] {
        assert!(msg.contains(v), "{msg}");
    }
    // A range outside the subnet.
    let mut c = good.clone();
    c["ipam"]["rangeStart"] = json!("10.99.0.5");
    let (code, msg) = add_error(&env, &serde_json::to_vec(&c).expect("json"), &vars);
    assert_eq!(code, 7, "{msg}");
    assert!(msg.contains("ipam.ranges[0][0].rangeStart"), "{msg}");
    // A bridge name taken by another kind of link.
    env.host
        .sh("ip link add notabr type veth peer name notabr-p")
        .expect("veth");
    let mut c = good.clone();
    c["bridge"] = json!("notabr");
    let (code, msg) = add_error(&env, &serde_json::to_vec(&c).expect("json"), &vars);
    assert_eq!(code, 7, "{msg}");
    assert!(msg.contains("`bridge`") && msg.contains("veth"), "{msg}");
    env.host.sh("ip link del notabr").expect("del veth");
    // A netns path that is not a netns.
    let not_ns = env.host.root().join("not-a-netns");
    std::fs::write(&not_ns, "x").expect("write");
    let nn = not_ns.to_string_lossy().into_owned();
    let (code, msg) = add_error(
        &env,
        &serde_json::to_vec(&good).expect("json"),
        &[
            ("CNI_COMMAND", "ADD"),
            ("CNI_CONTAINERID", "c1"),
            ("CNI_NETNS", nn.as_str()),
            ("CNI_IFNAME", "eth0"),
        ],
    );
    assert_eq!(code, 4, "{msg}");
    assert!(msg.contains("CNI_NETNS"), "{msg}");
    // An unsupported version.
    let mut c = good.clone();
    c["cniVersion"] = json!("0.2.0");
    let (code, _) = add_error(&env, &serde_json::to_vec(&c).expect("json"), &vars);
    assert_eq!(code, 1);

    // Nothing left behind: no new links on the host, none in the container,
    // and no lease (the first free address is still the first one).
    assert_eq!(
        env.host.sh("ip -o link show | wc -l").expect("ip"),
        links_before
    );
    assert!(!env.has_link(&ns, "eth0"));
    let o = env.invoke(
        &env.plugin("berth-bridge"),
        &vars,
        &serde_json::to_vec(&good).expect("json"),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    assert_eq!(json_out(&o)["ips"][0]["address"], "10.78.9.2/24");
}

/// `vlan` needs bridge VLAN filtering, which this machine's kernel lacks:
/// the ADD is refused with a message naming the field and leaves no bridge,
/// link or lease. (A kernel that has it gets code 2: berth does not program
/// per-port VLANs yet.)
#[test]
fn bridge_vlan_is_refused_clearly_and_leaves_nothing() {
    let env = CniEnv::new();
    let ns = env.netns("c1");
    let nss = ns.to_string_lossy().into_owned();
    let vars = [
        ("CNI_COMMAND", "ADD"),
        ("CNI_CONTAINERID", "c1"),
        ("CNI_NETNS", nss.as_str()),
        ("CNI_IFNAME", "eth0"),
    ];
    let mut c = berth_conf(&env, "vbr0", "10.78.10.0/24");
    c["vlan"] = json!(10);
    let links_before = env.host.sh("ip -o link show | wc -l").expect("ip");
    let (code, msg) = add_error(&env, &serde_json::to_vec(&c).expect("json"), &vars);
    assert!(code == 104 || code == 2, "code {code}: {msg}");
    assert!(msg.contains("`vlan`"), "{msg}");
    assert_eq!(
        env.host.sh("ip -o link show | wc -l").expect("ip"),
        links_before
    );
    assert!(!host_has_link(&env, "vbr0"), "refused ADD left the bridge");
    assert!(!env.has_link(&ns, "eth0"));
}

/// IPv6 addresses of `dev` in `ns` (`scope` "link" or "global").
fn v6_addrs(env: &CniEnv, ns: &Path, dev: &str, scope: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(
        &env.in_ns(ns, &format!("ip -6 -j addr show dev {dev} scope {scope}")),
    )
    .expect("json");
    v.as_array()
        .into_iter()
        .flatten()
        .flat_map(|l| l["addr_info"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a["local"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn ipv4_only_attachments_get_no_ipv6_and_dual_stack_ones_reach_each_other_over_it() {
    let env = CniEnv::new();
    // IPv4 only: no IPv6 address on the container interface (not even
    // link-local, as with Docker on IPv4-only networks) nor on the host port.
    let l4 = berth_list(&env, "v4.conf", "v4br0", "10.78.9.0/24");
    let ns = env.netns("c4");
    let r = env
        .with_client(|c| c.add(&l4, &CniEnv::attachment("c4", &ns, "eth0")))
        .expect("ADD v4");
    let host_port = r.interfaces[1].name.clone();
    // Give the kernel time it would take to add a link-local address
    // (it does so when the link comes up, DAD aside).
    env.in_ns(&ns, "sleep 0.2");
    assert_eq!(v6_addrs(&env, &ns, "eth0", "link"), Vec::<String>::new());
    let port: Value = serde_json::from_str(
        &env.host
            .sh(&format!("ip -6 -j addr show dev {host_port}"))
            .expect("ip"),
    )
    .expect("json");
    let port_addrs = port[0]["addr_info"].as_array().map_or(0, Vec::len);
    assert_eq!(port_addrs, 0, "bridge port {host_port} has IPv6: {port}");
    let off = env
        .host
        .sh(&format!(
            "cat /proc/sys/net/ipv6/conf/{host_port}/disable_ipv6"
        ))
        .expect("sysctl");
    assert_eq!(off.trim(), "1", "IPv6 left on bridge port {host_port}");
    // The bridge berth made does no multicast snooping (no querier here).
    let br: Value = serde_json::from_str(&env.host.sh("ip -d -j link show dev v4br0").expect("ip"))
        .expect("json");
    assert_eq!(br[0]["linkinfo"]["info_data"]["mcast_snooping"], 0, "{br}");
    env.with_client(|c| c.del(&l4, &CniEnv::attachment("c4", &ns, "eth0")))
        .expect("DEL v4");

    // Dual stack: IPv6 stays, with its link-local address, and two
    // containers talk over it across the bridge.
    let mut conf = berth_conf(&env, "dsbr0", "10.78.10.0/24");
    conf["ipam"] = json!({
        "type": "berth-host-local",
        "ranges": [[{"subnet": "10.78.10.0/24"}], [{"subnet": "fd00:78:10::/64"}]],
        "dataDir": env.ipam_dir().to_string_lossy()
    });
    let ld = list(&env, "ds.conf", &conf);
    let (a, b) = (env.netns("d1"), env.netns("d2"));
    for (id, ns) in [("d1", &a), ("d2", &b)] {
        env.with_client(|c| c.add(&ld, &CniEnv::attachment(id, ns, "eth0")))
            .expect("ADD dual stack");
    }
    assert_eq!(v6_addrs(&env, &b, "eth0", "global"), ["fd00:78:10::3"]);
    let ping = env.in_ns_output(&a, "busybox ping -6 -c 1 -W 5 fd00:78:10::3");
    assert!(ping.status.success(), "ping6 d1 -> d2: {ping:?}");
    assert_eq!(
        v6_addrs(&env, &a, "eth0", "link").len(),
        1,
        "link-local kept"
    );
    for (id, ns) in [("d1", &a), ("d2", &b)] {
        env.with_client(|c| c.del(&ld, &CniEnv::attachment(id, ns, "eth0")))
            .expect("DEL dual stack");
    }
}

#[test]
fn masquerade_goes_with_the_last_container_and_comes_back_with_the_next() {
    let env = CniEnv::new();
    let l = berth_list(&env, "mq.conf", "mqbr0", "10.78.11.0/24");
    let masq = || {
        env.host
            .sh("nft list set inet berth masq4")
            .expect("nft")
            .contains("10.78.11.0/24")
    };
    let (a, b) = (env.netns("m1"), env.netns("m2"));
    let mut host_ports = Vec::new();
    for (id, ns) in [("m1", &a), ("m2", &b)] {
        let r = env
            .with_client(|c| c.add(&l, &CniEnv::attachment(id, ns, "eth0")))
            .expect("ADD");
        host_ports.push(r.interfaces[1].name.clone());
    }
    assert!(masq(), "masquerade after ADD");
    env.with_client(|c| c.del(&l, &CniEnv::attachment("m1", &a, "eth0")))
        .expect("DEL m1");
    assert!(masq(), "another container still uses the network");
    // The last one leaves with its netns already gone: its host veth goes
    // at DEL (not whenever the kernel destroys the namespace).
    env.host.sh("ip netns del m2").expect("netns del");
    env.with_client(|c| c.del(&l, &CniEnv::attachment("m2", &b, "eth0")))
        .expect("DEL m2");
    assert!(!host_has_link(&env, &host_ports[1]), "host veth of m2 left");
    assert!(!masq(), "masquerade left after the last container");
    assert!(host_has_link(&env, "mqbr0"), "the bridge stays");
    let c = env.netns("m3");
    env.with_client(|cl| cl.add(&l, &CniEnv::attachment("m3", &c, "eth0")))
        .expect("ADD m3");
    assert!(masq(), "masquerade back with the next container");
    env.with_client(|cl| cl.del(&l, &CniEnv::attachment("m3", &c, "eth0")))
        .expect("DEL m3");
}

/// The lease is on disk before ADD answers: berth-bridge lets the lease
/// journal's `fdatasync` run on a thread while it makes the links, and
/// must wait for it before it writes its result. Traced with strace: the
/// completion of every `fdatasync` comes before the result's `write` to
/// stdout (a sync still running then would leave a lease that a crash
/// could lose after the runtime was told of it).
#[test]
fn the_lease_is_synced_before_add_answers() {
    if !std::path::Path::new("/usr/bin/strace").exists() {
        berth_testsupport::kernel::report_skip("strace is not installed (Debian package strace)");
        return;
    }
    let env = CniEnv::new();
    let mut conf = berth_conf(&env, "bbr9", "10.78.9.0/24");
    conf["ipMasq"] = json!(false);
    let trace = env.host.root().join("add.strace");
    let wrapper = env.host.root().join("traced-bridge");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec strace -f -qq -e trace=fdatasync,write -o {} {}\n",
            trace.display(),
            env.plugin("berth-bridge").display()
        ),
    )
    .expect("write wrapper");
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    let ns = env.netns("dur");
    let stdin = serde_json::to_vec(&conf).expect("json");
    let vars = [
        ("CNI_COMMAND", "ADD"),
        ("CNI_CONTAINERID", "dur"),
        ("CNI_NETNS", "/run/netns/dur"),
        ("CNI_IFNAME", "eth0"),
    ];
    let out = env.invoke(&wrapper, &vars, &stdin);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(json_out(&out)["ips"][0]["address"], "10.78.9.2/24");
    let t = std::fs::read_to_string(&trace).expect("trace");
    let lines: Vec<&str> = t.lines().collect();
    let answer = lines
        .iter()
        .position(|l| l.contains("write(1,"))
        .unwrap_or_else(|| panic!("no write of the result to stdout:\n{t}"));
    // A sync is a line "fdatasync(N) = 0", or "fdatasync(N <unfinished
    // ...>" followed by "<... fdatasync resumed>) = 0" when another
    // thread's call came in between.
    let started = lines.iter().filter(|l| l.contains("fdatasync(")).count();
    let finished: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| {
            (l.contains("fdatasync(") && !l.contains("unfinished"))
                || l.contains("fdatasync resumed")
        })
        .map(|(i, _)| i)
        .collect();
    assert!(started >= 1, "no fdatasync at all:\n{t}");
    assert_eq!(finished.len(), started, "a sync never finished:\n{t}");
    assert!(
        finished.iter().all(|&i| i < answer),
        "a sync finished after the answer:\n{t}"
    );
    for l in lines.iter().filter(|l| l.contains("fdatasync")) {
        assert!(!l.contains("= -1"), "a sync failed: {l}");
    }
    // DEL through another link to the `berth` binary under the plugin's
    // name, outside CNI_PATH: the same plugin answers there too.
    let as_berth = env.host.root().join("berth-bridge");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_berth"), &as_berth).expect("symlink");
    let del = [
        ("CNI_COMMAND", "DEL"),
        ("CNI_CONTAINERID", "dur"),
        ("CNI_NETNS", "/run/netns/dur"),
        ("CNI_IFNAME", "eth0"),
    ];
    let out = env.invoke(&as_berth, &del, &stdin);
    assert!(out.status.success(), "{out:?}");
    assert!(!env.has_link(&ns, "eth0"), "eth0 left after DEL");
}
