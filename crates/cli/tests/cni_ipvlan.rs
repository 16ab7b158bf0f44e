//! berth-ipvlan end to end as root. This machine's kernel has no ipvlan:
//! the `vm_` tests skip here (saying so) and run in the VM harness; the
//! error-path test runs here and checks the plugin's clear refusal.

mod cni_support;

use std::path::Path;

use berth_cni::types::NetConfList;
use berth_testsupport::require_link_kind;
use cni_support::{json_out, CniEnv};
use serde_json::{json, Value};

fn parent(env: &CniEnv) {
    env.host
        .sh("ip link add iparent type veth peer name ipeer && ip link set iparent up && ip link set ipeer up")
        .expect("parent veth");
}

fn conf(env: &CniEnv, mode: &str, subnet: &str) -> Value {
    json!({
        "cniVersion": "1.1.0",
        "name": "inet",
        "type": "berth-ipvlan",
        "master": "iparent",
        "mode": mode,
        "ipam": {"type": "berth-host-local", "subnet": subnet,
                 "dataDir": env.ipam_dir().to_string_lossy()}
    })
}

fn mode_of(env: &CniEnv, ns: &Path) -> Value {
    let v: Value =
        serde_json::from_str(&env.in_ns(ns, "ip -d -j link show dev eth0")).expect("json");
    v[0]["linkinfo"].clone()
}

fn ipvlan_mode(mode: &str, subnet: &str) {
    let env = CniEnv::new();
    parent(&env);
    let l = NetConfList::load(&env.conf("i.conf", &conf(&env, mode, subnet))).expect("load");
    let ns1 = env.netns("c1");
    let ns2 = env.netns("c2");
    let a1 = CniEnv::attachment("c1", &ns1, "eth0");
    let a2 = CniEnv::attachment("c2", &ns2, "eth0");
    let r1 = env.with_client(|c| c.add(&l, &a1)).expect("ADD c1");
    let r2 = env.with_client(|c| c.add(&l, &a2)).expect("ADD c2");
    let info = mode_of(&env, &ns1);
    assert_eq!(info["info_kind"], "ipvlan");
    assert_eq!(info["info_data"]["mode"], mode);
    let ip1 = r1.ips[0].address;
    let ip2 = r2.ips[0].address.addr();
    assert_eq!(env.addrs(&ns1, "eth0"), [ip1.to_string()]);
    env.in_ns(&ns1, &format!("busybox ping -c1 -W5 {ip2} >/dev/null"));
    env.with_client(|c| c.check(&l, &a1)).expect("CHECK");
    env.in_ns(&ns1, &format!("ip addr del {ip1} dev eth0"));
    assert!(
        env.with_client(|c| c.check(&l, &a1)).is_err(),
        "CHECK missed a removed address"
    );
    env.with_client(|c| c.del(&l, &a1)).expect("DEL");
    assert!(!env.has_link(&ns1, "eth0"));
    env.with_client(|c| c.del(&l, &a1)).expect("second DEL");
    env.with_client(|c| c.gc(&l, &[])).expect("GC");
    assert!(!env.has_link(&ns2, "eth0"));
}

#[test]
fn vm_ipvlan_l2() {
    require_link_kind!("ipvlan");
    ipvlan_mode("l2", "10.80.1.0/24");
}

#[test]
fn vm_ipvlan_l3() {
    require_link_kind!("ipvlan");
    ipvlan_mode("l3", "10.80.2.0/24");
}

#[test]
fn vm_ipvlan_l3s() {
    require_link_kind!("ipvlan");
    ipvlan_mode("l3s", "10.80.3.0/24");
}

/// On a kernel without ipvlan, ADD fails with berth's "kernel lacks it"
/// code and leaves no link and no lease. (On a kernel with ipvlan there is
/// nothing to check here: the vm_ tests cover it.)
#[test]
fn ipvlan_on_a_kernel_without_ipvlan_fails_cleanly() {
    if berth_testsupport::kernel::has_link_kind("ipvlan").expect("probe ipvlan") {
        berth_testsupport::skip!("this kernel has ipvlan; the refusal path cannot be exercised");
    }
    let env = CniEnv::new();
    parent(&env);
    let ns = env.netns("c1");
    let nss = ns.to_string_lossy().into_owned();
    let stdin = serde_json::to_vec(&conf(&env, "l2", "10.80.4.0/24")).expect("json");
    let vars = [
        ("CNI_COMMAND", "ADD"),
        ("CNI_CONTAINERID", "c1"),
        ("CNI_NETNS", nss.as_str()),
        ("CNI_IFNAME", "eth0"),
    ];
    let o = env.invoke(&env.plugin("berth-ipvlan"), &vars, &stdin);
    assert!(!o.status.success());
    let v = json_out(&o);
    assert_eq!(v["code"], 104, "{v}");
    assert!(
        v["msg"]
            .as_str()
            .unwrap_or("")
            .contains("cannot create ipvlan"),
        "{v}"
    );
    assert!(!env.has_link(&ns, "eth0"));
    // No lease was taken: the first address is still free.
    let mut c = conf(&env, "l2", "10.80.4.0/24");
    c["type"] = json!("berth-host-local");
    let o = env.invoke(
        &env.plugin("berth-host-local"),
        &[
            ("CNI_COMMAND", "ADD"),
            ("CNI_CONTAINERID", "c9"),
            ("CNI_NETNS", nss.as_str()),
            ("CNI_IFNAME", "eth0"),
        ],
        &serde_json::to_vec(&c).expect("json"),
    );
    assert_eq!(
        json_out(&o)["ips"][0]["address"],
        "10.80.4.2/24",
        "the failed ADD kept a lease"
    );
}

/// An 802.1q sub-interface (`iparent.10`) as the parent: two containers on
/// it talk, and DEL removes their links but leaves the parent.
fn on_vlan_parent(plugin: &str, mode: &str, subnet: &str) {
    let env = CniEnv::new();
    parent(&env);
    env.host
        .sh("ip link add link iparent name iparent.10 type vlan id 10 && ip link set iparent.10 up")
        .expect("vlan parent");
    let mut c = conf(&env, mode, subnet);
    c["type"] = json!(plugin);
    c["master"] = json!("iparent.10");
    let l = NetConfList::load(&env.conf("v.conf", &c)).expect("load");
    let ns1 = env.netns("v1");
    let ns2 = env.netns("v2");
    let a1 = CniEnv::attachment("v1", &ns1, "eth0");
    let a2 = CniEnv::attachment("v2", &ns2, "eth0");
    env.with_client(|c| c.add(&l, &a1)).expect("ADD v1");
    let r2 = env.with_client(|c| c.add(&l, &a2)).expect("ADD v2");
    let kind = mode_of(&env, &ns1)["info_kind"].clone();
    assert_eq!(kind, plugin.trim_start_matches("berth-"));
    env.in_ns(
        &ns1,
        &format!(
            "busybox ping -c1 -W5 {} >/dev/null",
            r2.ips[0].address.addr()
        ),
    );
    env.with_client(|c| c.del(&l, &a1)).expect("DEL v1");
    env.with_client(|c| c.del(&l, &a2)).expect("DEL v2");
    assert!(!env.has_link(&ns1, "eth0"));
    assert!(!env.has_link(&ns2, "eth0"));
    env.host
        .sh("ip link show iparent.10 >/dev/null")
        .expect("the vlan parent stays");
}

#[test]
fn vm_ipvlan_on_a_vlan_parent() {
    require_link_kind!("ipvlan");
    require_link_kind!("vlan");
    on_vlan_parent("berth-ipvlan", "l2", "10.80.4.0/24");
}

#[test]
fn vm_macvlan_on_a_vlan_parent() {
    require_link_kind!("vlan");
    on_vlan_parent("berth-macvlan", "bridge", "10.80.5.0/24");
}
