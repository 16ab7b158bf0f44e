//! config.json's `linux.seccomp` compiled to classic BPF before clone, with
//! the pure-Rust `seccompiler` crate, and loaded in the child with the raw
//! seccomp(2) syscall.
//!
//! Why seccompiler and not libseccomp: compiling needs no C library at run
//! time (berth stays one static-friendly binary), and the child only needs
//! the finished programs, so nothing is compiled after clone.
//!
//! seccompiler's filters have one match action and one default action,
//! while OCI rules each carry their own action. The kernel runs every
//! installed filter and keeps the most restrictive result, so the profile
//! becomes a stack:
//! - one filter whose default is the profile's default action and which
//!   allows every syscall some rule names (with that rule's conditions);
//! - one filter per non-allow action, returning it for the syscalls whose
//!   rules carry it and allowing the rest.
//!
//! A syscall matched by a rule gets that rule's action; any other syscall
//! gets the default, except one numbered above every syscall the profile
//! names, which gets ENOSYS when the default refuses ([`enosys`], runc's
//! stub). The profile's `flags` go to every filter. Limits: only the build architecture is checked
//! (seccompiler kills other ABIs, e.g. 32-bit x86 calls), and
//! `SCMP_ACT_NOTIFY` (a listener socket) is refused.

mod enosys;
mod syscalls;

use std::collections::BTreeMap;

use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator,
};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

/// Why a seccomp profile could not be compiled.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("seccomp action {0} is not supported")]
    Action(String),
    #[error("seccomp is not supported on this architecture")]
    Arch,
    #[error("seccomp rule for {syscall}: {reason}")]
    Rule { syscall: String, reason: String },
    #[error("compiling the seccomp filter: {0}")]
    Compile(String),
}

/// One BPF program and the seccomp(2) flags to load it with.
#[derive(Debug, Clone)]
pub struct Program {
    pub filter: BpfProgram,
    pub flags: libc::c_ulong,
}

/// The compiled profile: programs in load order and warnings (skipped
/// syscall names).
#[derive(Debug, Clone, Default)]
pub struct Compiled {
    pub programs: Vec<Program>,
    pub warnings: Vec<String>,
}

fn action(a: LinuxSeccompAction, errno: Option<u32>) -> Result<SeccompAction, SeccompError> {
    Ok(match a {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            SeccompAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => SeccompAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => SeccompAction::Trap,
        // runtime-spec: errnoRet defaults to EPERM.
        LinuxSeccompAction::ScmpActErrno => {
            SeccompAction::Errno(errno.unwrap_or(libc::EPERM as u32))
        }
        LinuxSeccompAction::ScmpActTrace => {
            SeccompAction::Trace(errno.unwrap_or(libc::EPERM as u32))
        }
        LinuxSeccompAction::ScmpActLog => SeccompAction::Log,
        LinuxSeccompAction::ScmpActAllow => SeccompAction::Allow,
        LinuxSeccompAction::ScmpActNotify => {
            return Err(SeccompError::Action("SCMP_ACT_NOTIFY".into()))
        }
    })
}

/// The operator and the value seccompiler compares with. For
/// SCMP_CMP_MASKED_EQ the runtime-spec (as libseccomp and runc) reads
/// `value` as the mask and `valueTwo` as what the masked argument must
/// equal: `(arg & value) == valueTwo`.
fn op_and_value(
    o: LinuxSeccompOperator,
    value: u64,
    value_two: Option<u64>,
) -> (SeccompCmpOp, u64) {
    match o {
        LinuxSeccompOperator::ScmpCmpMaskedEq => {
            (SeccompCmpOp::MaskedEq(value), value_two.unwrap_or(0))
        }
        other => (op(other), value),
    }
}

fn op(o: LinuxSeccompOperator) -> SeccompCmpOp {
    match o {
        LinuxSeccompOperator::ScmpCmpNe => SeccompCmpOp::Ne,
        LinuxSeccompOperator::ScmpCmpLt => SeccompCmpOp::Lt,
        LinuxSeccompOperator::ScmpCmpLe => SeccompCmpOp::Le,
        LinuxSeccompOperator::ScmpCmpEq => SeccompCmpOp::Eq,
        LinuxSeccompOperator::ScmpCmpGe => SeccompCmpOp::Ge,
        LinuxSeccompOperator::ScmpCmpGt => SeccompCmpOp::Gt,
        // Handled by op_and_value (the operands change roles).
        LinuxSeccompOperator::ScmpCmpMaskedEq => SeccompCmpOp::MaskedEq(u64::MAX),
    }
}

/// Rules per syscall: `None` = unconditional, else OR of AND-conditions.
type Rules = BTreeMap<i64, Option<Vec<SeccompRule>>>;

fn add(rules: &mut Rules, nr: i64, rule: Option<SeccompRule>) {
    let entry = rules.entry(nr).or_insert_with(|| Some(Vec::new()));
    match (entry.as_mut(), rule) {
        (_, None) => *entry = None,
        (Some(list), Some(r)) => list.push(r),
        (None, Some(_)) => {}
    }
}

fn to_filter(rules: &Rules) -> BTreeMap<i64, Vec<SeccompRule>> {
    rules
        .iter()
        .map(|(nr, r)| (*nr, r.clone().unwrap_or_default()))
        .collect()
}

fn arch() -> Result<TargetArch, SeccompError> {
    TargetArch::try_from(std::env::consts::ARCH).map_err(|_| SeccompError::Arch)
}

fn compile_one(
    rules: BTreeMap<i64, Vec<SeccompRule>>,
    mismatch: SeccompAction,
    matched: SeccompAction,
) -> Result<BpfProgram, SeccompError> {
    let f = SeccompFilter::new(rules, mismatch, matched, arch()?)
        .map_err(|e| SeccompError::Compile(e.to_string()))?;
    BpfProgram::try_from(f).map_err(|e| SeccompError::Compile(e.to_string()))
}

/// Compiles `profile` for the build architecture.
pub fn compile(profile: &LinuxSeccomp) -> Result<Compiled, SeccompError> {
    let mut warnings = Vec::new();
    let default = action(profile.default_action(), profile.default_errno_ret())?;
    let mut flags: libc::c_ulong = 0;
    for f in profile.flags().iter().flatten() {
        flags |= match f {
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => {
                libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW
            }
            // One thread here, but the flag is the profile's to set.
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => libc::SECCOMP_FILTER_FLAG_TSYNC,
            // Only concerns notify listeners, which are refused.
            _ => 0,
        };
    }
    if profile.listener_path().is_some() {
        return Err(SeccompError::Action(
            "listenerPath (SCMP_ACT_NOTIFY)".into(),
        ));
    }

    let mut all: Rules = BTreeMap::new();
    let mut by_action: Vec<(SeccompAction, Rules)> = Vec::new();
    for sc in profile.syscalls().iter().flatten() {
        let act = action(sc.action(), sc.errno_ret())?;
        let mut conditions = Vec::new();
        for a in sc.args().iter().flatten() {
            let (cmp, value) = op_and_value(a.op(), a.value(), a.value_two());
            let cond = SeccompCondition::new(a.index() as u8, SeccompCmpArgLen::Qword, cmp, value)
                .map_err(|e| SeccompError::Rule {
                    syscall: sc.names().join(","),
                    reason: e.to_string(),
                })?;
            conditions.push(cond);
        }
        let rule = if conditions.is_empty() {
            None
        } else {
            Some(
                SeccompRule::new(conditions).map_err(|e| SeccompError::Rule {
                    syscall: sc.names().join(","),
                    reason: e.to_string(),
                })?,
            )
        };
        for name in sc.names() {
            let Some(nr) = syscalls::number(name) else {
                warnings.push(format!("seccomp: ignoring unknown syscall {name:?}"));
                continue;
            };
            add(&mut all, nr, rule.clone());
            if act != SeccompAction::Allow {
                let i = match by_action.iter().position(|(a, _)| *a == act) {
                    Some(i) => i,
                    None => {
                        by_action.push((act.clone(), BTreeMap::new()));
                        by_action.len() - 1
                    }
                };
                if let Some((_, rules)) = by_action.get_mut(i) {
                    add(rules, nr, rule.clone());
                }
            }
        }
    }

    let mut programs = Vec::new();
    if default != SeccompAction::Allow {
        let mut filter = compile_one(to_filter(&all), default.clone(), SeccompAction::Allow)?;
        if let Some(stub) = enosys::stub(&default, all.keys().max().copied()) {
            filter.splice(0..0, stub);
        }
        programs.push(Program { filter, flags });
    }
    for (act, rules) in &by_action {
        programs.push(Program {
            filter: compile_one(to_filter(rules), SeccompAction::Allow, act.clone())?,
            flags,
        });
    }
    Ok(Compiled { programs, warnings })
}

/// Whether `profile` lets `name` through unconditionally: the exec
/// trampoline uses execveat only where the profile allows it (a profile
/// that kills on it would kill the container at its last step).
pub fn allows(profile: &LinuxSeccomp, name: &str) -> bool {
    let permissive = |a: LinuxSeccompAction| {
        matches!(
            a,
            LinuxSeccompAction::ScmpActAllow | LinuxSeccompAction::ScmpActLog
        )
    };
    let mut verdict = permissive(profile.default_action());
    for sc in profile.syscalls().iter().flatten() {
        if sc.names().iter().any(|n| n == name) {
            let unconditional = sc.args().as_ref().is_none_or(|a| a.is_empty());
            verdict = permissive(sc.action()) && unconditional;
            if !verdict {
                return false;
            }
        }
    }
    verdict
}

/// Child side: installs `programs` with seccomp(2). Returns the errno of
/// the first failure.
pub fn load(programs: &[Program]) -> Result<(), libc::c_int> {
    for p in programs {
        let prog = libc::sock_fprog {
            len: p.filter.len() as u16,
            // seccompiler's sock_filter is #[repr(C)] with the kernel's
            // layout (u16, u8, u8, u32), the same as libc's.
            filter: p.filter.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: prog points at a valid program that outlives the call.
        let r = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                p.flags,
                &prog as *const libc::sock_fprog,
            )
        };
        if r != 0 {
            return Err(crate::launch::sys::errno());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(json: &str) -> LinuxSeccomp {
        serde_json::from_str(json).expect("profile json")
    }

    #[test]
    fn allows_reads_the_profile_as_the_filter_will() {
        let p = |j: &str| profile(j);
        assert!(allows(
            &p(r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#),
            "execveat"
        ));
        assert!(!allows(
            &p(
                r#"{"defaultAction":"SCMP_ACT_KILL","syscalls":[{"names":["execve"],"action":"SCMP_ACT_ALLOW"}]}"#
            ),
            "execveat"
        ));
        assert!(allows(
            &p(
                r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["execve","execveat"],"action":"SCMP_ACT_ALLOW"}]}"#
            ),
            "execveat"
        ));
        assert!(!allows(
            &p(
                r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["execveat"],"action":"SCMP_ACT_ERRNO"}]}"#
            ),
            "execveat"
        ));
    }

    #[test]
    fn knows_common_syscalls() {
        assert!(syscalls::number("read").is_some());
        assert!(syscalls::number("mkdirat").is_some());
        assert!(syscalls::number("no_such_call").is_none());
    }

    #[test]
    fn stacks_one_filter_per_action() -> Result<(), SeccompError> {
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
                {"names":["read","write","nonexistent_call"],"action":"SCMP_ACT_ALLOW"},
                {"names":["mkdir"],"action":"SCMP_ACT_ERRNO","errnoRet":13},
                {"names":["personality"],"action":"SCMP_ACT_ALLOW",
                 "args":[{"index":0,"value":8,"op":"SCMP_CMP_EQ"}]}]}"#,
        );
        let c = compile(&p)?;
        assert_eq!(c.programs.len(), 2);
        assert_eq!(c.warnings.len(), 1);
        let allow_all = profile(r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#);
        assert!(compile(&allow_all)?.programs.is_empty());
        let notify = profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_NOTIFY"}]}"#,
        );
        assert!(compile(&notify).is_err());
        Ok(())
    }
}
