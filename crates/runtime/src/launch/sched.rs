//! `process.scheduler`: the kernel's `sched_attr` for sched_setattr(2),
//! built before clone from the spec, applied by the child (self, pid 0)
//! before it drops capabilities (a realtime policy needs CAP_SYS_NICE),
//! for the init and for exec alike, as runc does. The kernel checks the
//! values (priority ranges, deadline ordering) and its EINVAL is reported.

use oci_spec::runtime::{LinuxSchedulerFlag, LinuxSchedulerPolicy, Scheduler};

/// The kernel's `struct sched_attr` (SCHED_ATTR_SIZE_VER1, with the
/// utilization clamps).
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

/// The attribute for `s`.
pub fn attr(s: &Scheduler) -> SchedAttr {
    let policy = match s.policy() {
        LinuxSchedulerPolicy::SchedOther => 0,
        LinuxSchedulerPolicy::SchedFifo => 1,
        LinuxSchedulerPolicy::SchedRr => 2,
        LinuxSchedulerPolicy::SchedBatch => 3,
        // Reserved by the kernel (never implemented): it answers EINVAL.
        LinuxSchedulerPolicy::SchedIso => 4,
        LinuxSchedulerPolicy::SchedIdle => 5,
        LinuxSchedulerPolicy::SchedDeadline => 6,
    };
    let flags = s.flags().iter().flatten().fold(0u64, |f, flag| {
        f | match flag {
            LinuxSchedulerFlag::SchedResetOnFork => 0x01,
            LinuxSchedulerFlag::SchedFlagReclaim => 0x02,
            LinuxSchedulerFlag::SchedFlagDLOverrun => 0x04,
            LinuxSchedulerFlag::SchedFlagKeepPolicy => 0x08,
            LinuxSchedulerFlag::SchedFlagKeepParams => 0x10,
            LinuxSchedulerFlag::SchedFlagUtilClampMin => 0x20,
            LinuxSchedulerFlag::SchedFlagUtilClampMax => 0x40,
        }
    });
    SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        policy,
        flags,
        nice: s.nice().unwrap_or(0),
        priority: s.priority().unwrap_or(0).max(0) as u32,
        runtime: s.runtime().unwrap_or(0),
        deadline: s.deadline().unwrap_or(0),
        period: s.period().unwrap_or(0),
        util_min: 0,
        util_max: 0,
    }
}

/// Child side: sched_setattr on the calling process; the errno on failure.
pub fn apply(a: &SchedAttr) -> Result<(), i32> {
    // SAFETY: sched_setattr(0 = self, a valid sched_attr of the size it
    // declares, flags 0); no memory is written.
    let r = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, a as *const SchedAttr, 0) };
    if r == 0 {
        Ok(())
    } else {
        Err(super::sys::errno())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // in tests a panic is the failure report
mod tests {
    use super::*;

    #[test]
    fn spec_to_kernel_values() {
        let s: Scheduler = serde_json::from_str(
            r#"{"policy":"SCHED_DEADLINE","runtime":1000000,"deadline":2000000,"period":3000000,
                "flags":["SCHED_RESET_ON_FORK","SCHED_FLAG_RECLAIM"]}"#,
        )
        .unwrap();
        let a = attr(&s);
        assert_eq!(a.size, 56);
        assert_eq!((a.policy, a.flags), (6, 0x03));
        assert_eq!(
            (a.runtime, a.deadline, a.period),
            (1000000, 2000000, 3000000)
        );
        let s: Scheduler = serde_json::from_str(r#"{"policy":"SCHED_BATCH","nice":7}"#).unwrap();
        assert_eq!((attr(&s).policy, attr(&s).nice), (3, 7));
    }
}
