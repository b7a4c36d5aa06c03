//! Bridge networks, black-box: names, isolation, published ports (127.0.0.1 and the host's
//! own address), taken ports, the stale-DNAT case, concurrent addresses, healing after a
//! SIGKILL, DNS, connect/disconnect, and nothing left behind (egress: network_egress.rs).
//! Traffic goes only to loopback, the host's own address, or a namespace the test makes.
//! Each test has its own subnet (10.213.N.0/24), network names and host ports.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

/// A world with busybox and a user network on 10.213.`n`.0/24; returns (world, net id).
fn world_with_net(name: &str, n: u8) -> (World, String) {
    let w = World::with_busybox();
    let id = w
        .ok(&[
            "network",
            "create",
            "--subnet",
            &format!("10.213.{n}.0/24"),
            name,
        ])
        .trim()
        .to_string();
    assert_eq!(id.len(), 64, "network create prints the id: {id:?}");
    (w, id)
}

/// An HTTP GET from the host; the body, or the error.
fn http_get(addr: &str, path: &str) -> Result<String, String> {
    let sa: std::net::SocketAddr = addr.parse().map_err(|e| format!("{addr}: {e}"))?;
    let mut s =
        TcpStream::connect_timeout(&sa, Duration::from_secs(2)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok();
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").map_err(|e| e.to_string())?;
    let mut out = String::new();
    s.read_to_string(&mut out).map_err(|e| e.to_string())?;
    Ok(out.split("\r\n\r\n").nth(1).unwrap_or("").to_string())
}

/// Tries `f` for a few seconds (a server in a fresh container takes a moment to listen).
fn eventually(f: impl Fn() -> Result<String, String>) -> Result<String, String> {
    let t = std::time::Instant::now();
    loop {
        match f() {
            Ok(v) => return Ok(v),
            Err(e) if t.elapsed() > Duration::from_secs(5) => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// The host's first global IPv4 address (not loopback, not a bridge or veth a test made);
/// None where there is none (the cgroup-v2 VM has loopback only).
fn host_addr() -> Option<String> {
    let out = Command::new("ip")
        .args(["-4", "-o", "addr", "show", "scope", "global"])
        .output()
        .expect("ip (iproute2)");
    text(&out.stdout)
        .lines()
        .filter(|l| !l.contains(" br-") && !l.contains(" bto"))
        .filter_map(|l| l.split_whitespace().nth(3))
        .filter_map(|a| a.split('/').next())
        .find(|a| !a.starts_with("10.213."))
        .map(String::from)
}

/// The MTU of the host's default route's interface (1500 where there is none).
fn uplink_mtu() -> u32 {
    let routes = std::fs::read_to_string("/proc/net/route").unwrap();
    routes
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.len() > 7 && f[1] == "00000000" && f[7] == "00000000")
        .map(|f| {
            let p = format!("/sys/class/net/{}/mtu", f[0]);
            std::fs::read_to_string(&p)
                .expect(&p)
                .trim()
                .parse()
                .unwrap()
        })
        .unwrap_or(1500)
}

/// A busybox httpd serving its hostname at /hostname (the container's /etc).
fn httpd_args<'a>(name: &'a str, net: &'a str) -> Vec<&'a str> {
    vec!["--name", name, "--network", net]
}

fn serve(w: &World, extra: &[&str]) -> String {
    let mut a: Vec<&str> = extra.to_vec();
    a.extend(["bb:1", "httpd", "-f", "-p", "80", "-h", "/etc"]);
    w.run_d(&a)
}

fn link_exists(name: &str) -> bool {
    std::path::Path::new("/sys/class/net").join(name).exists()
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

/// The network's bridge, table and lease files are gone.
fn assert_network_gone(w: &World, net_id: &str) {
    assert!(
        !link_exists(&format!("br-{}", &net_id[..12])),
        "bridge of {net_id} left"
    );
    assert!(
        !nft_ruleset().contains(&format!("berth_{}", &net_id[..12])),
        "nft table of {net_id} left"
    );
    assert!(!w.root().join("networks").join(net_id).exists());
}

fn inspect_ip(w: &World, ctr: &str, net: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(&w.ok(&["inspect", ctr])).expect("json");
    v[0]["NetworkSettings"]["Networks"][net]["IPAddress"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn two_containers_talk_by_name_and_a_published_port_answers_everywhere() {
    if !root_or_skip("two_containers_talk_by_name_and_a_published_port_answers_everywhere") {
        return;
    }
    let (w, net) = world_with_net("bt-talk", 11);
    let mut a = httpd_args("web", "bt-talk");
    a.extend(["--network-alias", "www", "-p", "28011:80"]);
    let id = serve(&w, &a);
    let short = &id[..12];
    // The bridge keeps one MAC (02:42 and the gateway's address) as containers come and go:
    // the kernel's default, the lowest port's MAC, changes under the containers' ARP caches.
    let mac = || {
        let p = format!("/sys/class/net/br-{}/address", &net[..12]);
        std::fs::read_to_string(&p).expect(&p).trim().to_string()
    };
    assert_eq!(mac(), "02:42:0a:d5:0b:01");
    // By name, by alias, by short id, from another container on the network.
    let out = w.ok(&[
        "run", "--rm", "--network", "bt-talk", "bb:1", "sh", "-c",
        &format!("for h in web www {short}; do for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://$h/hostname && break; sleep 0.2; done; done"),
    ]);
    assert_eq!(out.lines().collect::<Vec<_>>(), vec![short; 3], "{out}");
    assert_eq!(
        mac(),
        "02:42:0a:d5:0b:01",
        "after a second container came and went"
    );
    // `run --rm` of a command on the network.
    let on_net = |cmd: &[&str]| {
        let mut a = vec!["run", "--rm", "--network", "bt-talk", "bb:1"];
        a.extend_from_slice(cmd);
        w.ok(&a)
    };
    // Without --mtu the links run at 65520 (traffic that stays on the host moves in 64 KiB
    // packets) while the default route, the way off the host, keeps the uplink's MTU.
    let out = on_net(&[
        "sh",
        "-c",
        "cat /sys/class/net/eth0/mtu; ping -c1 -W3 -s 30000 web >/dev/null; echo ping=$?",
    ]);
    assert!(
        out.starts_with("65520\n") && out.contains("ping=0"),
        "{out}"
    );
    let ns = w.root().join("netns").join(&id);
    let route = Command::new("nsenter")
        .arg(format!("--net={}", ns.display()))
        .args(["ip", "route", "show", "default"])
        .output()
        .expect("nsenter");
    let uplink = uplink_mtu();
    assert!(
        text(&route.stdout).contains(&format!(" mtu {uplink}")),
        "uplink {uplink}: {}{}",
        text(&route.stdout),
        text(&route.stderr)
    );
    // The published port on 127.0.0.1 and on the host's own address.
    let body = eventually(|| http_get("127.0.0.1:28011", "/hostname")).expect("127.0.0.1:28011");
    assert_eq!(body.trim(), short);
    match host_addr() {
        Some(addr) => {
            let body = eventually(|| http_get(&format!("{addr}:28011"), "/hostname"))
                .unwrap_or_else(|e| panic!("{addr}:28011: {e}"));
            assert_eq!(body.trim(), short);
            // Hairpin: another container through the host's address.
            let out = on_net(&["wget", "-qO-", &format!("http://{addr}:28011/hostname")]);
            assert_eq!(out.trim(), short);
        }
        None => eprintln!("no global IPv4 address on this host: the host-address part is not run"),
    }
    // What port, ps and inspect say.
    assert_eq!(w.ok(&["port", "web"]).trim(), "80/tcp -> 0.0.0.0:28011");
    assert_eq!(w.ok(&["port", "web", "80"]).trim(), "0.0.0.0:28011");
    assert!(w.ok(&["ps"]).contains("0.0.0.0:28011->80/tcp"));
    let ip = inspect_ip(&w, "web", "bt-talk");
    assert!(ip.starts_with("10.213.11."), "{ip}");
    let v: serde_json::Value =
        serde_json::from_str(&w.ok(&["network", "inspect", "bt-talk"])).expect("json");
    assert_eq!(v[0]["IPAM"]["Config"][0]["Subnet"], "10.213.11.0/24");
    assert_eq!(v[0]["IPAM"]["Config"][0]["Gateway"], "10.213.11.1");
    assert_eq!(v[0]["Containers"][&id]["Name"], "web");
    // rm takes everything; the network goes with rm.
    w.ok(&["rm", "-f", "web"]);
    w.assert_gone(&id);
    assert!(!nft_ruleset().contains("dport 28011"));
    assert!(http_get("127.0.0.1:28011", "/").is_err());
    w.ok(&["network", "rm", "bt-talk"]);
    assert_network_gone(&w, &net);
}

#[test]
fn different_networks_are_isolated_and_the_default_network_resolves_names() {
    if !root_or_skip("different_networks_are_isolated_and_the_default_network_resolves_names") {
        return;
    }
    let (w, n1) = world_with_net("bt-iso1", 12);
    let n2 = w
        .ok(&["network", "create", "--subnet", "10.213.13.0/24", "bt-iso2"])
        .trim()
        .to_string();
    let id = serve(&w, &httpd_args("iso-a", "bt-iso1"));
    let ip = inspect_ip(&w, "iso-a", "bt-iso1");
    // Same network: reachable (the server is up).
    let out = w.ok(&[
        "run", "--rm", "--network", "bt-iso1", "bb:1", "sh", "-c",
        &format!("for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://{ip}/hostname && break; sleep 0.2; done"),
    ]);
    assert_eq!(out.trim(), &id[..12]);
    // Other network: neither by address nor by name.
    let o = w.berth(&[
        "run",
        "--rm",
        "--network",
        "bt-iso2",
        "bb:1",
        "sh",
        "-c",
        &format!("timeout 3 wget -qO- http://{ip}/hostname; exit $?"),
    ]);
    assert!(!o.status.success(), "reached {ip} across networks");
    let o = w.berth(&[
        "run",
        "--rm",
        "--network",
        "bt-iso2",
        "bb:1",
        "sh",
        "-c",
        "grep -w iso-a /etc/hosts",
    ]);
    assert!(!o.status.success(), "iso-a is named on the other network");
    // The default network: containers find each other by name.
    let d = w.run_d(&[
        "--name", "dflt-a", "bb:1", "httpd", "-f", "-p", "80", "-h", "/etc",
    ]);
    let out = w.ok(&[
        "run", "--rm", "bb:1", "sh", "-c",
        "for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://dflt-a/hostname && break; sleep 0.2; done",
    ]);
    assert_eq!(out.trim(), &d[..12]);
    w.ok(&["rm", "-f", "iso-a", "dflt-a"]);
    w.assert_gone(&id);
    w.assert_gone(&d);
    w.ok(&["network", "rm", "bt-iso1", "bt-iso2"]);
    assert_network_gone(&w, &n1);
    assert_network_gone(&w, &n2);
}

#[test]
fn a_taken_port_is_refused_with_its_holder() {
    if !root_or_skip("a_taken_port_is_refused_with_its_holder") {
        return;
    }
    let (w, _) = world_with_net("bt-taken", 14);
    let l = std::net::TcpListener::bind("0.0.0.0:28014").expect("bind 28014");
    let o = w.berth(&[
        "run",
        "-d",
        "--network",
        "bt-taken",
        "-p",
        "28014:80",
        "bb:1",
        "sleep",
        "30",
    ]);
    assert!(!o.status.success());
    let e = text(&o.stderr);
    assert!(
        e.contains("28014") && e.contains(&format!("process {}", std::process::id())),
        "{e}"
    );
    drop(l);
    w.run_d(&[
        "--name",
        "holder",
        "--network",
        "bt-taken",
        "-p",
        "28014:80",
        "bb:1",
        "sleep",
        "30",
    ]);
    let o = w.berth(&[
        "run",
        "-d",
        "--network",
        "bt-taken",
        "-p",
        "28014:80",
        "bb:1",
        "sleep",
        "30",
    ]);
    assert!(!o.status.success());
    let e = text(&o.stderr);
    assert!(e.contains("already published by container holder"), "{e}");
    // -P: the image exposes nothing; --expose does, on a free port.
    let id = w.run_d(&[
        "--network",
        "bt-taken",
        "--expose",
        "81",
        "-P",
        "bb:1",
        "sleep",
        "30",
    ]);
    let p = w.ok(&["port", &id, "81"]);
    let port: u16 = p
        .trim()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .expect("a port");
    assert!(port > 0 && port != 28014, "{p}");
}

#[test]
fn after_rm_the_port_reaches_the_new_container_even_after_a_killed_rm() {
    if !root_or_skip("after_rm_the_port_reaches_the_new_container_even_after_a_killed_rm") {
        return;
    }
    let (w, _) = world_with_net("bt-stale", 15);
    let mut last = String::new();
    for kill in [None, Some("kill@teardown-endpoint"), None] {
        let id = serve(&w, &["--network", "bt-stale", "-p", "28015:80"]);
        let body = eventually(|| http_get("127.0.0.1:28015", "/hostname")).expect("get");
        assert_eq!(
            body.trim(),
            &id[..12],
            "port 28015 reaches the container just made"
        );
        assert_ne!(body.trim(), last);
        last = body.trim().to_string();
        let mut c = Command::new(BIN);
        c.arg("--root").arg(w.root()).args(["rm", "-f", &id]);
        if let Some(k) = kill {
            c.env("BERTH_FAULT", k);
        }
        let o = c.output().expect("rm");
        assert_eq!(o.status.success(), kill.is_none(), "{}", text(&o.stderr));
        // The next command heals what the killed rm left.
        w.ok(&["ps", "-a"]);
        if kill.is_some() {
            w.ok(&["rm", "-f", &id]);
        }
        w.assert_gone(&id);
    }
}

#[test]
fn ports_of_a_second_container_are_added_and_each_goes_with_its_own() {
    if !root_or_skip("ports_of_a_second_container_are_added_and_each_goes_with_its_own") {
        return;
    }
    let (w, net) = world_with_net("bt-add", 51);
    let a = serve(&w, &["--network", "bt-add", "-p", "28051:80"]);
    // The table has its ports chain now: the second container's rule is only added.
    let b = serve(&w, &["--network", "bt-add", "-p", "28052:80"]);
    for (port, id) in [("28051", &a), ("28052", &b)] {
        let body = eventually(|| http_get(&format!("127.0.0.1:{port}"), "/hostname"))
            .unwrap_or_else(|e| panic!("{port}: {e}"));
        assert_eq!(body.trim(), &id[..12], "port {port}");
    }
    let table = format!("berth_{}", &net[..12]);
    let ruleset = nft_ruleset();
    assert!(
        ruleset.contains("dport 28051") && ruleset.contains("dport 28052"),
        "{table}: {ruleset}"
    );
    // The first goes: its rule with it, the second's stays and answers.
    w.ok(&["rm", "-f", &a]);
    let ruleset = nft_ruleset();
    assert!(!ruleset.contains("dport 28051"), "{ruleset}");
    assert!(ruleset.contains("dport 28052"), "{ruleset}");
    let body = eventually(|| http_get("127.0.0.1:28052", "/hostname")).expect("28052");
    assert_eq!(body.trim(), &b[..12]);
    // The freed port reaches a new container (its rule added beside the second's).
    let c = serve(&w, &["--network", "bt-add", "-p", "28051:80"]);
    let body = eventually(|| http_get("127.0.0.1:28051", "/hostname")).expect("28051");
    assert_eq!(body.trim(), &c[..12]);
    w.ok(&["rm", "-f", &b, &c]);
    assert!(!nft_ruleset().contains("dport 2805"));
    w.ok(&["network", "rm", "bt-add"]);
    assert_network_gone(&w, &net);
}

#[test]
fn ten_concurrent_runs_get_distinct_addresses() {
    if !root_or_skip("ten_concurrent_runs_get_distinct_addresses") {
        return;
    }
    let (w, net) = world_with_net("bt-ten", 16);
    let kids: Vec<_> = (0..10)
        .map(|_| w.spawn(&["run", "-d", "--network", "bt-ten", "bb:1", "sleep", "30"]))
        .collect();
    let ids: Vec<String> = kids
        .into_iter()
        .map(|k| {
            let o = k.wait_with_output().expect("wait");
            assert!(o.status.success(), "{}", text(&o.stderr));
            text(&o.stdout).trim().to_string()
        })
        .collect();
    let mut ips: Vec<String> = ids.iter().map(|id| inspect_ip(&w, id, "bt-ten")).collect();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 10, "{ips:?}");
    let mut a: Vec<&str> = vec!["rm", "-f"];
    a.extend(ids.iter().map(String::as_str));
    w.ok(&a);
    for id in &ids {
        w.assert_gone(id);
    }
    let leases = std::fs::read_dir(w.root().join("networks").join(&net).join("leases"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .count();
    assert_eq!(leases, 0);
}

#[test]
fn sigkill_during_run_and_network_rm_is_healed() {
    if !root_or_skip("sigkill_during_run_and_network_rm_is_healed") {
        return;
    }
    if !cfg!(debug_assertions) {
        eprintln!("skipping: fault points exist in debug builds only");
        return;
    }
    let (w, net) = world_with_net("bt-kill", 17);
    for point in ["network-lease", "network-link", "spec"] {
        let o = Command::new(BIN)
            .arg("--root")
            .arg(w.root())
            .args([
                "run",
                "-d",
                "--network",
                "bt-kill",
                "-p",
                "28017:80",
                "bb:1",
                "sleep",
                "30",
            ])
            .env("BERTH_FAULT", format!("kill@{point}"))
            .stdin(Stdio::null())
            .output()
            .expect("run");
        assert!(!o.status.success(), "{point}: not killed");
        let ids: Vec<String> = std::fs::read_dir(w.root().join("containers"))
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.len() == 64)
                    .collect()
            })
            .unwrap_or_default();
        // The next command heals.
        w.ok(&["ps", "-a"]);
        for id in &ids {
            w.assert_gone(id);
        }
        let leases: Vec<_> = std::fs::read_dir(w.root().join("networks").join(&net).join("leases"))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
            .collect();
        assert!(leases.is_empty(), "{point}: leases left: {leases:?}");
        assert!(!nft_ruleset().contains("dport 28017"), "{point}: DNAT left");
        let ns: Vec<_> = std::fs::read_dir(w.root().join("netns"))
            .map(|rd| rd.flatten().collect())
            .unwrap_or_default();
        assert!(ns.is_empty(), "{point}: netns left: {ns:?}");
    }
    // network rm killed after the table went, before the bridge: the next rm finishes.
    let o = Command::new(BIN)
        .arg("--root")
        .arg(w.root())
        .args(["network", "rm", "bt-kill"])
        .env("BERTH_FAULT", "kill@network-rm-bridge")
        .output()
        .expect("network rm");
    assert!(!o.status.success());
    w.ok(&["network", "rm", "bt-kill"]);
    assert_network_gone(&w, &net);
}

#[test]
fn lo_is_up_with_network_none_and_etc_files_exist_in_every_mode() {
    if !root_or_skip("lo_is_up_with_network_none_and_etc_files_exist_in_every_mode") {
        return;
    }
    let w = World::with_busybox();
    let out = w.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "bb:1",
        "ip",
        "-o",
        "link",
        "show",
        "lo",
    ]);
    assert!(out.contains("<LOOPBACK,UP"), "{out}");
    for mode in ["none", "host", "bridge"] {
        let out = w.ok(&[
            "run",
            "--rm",
            "--network",
            mode,
            "--hostname",
            "hn1",
            "--add-host",
            "db.local:10.9.8.7",
            "--dns",
            "10.213.99.53",
            "--dns-search",
            "svc.example",
            "bb:1",
            "sh",
            "-c",
            "cat /etc/hostname /etc/hosts /etc/resolv.conf",
        ]);
        assert!(out.starts_with("hn1\n"), "{mode}: {out}");
        assert!(out.contains("10.9.8.7\tdb.local"), "{mode}: {out}");
        assert!(out.contains("nameserver 10.213.99.53"), "{mode}: {out}");
        assert!(out.contains("search svc.example"), "{mode}: {out}");
    }
}

// busybox 1.35's `wget -T` crashes after a good transfer: `timeout 3 wget` bounds it instead,
// under `sh` that does not exec it (a PID 1 ignores the SIGTERM it has no handler for).

#[test]
fn the_network_dns_answers_names_shared_aliases_and_fails_fast() {
    if !root_or_skip("the_network_dns_answers_names_shared_aliases_and_fails_fast") {
        return;
    }
    let (w, net) = world_with_net("bt-dns", 20);
    let ids: Vec<String> = (0..3)
        .map(|i| {
            w.run_d(&[
                "--name",
                &format!("api{i}"),
                "--network",
                "bt-dns",
                "--network-alias",
                "svc",
                "bb:1",
                "sleep",
                "60",
            ])
        })
        .collect();
    let mut want: Vec<String> = ids.iter().map(|id| inspect_ip(&w, id, "bt-dns")).collect();
    want.sort();
    // A container made after the server started sees everyone through it (not /etc/hosts:
    // its nameserver is the gateway).
    // `run --rm` of a shell script on the network.
    let sh_on_net = |script: &str| {
        w.berth(&[
            "run",
            "--rm",
            "--network",
            "bt-dns",
            "bb:1",
            "sh",
            "-c",
            script,
        ])
    };
    let o = sh_on_net("cat /etc/resolv.conf; nslookup svc; nslookup api1");
    let out = text(&o.stdout);
    assert!(o.status.success(), "{out}{}", text(&o.stderr));
    assert!(out.contains("nameserver 10.213.20.1"), "{out}");
    let mut got: Vec<String> = out
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Address: "))
        .filter(|a| a.starts_with("10.213.20."))
        .map(String::from)
        .collect();
    assert_eq!(got.len(), 4, "{out}");
    let api1 = got.pop().unwrap();
    assert_eq!(api1, inspect_ip(&w, "api1", "bt-dns"));
    got.sort();
    assert_eq!(got, want, "{out}");
    // An unknown name fails fast. Timed inside the container from /proc/uptime around the
    // lookup alone, so a slow container start (the emulated VM, a loaded host) is not counted.
    let o = sh_on_net(
        "read s _ </proc/uptime; nslookup nosuchname; r=$?; read e _ </proc/uptime; \
         echo \"took $s $e\"; exit $r",
    );
    let out = text(&o.stdout);
    assert!(!o.status.success(), "nosuchname resolved: {out}");
    let took: Vec<f64> = out
        .lines()
        .find_map(|l| l.strip_prefix("took "))
        .unwrap_or_else(|| panic!("no timing in {out}"))
        .split(' ')
        .map(|v| v.parse().unwrap())
        .collect();
    assert!(
        took[1] - took[0] < 1.0,
        "an unknown name took {:.2} s to fail: {out}",
        took[1] - took[0]
    );
    let server = || {
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
            .any(|c| text(&c).contains("dns-serve") && text(&c).contains(&net))
    };
    assert!(server(), "no DNS server for the network");
    let mut a = vec!["rm", "-f"];
    a.extend(ids.iter().map(String::as_str));
    w.ok(&a);
    assert!(
        !server(),
        "the DNS server outlived the network's last container"
    );
}

#[test]
fn connect_and_disconnect_a_running_container() {
    if !root_or_skip("connect_and_disconnect_a_running_container") {
        return;
    }
    let (w, _) = world_with_net("bt-con1", 21);
    w.ok(&["network", "create", "--subnet", "10.213.22.0/24", "bt-con2"]);
    let id = serve(&w, &httpd_args("multi", "bt-con1"));
    w.ok(&[
        "network",
        "connect",
        "--alias",
        "second",
        "--ip",
        "10.213.22.50",
        "bt-con2",
        "multi",
    ]);
    assert_eq!(inspect_ip(&w, "multi", "bt-con2"), "10.213.22.50");
    let v: serde_json::Value =
        serde_json::from_str(&w.ok(&["network", "inspect", "bt-con2"])).expect("json");
    assert_eq!(v[0]["Containers"][&id]["IPv4Address"], "10.213.22.50/24");
    // From the second network, by its alias there and by name.
    let out = w.ok(&[
        "run", "--rm", "--network", "bt-con2", "bb:1", "sh", "-c",
        "for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://second/hostname && break; sleep 0.2; done; wget -qO- http://multi/hostname",
    ]);
    assert_eq!(out.lines().collect::<Vec<_>>(), vec![&id[..12]; 2], "{out}");
    let o = w.berth(&["network", "connect", "bt-con2", "multi"]);
    assert!(!o.status.success(), "connected twice");
    w.ok(&["network", "disconnect", "bt-con2", "multi"]);
    let o = w.berth(&[
        "run",
        "--rm",
        "--network",
        "bt-con2",
        "bb:1",
        "sh",
        "-c",
        "timeout 3 wget -qO- http://10.213.22.50/hostname; exit $?",
    ]);
    assert!(!o.status.success(), "reached after disconnect");
    // A network in use is not removed; once the container is gone it is.
    let o = w.berth(&["network", "rm", "bt-con1"]);
    assert!(
        text(&o.stderr).contains("active endpoints"),
        "{}",
        text(&o.stderr)
    );
    w.ok(&["rm", "-f", "multi"]);
    w.assert_gone(&id);
    w.ok(&["network", "rm", "bt-con1", "bt-con2"]);
}

#[test]
fn bridge_name_mtu_labels_and_listing() {
    if !root_or_skip("bridge_name_mtu_labels_and_listing") {
        return;
    }
    let w = World::with_busybox();
    let id = w
        .ok(&[
            "network",
            "create",
            "--subnet",
            "10.213.23.0/24",
            "--gateway",
            "10.213.23.254",
            "--ip-range",
            "10.213.23.128/25",
            "-o",
            "com.docker.network.bridge.name=btcustom23",
            "--mtu",
            "1400",
            "--label",
            "team=net",
            "bt-custom",
        ])
        .trim()
        .to_string();
    assert!(link_exists("btcustom23"));
    let out = w.ok(&[
        "run",
        "--rm",
        "--network",
        "bt-custom",
        "bb:1",
        "sh",
        "-c",
        "cat /sys/class/net/eth0/mtu; ip route | grep default",
    ]);
    assert!(out.starts_with("1400\n"), "{out}");
    assert!(out.contains("default via 10.213.23.254"), "{out}");
    let c = w.run_d(&["--network", "bt-custom", "bb:1", "sleep", "30"]);
    let ip = inspect_ip(&w, &c, "bt-custom");
    assert!(
        ip.starts_with("10.213.23.1") && ip.len() > "10.213.23.12".len(),
        "{ip}"
    );
    assert_eq!(
        w.ok(&[
            "network",
            "ls",
            "-q",
            "--no-trunc",
            "--filter",
            "label=team=net"
        ])
        .trim(),
        id
    );
    let json = w.ok(&[
        "network",
        "ls",
        "--format",
        "json",
        "--filter",
        "name=bt-custom",
    ]);
    let v: serde_json::Value = serde_json::from_str(json.trim()).expect("one json line");
    assert_eq!(v["Name"], "bt-custom");
    let o = w.berth(&["network", "create", "bt-custom"]);
    assert!(
        text(&o.stderr).contains("already exists"),
        "{}",
        text(&o.stderr)
    );
    let o = w.berth(&[
        "network",
        "create",
        "--subnet",
        "10.213.23.64/26",
        "bt-overlap",
    ]);
    assert!(text(&o.stderr).contains("overlaps"), "{}", text(&o.stderr));
    w.ok(&["rm", "-f", &c]);
    w.ok(&["network", "rm", "bt-custom"]);
    assert!(!link_exists("btcustom23"));
}

#[test]
fn a_container_on_two_networks_resolves_names_on_both() {
    if !root_or_skip("a_container_on_two_networks_resolves_names_on_both") {
        return;
    }
    let (w, _) = world_with_net("bt-mnA", 41);
    w.ok(&["network", "create", "--subnet", "10.213.42.0/24", "bt-mnB"]);
    w.run_d(&[
        "--name",
        "mn-a",
        "--network",
        "bt-mnA",
        "bb:1",
        "sleep",
        "60",
    ]);
    w.run_d(&[
        "--name",
        "mn-b",
        "--network",
        "bt-mnB",
        "bb:1",
        "sleep",
        "60",
    ]);
    w.run_d(&[
        "--name",
        "mn-both",
        "--network",
        "bt-mnA",
        "--network",
        "bt-mnB",
        "bb:1",
        "sleep",
        "60",
    ]);
    let look = |from: &str, name: &str| w.berth(&["exec", from, "nslookup", name]);
    for name in ["mn-a", "mn-b"] {
        let o = look("mn-both", name);
        assert!(o.status.success(), "{name}: {}", text(&o.stdout));
    }
    assert!(text(&look("mn-both", "mn-b").stdout).contains("10.213.42."));
    // A container that joins the other network later is found too.
    w.run_d(&[
        "--name",
        "mn-b2",
        "--network",
        "bt-mnB",
        "bb:1",
        "sleep",
        "60",
    ]);
    let o = look("mn-both", "mn-b2");
    assert!(o.status.success(), "{}", text(&o.stdout));
    // The others still see only their own network's names.
    assert!(!look("mn-a", "mn-b").status.success());
    assert!(!look("mn-b", "mn-a").status.success());
    for c in ["mn-a", "mn-b", "mn-b2", "mn-both"] {
        w.ok(&["rm", "-f", c]);
    }
    w.ok(&["network", "rm", "bt-mnA", "bt-mnB"]);
}

#[test]
fn a_host_port_range_takes_its_first_free_port() {
    if !root_or_skip("a_host_port_range_takes_its_first_free_port") {
        return;
    }
    let (w, _) = world_with_net("bt-range", 43);
    // 28040 is held by a program, 28041 by another container: the next gets 28042.
    let l = std::net::TcpListener::bind("0.0.0.0:28040").expect("bind 28040");
    w.run_d(&[
        "--name",
        "rg-1",
        "--network",
        "bt-range",
        "-p",
        "28041:80",
        "bb:1",
        "sleep",
        "60",
    ]);
    let id = serve(
        &w,
        &[
            "--name",
            "rg-2",
            "--network",
            "bt-range",
            "-p",
            "28040-28045:80",
        ],
    );
    assert_eq!(w.ok(&["port", &id, "80"]).trim(), "0.0.0.0:28042");
    let body = eventually(|| http_get("127.0.0.1:28042", "/hostname")).expect("GET");
    assert_eq!(body.trim(), &id[..12]);
    // A range with nothing free left is refused, naming it.
    let o = w.berth(&[
        "run",
        "-d",
        "--network",
        "bt-range",
        "-p",
        "28040-28042:80",
        "bb:1",
        "sleep",
        "60",
    ]);
    let e = text(&o.stderr);
    assert!(
        !o.status.success() && e.contains("no free host port in 28040-28042/tcp"),
        "{e}"
    );
    drop(l);
    for c in ["rg-1", "rg-2"] {
        w.ok(&["rm", "-f", c]);
    }
}
