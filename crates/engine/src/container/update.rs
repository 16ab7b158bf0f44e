//! `update`: new resource limits (and restart policy) for a container,
//! recorded and, while it runs, written to its cgroup through the runtime.

use bollard_stubs::models::ContainerUpdateBody;

use crate::error::{EngineError, Result};
use crate::events::Event;
use crate::Engine;

impl Engine {
    /// `POST /containers/{id}/update`: returns Docker's warnings.
    pub async fn update_resources(
        &self,
        name: &str,
        body: ContainerUpdateBody,
    ) -> Result<Vec<String>> {
        let entry = self.lookup(name)?;
        let _op = entry.op.lock().await;
        if body.memory.is_some_and(|m| m > 0 && m < 6 * 1024 * 1024) {
            return Err(EngineError::Invalid(
                "Minimum memory limit allowed is 6MB".into(),
            ));
        }
        let rec = self.update(&entry, |r| {
            let hc = &mut r.host_config;
            macro_rules! set {
                ($($f:ident),*) => { $( if body.$f.is_some() { hc.$f = body.$f.clone(); } )* };
            }
            set!(
                cpu_shares,
                memory,
                memory_swap,
                memory_reservation,
                cpu_period,
                cpu_quota,
                nano_cpus,
                cpuset_cpus,
                cpuset_mems,
                pids_limit,
                blkio_weight,
                oom_kill_disable
            );
            if body.restart_policy.is_some() {
                hc.restart_policy = body.restart_policy.clone();
            }
            // Docker: a new memory limit without a swap limit keeps swap at twice it.
            if body.memory.is_some() && body.memory_swap.is_none() {
                hc.memory_swap = None;
            }
        })?;
        if rec.state.status.is_live() {
            let res: oci_spec::runtime::LinuxResources =
                serde_json::from_value(super::spec::resources(&rec.host_config))
                    .map_err(|e| EngineError::Invalid(format!("resources: {e}")))?;
            let cg = self.driver(&rec).cgroup(&rec.id)?;
            cg.apply_resources(&res)
                .map_err(|e| EngineError::Internal(format!("updating cgroup: {e}")))?;
        }
        self.inner
            .events
            .publish(Event::new("container", "update", &rec.id).attr("name", rec.name));
        Ok(Vec::new())
    }
}
