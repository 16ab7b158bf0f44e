//! berth-macvlan end to end as root, each test in its own sandbox host. The
//! parent is one end of a veth pair in the sandbox (this kernel has no dummy
//! links); for vepa the other end sits on a hairpinning bridge, the
//! "switch" that reflects frames back.

mod cni_support;

use std::path::Path;

use berth_cni::types::NetConfList;
use cni_support::{json_out, CniEnv};
use serde_json::{json, Value};

fn parent(env: &CniEnv) {
    env.host
        .sh("ip link add mparent type veth peer name mpeer && ip link set mparent up && ip link set mpeer up")
        .expect("parent veth");
}

fn conf(env: &CniEnv, ty: &str, ipam: &str, mode: &str, subnet: &str) -> Value {
    json!({
        "cniVersion": "1.1.0",
        "name": "mnet",
        "type": ty,
        "master": "mparent",
        "mode": mode,
        "ipam": {"type": ipam, "subnet": subnet,
                 "dataDir": env.ipam_dir().to_string_lossy(),
                 "routes": [{"dst": "0.0.0.0/0"}], "gateway": subnet.replace("0/24", "1")}
    })
}

fn list(env: &CniEnv, c: &Value) -> NetConfList {
    NetConfList::load(&env.conf("m.conf", c)).expect("load")
}

fn link_info(env: &CniEnv, ns: &Path) -> Value {
    let v: Value =
        serde_json::from_str(&env.in_ns(ns, "ip -d -j link show dev eth0")).expect("json");
    v[0]["linkinfo"].clone()
}

fn pings(env: &CniEnv, from: &Path, to: &str) -> bool {
    env.in_ns_output(from, &format!("busybox ping -c1 -W1 {to} >/dev/null"))
        .status
        .success()
}

/// Two containers in `mode`; returns the env, their netns and addresses.
fn two(mode: &str, subnet: &str) -> (CniEnv, NetConfList, [std::path::PathBuf; 2], [String; 2]) {
    let env = CniEnv::new();
    parent(&env);
    let l = list(
        &env,
        &conf(&env, "berth-macvlan", "berth-host-local", mode, subnet),
    );
    let ns1 = env.netns("c1");
    let ns2 = env.netns("c2");
    let r1 = env
        .with_client(|c| c.add(&l, &CniEnv::attachment("c1", &ns1, "eth0")))
        .expect("ADD c1");
    let r2 = env
        .with_client(|c| c.add(&l, &CniEnv::attachment("c2", &ns2, "eth0")))
        .expect("ADD c2");
    let ips = [
        r1.ips[0].address.addr().to_string(),
        r2.ips[0].address.addr().to_string(),
    ];
    (env, l, [ns1, ns2], ips)
}

#[test]
fn macvlan_bridge_mode_add_check_del_and_traffic() {
    let (env, l, [ns1, ns2], [ip1, ip2]) = two("bridge", "10.79.1.0/24");
    let info = link_info(&env, &ns1);
    assert_eq!(info["info_kind"], "macvlan");
    assert_eq!(info["info_data"]["mode"], "bridge");
    assert_eq!(env.addrs(&ns1, "eth0"), [format!("{ip1}/24")]);
    assert!(
        env.routes(&ns1)
            .contains(&"default via 10.79.1.1".to_owned()),
        "{:?}",
        env.routes(&ns1)
    );
    assert!(
        pings(&env, &ns1, &ip2) && pings(&env, &ns2, &ip1),
        "bridge-mode macvlans cannot reach each other"
    );
    // A TCP transfer between the two.
    let got = env.in_ns(
        &ns2,
        &format!(
            "mkfifo /tmp/in-$$; busybox nc -l -p 5002 < /tmp/in-$$ > /tmp/recv-$$ & L=$!; exec 3>/tmp/in-$$; \
             for i in $(seq 1 100); do busybox netstat -ltn | grep -q ':5002 ' && break; busybox usleep 20000; done; \
             echo berth-macvlan-payload | nsenter --net={} busybox nc -w 5 {ip2} 5002; wait $L; exec 3>&-; cat /tmp/recv-$$; rm -f /tmp/recv-$$ /tmp/in-$$",
            ns1.display()
        ),
    );
    assert_eq!(got.trim(), "berth-macvlan-payload");

    let a1 = CniEnv::attachment("c1", &ns1, "eth0");
    env.with_client(|c| c.check(&l, &a1)).expect("CHECK");
    env.in_ns(&ns1, &format!("ip addr del {ip1}/24 dev eth0"));
    let e = env
        .with_client(|c| c.check(&l, &a1))
        .expect_err("CHECK without address");
    assert!(
        e.to_string().contains(&format!("{ip1}/24 is missing")),
        "{e}"
    );
    env.with_client(|c| c.del(&l, &a1)).expect("DEL");
    assert!(!env.has_link(&ns1, "eth0"));
    env.with_client(|c| c.del(&l, &a1)).expect("second DEL");
    // GC with no valid attachment removes c2 too.
    env.with_client(|c| c.gc(&l, &[])).expect("GC");
    assert!(!env.has_link(&ns2, "eth0"));
}

#[test]
fn macvlan_private_mode_isolates_containers() {
    let (env, _l, [ns1, ns2], [ip1, ip2]) = two("private", "10.79.2.0/24");
    assert_eq!(link_info(&env, &ns1)["info_data"]["mode"], "private");
    assert!(
        !pings(&env, &ns1, &ip2),
        "private macvlans reached each other"
    );
    assert!(
        !pings(&env, &ns2, &ip1),
        "private macvlans reached each other"
    );
}

#[test]
fn macvlan_vepa_mode_sends_neighbour_traffic_out_the_parent() {
    let (env, _l, [ns1, ns2], [_ip1, ip2]) = two("vepa", "10.79.3.0/24");
    assert_eq!(link_info(&env, &ns1)["info_data"]["mode"], "vepa");
    // No reflecting switch on the wire: a neighbour is unreachable ...
    assert!(
        !pings(&env, &ns1, &ip2),
        "vepa reached a neighbour without a switch"
    );
    // ... because unicast to it leaves by the parent (in bridge mode it would
    // be switched inside the parent and never reach the wire): with the
    // neighbour's MAC known (no ARP), the echo request shows up on the far
    // end of the wire.
    let l2: Value =
        serde_json::from_str(&env.in_ns(&ns2, "ip -j link show dev eth0")).expect("json");
    let mac2 = l2[0]["address"].as_str().expect("mac").to_owned();
    env.in_ns(
        &ns1,
        &format!("ip neigh replace {ip2} lladdr {mac2} dev eth0"),
    );
    let rx = || -> u64 {
        env.host
            .sh("cat /sys/class/net/mpeer/statistics/rx_packets")
            .expect("stats")
            .trim()
            .parse()
            .expect("number")
    };
    let before = rx();
    assert!(!pings(&env, &ns1, &ip2));
    assert!(rx() > before, "vepa unicast did not leave by the parent");
}

#[test]
fn macvlan_passthru_takes_the_parent_once() {
    let env = CniEnv::new();
    parent(&env);
    let l = list(
        &env,
        &conf(
            &env,
            "berth-macvlan",
            "berth-host-local",
            "passthru",
            "10.79.4.0/24",
        ),
    );
    let ns1 = env.netns("c1");
    let ns2 = env.netns("c2");
    env.with_client(|c| c.add(&l, &CniEnv::attachment("c1", &ns1, "eth0")))
        .expect("ADD c1");
    assert_eq!(link_info(&env, &ns1)["info_data"]["mode"], "passthru");
    let e = env
        .with_client(|c| c.add(&l, &CniEnv::attachment("c2", &ns2, "eth0")))
        .expect_err("a second passthru macvlan on one parent");
    assert!(e.to_string().contains("macvlan"), "{e}");
    assert!(!env.has_link(&ns2, "eth0"), "failed ADD left a link");
    // The failed ADD released its lease: releasing c1 and asking for .3
    // statically would fail if c2 still held it.
    let stdin = serde_json::to_vec(&conf(
        &env,
        "berth-macvlan",
        "berth-host-local",
        "passthru",
        "10.79.4.0/24",
    ))
    .expect("json");
    env.with_client(|c| c.del(&l, &CniEnv::attachment("c1", &ns1, "eth0")))
        .expect("DEL c1");
    let ns = ns2.to_string_lossy().into_owned();
    let o = env.invoke(
        &env.plugin("berth-macvlan"),
        &[
            ("CNI_COMMAND", "ADD"),
            ("CNI_CONTAINERID", "c3"),
            ("CNI_NETNS", ns.as_str()),
            ("CNI_IFNAME", "eth0"),
            ("CNI_ARGS", "IP=10.79.4.3"),
        ],
        &stdin,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
}

#[test]
fn macvlan_bad_input() {
    let env = CniEnv::new();
    parent(&env);
    let ns = env.netns("c1");
    let nss = ns.to_string_lossy().into_owned();
    let vars = [
        ("CNI_COMMAND", "ADD"),
        ("CNI_CONTAINERID", "c1"),
        ("CNI_NETNS", nss.as_str()),
        ("CNI_IFNAME", "eth0"),
    ];
    let run = |c: &Value| {
        let o = env.invoke(
            &env.plugin("berth-macvlan"),
            &vars,
            &serde_json::to_vec(c).expect("json"),
        );
        assert!(!o.status.success());
        let v = json_out(&o);
        (
            v["code"].as_u64().unwrap_or(0),
            v["msg"].as_str().unwrap_or("").to_owned(),
        )
    };
    let good = conf(
        &env,
        "berth-macvlan",
        "berth-host-local",
        "bridge",
        "10.79.5.0/24",
    );
    let mut c = good.clone();
    c["master"] = json!("nosuchparent");
    let (code, msg) = run(&c);
    assert_eq!(code, 7, "{msg}");
    assert!(
        msg.contains("`master`") && msg.contains("nosuchparent"),
        "{msg}"
    );
    let mut c = good.clone();
    c["mode"] = json!("sideways");
    let (code, msg) = run(&c);
    assert_eq!(code, 7, "{msg}");
    assert!(msg.contains("`mode`"), "{msg}");
    let mut c = good.clone();
    c["mtu"] = json!(65000);
    let (code, msg) = run(&c);
    assert_eq!(code, 7, "{msg}");
    assert!(msg.contains("`mtu`"), "{msg}");
    let mut c = good.clone();
    c["master"] = json!(7);
    let (code, msg) = run(&c);
    assert_eq!(code, 6, "{msg}");
    assert!(msg.contains("master"), "{msg}");
    assert!(!env.has_link(&ns, "eth0"));
}

#[test]
fn macvlan_differential_against_reference() {
    let run = |ty: &str, ipam: &str| {
        let env = CniEnv::new();
        parent(&env);
        let l = list(&env, &conf(&env, ty, ipam, "bridge", "10.79.6.0/24"));
        let ns = env.netns("c1");
        env.with_client(|c| c.add(&l, &CniEnv::attachment("c1", &ns, "eth0")))
            .expect("ADD");
        let info = link_info(&env, &ns);
        (
            env.addrs(&ns, "eth0"),
            env.routes(&ns),
            info["info_kind"].clone(),
            info["info_data"]["mode"].clone(),
        )
    };
    // The reference plugins speak 1.0.0 at most; the list's cniVersion is
    // rewritten for them below.
    let reference = {
        let env = CniEnv::new();
        parent(&env);
        let mut c = conf(&env, "macvlan", "host-local", "bridge", "10.79.6.0/24");
        c["cniVersion"] = json!("1.0.0");
        let l = list(&env, &c);
        let ns = env.netns("c1");
        env.with_client(|cl| cl.add(&l, &CniEnv::attachment("c1", &ns, "eth0")))
            .expect("ADD reference");
        let info = link_info(&env, &ns);
        (
            env.addrs(&ns, "eth0"),
            env.routes(&ns),
            info["info_kind"].clone(),
            info["info_data"]["mode"].clone(),
        )
    };
    assert_eq!(run("berth-macvlan", "berth-host-local"), reference);
}
