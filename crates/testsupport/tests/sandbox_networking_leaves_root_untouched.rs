//! Networking done inside a SandboxHost — a bridge, veths with one end in a
//! netns made inside the sandbox, an nftables table — exists there and never
//! in the machine's root namespaces, and is gone after the host drops.

use berth_testsupport::leaks::{Leak, LeakSnapshot, Scope};
use berth_testsupport::SandboxHost;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const SETUP: &str = "set -e
ip link add brt0 type bridge
ip link set brt0 up
ip netns add inner
ip link add vetha type veth peer name vetha-in netns inner
ip link add vethb type veth peer name vethb-in netns inner
ip link set vetha master brt0 up
ip link set vethb master brt0 up
nft add table inet berth_leaktest
nft add chain inet berth_leaktest input '{ type filter hook input priority 0; policy accept; }'
";

const NAMES: &[&str] = &["brt0", "vetha", "vethb", "vetha-in", "vethb-in"];

#[test]
fn bridge_veths_and_nft_table_stay_inside_the_sandbox() -> TestResult {
    let before = LeakSnapshot::take()?;
    let host = SandboxHost::new()?;
    let scope = Scope::of_sandbox(&host);
    assert_eq!(scope.netns.len(), 1, "sandbox netns inode must be readable");

    if let Err(e) = host.sh("command -v nft") {
        panic!("nft is required (apt-get install nftables): {e}");
    }
    host.sh(SETUP)?;

    // The objects exist inside.
    let links = host.sh("ip -o link show")?;
    for name in ["brt0", "vetha", "vethb"] {
        assert!(
            links.contains(&format!(": {name}")),
            "{name} missing in sandbox:\n{links}"
        );
    }
    let bridged = host.sh("ip -o link show master brt0")?;
    assert!(
        bridged.contains("vetha") && bridged.contains("vethb"),
        "{bridged}"
    );
    let inner = host.sh("ip -n inner -o link show")?;
    assert!(
        inner.contains("vetha-in") && inner.contains("vethb-in"),
        "{inner}"
    );
    let tables = host.sh("nft list tables")?;
    assert!(tables.contains("table inet berth_leaktest"), "{tables}");

    // The root namespaces do not have them, while the sandbox is alive.
    let during = LeakSnapshot::take()?;
    for name in NAMES {
        assert!(
            !during.links.contains(*name),
            "{name} reached the root netns"
        );
    }
    let root_tables = during.nft_tables.clone().unwrap_or_default();
    assert!(
        !root_tables.contains("inet berth_leaktest"),
        "{root_tables:?}"
    );
    assert!(
        !during.named_netns.contains("inner"),
        "ip netns add reached /run/netns"
    );
    let changes = LeakSnapshot::diff(&before, &during)?;
    let root_changes: Vec<&Leak> = changes.iter().filter(|l| l.changes_root_netns()).collect();
    assert!(
        root_changes.is_empty(),
        "root netns changed: {root_changes:?}"
    );
    // The check does see the live sandbox: its netns counts as a leak now.
    let live = changes.within(&scope);
    assert!(
        live.iter()
            .any(|l| matches!(l, Leak::Netns { inode, .. } if scope.netns.contains(inode))),
        "the leak check did not see the live sandbox netns:\n{live}"
    );

    drop(host);
    before.leaks_since()?.within(&scope).assert_none();
    Ok(())
}
