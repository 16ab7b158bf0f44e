//! Device rules → a BPF_PROG_TYPE_CGROUP_DEVICE program (cgroup v2 has no
//! devices files: the kernel asks an eBPF program attached to the cgroup).
//!
//! Semantics are v1's: rules apply in order and the last rule matching a
//! request decides; an allow rule matches only if it grants every requested
//! access bit, a deny rule if it covers any of them. With no matching rule the
//! request is allowed, as in a fresh v1 cgroup (configs start with "deny
//! all", which then matches everything).

use super::super::super::device_rules::{Access, DeviceKind, DeviceRule};

/// One eBPF instruction (struct bpf_insn).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub(crate) struct Insn {
    pub code: u8,
    /// dst_reg in the low nibble, src_reg in the high nibble.
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

// Opcodes (linux/bpf.h, linux/bpf_common.h).
const LDX_MEM_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const ALU32_AND_K: u8 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const ALU32_RSH_K: u8 = 0x74; // BPF_ALU | BPF_RSH | BPF_K
const ALU32_MOV_K: u8 = 0xb4; // BPF_ALU | BPF_MOV | BPF_K
const ALU32_MOV_X: u8 = 0xbc; // BPF_ALU | BPF_MOV | BPF_X
const JMP_JEQ_K: u8 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JMP_JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

// struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }
// access_type = (access << 16) | type.
const DEV_BLOCK: i32 = 1; // BPF_DEVCG_DEV_BLOCK
const DEV_CHAR: i32 = 2; // BPF_DEVCG_DEV_CHAR
const ACC_MKNOD: i32 = 1; // BPF_DEVCG_ACC_MKNOD
const ACC_READ: i32 = 2; // BPF_DEVCG_ACC_READ
const ACC_WRITE: i32 = 4; // BPF_DEVCG_ACC_WRITE

// Registers: r1 = ctx; r2 = type, r3 = access, r4 = major, r5 = minor,
// r6 = scratch; r0 = result.
const R0: u8 = 0;
const R1: u8 = 1;
const R2: u8 = 2;
const R3: u8 = 3;
const R4: u8 = 4;
const R5: u8 = 5;
const R6: u8 = 6;

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | dst,
        off,
        imm,
    }
}

fn access_bits(a: Access) -> i32 {
    (if a.mknod { ACC_MKNOD } else { 0 })
        | (if a.read { ACC_READ } else { 0 })
        | (if a.write { ACC_WRITE } else { 0 })
}

/// Placeholder offset for "jump to the end of this rule's block".
const SKIP: i16 = i16::MIN;

fn rule_block(rule: &DeviceRule) -> Vec<Insn> {
    let mut b = Vec::new();
    match rule.kind {
        DeviceKind::All => {}
        DeviceKind::Char => b.push(insn(JMP_JNE_K, R2, 0, SKIP, DEV_CHAR)),
        DeviceKind::Block => b.push(insn(JMP_JNE_K, R2, 0, SKIP, DEV_BLOCK)),
    }
    if let Some(major) = rule.major {
        b.push(insn(JMP_JNE_K, R4, 0, SKIP, major as i32));
    }
    if let Some(minor) = rule.minor {
        b.push(insn(JMP_JNE_K, R5, 0, SKIP, minor as i32));
    }
    let acc = access_bits(rule.access);
    if rule.allow && acc != 7 {
        // Every requested bit must be granted: (access & ~granted) == 0.
        b.push(insn(ALU32_MOV_X, R6, R3, 0, 0));
        b.push(insn(ALU32_AND_K, R6, 0, 0, !acc & 7));
        b.push(insn(JMP_JNE_K, R6, 0, SKIP, 0));
    } else if !rule.allow && acc != 7 {
        // Any requested bit that is denied: (access & denied) != 0.
        b.push(insn(ALU32_MOV_X, R6, R3, 0, 0));
        b.push(insn(ALU32_AND_K, R6, 0, 0, acc));
        b.push(insn(JMP_JEQ_K, R6, 0, SKIP, 0));
    }
    b.push(insn(ALU32_MOV_K, R0, 0, 0, i32::from(rule.allow)));
    b.push(insn(EXIT, 0, 0, 0, 0));
    let len = b.len();
    for (i, ins) in b.iter_mut().enumerate() {
        if ins.off == SKIP {
            // Relative to the next instruction: land just past the block.
            ins.off = (len - i - 1) as i16;
        }
    }
    b
}

/// The program for `rules`.
pub(crate) fn generate(rules: &[DeviceRule]) -> Vec<Insn> {
    let mut p = vec![
        insn(LDX_MEM_W, R2, R1, 0, 0),
        insn(ALU32_AND_K, R2, 0, 0, 0xffff),
        insn(LDX_MEM_W, R3, R1, 0, 0),
        insn(ALU32_RSH_K, R3, 0, 0, 16),
        insn(LDX_MEM_W, R4, R1, 4, 0),
        insn(LDX_MEM_W, R5, R1, 8, 0),
    ];
    // Last rule first: the first block that matches returns.
    for rule in rules.iter().rev() {
        p.extend(rule_block(rule));
        // A rule matching everything ends the program: the verifier rejects
        // unreachable instructions after it.
        if rule.is_everything() {
            return p;
        }
    }
    p.push(insn(ALU32_MOV_K, R0, 0, 0, 1));
    p.push(insn(EXIT, 0, 0, 0, 0));
    p
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // in tests a panic is the failure report
mod tests {
    use super::*;

    /// Runs a program from [`generate`] (only the opcodes it emits).
    fn run(prog: &[Insn], typ: i32, access: i32, major: u32, minor: u32) -> u32 {
        let ctx = [((access as u32) << 16) | typ as u32, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = prog[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            pc += 1;
            match i.code {
                LDX_MEM_W => {
                    assert_eq!(src, 1);
                    r[dst] = u64::from(ctx[i.off as usize / 4]);
                }
                ALU32_AND_K => r[dst] = u64::from((r[dst] as u32) & i.imm as u32),
                ALU32_RSH_K => r[dst] = u64::from((r[dst] as u32) >> i.imm),
                ALU32_MOV_K => r[dst] = u64::from(i.imm as u32),
                ALU32_MOV_X => r[dst] = u64::from(r[src] as u32),
                JMP_JNE_K => {
                    if r[dst] != i.imm as u32 as u64 {
                        pc = (pc as i64 + i64::from(i.off)) as usize;
                    }
                }
                JMP_JEQ_K => {
                    if r[dst] == i.imm as u32 as u64 {
                        pc = (pc as i64 + i64::from(i.off)) as usize;
                    }
                }
                EXIT => return r[0] as u32,
                other => panic!("unexpected opcode {other:#x}"),
            }
        }
    }

    /// The v1 kernel's answer, computed directly from the rules.
    fn reference(rules: &[DeviceRule], typ: i32, access: i32, major: u32, minor: u32) -> u32 {
        for rule in rules.iter().rev() {
            let kind_ok = match rule.kind {
                DeviceKind::All => true,
                DeviceKind::Char => typ == DEV_CHAR,
                DeviceKind::Block => typ == DEV_BLOCK,
            };
            let acc = access_bits(rule.access);
            let acc_ok = if rule.allow {
                access & !acc == 0
            } else {
                access & acc != 0
            };
            if kind_ok
                && rule.major.is_none_or(|m| m == major)
                && rule.minor.is_none_or(|m| m == minor)
                && acc_ok
            {
                return u32::from(rule.allow);
            }
        }
        1
    }

    fn rule(
        allow: bool,
        kind: DeviceKind,
        major: Option<u32>,
        minor: Option<u32>,
        acc: &str,
    ) -> DeviceRule {
        DeviceRule {
            allow,
            kind,
            major,
            minor,
            access: Access {
                read: acc.contains('r'),
                write: acc.contains('w'),
                mknod: acc.contains('m'),
            },
        }
    }

    #[test]
    fn program_matches_v1_semantics() {
        let rule_sets = vec![
            vec![],
            vec![
                rule(false, DeviceKind::All, None, None, "rwm"),
                rule(true, DeviceKind::Char, Some(1), Some(3), "rwm"),
                rule(true, DeviceKind::Char, Some(1), Some(5), "r"),
                rule(true, DeviceKind::Char, Some(136), None, "rw"),
                rule(true, DeviceKind::All, None, None, "m"),
            ],
            vec![
                rule(true, DeviceKind::All, None, None, "rwm"),
                rule(false, DeviceKind::Block, Some(8), None, "w"),
                rule(false, DeviceKind::Char, None, Some(7), "rwm"),
            ],
        ];
        for rules in &rule_sets {
            let prog = generate(rules);
            for typ in [DEV_BLOCK, DEV_CHAR] {
                for access in 1..8 {
                    for (major, minor) in [(1, 3), (1, 5), (1, 7), (8, 0), (8, 7), (136, 2), (4, 1)]
                    {
                        assert_eq!(
                            run(&prog, typ, access, major, minor),
                            reference(rules, typ, access, major, minor),
                            "rules {rules:?} type {typ} access {access} dev {major}:{minor}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn deny_all_then_null_allows_only_null() {
        let prog = generate(&[
            rule(false, DeviceKind::All, None, None, "rwm"),
            rule(true, DeviceKind::Char, Some(1), Some(3), "rwm"),
        ]);
        assert_eq!(run(&prog, DEV_CHAR, ACC_READ | ACC_WRITE, 1, 3), 1);
        assert_eq!(run(&prog, DEV_CHAR, ACC_READ, 1, 5), 0);
        assert_eq!(run(&prog, DEV_BLOCK, ACC_READ, 1, 3), 0);
        // Nothing follows the deny-all block (the verifier forbids dead code).
        assert_eq!(prog.last().map(|i| i.code), Some(EXIT));
        assert_eq!(prog[prog.len() - 2], insn(ALU32_MOV_K, R0, 0, 0, 0));
    }
}
