//! Firewall self-healing: a thread of berthd subscribed to nf_tables
//! notifications in the daemon's netns. When someone deletes berth's table
//! (`nft flush ruleset`, `nft delete table inet berth`) or one of its
//! chains, rules or sets, the driver puts back its rules, its networks'
//! elements and the published ports of running containers (from their
//! records), typically within milliseconds.
//!
//! A race it does not close: a container stopped while a repair runs may
//! get its ports published again until the next repair or its next start
//! (a repair happens only after damage done by someone else).

use std::time::Duration;

use berth_net::firewall::{Monitor, TABLE};

use crate::Engine;

/// How long notifications must pause before a repair (one transaction's
/// messages come in a burst).
const SETTLE: Duration = Duration::from_millis(20);

impl Engine {
    /// Puts the network driver's firewall state back (rules, network
    /// elements, running containers' published ports).
    pub fn repair_firewall(&self) -> crate::Result<()> {
        let live: Vec<_> = self
            .list_records()
            .into_iter()
            .filter(|r| r.state.status.is_live())
            .flat_map(|r| r.endpoints.into_iter())
            .collect();
        self.inner.attacher.repair_firewall(&live)?;
        // Links' ICC holes are not in the store: made again from the
        // records of running containers.
        self.reopen_all_links();
        Ok(())
    }
}

/// Subscribes (in the calling thread's netns, the daemon's) and starts the
/// watching thread; then repairs once, for damage done while the daemon
/// was down.
pub fn spawn(engine: Engine) -> std::io::Result<()> {
    let monitor = Monitor::open(TABLE)?;
    std::thread::Builder::new()
        .name("berth-fw-watch".into())
        .spawn(move || {
            if let Err(e) = engine.repair_firewall() {
                tracing::warn!("checking the firewall at start: {e}");
            }
            loop {
                match monitor.wait(None) {
                    Ok(Some(change)) => {
                        if let Err(e) = monitor.settle(SETTLE) {
                            tracing::warn!("nftables monitor: {e}");
                        }
                        tracing::warn!(
                            ?change,
                            "berth's nftables table was changed by someone else: restoring it"
                        );
                        if let Err(e) = engine.repair_firewall() {
                            tracing::warn!("restoring the firewall: {e}");
                        }
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!("nftables monitor: {e}");
                        std::thread::sleep(Duration::from_secs(1));
                    }
                }
            }
        })?;
    Ok(())
}
