//! Black-box tests of `inspect --type` over every kind of object, and of `search`, which is
//! out of scope and says so.

mod common;

use common::*;

#[test]
fn inspect_type_picks_the_kind() {
    if !root_or_skip("inspect_type_picks_the_kind") {
        return;
    }
    let w = World::with_busybox();
    w.ok(&["volume", "create", "it-vol"]);
    w.ok(&["network", "create", "--subnet", "10.251.7.0/24", "it-net"]);
    w.ok(&[
        "create",
        "--name",
        "it-ctr",
        "--network",
        "none",
        "bb:1",
        "true",
    ]);
    let f = |t: &str, n: &str, tpl: &str| w.ok(&["inspect", "--type", t, "-f", tpl, n]);
    assert_eq!(f("container", "it-ctr", "{{.Name}}"), "/it-ctr\n");
    assert_eq!(f("image", "bb:1", "{{.Os}}"), "linux\n");
    assert_eq!(f("volume", "it-vol", "{{.Name}}"), "it-vol\n");
    assert_eq!(
        f("network", "it-net", "{{.Name}} {{.Driver}}"),
        "it-net bridge\n"
    );
    // Without --type, a network is found last.
    assert_eq!(w.ok(&["inspect", "-f", "{{.Name}}", "it-net"]), "it-net\n");
    // The wrong type does not find it.
    let out = w.berth(&["inspect", "--type", "volume", "it-net"]);
    assert_eq!(out.status.code(), Some(1));
    w.ok(&["rm", "it-ctr"]);
    w.ok(&["network", "rm", "it-net"]);
}

#[test]
fn search_is_out_of_scope() {
    let w = World::new();
    let help = w.ok(&["--help"]);
    assert!(
        help.lines()
            .any(|l| l.contains("search") && l.contains("Out of scope")),
        "{help}"
    );
    let out = w.berth(&["search", "busybox"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("out of scope"),
        "{}",
        text(&out.stderr)
    );
}
