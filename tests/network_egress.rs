//! Egress from bridge networks to a namespace the test makes (standing in for the internet),
//! through an iptables FORWARD policy of DROP; an --internal network has no way out; the
//! accept rules berth put into iptables' FORWARD chain go with the network.

mod common;

use std::process::Command;

use common::*;

fn forward_chain() -> String {
    text(
        &Command::new("nft")
            .args(["list", "chain", "ip", "filter", "FORWARD"])
            .output()
            .expect("nft")
            .stdout,
    )
}

fn nft_ruleset() -> String {
    text(
        &Command::new("nft")
            .args(["list", "ruleset"])
            .output()
            .expect("nft")
            .stdout,
    )
}

// busybox 1.35's `wget -T` crashes after a good transfer: `timeout 3 wget` bounds it instead,
// under `sh` that does not exec it (a PID 1 ignores the SIGTERM it has no handler for).

/// A namespace standing in for the internet: `10.213.250.2/30` behind a veth whose host end
/// is `10.213.250.1`, serving HTTP with the host's busybox. Removed on drop.
struct Outside {
    ns: String,
    host_if: String,
    server: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Outside {
    fn new() -> Outside {
        let ns = format!("bt-out-{}", std::process::id());
        let host_if = format!("bto{}", std::process::id() % 100000);
        let sh = |c: &str| {
            let o = Command::new("sh").args(["-c", c]).output().expect("sh");
            assert!(o.status.success(), "{c}: {}", text(&o.stderr));
        };
        sh(&format!("ip netns add {ns}"));
        sh(&format!(
            "ip link add {host_if} type veth peer name eth0 netns {ns}"
        ));
        sh(&format!(
            "ip addr add 10.213.250.1/30 dev {host_if} && ip link set {host_if} up"
        ));
        sh(&format!("ip -n {ns} addr add 10.213.250.2/30 dev eth0 && ip -n {ns} link set eth0 up && ip -n {ns} link set lo up"));
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("hello"), "outside\n").unwrap();
        let bb = ["/bin/busybox", "/usr/bin/busybox"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .expect("busybox");
        let server = Command::new("ip")
            .args(["netns", "exec", &ns, bb, "httpd", "-f", "-p", "80", "-h"])
            .arg(dir.path())
            .spawn()
            .expect("httpd in the namespace");
        Outside {
            ns,
            host_if,
            server,
            _dir: dir,
        }
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_if])
            .output();
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).output();
    }
}

/// Sets the iptables FORWARD policy to DROP and puts the old one back on drop.
struct ForwardDrop(String);

impl ForwardDrop {
    fn set() -> ForwardDrop {
        let out = Command::new("iptables")
            .args(["-S", "FORWARD"])
            .output()
            .expect("iptables");
        let old = text(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("-P FORWARD ").map(String::from))
            .unwrap_or_else(|| "ACCEPT".into());
        let o = Command::new("iptables")
            .args(["-P", "FORWARD", "DROP"])
            .output()
            .expect("iptables");
        assert!(o.status.success(), "{}", text(&o.stderr));
        ForwardDrop(old)
    }
}

impl Drop for ForwardDrop {
    fn drop(&mut self) {
        let _ = Command::new("iptables")
            .args(["-P", "FORWARD", &self.0])
            .output();
    }
}

#[test]
fn egress_works_through_a_forward_drop_policy_and_internal_has_none() {
    if !root_or_skip("egress_works_through_a_forward_drop_policy_and_internal_has_none") {
        return;
    }
    if Command::new("iptables").arg("--version").output().is_err() {
        panic!("iptables (Debian package iptables) is needed by this test");
    }
    let out = Outside::new();
    let w = World::with_busybox();
    let net = w
        .ok(&[
            "network",
            "create",
            "--subnet",
            "10.213.18.0/24",
            "bt-egress",
        ])
        .trim()
        .to_string();
    // DROP set after the network was made (as when Docker starts after berth): its first
    // container brings the accept rules (its DNS server rewrites the table).
    let _policy = ForwardDrop::set();
    let got = w.ok(&[
        "run", "--rm", "--network", "bt-egress", "bb:1", "sh", "-c",
        "for i in 1 2 3 4 5 6 7 8 9 10; do timeout 3 wget -qO- http://10.213.250.2/hello && break; sleep 0.2; done",
    ]);
    assert_eq!(got.trim(), "outside");
    // berth's accept rules are in forms iptables reads back (Docker and podman edit the chain
    // with iptables). Another program may have left rules iptables cannot read: then that is
    // all `iptables -S` says, and only nft is asked.
    let chain = forward_chain();
    assert!(
        chain.contains(&format!("iifname \"br-{}\"", &net[..12])),
        "{chain}"
    );
    let o = Command::new("iptables")
        .args(["-S", "FORWARD"])
        .output()
        .unwrap();
    if o.status.success() {
        let rules = text(&o.stdout);
        assert!(
            rules.contains(&format!("--comment berth_{}", &net[..12])),
            "{rules}"
        );
    } else {
        eprintln!("iptables -S FORWARD: {}", text(&o.stderr));
    }
    w.ok(&[
        "network",
        "create",
        "--internal",
        "--subnet",
        "10.213.19.0/24",
        "bt-internal",
    ]);
    let o = w.berth(&[
        "run",
        "--rm",
        "--network",
        "bt-internal",
        "bb:1",
        "sh",
        "-c",
        "timeout 3 wget -qO- http://10.213.250.2/hello; exit $?",
    ]);
    assert!(!o.status.success(), "an internal network reached outside");
    w.ok(&["network", "rm", "bt-egress", "bt-internal"]);
    assert!(!nft_ruleset().contains(&format!("berth_{}", &net[..12])));
    // Its accept rules left iptables' FORWARD chain with it.
    let chain = forward_chain();
    assert!(!chain.contains(&net[..12]), "{chain}");
    drop(out);
}

#[test]
fn accept_rules_left_without_their_table_go_with_the_next_network_rm() {
    if !root_or_skip("accept_rules_left_without_their_table_go_with_the_next_network_rm") {
        return;
    }
    // iptables-nft's FORWARD chain, made as iptables-nft makes it where it is not there yet
    // (`add` leaves one that is, policy and rules, alone).
    let o = Command::new("nft")
        .args([
            "add table ip filter; add chain ip filter FORWARD { type filter hook forward priority filter; }",
        ])
        .output()
        .expect("nft");
    assert!(o.status.success(), "{}", text(&o.stderr));
    // What an older berth's race with `network rm` left: a marked rule, no table.
    let orphan = format!(
        "berth_{:012x}",
        0xfeed_0000_0000u64 + std::process::id() as u64
    );
    let br = format!("br-{}", &orphan[6..]);
    let o = Command::new("nft")
        .args([
            "insert",
            "rule",
            "ip",
            "filter",
            "FORWARD",
            "iifname",
            &br,
            "counter",
            "accept",
            "comment",
            &format!("\"{orphan}\""),
        ])
        .output()
        .expect("nft");
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(forward_chain().contains(&orphan));
    // Should the test fail before the sweep: the rule goes anyway.
    struct Sweep(String);
    impl Drop for Sweep {
        fn drop(&mut self) {
            let out = Command::new("nft")
                .args(["-a", "list", "chain", "ip", "filter", "FORWARD"])
                .output();
            for l in out.map(|o| text(&o.stdout)).unwrap_or_default().lines() {
                if let (true, Some(h)) = (l.contains(&self.0), l.rsplit("# handle ").next()) {
                    let _ = Command::new("nft")
                        .args([
                            "delete",
                            "rule",
                            "ip",
                            "filter",
                            "FORWARD",
                            "handle",
                            h.trim(),
                        ])
                        .output();
                }
            }
        }
    }
    let _sweep = Sweep(orphan.clone());
    let w = World::new();
    let net = w
        .ok(&[
            "network",
            "create",
            "--subnet",
            "10.213.77.0/24",
            "bt-orphan",
        ])
        .trim()
        .to_string();
    assert!(forward_chain().contains(&orphan), "not before the rm");
    w.ok(&["network", "rm", "bt-orphan"]);
    let chain = forward_chain();
    assert!(!chain.contains(&orphan), "{chain}");
    assert!(!chain.contains(&net[..12]), "{chain}");
}
