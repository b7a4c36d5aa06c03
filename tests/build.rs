//! `berth build` end to end, as root: Dockerfiles over the busybox image (`bb:1`), the
//! results run with `berth run`, the cache, errors that name the line, and a failing or
//! interrupted RUN that leaves nothing behind.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use common::*;

/// A build context: a temp dir with these files (paths with `/` make their parents).
fn context(files: &[(&str, &str)]) -> tempfile::TempDir {
    let d = tempfile::Builder::new()
        .prefix("berth-build-ctx")
        .tempdir()
        .expect("tempdir");
    for (p, content) in files {
        let path = d.path().join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    d
}

fn build(w: &World, ctx: &Path, extra: &[&str]) -> Output {
    let c = ctx.to_str().unwrap();
    let mut a = vec!["build"];
    a.extend_from_slice(extra);
    a.push(c);
    w.berth(&a)
}

fn build_ok(w: &World, ctx: &Path, extra: &[&str]) -> String {
    let out = build(w, ctx, extra);
    assert!(
        out.status.success(),
        "build {extra:?} failed: {}",
        text(&out.stderr)
    );
    text(&out.stderr)
}

/// The image id a build prints with -q.
fn build_id(w: &World, ctx: &Path, extra: &[&str]) -> String {
    let mut a = vec!["-q"];
    a.extend_from_slice(extra);
    let out = build(w, ctx, &a);
    assert!(out.status.success(), "build failed: {}", text(&out.stderr));
    let id = text(&out.stdout).trim().to_string();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id:?}");
    id
}

/// Time limits stretch in the emulated cgroup-v2 VM, where everything is several times slower.
fn slack() -> u32 {
    if std::env::var_os("VM_CGROUP2").is_some() {
        4
    } else {
        1
    }
}

fn run_out(w: &World, args: &[&str]) -> String {
    let mut a = vec!["run", "--rm"];
    a.extend_from_slice(args);
    w.ok(&a)
}

/// Nothing of any step container: no records, no runtime state, no mounts under the root.
fn assert_no_step_leftovers(w: &World, seen: &[String]) {
    for id in seen {
        w.assert_gone(id);
    }
    let root = w.root();
    let entries: Vec<String> = std::fs::read_dir(root.join("containers"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .filter(|n| !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    assert!(entries.is_empty(), "containers left: {entries:?}");
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let r = root.to_string_lossy().to_string();
    let mounts: Vec<&str> = mi.lines().filter(|l| l.contains(&r)).collect();
    assert!(mounts.is_empty(), "mounts left: {mounts:?}");
    assert!(w.ok(&["ps", "-a", "-q"]).trim().is_empty());
}

#[test]
fn run_copy_cmd_then_run_the_image() {
    if !root_or_skip("run_copy_cmd_then_run_the_image") {
        return;
    }
    let w = World::with_busybox();
    let ctx = context(&[
        ("app.py", "print('hi')\n"),
        (
            "Dockerfile",
            "FROM bb:1\nRUN mkdir -p /data && echo made > /data/f && rm /bin/false\nCOPY app.py /app.py\nEXPOSE 5000\nCMD [\"cat\", \"/app.py\", \"/data/f\"]\n",
        ),
    ]);
    let progress = build_ok(&w, ctx.path(), &["-t", "web:1"]);
    assert!(
        progress.contains("#4 [2/3] RUN mkdir -p /data"),
        "{progress}"
    );
    assert!(
        progress.contains("naming to docker.io/library/web:1"),
        "{progress}"
    );
    assert_eq!(run_out(&w, &["web:1"]), "print('hi')\nmade\n");
    // The deleted file is a whiteout in the RUN layer.
    let o = w.berth(&["run", "--rm", "web:1", "ls", "/bin/false"]);
    assert!(!o.status.success());
    assert_eq!(
        w.ok(&[
            "image",
            "inspect",
            "-f",
            "{{json .Config.ExposedPorts}}",
            "web:1"
        ])
        .trim(),
        r#"{"5000/tcp":{}}"#
    );
    assert_no_step_leftovers(&w, &[]);
}

#[test]
fn multi_stage_into_scratch_builds_only_needed_stages() {
    if !root_or_skip("multi_stage_into_scratch_builds_only_needed_stages") {
        return;
    }
    let w = World::with_busybox();
    let ctx = context(&[(
        "Dockerfile",
        "FROM bb:1 AS build\nRUN mkdir /out && echo compiled > /out/app\n\
         FROM bb:1 AS unused\nRUN exit 7\n\
         FROM scratch\nCOPY --from=build /out/app /app\nCOPY --from=0 /bin/busybox /bin/busybox\n\
         ENTRYPOINT [\"/bin/busybox\"]\nCMD [\"cat\", \"/app\"]\n",
    )]);
    let progress = build_ok(&w, ctx.path(), &["-t", "small:1"]);
    assert!(!progress.contains("exit 7"), "{progress}");
    assert!(progress.contains("[build 2/2]"), "{progress}");
    assert_eq!(run_out(&w, &["small:1"]), "compiled\n");
    // Only two files in the final image: its layers hold nothing else.
    assert_eq!(
        run_out(&w, &["small:1", "ls", "/"])
            .split_whitespace()
            .collect::<Vec<_>>(),
        // etc holds the hosts, hostname and resolv.conf every container gets.
        ["app", "bin", "dev", "etc", "proc", "sys"]
    );
    // --target builds the stage named.
    let out = build(&w, ctx.path(), &["--target", "unused"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("exit code: 7"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn independent_stages_build_side_by_side() {
    if !root_or_skip("independent_stages_build_side_by_side") {
        return;
    }
    let w = World::with_busybox();
    let ctx = context(&[(
        "Dockerfile",
        "FROM bb:1 AS a\nRUN sleep 2 && echo from-a > /a\n\
         FROM bb:1 AS b\nRUN sleep 2 && echo from-b > /b\n\
         FROM bb:1\nCOPY --from=a /a /a\nCOPY --from=b /b /b\nCMD cat /a /b\n",
    )]);
    let p = build_ok(&w, ctx.path(), &["-t", "par:1", "--progress", "plain"]);
    // Both RUN steps start before either ends (one after the other, each would end first).
    let lines: Vec<&str> = p.lines().collect();
    let vertex = |what: &str| {
        let l = lines.iter().find(|l| l.contains(what)).expect(what);
        l.split(' ').next().unwrap_or("").to_string()
    };
    let (a, b) = (vertex("[a 2/2] RUN"), vertex("[b 2/2] RUN"));
    let pos = |prefix: &str| {
        lines
            .iter()
            .position(|l| l.starts_with(prefix))
            .expect(prefix)
    };
    let started = pos(&format!("{a} [a 2/2]")).max(pos(&format!("{b} [b 2/2]")));
    let first_done = pos(&format!("{a} DONE")).min(pos(&format!("{b} DONE")));
    assert!(started < first_done, "{p}");
    assert_eq!(run_out(&w, &["par:1"]), "from-a\nfrom-b\n");
    assert_no_step_leftovers(&w, &[]);
}

#[test]
fn args_and_env_are_substituted() {
    if !root_or_skip("args_and_env_are_substituted") {
        return;
    }
    let w = World::with_busybox();
    let ctx = context(&[(
        "Dockerfile",
        "ARG BASE=nope:0\nFROM --platform=$BUILDPLATFORM ${BASE}\nARG WHO=world\nARG BASE\nARG TARGETARCH\n\
         ENV GREETING=\"hello ${WHO}\" P=${UNSET:-dflt} Q=${WHO:+set}\n\
         ENV P=new OLD=$P\n\
         RUN echo \"$GREETING $P $Q from $BASE, $OLD on $TARGETARCH\" > /g\nLABEL who=$WHO\nCMD cat /g\n",
    )]);
    build_ok(
        &w,
        ctx.path(),
        &[
            "-t",
            "args:1",
            "--build-arg",
            "WHO=berth",
            "--build-arg",
            "BASE=bb:1",
        ],
    );
    assert_eq!(
        run_out(&w, &["args:1"]),
        format!("hello berth new set from bb:1, dflt on {}\n", host_arch())
    );
    assert_eq!(
        w.ok(&[
            "image",
            "inspect",
            "-f",
            "{{json .Config.Labels}}",
            "args:1"
        ])
        .trim(),
        r#"{"who":"berth"}"#
    );
}

#[test]
fn onbuild_triggers_run_in_the_child_build_only() {
    if !root_or_skip("onbuild_triggers_run_in_the_child_build_only") {
        return;
    }
    let w = World::with_busybox();
    let base = context(&[(
        "Dockerfile",
        "FROM bb:1\nONBUILD RUN echo triggered >> /t\nRUN echo base > /t\n",
    )]);
    build_ok(&w, base.path(), &["-t", "base:1"]);
    let child = context(&[("Dockerfile", "FROM base:1\nCMD cat /t\n")]);
    build_ok(&w, child.path(), &["-t", "child:1"]);
    assert_eq!(run_out(&w, &["child:1"]), "base\ntriggered\n");
    // Not inherited by the child's own children.
    let grandchild = context(&[("Dockerfile", "FROM child:1\n")]);
    build_ok(&w, grandchild.path(), &["-t", "gc:1"]);
    assert_eq!(run_out(&w, &["gc:1"]), "base\ntriggered\n");
}

#[test]
fn user_and_workdir_are_visible_in_run() {
    if !root_or_skip("user_and_workdir_are_visible_in_run") {
        return;
    }
    let w = World::with_busybox();
    let ctx = context(&[(
        "Dockerfile",
        "FROM bb:1\nRUN chmod 1777 /tmp\nWORKDIR /srv\nWORKDIR app\nRUN touch made-here\nUSER 1000:1000\nRUN id -u > /tmp/who\nCMD echo $(id -u) $(pwd) $(ls) $(cat /tmp/who)\n",
    )]);
    build_ok(&w, ctx.path(), &["-t", "uw:1"]);
    assert_eq!(run_out(&w, &["uw:1"]), "1000 /srv/app made-here 1000\n");
}

#[test]
fn dockerignore_with_exceptions() {
    if !root_or_skip("dockerignore_with_exceptions") {
        return;
    }
    let w = World::with_busybox();
    let ctx = context(&[
        ("a.txt", "a"),
        ("secret.txt", "s"),
        ("x.log", "x"),
        ("keep.log", "k"),
        ("logs/deep/y", "y"),
        ("src/main.c", "m"),
        (
            ".dockerignore",
            "secret.txt\n*.log\n!keep.log\nlogs\n**/*.c\n",
        ),
        (
            "Dockerfile",
            "FROM bb:1\nCOPY . /ctx/\nCMD ls -a /ctx /ctx/src\n",
        ),
    ]);
    build_ok(&w, ctx.path(), &["-t", "ign:1"]);
    let out = run_out(&w, &["ign:1"]);
    let names: Vec<&str> = out.split_whitespace().collect();
    for want in ["a.txt", "keep.log", "Dockerfile", ".dockerignore", "src"] {
        assert!(names.contains(&want), "{want} missing: {out}");
    }
    for gone in ["secret.txt", "x.log", "logs", "main.c"] {
        assert!(!names.contains(&gone), "{gone} copied: {out}");
    }
    // `<Dockerfile>.dockerignore` beside a Dockerfile given with -f wins over the context's.
    let df = tempfile::tempdir().unwrap();
    let custom = df.path().join("app.Dockerfile");
    std::fs::write(&custom, "FROM bb:1\nCOPY . /ctx/\nCMD ls /ctx\n").unwrap();
    std::fs::write(df.path().join("app.Dockerfile.dockerignore"), "a.txt\n").unwrap();
    build_ok(
        &w,
        ctx.path(),
        &["-t", "ign:2", "-f", custom.to_str().unwrap()],
    );
    let out = run_out(&w, &["ign:2"]);
    assert!(
        !out.contains("a.txt") && out.contains("secret.txt"),
        "{out}"
    );
    // An excluded source is an error that says so.
    let bad = context(&[
        (".dockerignore", "secret.txt\n"),
        ("secret.txt", "s"),
        ("Dockerfile", "FROM bb:1\n\nCOPY secret.txt /\n"),
    ]);
    let out = build(&w, bad.path(), &[]);
    assert!(!out.status.success());
    let e = text(&out.stderr);
    assert!(
        e.contains("Dockerfile:3") && e.contains(".dockerignore"),
        "{e}"
    );
}

#[test]
fn heredocs_run_and_copy() {
    if !root_or_skip("heredocs_run_and_copy") {
        return;
    }
    let w = World::with_busybox();
    let ctx = context(&[(
        "Dockerfile",
        "FROM bb:1\nARG V=x\nRUN <<EOF\necho one > /h1\necho two >> /h1\nEOF\n\
         COPY <<EOF /h2\nvalue $V\nEOF\nCOPY <<'RAW' /h3\nkeep $V\nRAW\n\
         RUN cat <<A > /h4\nfrom heredoc\nA\nCMD cat /h1 /h2 /h3 /h4\n",
    )]);
    build_ok(&w, ctx.path(), &["-t", "here:1"]);
    assert_eq!(
        run_out(&w, &["here:1"]),
        "one\ntwo\nvalue x\nkeep $V\nfrom heredoc\n"
    );
}

#[test]
fn unchanged_rebuild_is_cached_and_one_change_reruns_from_its_copy() {
    if !root_or_skip("unchanged_rebuild_is_cached_and_one_change_reruns_from_its_copy") {
        return;
    }
    let w = World::with_busybox();
    let ctx = context(&[
        ("a.txt", "one"),
        ("b.txt", "bee"),
        (
            "Dockerfile",
            "FROM bb:1\nRUN echo first > /first\nCOPY a.txt /a.txt\nRUN cat /a.txt > /copied\nCOPY b.txt /b.txt\nHEALTHCHECK CMD true\nCMD cat /copied\n",
        ),
    ]);
    let first = build_id(&w, ctx.path(), &["-t", "c:1"]);
    let t = Instant::now();
    let again = build_id(&w, ctx.path(), &["-t", "c:1"]);
    let took = t.elapsed();
    assert_eq!(first, again);
    assert!(
        took < Duration::from_secs(3) * slack(),
        "cached rebuild took {took:?}"
    );
    let p = build_ok(&w, ctx.path(), &["-t", "c:1"]);
    assert_eq!(p.matches("CACHED").count(), 4, "{p}");
    // One source changes: the steps before its COPY stay cached, the rest run again.
    std::fs::write(ctx.path().join("a.txt"), "two").unwrap();
    let p = build_ok(&w, ctx.path(), &["-t", "c:1"]);
    let cached: Vec<&str> = p.lines().filter(|l| l.ends_with("CACHED")).collect();
    assert_eq!(cached, ["#4 CACHED"], "{p}");
    assert_eq!(run_out(&w, &["c:1"]), "two");
    // --no-cache runs everything.
    let p = build_ok(&w, ctx.path(), &["--no-cache"]);
    assert!(!p.contains("CACHED"), "{p}");
    // HEALTHCHECK is part of the image (and of the key of what follows).
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM bb:1\nRUN echo first > /first\nCOPY a.txt /a.txt\nRUN cat /a.txt > /copied\nCOPY b.txt /b.txt\nHEALTHCHECK CMD false\nCMD cat /copied\n",
    )
    .unwrap();
    let other = build_id(&w, ctx.path(), &[]);
    assert_ne!(other, first);
    // The cache survives image prune, and builder prune clears it.
    w.ok(&["image", "prune", "-f"]);
    let p = build_ok(&w, ctx.path(), &[]);
    assert!(p.contains("CACHED"), "{p}");
    w.ok(&["builder", "prune", "-f"]);
    let p = build_ok(&w, ctx.path(), &[]);
    assert!(!p.contains("CACHED"), "{p}");
}

#[test]
fn errors_name_the_dockerfile_line() {
    if !root_or_skip("errors_name_the_dockerfile_line") {
        return;
    }
    let w = World::with_busybox();
    let ctx = context(&[("Dockerfile", "FROM bb:1\n# fine\nRUNN echo typo\n")]);
    let out = build(&w, ctx.path(), &[]);
    assert_eq!(out.status.code(), Some(1));
    let e = text(&out.stderr);
    assert!(e.contains("Dockerfile:3") && e.contains("RUNN"), "{e}");
    let ctx = context(&[("Dockerfile", "FROM bb:1\nCOPY missing.txt /\n")]);
    let e = text(&build(&w, ctx.path(), &[]).stderr);
    assert!(
        e.contains("Dockerfile:2") && e.contains("missing.txt"),
        "{e}"
    );
    let ctx = context(&[("Dockerfile", "FROM nosuch.invalid/x:1\n")]);
    let e = text(&build(&w, ctx.path(), &[]).stderr);
    assert!(e.contains("Dockerfile:1"), "{e}");
}

/// Ids of the containers under `root` right now.
fn container_ids(root: &Path) -> Vec<String> {
    std::fs::read_dir(root.join("containers"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .filter(|n| n.len() == 64)
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn failing_run_is_reported_and_leaves_nothing() {
    if !root_or_skip("failing_run_is_reported_and_leaves_nothing") {
        return;
    }
    let w = World::with_busybox();
    let images = w.ok(&["images", "-q"]);
    let ctx = context(&[(
        "Dockerfile",
        "FROM bb:1\nRUN echo fine > /f\nRUN echo going wrong; echo to stderr >&2; sleep 0.3; exit 3\n",
    )]);
    let mut child = w.spawn(&["build", "-t", "bad:1", ctx.path().to_str().unwrap()]);
    let mut seen = Vec::new();
    while child.try_wait().unwrap().is_none() {
        for id in container_ids(&w.root()) {
            if !seen.contains(&id) {
                seen.push(id);
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let e = text(&out.stderr);
    assert!(e.contains("exit code: 3"), "{e}");
    assert!(e.contains("Dockerfile:3"), "{e}");
    assert!(e.contains("going wrong") && e.contains("to stderr"), "{e}");
    assert!(!seen.is_empty(), "no step container was seen");
    assert_no_step_leftovers(&w, &seen);
    assert_eq!(w.ok(&["images", "-q"]), images);
}

/// The id of the build's step container once it runs (its init exists). Its directory
/// comes before the record in it: until then inspect says "no such", which is waited out.
fn running_step(w: &World) -> String {
    let t = Instant::now();
    let id = loop {
        if let Some(id) = container_ids(&w.root()).pop() {
            break id;
        }
        assert!(t.elapsed() < Duration::from_secs(20), "no step container");
        std::thread::sleep(Duration::from_millis(5));
    };
    w.eventually(10, "the step runs", || {
        let out = w.berth(&["inspect", "-f", "{{.State.Status}}", &id]);
        out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "running"
    });
    id
}

#[test]
fn sigint_during_run_stops_it_and_leaves_nothing() {
    if !root_or_skip("sigint_during_run_stops_it_and_leaves_nothing") {
        return;
    }
    let w = World::with_busybox();
    let images = w.ok(&["images", "-q"]);
    let ctx = context(&[("Dockerfile", "FROM bb:1\nRUN echo started; sleep 60\n")]);
    let child = w.spawn(&["build", ctx.path().to_str().unwrap()]);
    let t = Instant::now();
    let id = running_step(&w);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(t.elapsed() < Duration::from_secs(30));
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("interrupted"),
        "{}",
        text(&out.stderr)
    );
    assert_no_step_leftovers(&w, &[id]);
    assert_eq!(w.ok(&["images", "-q"]), images);
}

#[test]
fn a_killed_build_is_healed_by_the_next_command() {
    if !root_or_skip("a_killed_build_is_healed_by_the_next_command") {
        return;
    }
    let w = World::with_busybox();
    let ctx = context(&[("Dockerfile", "FROM bb:1\nRUN sleep 60\n")]);
    let mut child = w.spawn(&["build", ctx.path().to_str().unwrap()]);
    let id = running_step(&w);
    child.kill().unwrap();
    child.wait().unwrap();
    // The next command finds the step's container without its build and removes it.
    assert!(w.ok(&["ps", "-a", "-q"]).trim().is_empty());
    assert_no_step_leftovers(&w, &[id]);
}

#[test]
fn run_steps_reach_pypi_through_the_build_network() {
    if !root_or_skip("run_steps_reach_pypi_through_the_build_network") {
        return;
    }
    if std::env::var_os("VM_CGROUP2").is_some() {
        eprintln!("skipping run_steps_reach_pypi_through_the_build_network: the VM has no uplink");
        return;
    }
    let w = World::with_busybox();
    // DNS through the resolver the step gets, then HTTP to PyPI (busybox's TLS is too
    // old for it; an HTTP status line proves the way out).
    let ctx = context(&[(
        "Dockerfile",
        "FROM bb:1\nRUN (printf 'HEAD /simple/flask/ HTTP/1.0\\r\\nHost: pypi.org\\r\\n\\r\\n'; sleep 1) | nc pypi.org 80 | head -1 > /status && grep -q HTTP /status\nCMD cat /status\n",
    )]);
    build_ok(&w, ctx.path(), &["-t", "egress:1"]);
    let status = run_out(&w, &["egress:1"]);
    assert!(status.starts_with("HTTP/1."), "{status:?}");
    // --network none: no way out.
    let out = build(&w, ctx.path(), &["--no-cache", "--network", "none"]);
    assert!(!out.status.success());
}

/// A plain HTTP server on loopback serving `dir` (killed when dropped).
struct Http(std::process::Child, u16);

impl Http {
    fn serve(dir: &Path) -> Http {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--directory",
            ])
            .arg(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python3 http.server");
        let t = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(15) * slack(),
                "http server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Http(child, port)
    }
}

impl Drop for Http {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn add_extracts_local_archives_and_downloads_urls() {
    if !root_or_skip("add_extracts_local_archives_and_downloads_urls") {
        return;
    }
    let w = World::with_busybox();
    let ctx = context(&[("Dockerfile", "")]);
    let tgz = gzip(&tar_of(&[
        ("pkg/", b""),
        ("pkg/lib.txt", b"from the archive\n"),
    ]));
    std::fs::write(ctx.path().join("pkg.tar.gz"), &tgz).unwrap();
    let served = tempfile::tempdir().unwrap();
    std::fs::write(served.path().join("remote.txt"), "downloaded\n").unwrap();
    let sum = sha256_hex(b"downloaded\n");
    let http = Http::serve(served.path());
    let url = format!("http://127.0.0.1:{}/remote.txt", http.1);
    std::fs::write(
        ctx.path().join("Dockerfile"),
        format!(
            "FROM bb:1\nADD pkg.tar.gz /opt/\nCOPY pkg.tar.gz /kept/\nADD --checksum=sha256:{sum} {url} /dl/\nADD {url} /named.txt\n\
             CMD cat /opt/pkg/lib.txt /dl/remote.txt /named.txt; ls /kept; stat -c %a /named.txt\n"
        ),
    )
    .unwrap();
    // xz and bzip2 archives are extracted too (Docker's DecompressStream knows them).
    let plain = tar_of(&[("xz/", b""), ("xz/a.txt", b"from xz\n")]);
    std::fs::write(ctx.path().join("a.tar.xz"), filter("xz", &["-c"], &plain)).unwrap();
    let plain = tar_of(&[("bz/", b""), ("bz/b.txt", b"from bzip2\n")]);
    std::fs::write(ctx.path().join("b.tbz2"), filter("bzip2", &["-c"], &plain)).unwrap();
    // A compressed file that is no archive is refused, naming it.
    std::fs::write(
        ctx.path().join("not.xz"),
        filter("xz", &["-c"], b"just text\n"),
    )
    .unwrap();
    let df = std::fs::read_to_string(ctx.path().join("Dockerfile")).unwrap();
    let df = df.replace(
        "ADD pkg.tar.gz /opt/\n",
        "ADD pkg.tar.gz /opt/\nADD a.tar.xz b.tbz2 /opt/\n",
    );
    let df = df.replace(
        "CMD cat /opt/pkg/lib.txt",
        "CMD cat /opt/pkg/lib.txt /opt/xz/a.txt /opt/bz/b.txt",
    );
    std::fs::write(ctx.path().join("Dockerfile"), &df).unwrap();
    build_ok(&w, ctx.path(), &["-t", "add:1"]);
    assert_eq!(
        run_out(&w, &["add:1"]),
        "from the archive\nfrom xz\nfrom bzip2\ndownloaded\ndownloaded\npkg.tar.gz\n600\n"
    );
    std::fs::write(ctx.path().join("Dockerfile"), "FROM bb:1\nADD not.xz /n/\n").unwrap();
    let out = build(&w, ctx.path(), &[]);
    let e = text(&out.stderr);
    assert!(
        !out.status.success() && e.contains("Dockerfile:2") && e.contains("not.xz"),
        "{e}"
    );
    // A wrong checksum fails the build and names the line.
    std::fs::write(
        ctx.path().join("Dockerfile"),
        format!(
            "FROM bb:1\nADD --checksum=sha256:{} {url} /dl/\n",
            "0".repeat(64)
        ),
    )
    .unwrap();
    let out = build(&w, ctx.path(), &[]);
    assert!(!out.status.success());
    let e = text(&out.stderr);
    assert!(
        e.contains("Dockerfile:2") && e.contains("checksum mismatch"),
        "{e}"
    );
}

#[test]
fn context_or_dockerfile_from_stdin() {
    if !root_or_skip("context_or_dockerfile_from_stdin") {
        return;
    }
    let w = World::with_busybox();
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM bb:1\nCOPY app/ /app/\nCMD cat /app/x.txt\n",
        ),
        ("Other.df", "FROM bb:1\nCOPY app/x.txt /y\nCMD cat /y\n"),
        ("app/x.txt", "in the tar\n"),
    ]);
    let tar = |c: &[&str]| {
        let out = std::process::Command::new("tar")
            .args(c)
            .args(["-C", ctx.path().to_str().unwrap(), "."])
            .output()
            .unwrap();
        assert!(out.status.success());
        out.stdout
    };
    // `build -` with a tar context: plain, gzip and xz; -f names a file inside it.
    for (flags, tag) in [
        (&["-c"][..], "s:plain"),
        (&["-cz"][..], "s:gz"),
        (&["-cJ"][..], "s:xz"),
    ] {
        let out = w.berth_input(&["build", "-q", "-t", tag, "-"], &tar(flags));
        assert!(out.status.success(), "{tag}: {}", text(&out.stderr));
        assert_eq!(run_out(&w, &[tag]), "in the tar\n");
    }
    let out = w.berth_input(
        &["build", "-t", "s:f", "-f", "Other.df", "-"],
        &tar(&["-c"]),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(run_out(&w, &["s:f"]), "in the tar\n");
    // `build -` with a Dockerfile: no context, so COPY finds nothing.
    let out = w.berth_input(
        &["build", "-t", "s:df", "-"],
        b"FROM bb:1\nRUN echo made > /m\nCMD cat /m\n",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(run_out(&w, &["s:df"]), "made\n");
    let out = w.berth_input(&["build", "-"], b"FROM bb:1\nCOPY app /app\n");
    let e = text(&out.stderr);
    assert!(
        !out.status.success() && e.contains("not found in the build context"),
        "{e}"
    );
    // `-f -` with a directory context.
    let c = ctx.path().to_str().unwrap();
    let out = w.berth_input(
        &["build", "-t", "s:fd", "-f", "-", c],
        b"FROM bb:1\nCOPY app/x.txt /z\nCMD cat /z\n",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(run_out(&w, &["s:fd"]), "in the tar\n");
    // Both from stdin is refused.
    let out = w.berth_input(&["build", "-f", "-", "-"], b"");
    assert!(!out.status.success() && text(&out.stderr).contains("both"));
    // The scratch contexts are gone (RUN steps' containers leave the trash in the
    // background), and none left its file digests behind.
    let trash = w.root().join("trash");
    w.eventually(10, "an empty trash", || {
        std::fs::read_dir(&trash).map_or(true, |mut d| d.next().is_none())
    });
    let ctxs: Vec<_> = std::fs::read_dir(w.root().join("build-cache/context"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(ctxs.len() <= 1, "{ctxs:?}");
}

#[test]
fn build_push_pull_run_round_trips_with_the_same_digests() {
    if !root_or_skip("build_push_pull_run_round_trips_with_the_same_digests") {
        return;
    }
    let w = World::with_busybox();
    let dir = tempfile::tempdir().unwrap();
    let reg = common::registry::Registry::start(dir.path());
    let ctx = context(&[
        ("msg", "pushed and pulled\n"),
        (
            "Dockerfile",
            "FROM bb:1\nCOPY msg /msg\nRUN echo more >> /msg\nCMD cat /msg\n",
        ),
    ]);
    let name = format!("{}/app/web:1", reg.addr);
    let id = build_id(&w, ctx.path(), &["-t", &name]);
    let out = w.berth(&["push", &name]);
    assert!(out.status.success(), "push: {}", text(&out.stderr));
    let said = text(&out.stdout);
    let digest = w
        .ok(&["image", "inspect", "-f", "{{.RepoDigests}}", &name])
        .trim()
        .to_string();
    assert!(said.starts_with("1: digest: sha256:"), "{said}");
    // Pushed again: every blob is there already.
    let again = w.berth(&["push", &name]);
    assert!(again.status.success());
    let e = text(&again.stderr);
    assert_eq!(e.matches("Layer already exists").count(), 4, "{e}"); // config + 3 layers
                                                                     // Another store pulls the same image: same id, same manifest digest, and it runs.
    let fresh = World::new();
    fresh.ok(&["pull", "-q", &name]);
    assert_eq!(
        fresh
            .ok(&["image", "inspect", "-f", "{{.Id}}", &name])
            .trim(),
        id
    );
    assert_eq!(
        fresh
            .ok(&["image", "inspect", "-f", "{{.RepoDigests}}", &name])
            .trim(),
        digest
    );
    let at = digest.find("@sha256:").expect("a repo digest") + 1;
    assert!(said.contains(&digest[at..at + 71]), "{said} vs {digest}");
    assert_eq!(run_out(&fresh, &[&name]), "pushed and pulled\nmore\n");
}

#[test]
fn the_seed_services_dockerfile_installs_flask_from_pypi() {
    if !root_or_skip("the_seed_services_dockerfile_installs_flask_from_pypi") {
        return;
    }
    if std::env::var_os("VM_CGROUP2").is_some() {
        eprintln!(
            "skipping the_seed_services_dockerfile_installs_flask_from_pypi: the VM has no uplink"
        );
        return;
    }
    let w = World::new();
    // python:3.7 stands in: Debian's python3 and pip, the image the shop uses (cached, so
    // the tests that need it make it once).
    let st = std::process::Command::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scripts/make-python-image.sh"
    ))
    .arg("--root")
    .arg(w.root())
    .env("BERTH", env!("CARGO_BIN_EXE_berth"))
    .stdin(std::process::Stdio::null())
    .status()
    .expect("scripts/make-python-image.sh");
    assert!(st.success());
    // The seed's Dockerfile, as it is.
    let ctx = context(&[
        (
            "app.py",
            "import flask\napp = flask.Flask(__name__)\nprint('flask', flask.__version__ > '1')\n",
        ),
        (
            "Dockerfile",
            "FROM python:3.7\nRUN pip install flask\nCOPY app.py /app.py\nEXPOSE 5000\nCMD [\"python\", \"/app.py\"]\n",
        ),
    ]);
    let p = build_ok(&w, ctx.path(), &["-t", "shop-web:1"]);
    assert!(p.contains("Successfully installed"), "{p}");
    assert_eq!(run_out(&w, &["shop-web:1"]), "flask True\n");
    // Rebuilt: nothing runs again.
    let p = build_ok(&w, ctx.path(), &["-t", "shop-web:1"]);
    assert_eq!(p.matches("CACHED").count(), 2, "{p}");
}

#[test]
fn saved_build_loads_into_a_fresh_store() {
    if !root_or_skip("saved_build_loads_into_a_fresh_store") {
        return;
    }
    let w = World::with_busybox();
    let ctx = context(&[
        ("msg", "from the build\n"),
        (
            "Dockerfile",
            "FROM bb:1\nCOPY msg /msg\nRUN rm /bin/true\nCMD cat /msg\n",
        ),
    ]);
    build_ok(&w, ctx.path(), &["-t", "saved:1"]);
    let dir = tempfile::tempdir().unwrap();
    let tarball: PathBuf = dir.path().join("img.tar");
    w.ok(&["save", "-o", tarball.to_str().unwrap(), "saved:1"]);
    let listing = std::process::Command::new("tar")
        .arg("-tf")
        .arg(&tarball)
        .output()
        .unwrap();
    let names = text(&listing.stdout);
    for want in ["manifest.json", "index.json", "oci-layout", "blobs/sha256/"] {
        assert!(names.contains(want), "{want}: {names}");
    }
    let fresh = World::new();
    fresh.ok(&["load", "-i", tarball.to_str().unwrap()]);
    assert_eq!(run_out(&fresh, &["saved:1"]), "from the build\n");
    assert!(!fresh
        .berth(&["run", "--rm", "saved:1", "ls", "/bin/true"])
        .status
        .success());
}

fn git(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@t")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@t")
        .output()
        .expect("git");
    assert!(out.status.success(), "git {args:?}: {}", text(&out.stderr));
}

#[test]
fn add_checks_out_a_git_repository() {
    if !root_or_skip("add_checks_out_a_git_repository") {
        return;
    }
    if std::process::Command::new("git")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!("git is not installed (scripts/setup.sh installs it)");
    }
    let w = World::with_busybox();
    // A repository with a tag v1 and a later commit on main, served over dumb HTTP.
    let served = tempfile::tempdir().unwrap();
    let work = served.path().join("work");
    std::fs::create_dir_all(work.join("sub")).unwrap();
    git(&work, &["init", "-q", "-b", "main"]);
    std::fs::write(work.join("top.txt"), "v1 top\n").unwrap();
    std::fs::write(work.join("sub/s.txt"), "v1 sub\n").unwrap();
    git(&work, &["add", "."]);
    git(&work, &["commit", "-qm", "one"]);
    git(&work, &["tag", "v1"]);
    std::fs::write(work.join("top.txt"), "main top\n").unwrap();
    git(&work, &["commit", "-qam", "two"]);
    git(
        served.path(),
        &["clone", "-q", "--bare", "work", "repo.git"],
    );
    git(&served.path().join("repo.git"), &["update-server-info"]);
    let http = Http::serve(served.path());
    let url = format!("http://127.0.0.1:{}/repo.git", http.1);
    let ctx = context(&[(
        "Dockerfile",
        &format!(
            "FROM bb:1\nADD {url} /head/\nADD {url}#v1 /v1\nADD {url}#v1:sub /s/\n\
             CMD cat /head/top.txt /v1/top.txt /v1/sub/s.txt /s/s.txt; ls -a /head\n"
        ),
    )]);
    build_ok(&w, ctx.path(), &["-t", "git:1"]);
    assert_eq!(
        run_out(&w, &["git:1"]),
        "main top\nv1 top\nv1 sub\nv1 sub\n.\n..\nsub\ntop.txt\n"
    );
    // An unknown ref fails, naming the line and the ref.
    std::fs::write(
        ctx.path().join("Dockerfile"),
        format!("FROM bb:1\nADD {url}#nope /x/\n"),
    )
    .unwrap();
    let out = build(&w, ctx.path(), &[]);
    let e = text(&out.stderr);
    assert!(
        !out.status.success() && e.contains("Dockerfile:2") && e.contains("nope"),
        "{e}"
    );
}
