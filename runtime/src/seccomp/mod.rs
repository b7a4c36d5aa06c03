//! Seccomp: compiles the OCI `linux.seccomp` section into classic-BPF programs and installs them.
//!
//! A program (`bpf::Filter`, generated in `bpf.rs`) has ONE match action and ONE mismatch
//! action, while OCI has a default action plus per-entry actions. So we emit several programs and rely on the kernel,
//! which runs every installed filter on each syscall and keeps the most restrictive result
//! (KILL_PROCESS > KILL_THREAD > TRAP > ERRNO > TRACE > LOG > ALLOW, see seccomp(2)):
//! - "base": every syscall some rule names (with that rule's arg conditions) -> ALLOW, anything
//!   else -> defaultAction. Omitted when defaultAction is ALLOW.
//! - one program per distinct non-ALLOW rule action A (ERRNO(1) and ERRNO(38) are distinct):
//!   its rules -> A, anything else -> ALLOW.
//!
//! A call matched by a rule of action A gets ALLOW from base and A from its group, hence A; an
//! unmatched call gets defaultAction from base and ALLOW from every group, hence defaultAction.
//! If one call matches rules of several actions the most restrictive wins; between results of
//! the same kind the kernel keeps the most recently installed filter's. Groups go in by BPF
//! return value, so ERRNO(38) beats ERRNO(1), unless the seccomp(2) reordering in `compile`
//! moves one.
//!
//! Like runc we compile for the host architecture only: `architectures` is ignored (runc adds
//! them to the native one, we never add any). Each program's prologue kills the process on any
//! other audit arch, so e.g. i386 `int 0x80` calls are fatal as soon as a filter is installed.
//! `flags` (SECCOMP_FILTER_FLAG_LOG, SPEC_ALLOW, ...) are ignored: `crate::sys::seccomp_install`
//! passes no flags, and none of them changes which calls are allowed.

use std::collections::BTreeMap;
use std::str::FromStr;

use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction as Act, LinuxSeccompArg, LinuxSeccompOperator as Op,
    LinuxSyscall,
};
use syscalls::Sysno;

pub mod bpf;
use bpf::{Cmp, Cond, Insn, Rule};

/// One classic-BPF program for seccomp(SECCOMP_SET_MODE_FILTER).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program(pub Vec<Insn>);

/// A program as plain (code, jt, jf, k) instructions, to cross the parent/init channel.
pub type RawProgram = Vec<(u16, u8, u8, u32)>;

impl Program {
    pub fn to_raw(&self) -> RawProgram {
        self.0.iter().map(|i| (i.code, i.jt, i.jf, i.k)).collect()
    }
    pub fn from_raw(raw: &RawProgram) -> Program {
        Program(
            raw.iter()
                .map(|&(code, jt, jf, k)| Insn { code, jt, jf, k })
                .collect(),
        )
    }
}

/// The rules of one action: syscall number -> None if unconditional, else the ORed rules.
type Rules = BTreeMap<u32, Option<Vec<Rule>>>;

/// A SECCOMP_RET_* value: the action and its data, what a program returns.
type Action = u32;
const ALLOW: Action = libc::SECCOMP_RET_ALLOW;

/// Compile in the runtime parent or init before exec; errors name the offending syscall/action/arg.
pub fn compile(spec: &LinuxSeccomp) -> Result<Vec<Program>, String> {
    let (act, ret) = (spec.default_action(), spec.default_errno_ret());
    let default = action(act, ret, "defaultAction")?;
    // By BPF return value: one program per action and data.
    let mut groups: BTreeMap<Action, Rules> = BTreeMap::new();
    for entry in spec.syscalls().iter().flatten() {
        let what = format!("syscall {}", entry.names().join(","));
        if entry.names().iter().all(String::is_empty) {
            return Err("a syscalls entry has no names".into());
        }
        let act = action(entry.action(), entry.errno_ret(), &what)?;
        let rules = entry_rules(entry, &what)?;
        if act == default {
            continue; // redundant; runc skips these too
        }
        let group = groups.entry(act).or_default();
        for name in entry.names() {
            // Like libseccomp/runc, names unknown on this arch are skipped: profiles such as
            // Docker's list calls of every arch (e.g. `_llseek`, `arm_fadvise64_64`).
            if let Ok(nr) = Sysno::from_str(name) {
                merge(group, nr.id() as u32, rules.as_deref());
            }
        }
    }

    // A group whose names were all unknown here would only add a do-nothing program.
    groups.retain(|_, rules| !rules.is_empty());
    let seccomp_nr = Sysno::seccomp.id() as u32;
    // (may this program deny our own next seccomp(2) call?, program)
    let mut progs: Vec<(bool, Program)> = Vec::new();
    if default == ALLOW {
        if !groups.is_empty() {
            progs.extend(x32_guard().map(|p| (false, p)));
        }
    } else {
        let mut base = Rules::new();
        for (nr, rules) in groups.values().flatten() {
            merge(&mut base, *nr, rules.as_deref());
        }
        let blocks = base.get(&seccomp_nr) != Some(&None);
        progs.push((blocks, build(base, ALLOW, default)?));
    }
    for (act, rules) in groups {
        if act != ALLOW {
            let blocks = rules.contains_key(&seccomp_nr);
            progs.push((blocks, build(rules, act, ALLOW)?));
        }
    }
    // Once a filter that denies seccomp(2) is installed, installing the next one fails (think
    // of a strict allow-list without `seccomp` plus an ERRNO group), so such filters go last.
    // The sort is stable, so the rest keep their order.
    progs.sort_by_key(|(blocks, _)| *blocks);
    Ok(progs.into_iter().map(|(_, p)| p).collect())
}

/// Install all programs into the calling thread (order as returned). Must NOT set no_new_privs
/// itself: the OCI spec decides that separately (`process.noNewPrivileges`).
pub fn install(progs: &[Program]) -> Result<(), String> {
    for (i, p) in progs.iter().enumerate() {
        crate::sys::seccomp_install(&p.0).map_err(|e| {
            let hint = match e {
                nix::errno::Errno::EACCES => " (no_new_privs is unset and CAP_SYS_ADMIN missing)",
                _ => "",
            };
            format!("installing filter {} of {}: {e}{hint}", i + 1, progs.len())
        })?;
    }
    Ok(())
}

/// Maps an OCI action. As in the spec and runc, a missing errnoRet means EPERM (an entry does not
/// inherit defaultErrnoRet), and TRACE passes it to the tracer as the event message.
fn action(act: Act, errno_ret: Option<u32>, what: &str) -> Result<Action, String> {
    let data = match (act, errno_ret) {
        (Act::ScmpActErrno | Act::ScmpActTrace, ret) => ret.unwrap_or(libc::EPERM as u32),
        // The spec says the runtime MUST fail on an errno for an action that cannot return one.
        (_, Some(_)) => return Err(format!("{what}: errnoRet is not valid with {act}")),
        (_, None) => 0,
    };
    if data > 0xffff {
        return Err(format!("{what}: errnoRet {data} exceeds SECCOMP_RET_DATA"));
    }
    Ok(match act {
        Act::ScmpActAllow => ALLOW,
        Act::ScmpActErrno => libc::SECCOMP_RET_ERRNO | data,
        Act::ScmpActTrace => libc::SECCOMP_RET_TRACE | data,
        // SCMP_ACT_KILL is libseccomp's old name for KILL_THREAD.
        Act::ScmpActKill | Act::ScmpActKillThread => libc::SECCOMP_RET_KILL_THREAD,
        Act::ScmpActKillProcess => libc::SECCOMP_RET_KILL_PROCESS,
        Act::ScmpActTrap => libc::SECCOMP_RET_TRAP,
        Act::ScmpActLog => libc::SECCOMP_RET_LOG,
        // Needs a listener socket and agent protocol that berth does not implement.
        Act::ScmpActNotify => return Err("seccomp action SCMP_ACT_NOTIFY is not supported".into()),
    })
}

/// None = unconditional. An entry's args are ANDed into one rule, except that an entry naming
/// some arg index twice gets one rule per arg (ORed): runc does this because libseccomp refused
/// two comparisons on one arg, and profiles tested with runc expect that meaning.
fn entry_rules(entry: &LinuxSyscall, what: &str) -> Result<Option<Vec<Rule>>, String> {
    let args = entry.args().as_deref().unwrap_or_default();
    if args.is_empty() {
        return Ok(None);
    }
    let conds = args
        .iter()
        .map(|a| condition(a, what))
        .collect::<Result<Vec<_>, _>>()?;
    let mut seen = [false; 6];
    let repeated = args.iter().any(|a| {
        seen.get_mut(a.index())
            .is_some_and(|s| std::mem::replace(s, true))
    });
    let sets = if repeated {
        conds.into_iter().map(|c| vec![c]).collect()
    } else {
        vec![conds]
    };
    Ok(Some(sets))
}

fn condition(arg: &LinuxSeccompArg, what: &str) -> Result<Cond, String> {
    let value = arg.value();
    let (cmp, value) = match arg.op() {
        Op::ScmpCmpNe => (Cmp::Ne, value),
        Op::ScmpCmpLt => (Cmp::Lt, value),
        Op::ScmpCmpLe => (Cmp::Le, value),
        Op::ScmpCmpEq => (Cmp::Eq, value),
        Op::ScmpCmpGe => (Cmp::Ge, value),
        Op::ScmpCmpGt => (Cmp::Gt, value),
        // libseccomp's order: `value` is the mask, `valueTwo` the datum: (arg & value) == valueTwo.
        Op::ScmpCmpMaskedEq => (Cmp::MaskedEq(value), arg.value_two().unwrap_or(0)),
    };
    // All 64 bits of the argument are compared, as libseccomp does.
    match u8::try_from(arg.index()) {
        Ok(index) if index < 6 => Ok(Cond {
            arg: index,
            cmp,
            value,
        }),
        _ => Err(format!(
            "{what}: arg index {} {}: a system call has arguments 0 to 5",
            arg.index(),
            arg.op()
        )),
    }
}

/// Adds `rules` (None = unconditional) for `nr`; an unconditional match absorbs conditions.
fn merge(into: &mut Rules, nr: u32, rules: Option<&[Rule]>) {
    match (rules, into.entry(nr).or_insert_with(|| Some(Vec::new()))) {
        (None, slot) => *slot = None,
        (Some(add), Some(have)) => have.extend_from_slice(add),
        (Some(_), None) => {} // already unconditional
    }
}

fn build(rules: Rules, matched: Action, mismatch: Action) -> Result<Program, String> {
    let filter = bpf::Filter {
        rules,
        matched,
        mismatch,
    };
    let prog = filter
        .program()
        .map_err(|e| format!("filter returning {matched:#x} (default {mismatch:#x}): {e}"))?;
    Ok(Program(prog))
}

/// x32 calls arrive on x86_64 as AUDIT_ARCH_X86_64 with nr | __X32_SYSCALL_BIT: they pass
/// the arch check but match none of the numbers, so with defaultAction ALLOW an x32 `mkdir`
/// would escape an ERRNO rule for mkdir. libseccomp rejects them too; we answer ENOSYS, as
/// kernels built without x32 do. (With any other default the base filter already applies it.)
fn x32_guard() -> Option<Program> {
    if !cfg!(target_arch = "x86_64") {
        return None;
    }
    let insn = |code, jt, jf, k| Insn { code, jt, jf, k };
    let enosys = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;
    Some(Program(vec![
        insn(bpf::LD_W_ABS, 0, 0, 4),        // seccomp_data.arch
        insn(bpf::JEQ_K, 0, 3, 0xc000_003e), // AUDIT_ARCH_X86_64, else allow (other filters decide)
        insn(bpf::LD_W_ABS, 0, 0, 0),        // seccomp_data.nr
        insn(bpf::JGE_K, 0, 1, 0x4000_0000), // __X32_SYSCALL_BIT
        insn(bpf::RET_K, 0, 0, enosys),
        insn(bpf::RET_K, 0, 0, ALLOW),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::wait::{waitpid, WaitStatus};
    use nix::unistd::{fork, ForkResult};
    use serde_json::json;

    fn ret_errno(n: u32) -> Action {
        libc::SECCOMP_RET_ERRNO | n
    }

    fn compile_json(v: serde_json::Value) -> Result<Vec<Program>, String> {
        compile(&serde_json::from_value(v).unwrap())
    }

    /// Whether `p` can return `action` (some RET instruction carries it).
    fn returns(p: &Program, k: Action) -> bool {
        p.0.iter().any(|i| i.code == 0x06 && i.k == k)
    }

    #[test]
    fn allow_by_default_with_errno_groups() {
        let progs = compile_json(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
            {"names": ["getppid"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["read"], "action": "SCMP_ACT_ALLOW"}
        ]}))
        .unwrap();
        let guards = usize::from(cfg!(target_arch = "x86_64"));
        assert_eq!(progs.len(), 2 + guards);
        assert!(returns(&progs[guards], ret_errno(1)));
        assert!(!returns(&progs[guards], ret_errno(13)));
        assert!(returns(&progs[guards + 1], ret_errno(13)));
        // Allow-by-default with only allow rules needs no filter at all.
        let none = compile_json(json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}));
        assert!(none.unwrap().is_empty());
    }

    #[test]
    fn error_by_default_with_allow_list_and_seccomp_denier_last() {
        let progs = compile_json(
            json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
            "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"}]}),
        )
        .unwrap();
        assert_eq!(progs.len(), 1);
        assert!(returns(&progs[0], ALLOW));
        assert!(returns(&progs[0], ret_errno(38)));
        let arch = bpf::AUDIT_ARCH.unwrap();
        let decide = |nr: Sysno| bpf::run(&progs[0].0, arch, nr.id() as u32, &[0; 6]).unwrap();
        assert_eq!(decide(Sysno::write), ALLOW);
        assert_eq!(decide(Sysno::getpid), ret_errno(38));
        // The base filter denies seccomp(2) here, so it must come after the clone3 group.
        let progs = compile_json(json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}
        ]}))
        .unwrap();
        assert!(returns(&progs[0], ret_errno(38)));
        assert!(returns(&progs[1], ret_errno(1)));
    }

    #[test]
    fn unknown_names_are_skipped_but_empty_names_fail() {
        let with = |names: serde_json::Value| {
            compile_json(json!({"defaultAction": "SCMP_ACT_KILL_PROCESS",
                "syscalls": [{"names": names, "action": "SCMP_ACT_ALLOW"}]}))
            .unwrap()
        };
        assert_eq!(
            with(json!(["no_such_call", "getpid"])),
            with(json!(["getpid"]))
        );
        let empty = compile_json(json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": [], "action": "SCMP_ACT_ERRNO"}]}));
        assert!(empty.unwrap_err().contains("no names"));
    }

    #[test]
    fn notify_and_bad_errno_or_index_are_rejected() {
        let err = |entry| {
            compile_json(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [entry]}))
                .unwrap_err()
        };
        let notify = err(json!({"names": ["ioctl"], "action": "SCMP_ACT_NOTIFY"}));
        assert_eq!(notify, "seccomp action SCMP_ACT_NOTIFY is not supported");
        let trap = err(json!({"names": ["ioctl"], "action": "SCMP_ACT_TRAP", "errnoRet": 5}));
        assert!(trap.contains("syscall ioctl: errnoRet is not valid with SCMP_ACT_TRAP"));
        let arg = json!({"index": 6, "value": 1, "op": "SCMP_CMP_EQ"});
        let index = err(json!({"names": ["ioctl"], "action": "SCMP_ACT_ERRNO", "args": [arg]}));
        assert!(
            index.contains("syscall ioctl: arg index 6 SCMP_CMP_EQ"),
            "{index}"
        );
    }

    #[test]
    fn masked_eq_uses_value_as_mask_and_value_two_as_datum() {
        let arg = json!({"index": 0, "value": 0x7E02_0000, "valueTwo": 0x2_0000,
            "op": "SCMP_CMP_MASKED_EQ"});
        let got = compile_json(json!({"defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"names": ["clone"], "action": "SCMP_ACT_ALLOW", "args": [arg]}]}))
        .unwrap();
        // Low half of arg 0: `A &= mask` (BPF_ALU|BPF_AND|BPF_K) then `A == datum` (JEQ).
        let (and, jeq) = (0x54, 0x15);
        assert!(got[0]
            .0
            .windows(2)
            .any(|w| (w[0].code, w[0].k, w[1].code, w[1].k) == (and, 0x7E02_0000, jeq, 0x2_0000)));
    }

    #[test]
    fn repeated_arg_index_means_or_like_runc() {
        let eq = |v: u64| json!({"index": 0, "value": v, "op": "SCMP_CMP_EQ"});
        let allow =
            |args| json!({"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": args});
        let compile =
            |entries| compile_json(json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": entries}));
        let split = compile(json!([allow(json!([eq(0)])), allow(json!([eq(8)]))]));
        assert_eq!(compile(json!([allow(json!([eq(0), eq(8)]))])), split);
    }

    /// Runs `child` in a forked process after installing `progs` and returns its exit code. The
    /// child sticks to raw syscalls (no allocation after fork in a threaded test binary) and
    /// sets no_new_privs first, so the test also passes without CAP_SYS_ADMIN.
    fn in_child(progs: &[Program], child: impl FnOnce() -> i32) -> i32 {
        // SAFETY: see above; the child leaves with _exit.
        match unsafe { fork() }.unwrap() {
            ForkResult::Child => unsafe {
                libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
                libc::_exit(if install(progs).is_ok() { child() } else { 100 })
            },
            ForkResult::Parent { child } => match waitpid(child, None).unwrap() {
                WaitStatus::Exited(_, code) => code,
                other => panic!("child did not exit normally: {other:?}"),
            },
        }
    }

    fn errno() -> i32 {
        // SAFETY: reads this thread's errno.
        unsafe { *libc::__errno_location() }
    }

    #[test]
    fn installed_errno_rule_denies_mkdir() {
        let progs = compile_json(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["mkdirat", "mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}
        ]}))
        .unwrap();
        let path = format!("/tmp/x-{}\0", std::process::id());
        let code = in_child(&progs, || {
            // SAFETY: `path` is NUL-terminated.
            match unsafe { libc::mkdir(path.as_ptr().cast(), 0o700) } {
                0 => 0,
                _ => errno(),
            }
        });
        let _ = std::fs::remove_dir(path.trim_end_matches('\0'));
        assert_eq!(code, libc::EPERM);
    }

    #[test]
    fn installed_allow_list_denies_unlisted_getppid() {
        // All but getppid, getpgrp and seccomp itself. The getpgrp ERRNO group adds a filter
        // that must go in before the base filter, which denies seccomp(2).
        let names: Vec<_> = Sysno::iter()
            .filter(|s| ![Sysno::getppid, Sysno::seccomp, Sysno::getpgrp].contains(s))
            .map(|s| s.name())
            .collect();
        let progs = compile_json(
            json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
            "syscalls": [{"names": names, "action": "SCMP_ACT_ALLOW"},
                {"names": ["getpgrp"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}),
        )
        .unwrap();
        assert_eq!(progs.len(), 2);
        let mut fds = [0; 2];
        // SAFETY: fds has room for the two descriptors.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: raw syscalls on integers and a static one-byte buffer.
        let code = in_child(&progs, || unsafe {
            let (ppid, ppid_errno) = (libc::syscall(libc::SYS_getppid), errno());
            let pgrp_denied = libc::syscall(libc::SYS_getpgrp) == -1 && errno() == libc::EPERM;
            let wrote = libc::write(fds[1], b"w".as_ptr().cast(), 1) == 1;
            match (ppid, pgrp_denied, wrote) {
                (-1, true, true) => ppid_errno,
                _ => 101,
            }
        });
        // SAFETY: closes the pipe opened above.
        unsafe { (libc::close(fds[0]), libc::close(fds[1])) };
        assert_eq!(code, libc::ENOSYS);
    }
}
