//! The device cgroup on cgroup v2: an eBPF program of type BPF_PROG_TYPE_CGROUP_DEVICE
//! attached to the container's cgroup, which the kernel runs on every open(2) and mknod(2)
//! of a device node and which says allow (1) or deny (0). v2 has no devices.allow file;
//! without the program every device would be open to a process that may mknod.
//!
//! The program is generated from the rules (the config's `linux.resources.devices`, then
//! the defaults every container gets, `v1::DEFAULT_ALLOW`) as runc's devicefilter does: the
//! rules are tried last to first and the first that matches decides, which is the v1
//! semantics of a list that starts by denying (or allowing) everything; nothing matching
//! denies.

use std::os::fd::AsFd;
use std::path::Path;

use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use super::cg_err;
use crate::error::Result;

/// One rule: type (None: any), numbers (None: any), access bits (BPF_DEVCG_ACC_*).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub allow: bool,
    /// BPF_DEVCG_DEV_BLOCK (1) or BPF_DEVCG_DEV_CHAR (2); None: both.
    pub kind: Option<u32>,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    /// BPF_DEVCG_ACC_MKNOD (1) | READ (2) | WRITE (4).
    pub access: u32,
}

const ALL_ACCESS: u32 = 7;

fn access_bits(a: &str) -> u32 {
    a.chars()
        .map(|c| match c {
            'm' => 1,
            'r' => 2,
            'w' => 4,
            _ => 0,
        })
        .fold(0, |x, b| x | b)
}

fn number(n: Option<i64>) -> Option<u32> {
    n.filter(|n| *n >= 0).and_then(|n| u32::try_from(n).ok())
}

impl Rule {
    /// A rule of the config; None for one the device cgroup does not see (a fifo).
    pub fn of(r: &LinuxDeviceCgroup) -> Option<Rule> {
        let kind = match r.typ() {
            None | Some(LinuxDeviceType::A) => None,
            Some(LinuxDeviceType::B) => Some(1),
            Some(LinuxDeviceType::C) | Some(LinuxDeviceType::U) => Some(2),
            Some(LinuxDeviceType::P) => return None,
        };
        Some(Rule {
            allow: r.allow(),
            kind,
            major: number(r.major()),
            minor: number(r.minor()),
            access: r.access().as_deref().map_or(ALL_ACCESS, access_bits),
        })
    }

    /// A rule as devices.allow takes it (`c 1:3 rwm`, `c *:* m`).
    pub fn parse_allow(s: &str) -> Option<Rule> {
        let mut f = s.split_whitespace();
        let kind = match f.next()? {
            "a" => None,
            "b" => Some(1),
            "c" => Some(2),
            _ => return None,
        };
        let (ma, mi) = f.next()?.split_once(':')?;
        let num = |x: &str| {
            if x == "*" {
                Ok(None)
            } else {
                x.parse().map(Some)
            }
        };
        Some(Rule {
            allow: true,
            kind,
            major: num(ma).ok()?,
            minor: num(mi).ok()?,
            access: access_bits(f.next()?),
        })
    }
}

// struct bpf_insn opcodes (linux/bpf_common.h, linux/bpf.h).
const LDX_MEM_W: u8 = 0x61; // dst = *(u32 *)(src + off)
const ALU_AND_K: u8 = 0x54; // dst &= imm (32-bit)
const ALU_RSH_K: u8 = 0x74; // dst >>= imm (32-bit)
const ALU_MOV_X: u8 = 0xbc; // dst = src (32-bit)
const ALU_MOV_K: u8 = 0xb4; // dst = imm (32-bit)
const JMP_JNE_K: u8 = 0x55; // if dst != imm goto +off
const JMP_JNE_X: u8 = 0x5d; // if dst != src goto +off
const JMP_EXIT: u8 = 0x95;

/// One struct bpf_insn as it lies in memory (little or big endian alike: built from its
/// bytes in order).
fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> u64 {
    let regs = if cfg!(target_endian = "little") {
        (src << 4) | dst
    } else {
        (dst << 4) | src
    };
    let mut b = [0u8; 8];
    b[0] = code;
    b[1] = regs;
    b[2..4].copy_from_slice(&off.to_ne_bytes());
    b[4..8].copy_from_slice(&imm.to_ne_bytes());
    u64::from_ne_bytes(b)
}

/// The program for `rules`: r2 = type, r3 = access, r4 = major, r5 = minor from the
/// context (struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }, access in
/// the upper 16 bits of access_type), then one block per rule, last rule first.
pub fn program(rules: &[Rule]) -> Vec<u64> {
    let mut p = vec![
        insn(LDX_MEM_W, 2, 1, 0, 0),
        insn(ALU_AND_K, 2, 0, 0, 0xffff),
        insn(LDX_MEM_W, 3, 1, 0, 0),
        insn(ALU_RSH_K, 3, 0, 0, 16),
        insn(LDX_MEM_W, 4, 1, 4, 0),
        insn(LDX_MEM_W, 5, 1, 8, 0),
    ];
    for r in rules.iter().rev() {
        // Conditions as (opcode, dst, src, imm) jumping past the block when unmet; the
        // access check is "requested bits are a subset of the rule's" via r1.
        let mut conds: Vec<Vec<(u8, u8, u8, i32)>> = Vec::new();
        if let Some(k) = r.kind {
            conds.push(vec![(JMP_JNE_K, 2, 0, k as i32)]);
        }
        if r.access & ALL_ACCESS != ALL_ACCESS {
            conds.push(vec![
                (ALU_MOV_X, 1, 3, 0),
                (ALU_AND_K, 1, 0, r.access as i32),
                (JMP_JNE_X, 1, 3, 0),
            ]);
        }
        if let Some(m) = r.major {
            conds.push(vec![(JMP_JNE_K, 4, 0, m as i32)]);
        }
        if let Some(m) = r.minor {
            conds.push(vec![(JMP_JNE_K, 5, 0, m as i32)]);
        }
        let body: Vec<(u8, u8, u8, i32)> = conds.into_iter().flatten().collect();
        if body.is_empty() {
            // It matches everything: the rules before it can never decide, and the
            // verifier refuses a program with instructions no path reaches.
            p.push(insn(ALU_MOV_K, 0, 0, 0, r.allow as i32));
            p.push(insn(JMP_EXIT, 0, 0, 0, 0));
            return p;
        }
        let len = body.len() + 2;
        for (i, (code, dst, src, imm)) in body.into_iter().enumerate() {
            // A jump skips what is left of the block: the rest of it and the two returns.
            let off = if code == JMP_JNE_K || code == JMP_JNE_X {
                (len - i - 1) as i16
            } else {
                0
            };
            p.push(insn(code, dst, src, off, imm));
        }
        p.push(insn(ALU_MOV_K, 0, 0, 0, r.allow as i32));
        p.push(insn(JMP_EXIT, 0, 0, 0, 0));
    }
    p.push(insn(ALU_MOV_K, 0, 0, 0, 0));
    p.push(insn(JMP_EXIT, 0, 0, 0, 0));
    p
}

/// Generates, loads and attaches the program for the config's rules plus the defaults to
/// the v2 cgroup at `dir`.
pub fn apply(dir: &Path, config: &[LinuxDeviceCgroup]) -> Result<()> {
    let rules: Vec<Rule> = config
        .iter()
        .filter_map(Rule::of)
        .chain(
            super::v1::DEFAULT_ALLOW
                .iter()
                .filter_map(|r| Rule::parse_allow(r)),
        )
        .collect();
    let prog = crate::sys::bpf_load_device_program(&program(&rules))
        .map_err(|e| cg_err(dir, format!("load the device filter (bpf): {e}")))?;
    let fd = open(
        dir,
        OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| cg_err(dir, format!("open: {e}")))?;
    crate::sys::bpf_attach_device_program(fd.as_fd(), prog.as_fd())
        .map_err(|e| cg_err(dir, format!("attach the device filter (bpf): {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The program run on (type, access, major, minor) by a tiny interpreter of the
    /// instructions `program` emits, so that the generated jumps are checked.
    fn run(p: &[u64], kind: u32, access: u32, major: u32, minor: u32) -> u64 {
        let ctx = [kind | (access << 16), major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let b = p[pc].to_ne_bytes();
            let (code, regs) = (b[0], b[1]);
            let (dst, src) = if cfg!(target_endian = "little") {
                ((regs & 0xf) as usize, (regs >> 4) as usize)
            } else {
                ((regs >> 4) as usize, (regs & 0xf) as usize)
            };
            let off = i16::from_ne_bytes([b[2], b[3]]);
            let imm = i32::from_ne_bytes([b[4], b[5], b[6], b[7]]);
            pc += 1;
            match code {
                LDX_MEM_W => r[dst] = ctx[off as usize / 4] as u64,
                ALU_AND_K => r[dst] = (r[dst] as u32 & imm as u32) as u64,
                ALU_RSH_K => r[dst] = ((r[dst] as u32) >> imm) as u64,
                ALU_MOV_X => r[dst] = r[src] as u32 as u64,
                ALU_MOV_K => r[dst] = imm as u32 as u64,
                JMP_JNE_K if r[dst] != imm as i64 as u64 => pc += off as usize,
                JMP_JNE_X if r[dst] != r[src] => pc += off as usize,
                JMP_JNE_K | JMP_JNE_X => {}
                JMP_EXIT => return r[0],
                c => panic!("opcode {c:#x}"),
            }
            assert!(pc < p.len(), "ran off the end");
        }
    }

    const CHR: u32 = 2;
    const BLK: u32 = 1;
    const R: u32 = 2;
    const W: u32 = 4;
    const M: u32 = 1;

    fn defaults_after(config: &[Rule]) -> Vec<u64> {
        let rules: Vec<Rule> = config
            .iter()
            .copied()
            .chain(
                crate::cgroups::v1::DEFAULT_ALLOW
                    .iter()
                    .filter_map(|r| Rule::parse_allow(r)),
            )
            .collect();
        program(&rules)
    }

    #[test]
    fn deny_all_then_the_defaults_and_a_device_read_only() {
        let deny_all = Rule {
            allow: false,
            kind: None,
            major: None,
            minor: None,
            access: 7,
        };
        let fake_r = Rule {
            allow: true,
            kind: Some(CHR),
            major: Some(240),
            minor: Some(8),
            access: R,
        };
        let p = defaults_after(&[deny_all, fake_r]);
        // /dev/null rw, /dev/pts/N, mknod of anything.
        assert_eq!(run(&p, CHR, R | W, 1, 3), 1);
        assert_eq!(run(&p, CHR, R | W, 136, 5), 1);
        assert_eq!(run(&p, BLK, M, 8, 0), 1);
        assert_eq!(run(&p, CHR, M, 240, 1), 1);
        // A disk, /dev/mem, /dev/kmsg: no.
        assert_eq!(run(&p, BLK, R, 8, 0), 0);
        assert_eq!(run(&p, CHR, R | W, 1, 1), 0);
        assert_eq!(run(&p, CHR, R, 1, 11), 0);
        // The listed device: read only.
        assert_eq!(run(&p, CHR, R, 240, 8), 1);
        assert_eq!(run(&p, CHR, W, 240, 8), 0);
        assert_eq!(run(&p, CHR, R | W, 240, 8), 0);
        assert_eq!(run(&p, BLK, R, 240, 8), 0);
        assert_eq!(run(&p, CHR, R, 240, 9), 0);
    }

    #[test]
    fn allow_all_and_a_later_deny() {
        let all = Rule {
            allow: true,
            kind: None,
            major: None,
            minor: None,
            access: 7,
        };
        let no_disk_writes = Rule {
            allow: false,
            kind: Some(BLK),
            major: Some(8),
            minor: None,
            access: W,
        };
        let p = program(&[all, no_disk_writes]);
        assert_eq!(run(&p, BLK, R, 8, 0), 1);
        assert_eq!(run(&p, BLK, W, 8, 1), 0);
        assert_eq!(run(&p, CHR, W, 8, 1), 1);
        assert_eq!(run(&p, CHR, R | W | M, 1, 1), 1);
        // Nothing at all: deny.
        assert_eq!(run(&program(&[]), CHR, R, 1, 3), 0);
        // After a rule that matches everything, nothing is emitted (no unreachable code).
        let p = program(&[no_disk_writes, all]);
        assert_eq!(p.len(), 6 + 2);
        assert_eq!(run(&p, BLK, W, 8, 1), 1);
    }

    #[test]
    fn config_rules_and_the_default_strings_parse() {
        assert_eq!(
            Rule::parse_allow("c 136:* rwm"),
            Some(Rule {
                allow: true,
                kind: Some(CHR),
                major: Some(136),
                minor: None,
                access: 7
            })
        );
        assert!(crate::cgroups::v1::DEFAULT_ALLOW
            .iter()
            .all(|r| Rule::parse_allow(r).is_some()));
        let r: LinuxDeviceCgroup = serde_json::from_value(
            serde_json::json!({"allow": false, "type": "b", "major": 8, "minor": -1, "access": "rw"}),
        )
        .unwrap();
        assert_eq!(
            Rule::of(&r),
            Some(Rule {
                allow: false,
                kind: Some(BLK),
                major: Some(8),
                minor: None,
                access: R | W
            })
        );
    }
}
