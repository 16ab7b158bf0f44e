//! runc's -ENOSYS stub: a syscall numbered above every syscall the profile
//! names is newer than the profile, so it gets ENOSYS ("not implemented",
//! which programs handle by falling back, as glibc does for clone3)
//! instead of the default action (EPERM would read as "forbidden" and
//! break the fallback). Prepended to the filter that carries the default
//! action, only when that action refuses (not allow, log or trace), and
//! not when the default already is ENOSYS, as runc does.

use seccompiler::{sock_filter, SeccompAction};

const BPF_LD_W_ABS: u16 = 0x20;
const BPF_JEQ_K: u16 = 0x15;
const BPF_JGT_K: u16 = 0x25;
const BPF_JSET_K: u16 = 0x45;
const BPF_RET_K: u16 = 0x06;
/// seccomp_data: `nr` at 0, `arch` at 4.
const NR: u32 = 0;
const ARCH: u32 = 4;
const RET_ERRNO: u32 = 0x0005_0000;
/// x32 calls share x86_64's audit arch with this bit in the number; they
/// are left to the filter, as runc leaves them.
const X32_BIT: u32 = 0x4000_0000;

fn stmt(code: u16, k: u32) -> sock_filter {
    sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

/// The native audit arch (seccompiler builds for this one only).
fn audit_arch() -> Option<u32> {
    match std::env::consts::ARCH {
        "x86_64" => Some(62 | 0x8000_0000 | 0x4000_0000),
        "aarch64" => Some(183 | 0x8000_0000 | 0x4000_0000),
        "riscv64" => Some(243 | 0x8000_0000 | 0x4000_0000),
        _ => None,
    }
}

/// The instructions to put in front of the default-action filter, for a
/// profile whose highest named syscall is `max`; None when no stub applies.
/// Each jump lands on the first instruction after the stub (the filter's
/// own start, which loads what it needs itself).
pub fn stub(default: &SeccompAction, max: Option<i64>) -> Option<Vec<sock_filter>> {
    match default {
        SeccompAction::Allow | SeccompAction::Log | SeccompAction::Trace(_) => return None,
        SeccompAction::Errno(e) if *e == libc::ENOSYS as u32 => return None,
        _ => {}
    }
    let max = u32::try_from(max?).ok()?;
    let arch = audit_arch()?;
    Some(vec![
        stmt(BPF_LD_W_ABS, ARCH),
        jump(BPF_JEQ_K, arch, 0, 4),
        stmt(BPF_LD_W_ABS, NR),
        jump(BPF_JSET_K, X32_BIT, 2, 0),
        jump(BPF_JGT_K, max, 0, 1),
        stmt(BPF_RET_K, RET_ERRNO | libc::ENOSYS as u32),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_for_refusing_defaults_other_than_enosys() {
        assert!(stub(&SeccompAction::Allow, Some(10)).is_none());
        assert!(stub(&SeccompAction::Log, Some(10)).is_none());
        assert!(stub(&SeccompAction::Errno(libc::ENOSYS as u32), Some(10)).is_none());
        assert!(stub(&SeccompAction::Errno(1), None).is_none());
        if audit_arch().is_some() {
            let s = stub(&SeccompAction::KillProcess, Some(435)).unwrap_or_default();
            assert_eq!(s.len(), 6);
            assert_eq!(s[4].k, 435);
            // Every jump lands within the stub or just after it.
            for (i, ins) in s.iter().enumerate() {
                assert!(i + 1 + usize::from(ins.jt.max(ins.jf)) <= s.len());
            }
        }
    }
}
