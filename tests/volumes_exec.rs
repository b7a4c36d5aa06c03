//! Volumes (named, anonymous, copy-up, read-only), exec, cp (symlink-safe), pause, rename,
//! top and stats on the busybox image.

mod common;

use common::*;

#[test]
fn named_volume_outlives_its_containers() {
    if !root_or_skip("named_volume_outlives_its_containers") {
        return;
    }
    let w = World::with_busybox();
    w.ok(&["volume", "create", "--label", "app=shop", "data1"]);
    assert_eq!(
        w.ok(&["volume", "ls", "-q", "--filter", "label=app=shop"])
            .trim(),
        "data1"
    );
    let out = w.ok(&[
        "run",
        "--name",
        "writer",
        "-v",
        "data1:/data",
        "bb:1",
        "sh",
        "-c",
        "echo kept > /data/f",
    ]);
    assert!(out.is_empty());
    w.ok(&["rm", "-v", "writer"]);
    // A new container sees the data; a volume made on first use works the same way.
    let out = w.ok(&[
        "run",
        "--rm",
        "--mount",
        "type=volume,source=data1,target=/d",
        "bb:1",
        "cat",
        "/d/f",
    ]);
    assert_eq!(out, "kept\n");
    w.ok(&["run", "--rm", "-v", "auto1:/x", "bb:1", "touch", "/x/y"]);
    assert!(w.ok(&["volume", "ls", "-q"]).contains("auto1"));
    let mp = w.ok(&["volume", "inspect", "-f", "{{.Mountpoint}}", "auto1"]);
    assert!(std::path::Path::new(mp.trim()).join("y").exists());
    // Read-only volumes and binds refuse writes.
    let out = w.berth(&[
        "run",
        "--rm",
        "-v",
        "data1:/data:ro",
        "bb:1",
        "sh",
        "-c",
        "echo x > /data/g",
    ]);
    assert_ne!(out.status.code(), Some(0));
    let host = w.dir.path().join("hostdir");
    std::fs::create_dir_all(&host).unwrap();
    let bind = format!("{}:/h:ro", host.display());
    let out = w.berth(&["run", "--rm", "-v", &bind, "bb:1", "touch", "/h/nope"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(!host.join("nope").exists());
    // A volume in use cannot go; once unused it can.
    let id = w.run_d(&["-v", "data1:/data", "bb:1", "sleep", "100"]);
    let out = w.berth(&["volume", "rm", "data1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("in use"),
        "{}",
        text(&out.stderr)
    );
    w.ok(&["rm", "-f", &id]);
    w.ok(&["volume", "rm", "data1"]);
    assert!(!w.ok(&["volume", "ls", "-q"]).contains("data1"));
    let out = w.berth(&["volume", "inspect", "data1"]);
    assert!(text(&out.stderr).contains("no such volume"));
}

#[test]
fn copy_up_and_anonymous_volumes() {
    if !root_or_skip("copy_up_and_anonymous_volumes") {
        return;
    }
    let w = World::new();
    let t = w.busybox_tar();
    // An image with content at its VOLUME path: /etc/app/conf.
    let img_dir = w.dir.path().join("bbroot");
    std::fs::create_dir_all(img_dir.join("etc/app")).unwrap();
    std::fs::write(img_dir.join("etc/app/conf"), "from image\n").unwrap();
    let tarball = w.dir.path().join("app.tar");
    assert!(std::process::Command::new("tar")
        .arg("-C")
        .arg(&img_dir)
        .arg("-cf")
        .arg(&tarball)
        .arg(".")
        .status()
        .unwrap()
        .success());
    let _ = t;
    w.ok(&[
        "import",
        tarball.to_str().unwrap(),
        "app:1",
        "-c",
        "VOLUME /etc/app",
    ]);
    // Named volume, empty on first mount: filled from the image.
    let out = w.ok(&[
        "run",
        "--rm",
        "-v",
        "conf:/etc/app",
        "app:1",
        "cat",
        "/etc/app/conf",
    ]);
    assert_eq!(out, "from image\n");
    // ...but only while empty: what a container wrote stays.
    w.ok(&[
        "run",
        "--rm",
        "-v",
        "conf:/etc/app",
        "app:1",
        "sh",
        "-c",
        "echo mine > /etc/app/conf",
    ]);
    let out = w.ok(&[
        "run",
        "--rm",
        "-v",
        "conf:/etc/app",
        "app:1",
        "cat",
        "/etc/app/conf",
    ]);
    assert_eq!(out, "mine\n");
    // The image's VOLUME becomes an anonymous volume, also copied up, removed by rm -v.
    let id = w.run_d(&["app:1", "sleep", "100"]);
    let mounts = w.inspect(&id, "{{json .Mounts}}");
    let mounts: serde_json::Value = serde_json::from_str(&mounts).unwrap();
    let anon = mounts[0]["Name"].as_str().unwrap().to_string();
    assert_eq!(mounts[0]["Destination"], "/etc/app");
    assert_eq!(w.ok(&["exec", &id, "cat", "/etc/app/conf"]), "from image\n");
    w.ok(&["rm", "-f", "-v", &id]);
    assert!(!w.ok(&["volume", "ls", "-q"]).contains(&anon));
    // Without -v the anonymous volume stays (dangling) until prune.
    let id = w.run_d(&["app:1", "true"]);
    w.ok(&["wait", &id]);
    let anon: serde_json::Value =
        serde_json::from_str(&w.inspect(&id, "{{json .Mounts}}")).unwrap();
    let anon = anon[0]["Name"].as_str().unwrap().to_string();
    w.ok(&["rm", &id]);
    let dangling = w.ok(&["volume", "ls", "-q", "--filter", "dangling=true"]);
    assert!(
        dangling.contains(&anon) && dangling.contains("conf"),
        "{dangling}"
    );
    // prune takes anonymous volumes only (as docker 23+); -a takes named ones too.
    w.ok(&["volume", "prune", "-f"]);
    let left = w.ok(&["volume", "ls", "-q"]);
    assert!(!left.contains(&anon) && left.contains("conf"), "{left}");
}

#[test]
fn exec_into_a_running_container() {
    if !root_or_skip("exec_into_a_running_container") {
        return;
    }
    let w = World::with_busybox();
    let id = w.run_d(&["--name", "box", "-e", "FROM_RUN=1", "bb:1", "sleep", "100"]);
    let out = w.ok(&[
        "exec",
        "-e",
        "X=2",
        "-w",
        "/tmp",
        "box",
        "sh",
        "-c",
        "echo $FROM_RUN $X $(pwd)",
    ]);
    assert_eq!(out, "1 2 /tmp\n");
    // Same pid namespace: the container's init is pid 1 there.
    let out = w.ok(&["exec", "box", "cat", "/proc/1/cmdline"]);
    assert!(out.starts_with("sleep"), "{out}");
    assert_eq!(
        w.berth(&["exec", "box", "sh", "-c", "exit 7"])
            .status
            .code(),
        Some(7)
    );
    assert_eq!(w.berth(&["exec", "box", "nope"]).status.code(), Some(127));
    let out = w.ok(&["exec", "-u", "1000:1000", "box", "id"]);
    assert!(
        out.contains("uid=1000") && out.contains("gid=1000"),
        "{out}"
    );
    // Detached exec: runs on after berth returns.
    w.ok(&[
        "exec",
        "-d",
        "box",
        "sh",
        "-c",
        "sleep 0.2; touch /tmp/done",
    ]);
    w.eventually(5, "the detached exec", || {
        w.berth(&["exec", "box", "test", "-e", "/tmp/done"])
            .status
            .success()
            || w.berth(&["exec", "box", "ls", "/tmp/done"])
                .status
                .success()
    });
    // top lists the init and anything exec'd.
    let top = w.ok(&["top", "box"]);
    assert!(top.contains("sleep 100"), "{top}");
    let stats = w.ok(&["stats", "--no-stream", "--format", "json", "box"]);
    let s: serde_json::Value = serde_json::from_str(stats.trim()).unwrap();
    // Docker's stats formatter: every column a string
    assert!(
        s["PIDs"].as_str().unwrap().parse::<u64>().unwrap() >= 1,
        "{stats}"
    );
    assert!(s["MemBytes"].as_u64().unwrap() > 0, "{stats}");
    // pause freezes: exec is refused, status says paused; unpause thaws.
    w.ok(&["pause", "box"]);
    assert_eq!(w.inspect("box", "{{.State.Status}}"), "paused");
    assert!(w.ok(&["ps"]).contains("(Paused)"));
    assert_ne!(w.berth(&["exec", "box", "true"]).status.code(), Some(0));
    w.ok(&["unpause", "box"]);
    assert_eq!(w.ok(&["exec", "box", "echo", "ok"]), "ok\n");
    w.ok(&["rename", "box", "crate"]);
    assert_eq!(w.inspect(&id, "{{.Name}}"), "/crate");
    assert!(w.berth(&["exec", "box", "true"]).status.code() == Some(1));
    // The old name is free again, the new one taken.
    let other = w.ok(&["create", "--name", "box", "bb:1", "true"]);
    assert_eq!(w.inspect("box", "{{.Id}}"), other.trim());
    let taken = w.berth(&["rename", "box", "crate"]);
    assert_ne!(taken.status.code(), Some(0));
    assert!(text(&taken.stderr).contains("already used"), "{taken:?}");
    w.ok(&["rm", "box"]);
    // A paused container is still removed by rm -f.
    w.ok(&["pause", "crate"]);
    w.ok(&["rm", "-f", "crate"]);
    w.assert_gone(&id);
    // Removing them took their names out of the index too.
    let names: Vec<_> = std::fs::read_dir(w.root().join("names"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| n != ".complete")
        .collect();
    assert!(names.is_empty(), "{names:?}");
}

#[test]
fn cp_both_ways_without_following_container_symlinks() {
    if !root_or_skip("cp_both_ways_without_following_container_symlinks") {
        return;
    }
    let w = World::with_busybox();
    let id = w.run_d(&["bb:1", "sleep", "100"]);
    let host = w.dir.path().join("h");
    std::fs::create_dir_all(host.join("tree/sub")).unwrap();
    std::fs::write(host.join("tree/sub/f"), "data").unwrap();
    w.ok(&[
        "cp",
        host.join("tree").to_str().unwrap(),
        &format!("{id}:/tmp/"),
    ]);
    assert_eq!(w.ok(&["exec", &id, "cat", "/tmp/tree/sub/f"]), "data");
    // The container plants links pointing at host paths; cp resolves them inside it.
    let marker = w.dir.path().join("escaped");
    w.ok(&[
        "exec",
        &id,
        "sh",
        "-c",
        &format!(
            "mkdir -p {d} && ln -s {d} /tmp/evil && ln -s / /tmp/rootlink && echo c > /tmp/in",
            d = w.dir.path().display()
        ),
    ]);
    let f = host.join("escaped");
    std::fs::write(&f, "x").unwrap();
    w.ok(&["cp", f.to_str().unwrap(), &format!("{id}:/tmp/evil/")]);
    assert!(
        !marker.exists(),
        "cp wrote through a container symlink onto the host"
    );
    let out = w.ok(&[
        "exec",
        &id,
        "cat",
        &format!("{}/escaped", w.dir.path().display()),
    ]);
    assert_eq!(out, "x", "the write landed inside the container");
    // Copy out: a link comes out as a link, never as the host file it names.
    let out_dir = w.dir.path().join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    w.ok(&[
        "cp",
        &format!("{id}:/tmp/rootlink/tmp/in"),
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read_to_string(out_dir.join("in")).unwrap(), "c\n");
    w.ok(&["cp", &format!("{id}:/tmp/evil"), out_dir.to_str().unwrap()]);
    assert!(std::fs::symlink_metadata(out_dir.join("evil"))
        .unwrap()
        .file_type()
        .is_symlink());
    // A stopped container's files can be copied too.
    w.ok(&["stop", "-t", "0", &id]);
    w.ok(&[
        "cp",
        &format!("{id}:/tmp/in"),
        out_dir.join("in2").to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read_to_string(out_dir.join("in2")).unwrap(), "c\n");
    let out = w.berth(&["cp", &format!("{id}:/nope"), out_dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no such file"),
        "{}",
        text(&out.stderr)
    );
    w.ok(&["rm", &id]);
    w.assert_gone(&id);
    // A stopped container's volumes and bind mounts are part of what cp sees, read-only
    // ones stay read-only, and nothing stays mounted on the host afterwards.
    let ro = w.dir.path().join("ro-src");
    std::fs::create_dir_all(&ro).unwrap();
    std::fs::write(ro.join("kept"), "host file").unwrap();
    let ro_arg = format!("{}:/ro:ro", ro.display());
    let c = w.run_d(&["-v", "cpvol:/data", "-v", &ro_arg, "bb:1", "true"]);
    w.ok(&["wait", &c]);
    w.ok(&["cp", f.to_str().unwrap(), &format!("{c}:/data/")]);
    let seen = w.ok(&[
        "run",
        "--rm",
        "-v",
        "cpvol:/data",
        "bb:1",
        "cat",
        "/data/escaped",
    ]);
    assert_eq!(seen, "x", "the copy went into the volume");
    w.ok(&[
        "cp",
        &format!("{c}:/ro/kept"),
        out_dir.join("kept").to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read_to_string(out_dir.join("kept")).unwrap(),
        "host file"
    );
    let denied = w.berth(&["cp", f.to_str().unwrap(), &format!("{c}:/ro/")]);
    assert_ne!(denied.status.code(), Some(0), "cp into a :ro bind mount");
    assert!(!ro.join("escaped").exists());
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mi.contains(&c), "a cp mount stayed on the host");
    w.ok(&["rm", "-v", &c]);
    w.assert_gone(&c);
}
