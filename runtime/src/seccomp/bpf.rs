//! The classic-BPF generator behind `seccomp::compile`: one filter (syscall rules, a match
//! action and a mismatch action) becomes one program that finds the syscall by binary search.
//!
//! A linear chain (one `jeq` per syscall, as seccompiler emits) makes Docker's default profile
//! 1,547 instructions: the kernel checks and translates all of them when the filter is
//! installed, and every system call of the container walks the chain until its number.
//! Here the syscall numbers are first cut into intervals with one outcome each (consecutive
//! unconditional numbers merge, gaps mismatch), and a tree of `jge` tests finds the interval
//! in log2(intervals) steps. Syscalls with argument rules jump to a block of their own that
//! tests the 64-bit arguments as two 32-bit halves (high half first), as libseccomp does.
//!
//! Classic BPF can only jump forward, `jt`/`jf` by at most 255. The assembler below lays out
//! symbolic jumps and widens any conditional jump whose target is too far into
//! `jcond 0,1; ja T; ja F` until the layout is stable.

use std::collections::BTreeMap;

/// `struct sock_filter` (linux/filter.h): what seccomp(2) takes, in the kernel's layout.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

// Opcodes (linux/bpf_common.h).
pub const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
pub const AND_K: u16 = 0x54; // BPF_ALU | BPF_AND | BPF_K
pub const JA: u16 = 0x05; // BPF_JMP | BPF_JA
pub const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
pub const JGT_K: u16 = 0x25; // BPF_JMP | BPF_JGT | BPF_K
pub const JGE_K: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
pub const RET_K: u16 = 0x06; // BPF_RET | BPF_K

/// The kernel's limit on a program's length (BPF_MAXINSNS).
pub const MAX_INSNS: usize = 4096;

// Offsets in `struct seccomp_data`: nr, arch, instruction pointer, then six u64 args.
const DATA_NR: u32 = 0;
const DATA_ARCH: u32 = 4;
const DATA_ARGS: u32 = 16;

/// The audit architecture of the host: a call made through another ABI (i386's `int 0x80` on
/// x86_64) has other numbers, and kills the process, as it did with seccompiler.
pub const AUDIT_ARCH: Option<u32> = if cfg!(target_arch = "x86_64") {
    Some(0xc000_003e)
} else if cfg!(target_arch = "aarch64") {
    Some(0xc000_00b7)
} else if cfg!(target_arch = "riscv64") {
    Some(0xc000_00f3)
} else {
    None
};

/// One comparison of a system call argument, on all 64 bits, unsigned (libseccomp's
/// meaning). `MaskedEq(mask)` holds when `arg & mask == value & mask`: libseccomp (and so
/// runc and crun) masks the datum too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    MaskedEq(u64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cond {
    /// 0..=5
    pub arg: u8,
    pub cmp: Cmp,
    pub value: u64,
}

impl Cond {
    /// What the comparison means, for the tests' reference decision.
    #[cfg(test)]
    fn holds(&self, args: &[u64; 6]) -> bool {
        let a = args[usize::from(self.arg)];
        match self.cmp {
            Cmp::Eq => a == self.value,
            Cmp::Ne => a != self.value,
            Cmp::Lt => a < self.value,
            Cmp::Le => a <= self.value,
            Cmp::Gt => a > self.value,
            Cmp::Ge => a >= self.value,
            Cmp::MaskedEq(m) => a & m == self.value & m,
        }
    }
}

/// Conditions that must all hold.
pub type Rule = Vec<Cond>;

/// What one program decides: a syscall in `rules` whose entry is None (unconditional) or has
/// a rule that holds gets `matched`; everything else `mismatch` (both SECCOMP_RET_* values).
#[derive(Clone, Debug)]
pub struct Filter {
    pub rules: BTreeMap<u32, Option<Vec<Rule>>>,
    pub matched: u32,
    pub mismatch: u32,
}

impl Filter {
    /// The decision for one call made through the host's ABI, straight from the rules: what
    /// the generated program must compute (its tests compare the two).
    #[cfg(test)]
    fn decide(&self, nr: u32, args: &[u64; 6]) -> u32 {
        match self.rules.get(&nr) {
            Some(None) => self.matched,
            Some(Some(rules)) if rules.iter().any(|r| r.iter().all(|c| c.holds(args))) => {
                self.matched
            }
            _ => self.mismatch,
        }
    }

    /// The program: arch check, binary search on the syscall number, argument blocks.
    pub fn program(&self) -> Result<Vec<Insn>, String> {
        let arch = AUDIT_ARCH
            .ok_or_else(|| format!("seccomp is not supported on {}", std::env::consts::ARCH))?;
        let mut a = Asm::default();
        let (matched, mismatch, kill) = (a.label(), a.label(), a.label());
        a.stmt(LD_W_ABS, DATA_ARCH);
        let nr_check = a.label();
        a.jump(JEQ_K, arch, nr_check, kill);
        a.place(nr_check);
        a.stmt(LD_W_ABS, DATA_NR);

        // Intervals [start, next start) of syscall numbers and where each goes.
        let mut starts: Vec<(u32, Label)> = Vec::new();
        let mut blocks: Vec<(Label, &Vec<Rule>)> = Vec::new();
        let mut next = 0u64; // the first number not yet covered
        for (&nr, rules) in &self.rules {
            if u64::from(nr) > next {
                push_interval(&mut starts, next as u32, mismatch);
            }
            let to = match rules {
                None => matched,
                Some(rules) => {
                    let l = a.label();
                    blocks.push((l, rules));
                    l
                }
            };
            push_interval(&mut starts, nr, to);
            next = u64::from(nr) + 1;
        }
        if next <= u64::from(u32::MAX) {
            push_interval(&mut starts, next as u32, mismatch);
        }
        search(&mut a, &starts);

        for (l, rules) in blocks {
            a.place(l);
            for rule in rules {
                let fail = a.label();
                for (i, c) in rule.iter().enumerate() {
                    let ok = if i + 1 == rule.len() {
                        matched
                    } else {
                        a.label()
                    };
                    cond(&mut a, c, ok, fail);
                    if ok != matched {
                        a.place(ok);
                    }
                }
                if rule.is_empty() {
                    a.ja(matched);
                }
                a.place(fail);
            }
            a.ja(mismatch);
        }
        a.place(matched);
        a.stmt(RET_K, self.matched);
        a.place(mismatch);
        a.stmt(RET_K, self.mismatch);
        a.place(kill);
        a.stmt(RET_K, libc::SECCOMP_RET_KILL_PROCESS);
        let prog = a.finish()?;
        if prog.len() > MAX_INSNS {
            return Err(format!(
                "the filter needs {} BPF instructions, more than the kernel's {MAX_INSNS}",
                prog.len()
            ));
        }
        Ok(prog)
    }
}

/// Appends an interval unless it goes where the one before it goes (they merge).
fn push_interval(starts: &mut Vec<(u32, Label)>, start: u32, to: Label) {
    if starts.last().map(|&(_, l)| l) != Some(to) {
        starts.push((start, to));
    }
}

/// Emits, at the current position, the search among `starts` (sorted; the first starts at
/// the lowest number that can reach this node). Each node splits the intervals in halves
/// with one `jge`; a half of one interval is that interval's target, jumped to directly.
fn search(a: &mut Asm, starts: &[(u32, Label)]) {
    if let [(_, only)] = starts {
        a.ja(*only);
        return;
    }
    let (lo, hi) = starts.split_at(starts.len() / 2);
    let mut target = |part: &[(u32, Label)]| match part {
        [(_, l)] => *l,
        _ => a.label(),
    };
    let (left, right) = (target(lo), target(hi));
    a.jump(JGE_K, hi[0].0, right, left);
    for (part, l) in [(lo, left), (hi, right)] {
        if part.len() > 1 {
            a.place(l);
            search(a, part);
        }
    }
}

/// A condition on a 64-bit argument: jumps to `t` when it holds, else to `f`.
fn cond(a: &mut Asm, c: &Cond, t: Label, f: Label) {
    let lo_off = DATA_ARGS + 8 * u32::from(c.arg);
    let hi_off = lo_off + 4; // little-endian: the low word first
    let value = match c.cmp {
        Cmp::MaskedEq(m) => c.value & m,
        _ => c.value,
    };
    let (v_hi, v_lo) = ((value >> 32) as u32, value as u32);
    let then = a.label();
    match c.cmp {
        Cmp::Eq | Cmp::Ne | Cmp::MaskedEq(_) => {
            // Eq: both halves equal; Ne is its negation.
            let (t, f) = if c.cmp == Cmp::Ne { (f, t) } else { (t, f) };
            let mask = match c.cmp {
                Cmp::MaskedEq(m) => Some(((m >> 32) as u32, m as u32)),
                _ => None,
            };
            a.stmt(LD_W_ABS, hi_off);
            if let Some((m_hi, _)) = mask {
                a.stmt(AND_K, m_hi);
            }
            a.jump(JEQ_K, v_hi, then, f);
            a.place(then);
            a.stmt(LD_W_ABS, lo_off);
            if let Some((_, m_lo)) = mask {
                a.stmt(AND_K, m_lo);
            }
            a.jump(JEQ_K, v_lo, t, f);
        }
        Cmp::Gt | Cmp::Ge | Cmp::Lt | Cmp::Le => {
            // Gt/Ge: high half greater, or equal and the low half greater (or equal).
            // Lt is not Ge, Le is not Gt.
            let (t, f) = if matches!(c.cmp, Cmp::Lt | Cmp::Le) {
                (f, t)
            } else {
                (t, f)
            };
            let low_op = if matches!(c.cmp, Cmp::Gt | Cmp::Le) {
                JGT_K
            } else {
                JGE_K
            };
            let eq_hi = a.label();
            a.stmt(LD_W_ABS, hi_off);
            a.jump(JGT_K, v_hi, t, eq_hi);
            a.place(eq_hi);
            a.jump(JEQ_K, v_hi, then, f);
            a.place(then);
            a.stmt(LD_W_ABS, lo_off);
            a.jump(low_op, v_lo, t, f);
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Label(usize);

enum Item {
    Stmt(Insn),
    /// A conditional jump; `wide` once it had to go through two `ja`s.
    Jump {
        code: u16,
        k: u32,
        t: Label,
        f: Label,
        wide: bool,
    },
    Ja(Label),
    Place(Label),
}

/// A forward-only assembler with symbolic labels.
#[derive(Default)]
struct Asm {
    items: Vec<Item>,
    labels: usize,
}

impl Asm {
    fn label(&mut self) -> Label {
        self.labels += 1;
        Label(self.labels - 1)
    }
    fn stmt(&mut self, code: u16, k: u32) {
        self.items.push(Item::Stmt(Insn {
            code,
            jt: 0,
            jf: 0,
            k,
        }));
    }
    fn jump(&mut self, code: u16, k: u32, t: Label, f: Label) {
        self.items.push(Item::Jump {
            code,
            k,
            t,
            f,
            wide: false,
        });
    }
    fn ja(&mut self, to: Label) {
        self.items.push(Item::Ja(to));
    }
    fn place(&mut self, l: Label) {
        self.items.push(Item::Place(l));
    }

    /// Lays the program out: widens conditional jumps that cannot reach until none is left,
    /// then resolves every label. Errors on a backward or unplaced target (a generator bug).
    fn finish(mut self) -> Result<Vec<Insn>, String> {
        loop {
            let at = self.layout();
            let mut widened = false;
            let mut pc = 0usize;
            for item in &mut self.items {
                match item {
                    Item::Jump { t, f, wide, .. } => {
                        if !*wide {
                            let far = |l: &Label| at[l.0].is_some_and(|p| p > pc + 1 + 255);
                            if far(t) || far(f) {
                                *wide = true;
                                widened = true;
                            }
                        }
                        pc += if *wide { 3 } else { 1 };
                    }
                    Item::Stmt(_) | Item::Ja(_) => pc += 1,
                    Item::Place(_) => {}
                }
            }
            if !widened {
                break;
            }
        }
        let at = self.layout();
        let pos = |l: Label, from: usize| -> Result<u32, String> {
            match at[l.0] {
                Some(p) if p > from => Ok((p - from - 1) as u32),
                _ => Err(format!("seccomp BPF: bad jump target {l:?} from {from}")),
            }
        };
        let mut out = Vec::new();
        for item in &self.items {
            let pc = out.len();
            match *item {
                Item::Stmt(i) => out.push(i),
                Item::Ja(l) => out.push(Insn {
                    code: JA,
                    jt: 0,
                    jf: 0,
                    k: pos(l, pc)?,
                }),
                Item::Jump {
                    code,
                    k,
                    t,
                    f,
                    wide: false,
                } => {
                    let (jt, jf) = (pos(t, pc)?, pos(f, pc)?);
                    out.push(Insn {
                        code,
                        jt: jt as u8,
                        jf: jf as u8,
                        k,
                    });
                }
                Item::Jump {
                    code,
                    k,
                    t,
                    f,
                    wide: true,
                } => {
                    out.push(Insn {
                        code,
                        jt: 0,
                        jf: 1,
                        k,
                    });
                    let (to_t, to_f) = (pos(t, pc + 1)?, pos(f, pc + 2)?);
                    out.push(Insn {
                        code: JA,
                        jt: 0,
                        jf: 0,
                        k: to_t,
                    });
                    out.push(Insn {
                        code: JA,
                        jt: 0,
                        jf: 0,
                        k: to_f,
                    });
                }
                Item::Place(_) => {}
            }
        }
        Ok(out)
    }

    /// The instruction index of every placed label.
    fn layout(&self) -> Vec<Option<usize>> {
        let mut at = vec![None; self.labels];
        let mut pc = 0;
        for item in &self.items {
            match item {
                Item::Place(l) => at[l.0] = Some(pc),
                Item::Jump { wide: true, .. } => pc += 3,
                _ => pc += 1,
            }
        }
        at
    }
}

/// Runs a classic-BPF seccomp program on one call, as the kernel would (the subset the
/// generator emits): for tests and the fuzz target.
pub fn run(prog: &[Insn], arch: u32, nr: u32, args: &[u64; 6]) -> Result<u32, String> {
    let word = |off: u32| -> Result<u32, String> {
        Ok(match off {
            DATA_NR => nr,
            DATA_ARCH => arch,
            o if (DATA_ARGS..DATA_ARGS + 48).contains(&o) && o & 3 == 0 => {
                let a = args[((o - DATA_ARGS) / 8) as usize];
                if (o - DATA_ARGS) & 4 == 0 {
                    a as u32
                } else {
                    (a >> 32) as u32
                }
            }
            o => return Err(format!("load of offset {o}")),
        })
    };
    let (mut pc, mut acc) = (0usize, 0u32);
    loop {
        let i = prog.get(pc).ok_or(format!("ran off the end at {pc}"))?;
        let jump = |c: bool| usize::from(if c { i.jt } else { i.jf });
        pc += 1 + match i.code {
            LD_W_ABS => {
                acc = word(i.k)?;
                0
            }
            AND_K => {
                acc &= i.k;
                0
            }
            JA => i.k as usize,
            JEQ_K => jump(acc == i.k),
            JGT_K => jump(acc > i.k),
            JGE_K => jump(acc >= i.k),
            RET_K => return Ok(i.k),
            c => return Err(format!("opcode {c:#x} at {}", pc)),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
    const EPERM: u32 = libc::SECCOMP_RET_ERRNO | 1;

    /// A small xorshift generator: the tests are reproducible without a crate.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// Values around the interesting ones: each constant, its neighbours in each half, and
    /// its halves mixed with others, so every branch of the two-word comparisons is taken.
    fn probes(rng: &mut Rng, consts: &[u64]) -> Vec<u64> {
        let mut v = vec![0, 1, u64::MAX, u64::from(u32::MAX), 1 << 32];
        for &c in consts {
            for d in [0u64, 1, 1 << 32] {
                v.extend([c.wrapping_add(d), c.wrapping_sub(d)]);
            }
            v.push((c & 0xffff_ffff) | (rng.next() << 32));
            v.push((c & !0xffff_ffff) | (rng.next() & 0xffff_ffff));
        }
        v
    }

    fn random_filter(rng: &mut Rng) -> Filter {
        let mut rules = BTreeMap::new();
        let n = 1 + rng.below(60);
        for _ in 0..n {
            // Clustered numbers, so intervals merge, plus the odd huge one.
            let nr = if rng.below(20) == 0 {
                rng.next() as u32
            } else {
                rng.below(120) as u32
            };
            let entry = if rng.below(3) == 0 {
                let mut rs = Vec::new();
                for _ in 0..1 + rng.below(3) {
                    let mut r = Vec::new();
                    for _ in 0..rng.below(4) {
                        let value = match rng.below(3) {
                            0 => rng.below(16),
                            1 => rng.next(),
                            _ => rng.next() << 32 | rng.below(4),
                        };
                        let cmp = match rng.below(7) {
                            0 => Cmp::Eq,
                            1 => Cmp::Ne,
                            2 => Cmp::Lt,
                            3 => Cmp::Le,
                            4 => Cmp::Gt,
                            5 => Cmp::Ge,
                            _ => Cmp::MaskedEq(rng.next()),
                        };
                        r.push(Cond {
                            arg: rng.below(6) as u8,
                            cmp,
                            value,
                        });
                    }
                    rs.push(r);
                }
                Some(rs)
            } else {
                None
            };
            rules.insert(nr, entry);
        }
        let (matched, mismatch) = if rng.below(2) == 0 {
            (ALLOW, EPERM)
        } else {
            (EPERM, ALLOW)
        };
        Filter {
            rules,
            matched,
            mismatch,
        }
    }

    /// Calls `check` with calls on and around every number and argument constant `f` names.
    fn for_calls(rng: &mut Rng, f: &Filter, mut check: impl FnMut(u32, &[u64; 6])) {
        let mut nrs = vec![0, 1, 200, u32::MAX, 0x4000_0000];
        for &nr in f.rules.keys() {
            nrs.extend([nr, nr.wrapping_add(1), nr.wrapping_sub(1)]);
        }
        let consts: Vec<u64> = f
            .rules
            .values()
            .flatten()
            .flatten()
            .flatten()
            .flat_map(|c| match c.cmp {
                Cmp::MaskedEq(m) => vec![c.value, m, c.value | !m],
                _ => vec![c.value],
            })
            .collect();
        let vals = probes(rng, &consts);
        for &nr in &nrs {
            for _ in 0..40 {
                let args = std::array::from_fn(|_| vals[rng.below(vals.len() as u64) as usize]);
                check(nr, &args);
            }
        }
    }

    /// Every generated program decides as the rules say, for calls on and around every
    /// number and argument constant the filter names.
    #[test]
    fn programs_decide_as_the_rules_say() {
        let arch = AUDIT_ARCH.unwrap();
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..300 {
            let f = random_filter(&mut rng);
            let prog = f.program().unwrap();
            for_calls(&mut rng, &f, |nr, args| {
                assert_eq!(
                    run(&prog, arch, nr, args).unwrap(),
                    f.decide(nr, args),
                    "nr {nr} args {args:x?} filter {f:?}"
                );
            });
            // Another ABI is killed whatever the number.
            let other = run(&prog, arch ^ 1, 0, &[0; 6]).unwrap();
            assert_eq!(other, libc::SECCOMP_RET_KILL_PROCESS);
        }
    }

    /// The same filter through seccompiler's linear chain (what berth used before): the two
    /// programs decide alike on the same calls.
    fn seccompiler_program(f: &Filter) -> Vec<Insn> {
        use seccompiler::{
            SeccompAction as A, SeccompCmpArgLen, SeccompCmpOp as O, SeccompCondition,
            SeccompFilter, SeccompRule,
        };
        let act = |v: u32| match v {
            ALLOW => A::Allow,
            _ => A::Errno(v & libc::SECCOMP_RET_DATA),
        };
        let rules = f
            .rules
            .iter()
            .map(|(&nr, rules)| {
                let rules = rules.iter().flatten().map(|r| {
                    let conds = r.iter().map(|c| {
                        let op = match c.cmp {
                            Cmp::Eq => O::Eq,
                            Cmp::Ne => O::Ne,
                            Cmp::Lt => O::Lt,
                            Cmp::Le => O::Le,
                            Cmp::Gt => O::Gt,
                            Cmp::Ge => O::Ge,
                            Cmp::MaskedEq(m) => O::MaskedEq(m),
                        };
                        SeccompCondition::new(c.arg, SeccompCmpArgLen::Qword, op, c.value).unwrap()
                    });
                    SeccompRule::new(conds.collect()).unwrap()
                });
                (i64::from(nr), rules.collect())
            })
            .collect();
        let arch = std::env::consts::ARCH.try_into().unwrap();
        let filter = SeccompFilter::new(rules, act(f.mismatch), act(f.matched), arch).unwrap();
        let prog: seccompiler::BpfProgram = filter.try_into().unwrap();
        prog.iter()
            .map(|i| Insn {
                code: i.code,
                jt: i.jt,
                jf: i.jf,
                k: i.k,
            })
            .collect()
    }

    #[test]
    fn programs_decide_as_seccompilers_did() {
        let arch = AUDIT_ARCH.unwrap();
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        for _ in 0..200 {
            let mut f = random_filter(&mut rng);
            // seccompiler reads an empty rule list as unconditional.
            for r in f.rules.values_mut().flatten() {
                r.retain(|r| !r.is_empty());
            }
            f.rules
                .retain(|_, r| r.as_ref().is_none_or(|r| !r.is_empty()));
            let (ours, theirs) = (f.program().unwrap(), seccompiler_program(&f));
            assert!(
                ours.len() <= theirs.len() + 8,
                "{} > {}",
                ours.len(),
                theirs.len()
            );
            for_calls(&mut rng, &f, |nr, args| {
                assert_eq!(
                    run(&ours, arch, nr, args).unwrap(),
                    run(&theirs, arch, nr, args).unwrap(),
                    "nr {nr} args {args:x?} filter {f:?}"
                );
            });
        }
    }

    fn filter(rules: BTreeMap<u32, Option<Vec<Rule>>>, matched: u32, mismatch: u32) -> Filter {
        Filter {
            rules,
            matched,
            mismatch,
        }
    }

    #[test]
    fn a_dense_allow_list_is_a_short_search() {
        // 300 calls in a few runs, as in Docker's profile: a handful of intervals.
        let rules = (0..300u32)
            .filter(|n| n % 50 != 7)
            .map(|n| (n, None))
            .collect();
        let prog = filter(rules, ALLOW, EPERM).program().unwrap();
        assert!(prog.len() < 30, "{} instructions", prog.len());
        let arch = AUDIT_ARCH.unwrap();
        assert_eq!(run(&prog, arch, 57, &[0; 6]).unwrap(), EPERM);
        assert_eq!(run(&prog, arch, 58, &[0; 6]).unwrap(), ALLOW);
        assert_eq!(run(&prog, arch, 300, &[0; 6]).unwrap(), EPERM);
        assert_eq!(run(&prog, arch, 0x4000_0001, &[0; 6]).unwrap(), EPERM);
    }

    #[test]
    fn far_jumps_are_widened() {
        // Many argument blocks: the search's jumps to the last ones are more than 255 away.
        let rules = (0..200u32)
            .map(|n| {
                let c = |v| Cond {
                    arg: (n % 6) as u8,
                    cmp: Cmp::Eq,
                    value: v,
                };
                (n * 2, Some(vec![vec![c(u64::from(n)), c(u64::from(n))]]))
            })
            .collect();
        let prog = filter(rules, EPERM, ALLOW).program().unwrap();
        assert!(prog.len() > 300);
        assert!(prog.iter().any(|i| i.code == JA && i.k > 255));
        let arch = AUDIT_ARCH.unwrap();
        for n in 0..200u32 {
            let mut args = [0u64; 6];
            args[(n % 6) as usize] = u64::from(n);
            assert_eq!(run(&prog, arch, n * 2, &args).unwrap(), EPERM, "{n}");
            args[(n % 6) as usize] += 1;
            assert_eq!(run(&prog, arch, n * 2, &args).unwrap(), ALLOW, "{n}");
            assert_eq!(run(&prog, arch, n * 2 + 1, &[0; 6]).unwrap(), ALLOW);
        }
    }

    #[test]
    fn too_long_a_program_is_an_error() {
        let c = Cond {
            arg: 0,
            cmp: Cmp::Gt,
            value: 1,
        };
        let f = Filter {
            rules: [(1, Some(vec![vec![c; 1000]]))].into(),
            matched: ALLOW,
            mismatch: EPERM,
        };
        assert!(f
            .program()
            .unwrap_err()
            .contains("more than the kernel's 4096"));
    }
}
