//! CPU placement of the container process, as runc does it:
//! `process.scheduler` through sched_setattr(2), validated with runc's
//! rules; `process.execCPUAffinity` for `exec` processes (initial while
//! joining, final before execve); and otherwise the affinity reset to
//! every CPU, so a process never keeps the runtime's own affinity (the
//! kernel narrows it to the cgroup's cpuset).

use std::ffi::c_int;

use oci_spec::runtime::{LinuxSchedulerFlag, LinuxSchedulerPolicy, Scheduler};

use super::step;
use super::sync::fail;
use super::sys::errno;

/// CPUs a mask can name (runc's mask is larger; the kernel clamps either
/// to what it supports).
pub const MAX_CPUS: usize = 1024;

/// A sched_setaffinity(2) mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuMask(pub [u64; MAX_CPUS / 64]);

impl CpuMask {
    /// Every CPU.
    pub fn all() -> CpuMask {
        CpuMask([u64::MAX; MAX_CPUS / 64])
    }

    /// A list like `0-3,7`.
    pub fn parse(list: &str) -> Result<CpuMask, SchedError> {
        let bad = || SchedError::CpuList(list.to_owned());
        let mut m = [0u64; MAX_CPUS / 64];
        for part in list.split(',') {
            let (a, b) = match part.split_once('-') {
                Some((a, b)) => (a, b),
                None => (part, part),
            };
            let a: usize = a.trim().parse().map_err(|_| bad())?;
            let b: usize = b.trim().parse().map_err(|_| bad())?;
            if a > b || b >= MAX_CPUS {
                return Err(bad());
            }
            for cpu in a..=b {
                m[cpu / 64] |= 1 << (cpu % 64);
            }
        }
        Ok(CpuMask(m))
    }
}

/// The kernel's `struct sched_attr` (linux/sched/types.h, version 1).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SchedAttr {
    pub size: u32,
    pub policy: u32,
    pub flags: u64,
    pub nice: i32,
    pub priority: u32,
    pub runtime: u64,
    pub deadline: u64,
    pub period: u64,
    pub util_min: u32,
    pub util_max: u32,
}

/// What the child does about CPU placement.
#[derive(Debug, Clone, Default)]
pub struct SchedPlan {
    pub attr: Option<SchedAttr>,
    /// The cgroup restricts CPUs (linux.resources.cpu.cpus): an EPERM from
    /// sched_setattr then gets runc's explanation.
    pub cpuset: bool,
    /// Set before joining (exec's `initial`).
    pub initial: Option<CpuMask>,
    /// Set before execve: exec's `final`, or every CPU when no affinity
    /// was asked for.
    pub last: Option<CpuMask>,
}

/// A scheduler or affinity setting runc would refuse (its messages).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SchedError {
    #[error("invalid scheduler.nice: {nice} when scheduler.policy is {policy}")]
    Nice { nice: i32, policy: String },
    #[error("scheduler.priority can only be specified for SchedFIFO or SchedRR policy")]
    Priority,
    #[error("scheduler runtime/deadline/period can only be specified for SchedDeadline policy")]
    Deadline,
    #[error("bad CPU list {0:?} in process.execCPUAffinity")]
    CpuList(String),
}

fn policy_number(p: LinuxSchedulerPolicy) -> u32 {
    match p {
        LinuxSchedulerPolicy::SchedOther => 0,
        LinuxSchedulerPolicy::SchedFifo => 1,
        LinuxSchedulerPolicy::SchedRr => 2,
        LinuxSchedulerPolicy::SchedBatch => 3,
        LinuxSchedulerPolicy::SchedIso => 4,
        LinuxSchedulerPolicy::SchedIdle => 5,
        LinuxSchedulerPolicy::SchedDeadline => 6,
    }
}

fn flag_bits(f: LinuxSchedulerFlag) -> u64 {
    match f {
        LinuxSchedulerFlag::SchedResetOnFork => 0x01,
        LinuxSchedulerFlag::SchedFlagReclaim => 0x02,
        LinuxSchedulerFlag::SchedFlagDLOverrun => 0x04,
        LinuxSchedulerFlag::SchedFlagKeepPolicy => 0x08,
        LinuxSchedulerFlag::SchedFlagKeepParams => 0x10,
        LinuxSchedulerFlag::SchedFlagUtilClampMin => 0x20,
        LinuxSchedulerFlag::SchedFlagUtilClampMax => 0x40,
    }
}

/// `process.scheduler` checked as runc's validator does and turned into
/// the kernel's attribute.
pub fn attr(s: &Scheduler) -> Result<SchedAttr, SchedError> {
    let policy = *s.policy();
    let nice = s.nice().unwrap_or(0);
    let priority = s.priority().unwrap_or(0);
    if matches!(
        policy,
        LinuxSchedulerPolicy::SchedOther | LinuxSchedulerPolicy::SchedBatch
    ) && !(-20..=19).contains(&nice)
    {
        return Err(SchedError::Nice {
            nice,
            policy: policy.to_string(),
        });
    }
    if priority != 0
        && !matches!(
            policy,
            LinuxSchedulerPolicy::SchedFifo | LinuxSchedulerPolicy::SchedRr
        )
    {
        return Err(SchedError::Priority);
    }
    let (runtime, deadline, period) = (
        s.runtime().unwrap_or(0),
        s.deadline().unwrap_or(0),
        s.period().unwrap_or(0),
    );
    if policy != LinuxSchedulerPolicy::SchedDeadline
        && (runtime != 0 || deadline != 0 || period != 0)
    {
        return Err(SchedError::Deadline);
    }
    Ok(SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        policy: policy_number(policy),
        flags: s
            .flags()
            .iter()
            .flatten()
            .map(|f| flag_bits(*f))
            .fold(0, |a, b| a | b),
        nice,
        priority: priority.max(0) as u32,
        runtime,
        deadline,
        period,
        ..SchedAttr::default()
    })
}

fn set_affinity(m: &CpuMask) -> c_int {
    // SAFETY: m is a valid mask of the size given.
    unsafe {
        libc::syscall(
            libc::SYS_sched_setaffinity,
            0,
            std::mem::size_of::<CpuMask>(),
            m.0.as_ptr(),
        ) as c_int
    }
}

/// Child side, first thing: exec's initial affinity.
pub fn initial(p: &SchedPlan, sync: c_int) {
    if let Some(m) = &p.initial {
        if set_affinity(m) != 0 {
            fail(sync, step::AFFINITY, 0, errno());
        }
    }
}

/// Child side, before the last steps: the scheduler, then the final (or
/// reset) affinity. A reset that fails is not an error (runc warns).
pub fn apply(p: &SchedPlan, sync: c_int) {
    if let Some(a) = &p.attr {
        // SAFETY: a is a valid sched_attr of the size it declares.
        let r = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, a as *const SchedAttr, 0) };
        if r != 0 {
            let e = errno();
            let i = u32::from(e == libc::EPERM && p.cpuset);
            fail(sync, step::SCHEDULER, i, e);
        }
    }
    if let Some(m) = &p.last {
        if set_affinity(m) != 0 && p.initial.is_some() {
            fail(sync, step::AFFINITY, 1, errno());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        let m = CpuMask::parse("0-2,7,64").unwrap_or(CpuMask([0; 16]));
        assert_eq!(m.0[0], 0b1000_0111);
        assert_eq!(m.0[1], 1);
        for bad in ["", "3-1", "x", "0-", "2000"] {
            assert!(CpuMask::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn runc_rules() {
        let s: Scheduler =
            serde_json::from_str(r#"{"policy":"SCHED_OTHER","priority":3}"#).unwrap_or_default();
        assert_eq!(attr(&s), Err(SchedError::Priority));
        let s: Scheduler =
            serde_json::from_str(r#"{"policy":"SCHED_BATCH","nice":25}"#).unwrap_or_default();
        assert!(matches!(attr(&s), Err(SchedError::Nice { nice: 25, .. })));
        let s: Scheduler =
            serde_json::from_str(r#"{"policy":"SCHED_RR","runtime":5}"#).unwrap_or_default();
        assert_eq!(attr(&s), Err(SchedError::Deadline));
        let s: Scheduler = serde_json::from_str(
            r#"{"policy":"SCHED_DEADLINE","runtime":1000,"deadline":2000,"period":3000,"flags":["SCHED_RESET_ON_FORK"]}"#,
        )
        .unwrap_or_default();
        let a = attr(&s).unwrap_or_default();
        assert_eq!((a.policy, a.flags, a.size), (6, 1, 56));
    }
}
