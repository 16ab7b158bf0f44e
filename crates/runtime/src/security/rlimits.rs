//! process.rlimits as (resource, limit) pairs, capped at the current hard
//! limit: without CAP_SYS_RESOURCE (root on this machine kind lacks it) a
//! hard limit cannot be raised, and asking would fail the container.

use oci_spec::runtime::{PosixRlimit, PosixRlimitType};

/// setrlimit's resource type: glibc's enum type, musl's int.
#[cfg(target_env = "gnu")]
pub type Resource = libc::__rlimit_resource_t;
#[cfg(not(target_env = "gnu"))]
pub type Resource = libc::c_int;

/// A limit ready for setrlimit in the child.
#[derive(Debug, Clone, Copy)]
pub struct Rlimit {
    pub resource: Resource,
    pub limit: libc::rlimit,
}

fn resource(t: PosixRlimitType) -> Resource {
    match t {
        PosixRlimitType::RlimitCpu => libc::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => libc::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => libc::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => libc::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => libc::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => libc::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => libc::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => libc::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => libc::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => libc::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => libc::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => libc::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => libc::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => libc::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => libc::RLIMIT_RTTIME,
    }
}

fn current(res: Resource) -> Option<libc::rlimit> {
    let mut cur = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: cur is a valid out pointer.
    (unsafe { libc::getrlimit(res, &mut cur) } == 0).then_some(cur)
}

/// Converts `rlimits`, capping each at the caller's current hard limit.
/// Returns the limits and a warning for each one that was lowered.
pub fn plan(rlimits: &[PosixRlimit]) -> (Vec<Rlimit>, Vec<String>) {
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    for r in rlimits {
        let res = resource(r.typ());
        let mut hard = r.hard();
        let mut soft = r.soft();
        if let Some(cur) = current(res) {
            if cur.rlim_max != libc::RLIM_INFINITY && hard > cur.rlim_max {
                warnings.push(format!(
                    "rlimit {:?}: hard limit {} capped at the current hard limit {}",
                    r.typ(),
                    hard,
                    cur.rlim_max
                ));
                hard = cur.rlim_max;
                soft = soft.min(hard);
            }
        }
        out.push(Rlimit {
            resource: res,
            limit: libc::rlimit {
                rlim_cur: soft,
                rlim_max: hard,
            },
        });
    }
    (out, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::PosixRlimitBuilder;

    #[test]
    fn caps_at_current_hard_limit() -> Result<(), Box<dyn std::error::Error>> {
        let cur = current(libc::RLIMIT_NOFILE).ok_or("getrlimit")?;
        let r = PosixRlimitBuilder::default()
            .typ(PosixRlimitType::RlimitNofile)
            .hard(u64::MAX - 1)
            .soft(u64::MAX - 1)
            .build()?;
        let (out, warnings) = plan(&[r]);
        if cur.rlim_max == libc::RLIM_INFINITY {
            assert!(warnings.is_empty());
        } else {
            assert_eq!(out[0].limit.rlim_max, cur.rlim_max);
            assert_eq!(out[0].limit.rlim_cur, cur.rlim_max);
            assert_eq!(warnings.len(), 1);
        }
        Ok(())
    }
}
