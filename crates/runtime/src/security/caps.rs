//! The five capability sets as bitmasks (computed before clone) and their
//! application in the child through raw `prctl`/`capset` calls.

use std::ffi::c_int;
use std::str::FromStr;

use oci_spec::runtime::{Capabilities, LinuxCapabilities};

/// The capabilities Docker grants a container by default; berth's engine
/// and its builder's RUN containers start from the same set.
pub const ENGINE_DEFAULT: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Bitmasks of capability numbers, one per set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CapSets {
    pub bounding: u64,
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
    pub ambient: u64,
    /// Highest capability number the kernel knows.
    pub last_cap: u32,
}

/// Kernel number of a capability (via its `CAP_*` name).
pub fn number(cap: &oci_spec::runtime::Capability) -> Option<u32> {
    let name = serde_json::to_value(cap).ok()?;
    let name = name.as_str()?;
    caps::Capability::from_str(name)
        .ok()
        .map(|c| u32::from(c.index()))
}

fn mask(set: &Option<Capabilities>, last_cap: u32) -> u64 {
    set.iter()
        .flatten()
        .filter_map(number)
        .filter(|&n| n <= last_cap && n < 64)
        .fold(0, |m, n| m | (1u64 << n))
}

/// The kernel's highest capability number (/proc/sys/kernel/cap_last_cap).
pub fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

impl CapSets {
    /// The sets of `caps`; an absent config means every set empty.
    pub fn from_spec(caps: Option<&LinuxCapabilities>, last_cap: u32) -> CapSets {
        let Some(c) = caps else {
            return CapSets {
                last_cap,
                ..CapSets::default()
            };
        };
        CapSets {
            bounding: mask(c.bounding(), last_cap),
            effective: mask(c.effective(), last_cap),
            permitted: mask(c.permitted(), last_cap),
            inheritable: mask(c.inheritable(), last_cap),
            ambient: mask(c.ambient(), last_cap),
            last_cap,
        }
    }
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: c_int,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Child side: drops every capability outside the bounding set.
/// Returns the errno of the first failure.
pub fn drop_bounding(sets: &CapSets) -> Result<(), c_int> {
    for cap in 0..=sets.last_cap.min(63) {
        if sets.bounding & (1u64 << cap) == 0 {
            // SAFETY: prctl with integer arguments only.
            let r = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
            // EINVAL: the kernel does not know this capability.
            if r != 0 && crate::launch::sys::errno() != libc::EINVAL {
                return Err(crate::launch::sys::errno());
            }
        }
    }
    Ok(())
}

/// Child side: sets effective, permitted and inheritable with capset(2).
pub fn set(sets: &CapSets) -> Result<(), c_int> {
    let header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = [
        CapData {
            effective: sets.effective as u32,
            permitted: sets.permitted as u32,
            inheritable: sets.inheritable as u32,
        },
        CapData {
            effective: (sets.effective >> 32) as u32,
            permitted: (sets.permitted >> 32) as u32,
            inheritable: (sets.inheritable >> 32) as u32,
        },
    ];
    // SAFETY: header and data are valid v3 capset structures (two data
    // words) that live across the call.
    let r = unsafe { libc::syscall(libc::SYS_capset, &header as *const CapHeader, data.as_ptr()) };
    if r != 0 {
        return Err(crate::launch::sys::errno());
    }
    Ok(())
}

/// runc's warnings for ambient capabilities the kernel will refuse to
/// raise (not both permitted and inheritable); the process starts
/// without them, as under runc.
pub fn ambient_warnings(sets: &CapSets) -> Vec<String> {
    let raisable = sets.permitted & sets.inheritable;
    (0..=sets.last_cap.min(63))
        .filter(|&n| sets.ambient & !raisable & (1u64 << n) != 0)
        .map(|n| {
            let name = caps::all()
                .into_iter()
                .find(|c| u32::from(c.index()) == n)
                .map_or_else(|| format!("capability {n}"), |c| c.to_string());
            format!("can't raise ambient capability {name}: operation not permitted")
        })
        .collect()
}

/// Child side: raises the ambient set. A capability that is not both
/// permitted and inheritable cannot be ambient; like runc, such entries are
/// skipped rather than failing the container.
pub fn raise_ambient(sets: &CapSets) {
    // SAFETY: prctl with integer arguments only.
    unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        );
    }
    for cap in 0..=sets.last_cap.min(63) {
        if sets.ambient & (1u64 << cap) != 0 {
            // SAFETY: prctl with integer arguments only.
            unsafe {
                libc::prctl(
                    libc::PR_CAP_AMBIENT,
                    libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
                    cap as libc::c_ulong,
                    0,
                    0,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::Capability;

    #[test]
    fn masks_from_names() {
        let set: Capabilities = [Capability::Chown, Capability::Kill, Capability::SysAdmin]
            .into_iter()
            .collect();
        let mut lc = LinuxCapabilities::default();
        lc.set_bounding(Some(set.clone()));
        lc.set_effective(Some(set));
        lc.set_permitted(None);
        lc.set_inheritable(None);
        lc.set_ambient(None);
        let s = CapSets::from_spec(Some(&lc), 40);
        assert_eq!(s.bounding, (1 << 0) | (1 << 5) | (1 << 21));
        assert_eq!(s.effective, s.bounding);
        assert_eq!(s.permitted, 0);
        assert_eq!(CapSets::from_spec(None, 40).bounding, 0);
    }

    #[test]
    fn ambient_outside_inheritable_is_warned_about() {
        let sets = CapSets {
            permitted: (1 << 0) | (1 << 21),
            inheritable: 1 << 0,
            ambient: (1 << 0) | (1 << 21),
            last_cap: 40,
            ..CapSets::default()
        };
        assert_eq!(
            ambient_warnings(&sets),
            ["can't raise ambient capability CAP_SYS_ADMIN: operation not permitted"]
        );
    }
}
