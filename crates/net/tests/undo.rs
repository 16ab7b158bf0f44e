//! A failed multi-step attach undoes every earlier step: no link, lease or
//! nftables element is left, and the error names the failing step.

mod common;

use std::sync::Arc;

use berth_net::firewall::{Firewall, PortMapping, Protocol};
use berth_net::ipam::{Ipam, IpamConfig};
use berth_net::netlink::bridge::BridgeConfig;
use berth_net::netlink::veth::VethConfig;
use berth_net::undo::{StepError, Undo};
use berth_net::{NetNs, Netlink};
use berth_store::{RedbStore, Store};
use berth_testsupport::SandboxHost;
use common::net;

#[derive(Debug, thiserror::Error)]
enum AttachError {
    #[error(transparent)]
    Netlink(#[from] berth_net::NetlinkError),
    #[error(transparent)]
    Ipam(#[from] berth_net::ipam::IpamError),
    #[error(transparent)]
    Firewall(#[from] berth_net::firewall::FirewallError),
}

/// An attach in the shape of the bridge driver's, with undo for each step.
#[allow(clippy::result_large_err)] // an error path, once per failed attach
fn attach(
    store: &Arc<dyn Store>,
    ns: &NetNs,
    id: &str,
    ports: &[PortMapping],
) -> Result<(), StepError<AttachError>> {
    let nl = Netlink::new().map_err(|e| StepError {
        step: "open netlink".into(),
        source: e.into(),
        undo_failures: vec![],
    })?;
    let mut undo = Undo::new();
    let br = undo.step("ensure bridge", || {
        nl.ensure_bridge(&BridgeConfig::new("br0"))
            .map_err(AttachError::from)
    })?;
    let hostif = format!("veth{id}");
    let veth = undo.step("create veth", || {
        nl.create_veth(&VethConfig::new(&hostif, "eth0"), Some(ns))
            .map_err(AttachError::from)
    })?;
    let idx = veth.index;
    undo.push("delete veth", move || Netlink::new()?.delete_link(idx));
    undo.step("attach to bridge", || {
        nl.set_master(veth.index, br.index)
            .map_err(AttachError::from)
    })?;
    let ipam = Ipam::new(store.as_ref(), "undo-net").map_err(|e| StepError {
        step: "ipam".into(),
        source: e.into(),
        undo_failures: vec![],
    })?;
    let cfg = IpamConfig::from_subnets(&[net("10.50.0.0/24")]);
    let alloc = undo.step("allocate address", || {
        ipam.allocate(&cfg, id, "eth0", &[])
            .map_err(AttachError::from)
    })?;
    let owner = id.to_string();
    let st = Arc::clone(store);
    undo.push("release address", move || {
        Ipam::new(st.as_ref(), "undo-net")?
            .release(&owner, None)
            .map(|_| ())
    });
    let cnl = undo.step("open container netlink", || {
        Netlink::for_netns(ns).map_err(AttachError::from)
    })?;
    let eth0 = undo.step("find eth0", || {
        cnl.require_link("eth0").map_err(AttachError::from)
    })?;
    undo.step("add address", || {
        cnl.add_address(eth0.index, alloc[0].address)
            .map_err(AttachError::from)
    })?;
    let fw = undo.step("open firewall", || {
        Firewall::open().map_err(AttachError::from)
    })?;
    let mut mapped: Vec<PortMapping> = ports.to_vec();
    for m in &mut mapped {
        m.container_ip = alloc[0].address.addr();
    }
    undo.step("publish ports", || {
        fw.publish(&mapped).map_err(AttachError::from)
    })?;
    let fw2 = fw.clone();
    undo.push("unpublish ports", move || fw2.unpublish(&mapped));
    undo.commit();
    Ok(())
}

#[test]
fn a_failed_step_undoes_all_earlier_steps() {
    let host = SandboxHost::new().expect("sandbox");
    let dirs = host.dirs().clone();
    let store: Arc<dyn Store> = Arc::new(RedbStore::open_in_dir(&dirs.lib).expect("store"));
    host.enter_keep_pidns(|| {
        let a = NetNs::create(&dirs.netns, "a").expect("ns a");
        let b = NetNs::create(&dirs.netns, "b").expect("ns b");
        let web = PortMapping::new(Protocol::Tcp, 8080, "10.50.0.250".parse().expect("ip"), 80);
        attach(&store, &a, "a", &[web]).expect("first attach");

        // Same host port again: the last step fails.
        let err = attach(&store, &b, "b", &[web]).expect_err("port conflict");
        assert_eq!(err.step, "publish ports");
        assert!(err.undo_failures.is_empty(), "{:?}", err.undo_failures);
        assert!(
            err.to_string()
                .starts_with("publish ports: nftables publish 8080/tcp -> 10.50.0.3:80"),
            "{err}"
        );

        let nl = Netlink::new().expect("nl");
        assert!(
            nl.link_by_name("vethb").expect("lookup").is_none(),
            "veth of b undone"
        );
        assert!(
            nl.link_by_name("vetha").expect("lookup").is_some(),
            "a untouched"
        );
        let bnl = Netlink::for_netns(&b).expect("nl b");
        assert!(bnl.link_by_name("eth0").expect("lookup").is_none());
        let ipam = Ipam::new(store.as_ref(), "undo-net").expect("ipam");
        assert!(
            ipam.addresses_of("b", "eth0").expect("b").is_empty(),
            "lease of b undone"
        );
        assert_eq!(ipam.leases().expect("leases").len(), 1);
        let listed = Firewall::open().expect("fw").list().expect("list");
        assert!(
            listed.contains("10.50.0.2 . 80") && !listed.contains("10.50.0.3"),
            "{listed}"
        );
    })
    .expect("enter");
}
