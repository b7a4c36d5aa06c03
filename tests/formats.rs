//! Black-box tests of `--format` as Docker's documentation shows it: Go templates on `ps`,
//! `images`, `inspect` (containers, images, volumes, networks), `volume ls`, `network ls`,
//! `history`, `stats`, `system df`; `table` headers aligned as Docker's tabwriter; the
//! template functions; errors with their position and status; `ps -n/-l/-s/--no-trunc`.
//! Also the other forms of Docker's that issue 10 lists: `top` with ps options, `cp` with
//! tar streams and `dir/.`. The expected strings are written from docs.docker.com (config/formatting, container ls,
//! image ls, inspect), not from berth's output.

mod common;

use common::*;

/// Docker's `table` layout: each column as wide as its widest cell + 3, at least 10.
fn table(rows: &[&[&str]]) -> String {
    let cols = rows[0].len();
    let mut out = String::new();
    let widths: Vec<usize> = (0..cols)
        .map(|j| (rows.iter().map(|r| r[j].chars().count()).max().unwrap_or(0) + 3).max(10))
        .collect();
    for r in rows {
        for (j, c) in r.iter().enumerate() {
            out.push_str(c);
            if j + 1 < cols {
                out.push_str(&" ".repeat(widths[j] - c.chars().count()));
            }
        }
        out.push('\n');
    }
    out
}

#[test]
fn ps_templates_as_docker_documents_them() {
    if !root_or_skip("ps_templates_as_docker_documents_them") {
        return;
    }
    let w = World::with_busybox();
    let web = w.run_d(&[
        "--name",
        "fmt-web",
        "-l",
        "app=shop",
        "-l",
        "tier=front",
        "-v",
        "fmtdata:/data",
        "bb:1",
        "sleep",
        "300",
    ]);
    let db = w.run_d(&[
        "--name",
        "fmt-db",
        "--network",
        "none",
        "bb:1",
        "sh",
        "-c",
        "sleep 301; echo a long command",
    ]);
    // newest first, as Docker lists them
    assert_eq!(w.ok(&["ps", "--format", "{{.Names}}"]), "fmt-db\nfmt-web\n");
    // `docker ps --format "{{.ID}}: {{.Command}}"`: the command quoted, cut at 20 with "…"
    assert_eq!(
        w.ok(&["ps", "--format", "{{.ID}}: {{.Command}}"]),
        format!(
            "{}: \"sh -c sleep 301; ec…\"\n{}: \"sleep 300\"\n",
            &db[..12],
            &web[..12]
        )
    );
    // `table {{.ID}}\t{{.Labels}}`: Docker's header names, the columns aligned
    assert_eq!(
        w.ok(&["ps", "--format", "table {{.ID}}\\t{{.Labels}}"]),
        table(&[
            &["CONTAINER ID", "LABELS"],
            &[&db[..12], ""],
            &[&web[..12], "app=shop,tier=front"],
        ])
    );
    assert_eq!(
        w.ok(&[
            "ps",
            "--format",
            "table {{.Names}}\t{{.State}}\t{{.Status}}"
        ])
        .lines()
        .next()
        .unwrap(),
        "NAMES     STATE     STATUS"
    );
    assert_eq!(
        w.ok(&["ps", "-f", "name=fmt-web", "--format", r#"{{.Label "app"}}|{{.Label "none"}}|{{.Mounts}}|{{.Networks}}|{{.LocalVolumes}}|{{.Image}}|{{.State}}"#]),
        "shop||fmtdata|bridge|1|bb:1|running\n"
    );
    assert_eq!(
        w.ok(&[
            "ps",
            "-f",
            "name=fmt-db",
            "--format",
            "{{.Networks}}|{{.Mounts}}|{{.Labels}}"
        ]),
        "none||\n"
    );
    // `{{json .}}` (and `--format json`): Docker's keys, every value a string
    for f in ["{{json .}}", "json"] {
        let line = w.ok(&["ps", "-f", "name=fmt-web", "--format", f]);
        let j: serde_json::Value = serde_json::from_str(line.trim()).expect("one json line");
        let keys: Vec<&str> = j.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "Command",
                "CreatedAt",
                "ID",
                "Image",
                "Labels",
                "LocalVolumes",
                "Mounts",
                "Names",
                "Networks",
                "Ports",
                "RunningFor",
                "Size",
                "State",
                "Status"
            ]
        );
        assert_eq!(j["Names"], "fmt-web");
        assert_eq!(j["Labels"], "app=shop,tier=front");
        assert_eq!(j["Size"], "0B");
        let created = j["CreatedAt"].as_str().unwrap();
        // Go's time.Time.String(): "2006-01-02 15:04:05 +0000 UTC"
        assert!(
            created.ends_with(" +0000 UTC") && created.len() == 29,
            "{created}"
        );
        assert!(j["RunningFor"].as_str().unwrap().ends_with(" ago"));
    }
    // the functions Docker adds to Go's
    assert_eq!(
        w.ok(&["ps", "-f", "name=fmt-web", "--format", r#"{{upper .Names}} {{lower "ABC"}} {{title "shop front"}} {{join (split .Labels ",") "+"}} {{truncate .Names 3}} {{pad .State 1 1}}|"#]),
        "FMT-WEB abc Shop Front app=shop+tier=front fmt  running |\n"
    );
    assert_eq!(
        w.ok(&["ps", "-f", "name=fmt-web", "--format", "{{println .Names}}"]),
        "fmt-web\n\n"
    );
    // -n / -l: the last created, whatever their state; --no-trunc keeps columns apart
    w.ok(&["stop", "-t", "0", "fmt-db"]);
    assert_eq!(w.ok(&["ps", "--format", "{{.Names}}"]), "fmt-web\n");
    assert_eq!(
        w.ok(&["ps", "-n", "1", "--format", "{{.Names}}"]),
        "fmt-db\n"
    );
    assert_eq!(w.ok(&["ps", "-l", "--format", "{{.Names}}"]), "fmt-db\n");
    assert_eq!(w.ok(&["ps", "-l", "-q"]).trim(), &db[..12]);
    assert_eq!(
        w.ok(&["ps", "-n", "5", "--format", "{{.Names}}"]),
        "fmt-db\nfmt-web\n"
    );
    let full = w.ok(&["ps", "--no-trunc"]);
    let row = full.lines().nth(1).unwrap();
    assert!(row.starts_with(&format!("{web}   bb:1")), "{full}");
    assert!(row.contains("\"sleep 300\""), "{full}");
    // -s: the writable layer, and the image under it as virtual ("12B (virtual 1.2MB)")
    w.ok(&["exec", "fmt-web", "sh", "-c", "echo hello > /wrote"]);
    let sized = w.ok(&["ps", "-s"]);
    assert!(
        sized.lines().next().unwrap().ends_with("NAMES     SIZE"),
        "{sized}"
    );
    let size = w.ok(&["ps", "-s", "--format", "{{.Size}}"]);
    assert!(
        size.starts_with("6B (virtual ") && size.trim_end().ends_with("MB)"),
        "{size}"
    );
    // .Size in the template asks for sizes, as Docker's does
    assert_eq!(w.ok(&["ps", "--format", "{{.Size}}"]), size);
}

#[test]
fn inspect_templates_as_docker_documents_them() {
    if !root_or_skip("inspect_templates_as_docker_documents_them") {
        return;
    }
    let w = World::with_busybox();
    let dir = w.dir.path().join("ctx");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM bb:1\nHEALTHCHECK --interval=1s CMD true\nCMD [\"sleep\", \"300\"]\n",
    )
    .unwrap();
    w.ok(&["build", "-q", "-t", "hc:1", dir.to_str().unwrap()]);
    w.run_d(&[
        "--name",
        "fmt-i",
        "-l",
        "app=shop",
        "-e",
        "A=1",
        "-v",
        "fmtivol:/data",
        "hc:1",
    ]);
    let f = |t: &str| w.ok(&["inspect", "-f", t, "fmt-i"]);
    assert_eq!(f("{{.Name}}"), "/fmt-i\n");
    assert_eq!(f("{{.Config.Image}}"), "hc:1\n");
    assert_eq!(f(r#"{{index .Config.Labels "app"}}"#), "shop\n");
    assert_eq!(f("{{json .Config.Labels}}"), "{\"app\":\"shop\"}\n");
    assert_eq!(
        f("{{range .Mounts}}{{.Name}}:{{.Destination}}{{end}}"),
        "fmtivol:/data\n"
    );
    assert_eq!(f("{{.Config.Cmd}}"), "[sleep 300]\n");
    assert_eq!(f(r#"{{join .Config.Cmd " , "}}"#), "sleep , 300\n");
    assert_eq!(
        f("{{lower .Name}} {{upper .Name}} {{title .Name}}"),
        "/fmt-i /FMT-I /Fmt-I\n"
    );
    assert_eq!(f(r#"{{split .Config.Image ":"}}"#), "[hc 1]\n");
    assert!(f("{{range .Config.Env}}{{println .}}{{end}}").contains("A=1\n"));
    assert_eq!(f("{{.State.Running}} {{.State.ExitCode}}"), "true 0\n");
    assert_eq!(
        f(r#"{{if eq .State.Status "running"}}up{{else}}down{{end}}"#),
        "up\n"
    );
    assert!(
        !f("{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}")
            .trim()
            .is_empty()
    );
    w.eventually(20, "healthy", || {
        f("{{.State.Health.Status}}") == "healthy\n"
    });
    // json: the array on one line
    let j: serde_json::Value =
        serde_json::from_str(&w.ok(&["inspect", "--format", "json", "fmt-i"])).unwrap();
    assert_eq!(j[0]["Name"], "/fmt-i");
    // images, volumes, networks
    assert_eq!(
        w.ok(&[
            "image",
            "inspect",
            "-f",
            "{{.Config.Healthcheck.Test}}",
            "hc:1"
        ]),
        "[CMD-SHELL true]\n"
    );
    assert_eq!(
        w.ok(&[
            "volume",
            "inspect",
            "--format",
            "{{.Name}} {{.Driver}} {{.Scope}}",
            "fmtivol"
        ]),
        "fmtivol local local\n"
    );
    assert_eq!(
        w.ok(&[
            "network",
            "inspect",
            "-f",
            "{{.Name}} {{.Driver}}",
            "bridge"
        ]),
        "bridge bridge\n"
    );
    // a template that does not parse: status 64 and where; one that fails on a value: 1
    let out = w.berth(&["inspect", "-f", "{{.Name", "fmt-i"]);
    assert_eq!(out.status.code(), Some(64));
    let e = text(&out.stderr);
    assert!(
        e.contains("template parsing error") && e.contains(":1:"),
        "{e}"
    );
    assert!(e.contains("{{.Name"), "names the template: {e}");
    let out = w.berth(&["inspect", "-f", "{{nosuch .Name}}", "fmt-i"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(text(&out.stderr).contains("\"nosuch\" not defined"));
    let out = w.berth(&["inspect", "-f", "{{.Name.X}}", "fmt-i"]);
    assert_eq!(out.status.code(), Some(1));
    let out = w.berth(&["ps", "--format", "{{.Names"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("template parsing error"));
}

#[test]
fn list_verbs_templates_and_tables() {
    if !root_or_skip("list_verbs_templates_and_tables") {
        return;
    }
    let w = World::with_busybox();
    w.ok(&["volume", "create", "--label", "k=v", "fmtlv"]);
    w.ok(&[
        "network",
        "create",
        "--subnet",
        "10.231.7.0/24",
        "--label",
        "k=n",
        "fmtnet",
    ]);
    // images: Docker's columns, CREATED as "N units ago"
    let imgs = w.ok(&["images"]);
    assert!(
        imgs.starts_with("REPOSITORY   TAG       IMAGE ID       CREATED   "),
        "{imgs}"
    );
    let head: Vec<&str> = imgs
        .lines()
        .next()
        .unwrap()
        .split("   ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(head, ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]);
    assert!(imgs.lines().nth(1).unwrap().contains(" ago "), "{imgs}");
    assert_eq!(
        w.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]),
        "bb:1\n"
    );
    assert!(w
        .ok(&["images", "--format", "{{.CreatedSince}}"])
        .trim_end()
        .ends_with(" ago"));
    let id = w.ok(&["images", "-q"]).trim().to_string();
    assert_eq!(
        w.ok(&[
            "images",
            "--format",
            "table {{.ID}}\t{{.Repository}}\t{{.Tag}}"
        ]),
        table(&[&["IMAGE ID", "REPOSITORY", "TAG"], &[&id, "bb", "1"]])
    );
    // volume ls
    assert_eq!(
        w.ok(&[
            "volume",
            "ls",
            "--format",
            "{{.Name}}: {{.Driver}} {{.Labels}} {{.Scope}}"
        ]),
        "fmtlv: local k=v local\n"
    );
    assert_eq!(
        w.ok(&["volume", "ls"]),
        table(&[&["DRIVER", "VOLUME NAME"], &["local", "fmtlv"]])
    );
    let mp = w.ok(&["volume", "ls", "--format", "{{.Mountpoint}}"]);
    assert!(mp.trim_end().ends_with("/volumes/fmtlv/_data"), "{mp}");
    // network ls
    assert_eq!(
        w.ok(&[
            "network",
            "ls",
            "-f",
            "name=fmtnet",
            "--format",
            "{{.Name}} {{.Driver}} {{.Scope}} {{.Internal}} {{.Labels}} {{.Label \"k\"}}"
        ]),
        "fmtnet bridge local false k=n n\n"
    );
    let nl = w.ok(&["network", "ls", "--format", "table {{.Name}}\t{{.Driver}}"]);
    assert_eq!(nl.lines().next().unwrap(), "NAME      DRIVER");
    // history
    let h = w.ok(&[
        "history",
        "--format",
        "{{.ID}}|{{.CreatedBy}}|{{.Size}}",
        "bb:1",
    ]);
    let first = h.lines().next().unwrap();
    assert!(first.starts_with(&format!("{id}|")), "{h}");
    assert_eq!(
        w.ok(&["history", "bb:1"])
            .lines()
            .next()
            .unwrap()
            .split("   ")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>(),
        ["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"]
    );
    // stats, system df
    w.run_d(&[
        "--name",
        "fmt-s",
        "--network",
        "none",
        "bb:1",
        "sleep",
        "300",
    ]);
    assert_eq!(
        w.ok(&["stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}"]),
        "fmt-s 1\n"
    );
    assert_eq!(
        w.ok(&[
            "stats",
            "--no-stream",
            "--format",
            "table {{.Name}}\t{{.PIDs}}"
        ]),
        table(&[&["NAME", "PIDS"], &["fmt-s", "1"]])
    );
    assert_eq!(
        w.ok(&[
            "system",
            "df",
            "--format",
            "table {{.Type}}\t{{.TotalCount}}"
        ]),
        table(&[
            &["TYPE", "TOTAL"],
            &["Images", "1"],
            &["Containers", "1"],
            &["Local Volumes", "1"],
            &["Build Cache", "0"],
        ])
    );
    assert_eq!(
        w.ok(&[
            "version",
            "--format",
            "{{.Client.Version}} {{json .Server.Os}}"
        ]),
        format!("{} \"linux\"\n", env!("CARGO_PKG_VERSION"))
    );
    w.ok(&["network", "rm", "fmtnet"]);
}

/// `top CONTAINER [ps OPTIONS]`: ps on the host, only the container's processes, Docker's
/// layout (tabwriter, min width 20).
#[test]
fn top_passes_ps_options() {
    if !root_or_skip("top_passes_ps_options") {
        return;
    }
    let w = World::with_busybox();
    w.run_d(&[
        "--name",
        "fmt-top",
        "--network",
        "none",
        "bb:1",
        "sh",
        "-c",
        "sleep 1000 & sleep 1001",
    ]);
    w.eventually(10, "two processes", || {
        w.ok(&["top", "fmt-top", "-o", "pid"]).lines().count() == 3
    });
    let t = w.ok(&["top", "fmt-top"]);
    let head: Vec<&str> = t.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        head,
        ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"],
        "{t}"
    );
    assert!(
        t.starts_with(&format!("UID{}PID{}", " ".repeat(17), " ".repeat(17))),
        "{t}"
    );
    assert!(t.contains("sleep 1000") && t.contains("sleep 1001"), "{t}");
    assert_eq!(t.lines().count(), 3, "only the container's processes: {t}");
    let aux = w.ok(&["top", "fmt-top", "aux"]);
    assert!(aux.starts_with("USER "), "{aux}");
    assert!(aux.lines().next().unwrap().contains("%CPU"), "{aux}");
    let pc = w.ok(&["top", "fmt-top", "-o", "pid,comm"]);
    let rows: Vec<Vec<&str>> = pc.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows[0], ["PID", "COMMAND"]);
    assert_eq!(rows.len(), 3);
    assert!(rows[1..].iter().all(|r| r[1] == "sleep"), "{pc}");
    // no PID column: Docker's error
    let out = w.berth(&["top", "fmt-top", "-o", "comm"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("PID"), "{}", text(&out.stderr));
}

/// `cp CONTAINER:PATH -` writes a tar stream, `cp - CONTAINER:DIR` reads one, and `SRC/.`
/// copies a directory's contents (Docker's rules), both ways.
#[test]
fn cp_tar_streams_and_contents() {
    if !root_or_skip("cp_tar_streams_and_contents") {
        return;
    }
    let w = World::with_busybox();
    w.run_d(&[
        "--name",
        "fmt-cp",
        "--network",
        "none",
        "bb:1",
        "sleep",
        "300",
    ]);
    w.ok(&[
        "exec",
        "fmt-cp",
        "sh",
        "-c",
        "mkdir -p /d/sub /empty && echo a > /d/a && echo b > /d/sub/b && ln -s /etc/passwd /d/link",
    ]);
    let tar_list = |args: &[&str]| {
        let out = w.berth(args);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let mut ar = tar::Archive::new(&out.stdout[..]);
        let mut v: Vec<String> = ar
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let mut p = e
                    .path()
                    .unwrap()
                    .to_string_lossy()
                    .trim_end_matches('/')
                    .to_string();
                if e.header().entry_type().is_symlink() {
                    p = format!("{p} -> {}", e.link_name().unwrap().unwrap().display());
                }
                p
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        tar_list(&["cp", "fmt-cp:/d", "-"]),
        ["d", "d/a", "d/link -> /etc/passwd", "d/sub", "d/sub/b"]
    );
    assert_eq!(
        tar_list(&["cp", "fmt-cp:/d/.", "-"]),
        ["a", "link -> /etc/passwd", "sub", "sub/b"]
    );
    assert_eq!(tar_list(&["cp", "fmt-cp:/d/a", "-"]), ["a"]);
    // a tar stream in: unpacked into the directory, which must exist
    let tarball = tar_of(&[("x/f", b"hi\n"), ("g", b"top\n")]);
    let put = |dst: &str| {
        let mut c = std::process::Command::new(BIN)
            .arg("--root")
            .arg(w.root())
            .args(["cp", "-", dst])
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        c.stdin.take().unwrap().write_all(&tarball).unwrap();
        c.wait_with_output().unwrap()
    };
    assert!(put("fmt-cp:/empty").status.success());
    assert_eq!(
        w.ok(&["exec", "fmt-cp", "sh", "-c", "cat /empty/x/f /empty/g"]),
        "hi\ntop\n"
    );
    let out = put("fmt-cp:/nosuch");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("/nosuch"),
        "{}",
        text(&out.stderr)
    );
    // SRC/. : the contents, into an existing directory or as a new one
    let src = w.dir.path().join("src");
    std::fs::create_dir_all(src.join("in")).unwrap();
    std::fs::write(src.join("in/one"), "1").unwrap();
    std::fs::write(src.join("two"), "2").unwrap();
    let dot = format!("{}/.", src.display());
    w.ok(&["cp", &dot, "fmt-cp:/d/sub"]);
    w.ok(&["cp", &dot, "fmt-cp:/fresh"]);
    w.ok(&["cp", src.to_str().unwrap(), "fmt-cp:/d"]);
    assert_eq!(
        w.ok(&[
            "exec",
            "fmt-cp",
            "sh",
            "-c",
            "cat /d/sub/in/one /d/sub/two /fresh/in/one /fresh/two /d/src/two"
        ]),
        "12122"
    );
    let host = w.dir.path().join("host");
    std::fs::create_dir_all(&host).unwrap();
    w.ok(&["cp", "fmt-cp:/d/sub/.", host.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(host.join("b")).unwrap(), "b\n");
    assert_eq!(std::fs::read_to_string(host.join("in/one")).unwrap(), "1");
    w.ok(&["cp", "fmt-cp:/d/sub", host.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(host.join("sub/b")).unwrap(), "b\n");
    // the scratch space of the tar forms is gone
    let trash = std::fs::read_dir(w.root().join("trash"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(trash, 0);
}
