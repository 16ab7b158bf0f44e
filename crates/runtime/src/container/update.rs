//! `update`: new resource limits for a created, running or paused
//! container, merged into the limits it was created with (runc's merge
//! rules), written to its cgroups, and kept in the saved config so later
//! readers (`events --stats`, `cgroups`, another `update`) see them.

use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources, LinuxThrottleDevice, LinuxWeightDevice,
    LinuxWeightDeviceBuilder,
};

use super::status::current;
use super::{Runtime, Warnings};
use crate::state::{write_atomic, Lock, Status};
use crate::Error;

/// Merges `delta` (what `update` was given) into `old` (the container's
/// current limits) as runc does:
/// - a value given replaces the old one; a value not given keeps it;
/// - cpu period and quota: given together they replace both; one alone
///   changes only itself (`0` counts as "not given");
/// - per-device blkio entries replace the entry for the same device or are
///   added;
/// - kernel memory limits are dropped with a warning (obsolete);
/// - device rules are replaced as a whole, by [`Runtime::update`].
pub fn merge(old: &LinuxResources, delta: &LinuxResources) -> (LinuxResources, Warnings) {
    let mut warnings = Vec::new();
    let mut out = old.clone();
    if let Some(d) = delta.memory() {
        if d.kernel().is_some() || d.kernel_tcp().is_some() {
            warnings.push("Kernel memory settings are ignored and will be removed".to_owned());
        }
        out.set_memory(Some(merge_memory(old.memory().as_ref(), d)));
    }
    if let Some(d) = delta.cpu() {
        out.set_cpu(Some(merge_cpu(old.cpu().as_ref(), d)));
    }
    if let Some(limit) = delta.pids().as_ref().map(|p| p.limit()) {
        let mut p = old.pids().unwrap_or_default();
        p.set_limit(limit);
        out.set_pids(Some(p));
    }
    if let Some(d) = delta.block_io() {
        out.set_block_io(Some(merge_blkio(old.block_io().as_ref(), d)));
    }
    if let Some(u) = delta.unified().as_ref().filter(|u| !u.is_empty()) {
        let mut all = old.unified().clone().unwrap_or_default();
        all.extend(u.iter().map(|(k, v)| (k.clone(), v.clone())));
        out.set_unified(Some(all));
    }
    if let Some(h) = delta.hugepage_limits().as_ref().filter(|h| !h.is_empty()) {
        let mut all = old.hugepage_limits().clone().unwrap_or_default();
        for l in h {
            all.retain(|o| o.page_size() != l.page_size());
            all.push(l.clone());
        }
        out.set_hugepage_limits(Some(all));
    }
    (out, warnings)
}

fn merge_memory(old: Option<&LinuxMemory>, d: &LinuxMemory) -> LinuxMemory {
    let mut m = old.cloned().unwrap_or_default();
    if let Some(v) = d.limit() {
        m.set_limit(Some(v));
    }
    if let Some(v) = d.reservation() {
        m.set_reservation(Some(v));
    }
    match (d.limit(), d.swap()) {
        (_, Some(v)) => m.set_swap(Some(v)),
        // Unlimited memory with swap not given: memory+swap goes unlimited
        // too (as runc), else the old memory+swap would cap the memory.
        (Some(-1), None) => m.set_swap(Some(-1)),
        _ => &mut m,
    };
    if let Some(v) = d.swappiness() {
        m.set_swappiness(Some(v));
    }
    if let Some(v) = d.disable_oom_killer() {
        m.set_disable_oom_killer(Some(v));
    }
    if let Some(v) = d.use_hierarchy() {
        m.set_use_hierarchy(Some(v));
    }
    // A one-shot check of this update, not a lasting setting.
    m.set_check_before_update(d.check_before_update());
    m.set_kernel(None);
    m.set_kernel_tcp(None);
    m
}

fn merge_cpu(old: Option<&LinuxCpu>, d: &LinuxCpu) -> LinuxCpu {
    let mut c = old.cloned().unwrap_or_default();
    let p = d.period().unwrap_or(0);
    let q = d.quota().unwrap_or(0);
    if (p == 0) == (q == 0) {
        if p != 0 {
            c.set_period(Some(p));
            c.set_quota(Some(q));
        }
    } else if p != 0 {
        c.set_period(Some(p));
    } else {
        c.set_quota(Some(q));
    }
    if let Some(v) = d.shares() {
        c.set_shares(Some(v));
    }
    if let Some(v) = d.burst() {
        c.set_burst(Some(v));
    }
    if let Some(v) = d.realtime_period() {
        c.set_realtime_period(Some(v));
    }
    if let Some(v) = d.realtime_runtime() {
        c.set_realtime_runtime(Some(v));
    }
    if let Some(v) = d.cpus().as_ref().filter(|s| !s.is_empty()) {
        c.set_cpus(Some(v.clone()));
    }
    if let Some(v) = d.mems().as_ref().filter(|s| !s.is_empty()) {
        c.set_mems(Some(v.clone()));
    }
    if let Some(v) = d.idle() {
        c.set_idle(Some(v));
    }
    c
}

fn upsert_weight(list: &mut Vec<LinuxWeightDevice>, new: &LinuxWeightDevice) {
    let same = |o: &LinuxWeightDevice| o.major() == new.major() && o.minor() == new.minor();
    let Some(i) = list.iter().position(same) else {
        list.push(*new);
        return;
    };
    // A field the update leaves out keeps the old value (no setters on
    // this type: rebuild it).
    let old = list[i];
    let mut b = LinuxWeightDeviceBuilder::default()
        .major(new.major())
        .minor(new.minor());
    if let Some(w) = new.weight().or(old.weight()) {
        b = b.weight(w);
    }
    if let Some(w) = new.leaf_weight().or(old.leaf_weight()) {
        b = b.leaf_weight(w);
    }
    list[i] = b.build().unwrap_or(*new);
}

fn upsert_throttle(list: &mut Option<Vec<LinuxThrottleDevice>>, new: &[LinuxThrottleDevice]) {
    if new.is_empty() {
        return;
    }
    let all = list.get_or_insert_with(Vec::new);
    for n in new {
        all.retain(|o| o.major() != n.major() || o.minor() != n.minor());
        all.push(*n);
    }
}

fn merge_blkio(old: Option<&LinuxBlockIo>, d: &LinuxBlockIo) -> LinuxBlockIo {
    let mut b = old.cloned().unwrap_or_default();
    if let Some(w) = d.weight() {
        b.set_weight(Some(w));
    }
    if let Some(w) = d.leaf_weight() {
        b.set_leaf_weight(Some(w));
    }
    if let Some(new) = d.weight_device().as_ref().filter(|l| !l.is_empty()) {
        let mut all = b.weight_device().clone().unwrap_or_default();
        for w in new {
            upsert_weight(&mut all, w);
        }
        b.set_weight_device(Some(all));
    }
    let mut t = b.throttle_read_bps_device().clone();
    upsert_throttle(
        &mut t,
        d.throttle_read_bps_device().as_deref().unwrap_or(&[]),
    );
    b.set_throttle_read_bps_device(t);
    let mut t = b.throttle_write_bps_device().clone();
    upsert_throttle(
        &mut t,
        d.throttle_write_bps_device().as_deref().unwrap_or(&[]),
    );
    b.set_throttle_write_bps_device(t);
    let mut t = b.throttle_read_iops_device().clone();
    upsert_throttle(
        &mut t,
        d.throttle_read_iops_device().as_deref().unwrap_or(&[]),
    );
    b.set_throttle_read_iops_device(t);
    let mut t = b.throttle_write_iops_device().clone();
    upsert_throttle(
        &mut t,
        d.throttle_write_iops_device().as_deref().unwrap_or(&[]),
    );
    b.set_throttle_write_iops_device(t);
    b
}

/// What is written to the cgroups: the merged sections the update touched
/// (rewriting a value the cgroup already has is harmless, and memory and
/// cpu need their old companions: the memory+swap order, cpu.max's pair).
fn to_apply(merged: &LinuxResources, delta: &LinuxResources) -> LinuxResources {
    let mut r = LinuxResources::default();
    if delta.memory().is_some() {
        r.set_memory(*merged.memory());
    }
    if let Some(d) = delta.cpu() {
        // What was given, and for a quota or period its saved companion
        // (cpu.max on v2 takes both). Nothing else is rewritten: e.g.
        // cpu.shares cannot be written while cpu.idle is 1, and cpuset
        // strings may be narrower in the container's own child cgroups.
        let mut c = d.clone();
        if let Some(m) = merged.cpu() {
            if d.quota().is_some_and(|q| q != 0) || d.period().is_some_and(|p| p != 0) {
                c.set_quota(m.quota());
                c.set_period(m.period());
            }
        }
        r.set_cpu(Some(c));
    }
    if delta.pids().is_some() {
        r.set_pids(*merged.pids());
    }
    if delta.block_io().is_some() {
        r.set_block_io(merged.block_io().clone());
    }
    r.set_unified(delta.unified().clone());
    r.set_hugepage_limits(delta.hugepage_limits().clone());
    r
}

impl Runtime {
    /// `update ID`: merges `delta` into the container's limits, writes them
    /// to its cgroups and saves them. Device rules given (`devices`, from
    /// `-r`) replace the container's, extended as at create (its
    /// `linux.devices` and the standard nodes stay usable), and change
    /// without a gap: v1 writes only the difference, v2 swaps programs.
    /// runc's update skips device rules; engines such as containerd's CRI
    /// send them back unchanged, which writes nothing here.
    pub fn update(&self, id: &str, delta: &LinuxResources) -> Result<Warnings, Error> {
        let dir = self.state_root().open(id, Lock::Exclusive)?;
        let rec = dir.read()?;
        let status = current(&dir, &rec);
        if !matches!(status, Status::Created | Status::Running | Status::Paused) {
            return Err(Error::WrongState {
                op: "update",
                id: id.to_owned(),
                status,
            });
        }
        let mut spec = dir.read_config()?;
        let mut linux = spec.linux().clone().unwrap_or_default();
        let old = linux.resources().clone().unwrap_or_default();
        let (mut merged, warnings) = merge(&old, delta);
        let cg = rec.cgroup()?;
        cg.apply_resources(&to_apply(&merged, delta))?;
        if let Some(rules) = delta.devices().as_ref().filter(|d| !d.is_empty()) {
            merged.set_devices(Some(rules.clone()));
            let mut target = linux.clone();
            target.set_resources(Some(merged.clone()));
            cg.update_devices(&crate::cgroups::effective_device_rules(&target))?;
        }
        let mut saved = merged;
        if let Some(m) = *saved.memory() {
            let mut m = m;
            m.set_check_before_update(None);
            saved.set_memory(Some(m));
        }
        linux.set_resources(Some(saved));
        spec.set_linux(Some(linux));
        let bytes = serde_json::to_vec(&spec)
            .map_err(|e| Error::Invalid(format!("update: serializing the config: {e}")))?;
        write_atomic(&dir.config_path(), &bytes)?;
        Ok(warnings)
    }

    /// The container's current limits (`linux.resources` of its saved
    /// config, as updated).
    pub fn resources(&self, id: &str) -> Result<LinuxResources, Error> {
        let dir = self.state_root().open(id, Lock::Shared)?;
        let spec = dir.read_config()?;
        Ok(spec
            .linux()
            .as_ref()
            .and_then(|l| l.resources().clone())
            .unwrap_or_default())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // in tests a panic is the failure report
mod tests {
    use super::*;

    fn res(json: &str) -> LinuxResources {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn quota_and_period_follow_runcs_rule() {
        let old = res(r#"{"cpu":{"quota":20000,"period":100000,"shares":512}}"#);
        let (m, _) = merge(&old, &res(r#"{"cpu":{"quota":50000}}"#));
        let c = m.cpu().clone().unwrap();
        assert_eq!(
            (c.quota(), c.period(), c.shares()),
            (Some(50000), Some(100000), Some(512))
        );
        let (m, _) = merge(&old, &res(r#"{"cpu":{"period":200000}}"#));
        let c = m.cpu().clone().unwrap();
        assert_eq!((c.quota(), c.period()), (Some(20000), Some(200000)));
        let (m, _) = merge(&old, &res(r#"{"cpu":{"quota":-1,"period":50000}}"#));
        let c = m.cpu().clone().unwrap();
        assert_eq!((c.quota(), c.period()), (Some(-1), Some(50000)));
    }

    #[test]
    fn blkio_devices_are_upserted_and_kernel_memory_dropped() {
        let old = res(
            r#"{"blockIO":{"weight":300,"weightDevice":[{"major":8,"minor":0,"weight":100}],
                "throttleReadBpsDevice":[{"major":8,"minor":0,"rate":1000}]},
                "memory":{"limit":1000000}}"#,
        );
        let delta = res(
            r#"{"blockIO":{"weightDevice":[{"major":8,"minor":0,"weight":200},{"major":8,"minor":16,"weight":50}],
                "throttleReadBpsDevice":[{"major":8,"minor":0,"rate":2000}],
                "throttleWriteIOPSDevice":[{"major":8,"minor":0,"rate":10}]},
                "memory":{"swap":3000000,"kernel":1}}"#,
        );
        let (m, w) = merge(&old, &delta);
        assert_eq!(w.len(), 1);
        let b = m.block_io().clone().unwrap();
        assert_eq!(b.weight(), Some(300));
        let wd = b.weight_device().clone().unwrap();
        assert_eq!(wd.len(), 2);
        assert_eq!((wd[0].minor(), wd[0].weight()), (0, Some(200)));
        let r = b.throttle_read_bps_device().clone().unwrap();
        assert_eq!((r.len(), r[0].rate()), (1, 2000));
        assert_eq!(
            b.throttle_write_iops_device().clone().unwrap()[0].rate(),
            10
        );
        let mem = m.memory().unwrap();
        assert_eq!(
            (mem.limit(), mem.swap(), mem.kernel()),
            (Some(1000000), Some(3000000), None)
        );
    }

    #[test]
    fn only_touched_sections_are_applied() {
        let old = res(
            r#"{"cpu":{"cpus":"0","shares":512,"burst":10,"period":100000},"pids":{"limit":10}}"#,
        );
        let delta = res(r#"{"cpu":{"shares":1024}}"#);
        let (m, _) = merge(&old, &delta);
        let a = to_apply(&m, &delta);
        assert!(a.pids().is_none() && a.memory().is_none());
        let c = a.cpu().clone().unwrap();
        assert_eq!(
            (c.shares(), c.cpus().clone(), c.burst()),
            (Some(1024), None, None)
        );
        let delta = res(r#"{"cpu":{"quota":5000}}"#);
        let (m2, _) = merge(&m, &delta);
        let c = to_apply(&m2, &delta).cpu().clone().unwrap();
        assert_eq!(
            (c.quota(), c.period(), c.shares()),
            (Some(5000), Some(100000), None)
        );
        // The saved limits keep what the update did not touch.
        assert_eq!(m.cpu().clone().unwrap().cpus().as_deref(), Some("0"));
        assert_eq!(m.pids().unwrap().limit(), 10);
    }
}
