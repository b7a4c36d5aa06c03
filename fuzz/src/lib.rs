//! The bodies of berth's fuzz targets: one function per parser that takes outside input.
//!
//! Each `fuzz_targets/<name>.rs` is one line that calls the function of the same name here,
//! and `tests/fuzz_corpus.rs` in the main workspace includes this very file (`#[path]`) to
//! replay `fuzz/corpus/*` and `fuzz/regressions/*` through them on stable in plain
//! `cargo test`. So this file may only use what the berth package's tests can use too:
//! berth, berth_image, berth_runtime, berth_netns, oci_spec, serde, serde_json, tempfile, tar, nix, libc.
//!
//! A body must never panic on any input: errors are fine, they are how a parser says no. The
//! `assert!`s below are properties that must hold whatever the input (nothing written outside
//! the layer directory, a parsed value prints as text that parses to the same value).

use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::Once;

use berth::engine::options as opts;
use berth::engine::Mount;
use berth_image::model::{Descriptor, ImageConfig, Index, Manifest, RunConfig};
use berth_image::{archive, unpack, Digest, Reference, Store};
use berth_runtime::{container, init, rootfs, seccomp, state};

/// A target's name and body.
pub type Target = (&'static str, fn(&[u8]));

/// Every target by name: `fuzz/corpus/<name>/` and `fuzz/regressions/<name>/` hold its inputs.
pub const TARGETS: &[Target] = &[
    ("reference", reference),
    ("layer", layer),
    ("image_json", image_json),
    ("archive", archive),
    ("runtime_config", runtime_config),
    ("options", options),
    ("dockerfile", dockerfile),
    ("compose", compose),
    ("dns", dns),
    ("template", template),
];

/// Largest file a body may write. A tar entry declares its own size and a sparse one any
/// number of zeros from a few bytes of input: without a cap one input could fill the disk (or,
/// with TMPDIR on tmpfs, the memory). Past the cap write(2) fails with EFBIG, a plain error.
const MAX_FILE: u64 = 16 << 20;

fn setup() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        use nix::sys::resource::{setrlimit, Resource};
        // SAFETY: ignoring a signal installs no handler code; nothing else in the fuzzing
        // process relies on SIGXFSZ, whose default action would kill it instead of EFBIG.
        unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
        let _ = setrlimit(Resource::RLIMIT_FSIZE, MAX_FILE, MAX_FILE);
    });
}

/// A fresh scratch directory under TMPDIR (scripts/fuzz.sh points it at a tmpfs).
fn scratch() -> tempfile::TempDir {
    setup();
    tempfile::Builder::new()
        .prefix("berth-fuzz-")
        .tempdir()
        .expect("create a scratch directory")
}

/// Removes a scratch tree even when a layer left read-only or mode-0 directories in it
/// (TempDir's own drop would fail silently for a non-root user and leave it behind).
fn remove_scratch(dir: tempfile::TempDir) {
    fn open_up(p: &Path) {
        let Ok(m) = fs::symlink_metadata(p) else {
            return;
        };
        if m.is_dir() {
            let _ = fs::set_permissions(p, fs::Permissions::from_mode(0o700));
            for e in fs::read_dir(p).into_iter().flatten().flatten() {
                open_up(&e.path());
            }
        }
    }
    if fs::remove_dir_all(dir.path()).is_err() {
        open_up(dir.path());
    }
    let _ = dir.close();
}

fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}

/// The longest reference text `Reference::from_str` takes (image/src/reference.rs).
const MAX_REFERENCE: usize = 255 + 128 + 72;

/// Image references and digests (`berth run/pull/tag/rmi NAME`, RepoTags of archives).
pub fn reference(data: &[u8]) {
    let s = text(data);
    if let Ok(r) = s.parse::<Reference>() {
        let printed = r.to_string();
        // Known and left to the image crate: the length limit applies to the text as given,
        // so a name near it is accepted but its normalised form (`docker.io/library/` and
        // `:latest` added) is not. Everything shorter must round-trip.
        if printed.len() > MAX_REFERENCE {
            return;
        }
        let again: Reference = printed
            .parse()
            .unwrap_or_else(|e| panic!("{s:?} parsed, but what it prints, {printed:?}, not: {e}"));
        assert_eq!(again, r, "{s:?} printed as {printed:?} parses differently");
        let _ = (r.name(), r.familiar_name());
    }
    if let Ok(d) = s.parse::<Digest>() {
        let again: Digest = d.to_string().parse().expect("a digest prints as a digest");
        assert_eq!(again, d);
        assert_eq!(d.short().len(), 12);
    }
}

/// A layer blob (plain, gzip or zstd tar) unpacked into an empty directory: whatever it holds,
/// nothing may appear beside that directory and no file in it may be a hard link to one
/// outside it.
pub fn layer(data: &[u8]) {
    let base = scratch();
    let dest = base.path().join("dest");
    let canary = base.path().join("canary");
    fs::create_dir(&dest).expect("create dest");
    fs::create_dir(&canary).expect("create canary");
    let _ = unpack::unpack_layer(data, &dest, None, None);
    let mut beside: Vec<String> = fs::read_dir(base.path())
        .expect("read scratch dir")
        .map(|e| {
            e.expect("read scratch dir")
                .file_name()
                .to_string_lossy()
                .into()
        })
        .collect();
    beside.sort();
    assert_eq!(
        beside,
        ["canary", "dest"],
        "the layer wrote beside its directory"
    );
    let in_canary = fs::read_dir(&canary).expect("read canary").count();
    assert_eq!(in_canary, 0, "the layer wrote into a sibling directory");
    let mut links = HashMap::new();
    count_links(&dest, &mut links).expect("walk the unpacked layer");
    for (ino, (seen, nlink)) in links {
        assert_eq!(
            seen, nlink,
            "inode {ino} has links outside the layer directory"
        );
    }
    remove_scratch(base);
}

/// Non-directory inode -> (names found for it under `dir`, its link count).
fn count_links(dir: &Path, links: &mut HashMap<u64, (u64, u64)>) -> io::Result<()> {
    for e in fs::read_dir(dir)? {
        let p = e?.path();
        let m = fs::symlink_metadata(&p)?;
        if m.is_dir() {
            // A directory the layer made mode 0 is still ours to read.
            fs::set_permissions(&p, fs::Permissions::from_mode(0o700))?;
            count_links(&p, links)?;
        } else {
            links.entry(m.ino()).or_insert((0, m.nlink())).0 += 1;
        }
    }
    Ok(())
}

/// The JSON documents of an image: OCI index, manifest, descriptor and config as
/// berth_image::model reads them, then the same bytes as the `manifest.json` of a Docker
/// archive and as the `index.json` of an OCI archive, loaded into an empty store.
pub fn image_json(data: &[u8]) {
    fn round_trip<T: serde::Serialize + serde::de::DeserializeOwned>(data: &[u8]) {
        if let Ok(v) = serde_json::from_slice::<T>(data) {
            let bytes = serde_json::to_vec(&v).expect("serialise what was parsed");
            serde_json::from_slice::<T>(&bytes).expect("parse what was serialised");
        }
    }
    round_trip::<Index>(data);
    round_trip::<Manifest>(data);
    round_trip::<Descriptor>(data);
    round_trip::<ImageConfig>(data);
    round_trip::<RunConfig>(data);
    for name in ["manifest.json", "index.json"] {
        let mut b = tar::Builder::new(Vec::new());
        for (path, body) in [
            ("oci-layout", &br#"{"imageLayoutVersion":"1.0.0"}"#[..]),
            (name, data),
        ] {
            let mut h = tar::Header::new_ustar();
            h.set_size(body.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, path, body)
                .expect("build a tar in memory");
        }
        let tar = b.into_inner().expect("build a tar in memory");
        load_archive(&tar);
    }
}

/// An image archive as `berth load` reads it (`docker save` / `podman save` output, plain or
/// compressed), loaded into an empty store beside a canary directory that must stay empty.
pub fn archive(data: &[u8]) {
    load_archive(data);
}

fn load_archive(data: &[u8]) {
    let base = scratch();
    let canary = base.path().join("canary");
    fs::create_dir(&canary).expect("create canary");
    let store = Store::open(&base.path().join("root")).expect("open an empty store");
    let _ = archive::load(&store, data, Path::new("fuzz.tar"));
    drop(store);
    let in_canary = fs::read_dir(&canary).expect("read canary").count();
    assert_eq!(in_canary, 0, "loading the archive wrote outside the store");
    remove_scratch(base);
}

/// A bundle's config.json as berth-runtime's `create` checks it (`load_spec`), then the
/// pure steps `create` takes from it: cgroup path, namespaces and clone flags, mount options,
/// the seccomp programs. Also the same bytes as a Docker seccomp profile and as the
/// runtime's own state.json.
pub fn runtime_config(data: &[u8]) {
    let base = scratch();
    let bundle = base.path();
    fs::write(bundle.join("config.json"), data).expect("write config.json");
    fs::create_dir(bundle.join("rootfs")).expect("create rootfs");
    if let Ok(spec) = container::load_spec(bundle) {
        let _ = berth_runtime::cgroups::path_for(&spec, "fuzz");
        let _ = (init::namespaces(&spec), init::clone_flags(&spec));
        let _ = rootfs::has_own_dev(&spec);
        for m in spec.mounts().iter().flatten() {
            let _ = rootfs::parse_options(m.options().as_deref().unwrap_or_default());
        }
        if let Some(sc) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
            // The programs cross from the runtime to the init as raw instructions.
            for p in seccomp::compile(sc).into_iter().flatten() {
                assert_eq!(seccomp::Program::from_raw(&p.to_raw()), p);
                // Every path of a generated program ends in a return inside it.
                let arch = seccomp::bpf::AUDIT_ARCH.expect("a seccomp architecture");
                for nr in [0, 1, 59, 435, 0x4000_0000, u32::MAX] {
                    for args in [[0; 6], [u64::MAX; 6], [1 << 32; 6]] {
                        seccomp::bpf::run(&p.0, arch, nr, &args).expect("the program runs");
                    }
                }
            }
        }
    }
    // `--security-opt seccomp=FILE`: a profile in Docker's format, turned by the engine into
    // the OCI section that the runtime compiles.
    let caps = ["CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_SYS_PTRACE"].map(String::from);
    if let Ok(oci) = berth::engine::seccomp::to_oci(&text(data), "fuzz.json", &caps) {
        if let Ok(sc) = serde_json::from_value::<oci_spec::runtime::LinuxSeccomp>(oci) {
            let _ = seccomp::compile(&sc);
        }
    }
    if let Ok(st) = serde_json::from_slice::<state::State>(data) {
        let _ = st.oci_json();
        let _ = state::validate_id(&st.id);
    }
    remove_scratch(base);
}

/// The text of `run`'s `-v`, `--mount`, `--tmpfs`, `--memory`/`--shm-size` (sizes),
/// `--memory-swap`, `--cpuset-cpus`, `--sysctl`, `--device`, `--platform`, the namespace
/// modes and
/// `--env-file` contents, `import --change` and a `kill --signal`: every parser on the same
/// text, one line at a time as well as whole.
pub fn options(data: &[u8]) {
    let s = text(data);
    let _ = opts::parse_env_text(&s, "fuzz.env");
    for t in std::iter::once(&*s).chain(s.lines()) {
        if let Ok(Mount::Bind { dst, .. } | Mount::Volume { dst, .. }) = opts::volume(t) {
            assert!(dst.starts_with('/'), "-v {t:?} gave a relative target");
        }
        let _ = opts::mount(t);
        let _ = opts::tmpfs(t);
        let _ = opts::parse_size(t);
        let _ = opts::size_or_unlimited("--memory-swap", t);
        let _ = opts::cpuset(t);
        let _ = opts::platform(t);
        // A device's container path is absolute and climbs nowhere.
        if let Ok(d) = t.parse::<opts::DeviceSpec>() {
            assert!(
                d.container.starts_with('/') && !d.container.split('/').any(|c| c == ".."),
                "--device {t:?}"
            );
        }
        let words: Vec<&str> = t.splitn(4, ' ').collect();
        if let [a, b, c, d] = words[..] {
            let _ = opts::NsModes::new([a, b, c, d], false);
        }
        // An accepted sysctl is a name the runtime takes too: nothing that leaves /proc/sys.
        if let Ok((k, _)) = opts::sysctl(t, false, false) {
            assert!(
                container::check_sysctl_name(&k).is_ok() && !k.contains(".."),
                "--sysctl {t:?}"
            );
        }
        let _ = t.parse::<opts::Ulimit>();
        let _ = t.parse::<berth::engine::config::NetworkMode>();
        let _ = t.parse::<berth::engine::container::RestartPolicy>();
        let _ = t.parse::<berth::engine::container::Status>();
        if let Ok(p) = t.parse::<opts::PortSpec>() {
            // A parsed range never runs backwards.
            assert!(p.container_ports.0 <= p.container_ports.1, "-p {t:?}");
            if let Some((a, b)) = p.host_ports {
                assert!(a <= b, "-p {t:?}");
            }
        }
        let _ = archive::apply_change(&mut RunConfig::default(), t);
        // attach's --detach-keys, events' --filter, a registry's config.json key.
        if let Ok(k) = berth::engine::attach::parse_detach_keys(t) {
            assert!(!k.is_empty(), "--detach-keys {t:?} gave no keys");
        }
        let _ = berth::engine::events::Query::default().filter(t);
        let _ = berth::engine::auth::key_of(t);
        // A `-f`/`--format` template over an inspect-shaped value.
        let _ = berth::commands::output::render(
            t,
            &serde_json::json!({"State": {"Status": "running", "ExitCode": 0}, "Name": "/x"}),
        );
        let _ = container::parse_signal(t);
    }
}

/// The Dockerfile parser, then variable substitution over every word it returns and the
/// .dockerignore matcher over the same text: errors are fine, panics and hangs are not. A
/// Dockerfile that parses prints the same instructions when its texts are parsed again.
pub fn dockerfile(data: &[u8]) {
    use berth_image::build::{ignore, parse, words};
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let vars: words::Vars = [("A", "1"), ("E", "")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for w in words::split_raw(text, '\\') {
        let _ = words::expand(&w, &vars, '\\');
    }
    let _ = words::expand_text(text, &vars, '`');
    // ADD sources: git URLs with #ref:subdir; a parsed one never climbs out or starts
    // with '-'.
    for line in text.lines() {
        if berth_image::build::git::is_git(line) {
            if let Ok(g) = berth_image::build::git::parse(line) {
                assert!(!g.remote.starts_with('-'));
                assert!(!g.subdir.unwrap_or_default().split('/').any(|p| p == ".."));
            }
        }
    }
    if let Ok(m) = ignore::Matcher::new(text) {
        for p in ["a", "a/b/c", ".git", "x.txt", "src/main.rs"] {
            let _ = m.excluded(p);
        }
    }
    let Ok(d) = parse(text, "Dockerfile") else {
        return;
    };
    assert!(!d.instructions.is_empty());
    for i in &d.instructions {
        assert!(i.line >= 1);
    }
}

/// A compose file: YAML (anchors, merge keys), interpolation, normalization, extends, the
/// typed model and its checks; then what `config` prints of a model that loads, and every
/// service's container config. Errors are fine; panics and hangs are not.
pub fn compose(data: &[u8]) {
    use berth::compose::{load, plan, show};
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let env: std::collections::BTreeMap<String, String> = [("A", "1"), ("E", ""), ("PORT", "8080")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    // A directory that does not exist: extends of other files find nothing to read.
    let file = Path::new("/nonexistent/berth-fuzz/compose.yaml");
    let _ = berth::compose::interpolate::interpolate(text, &env);
    let Ok(model) = load::model_from_text(text, file, &env) else {
        return;
    };
    let p = load::Project {
        name: "fuzz".into(),
        working_dir: "/nonexistent/berth-fuzz".into(),
        config_files: vec![file.to_path_buf()],
        model,
        inactive: Default::default(),
        env,
        ignored: Vec::new(),
    };
    let _ = show::config_text(&p, false);
    let _ = show::config_text(&p, true);
    let all: std::collections::BTreeSet<String> = p.model.services.keys().cloned().collect();
    let levels = plan::levels(&p, &all);
    assert_eq!(
        levels.iter().map(Vec::len).sum::<usize>(),
        all.len(),
        "every service in one level"
    );
    for (n, s) in &p.model.services {
        // Bind mounts would make their host directories: those services are left out.
        if s.volumes.iter().any(|v| v.kind == "bind") || !s.env_file.is_empty() {
            continue;
        }
        let _ = plan::container_config(
            &p,
            s,
            &plan::Instance {
                service: n,
                number: 1,
                image: "x",
                image_id: "x",
            },
        );
        let _ = plan::health_config(n, s);
    }
}

/// A DNS packet from a container to its network's server: the parser and the responder
/// (answers, NXDOMAIN, FORMERR) never panic, and an answer keeps the query's id.
pub fn dns(data: &[u8]) {
    use berth_netns::dns;
    let zone = dns::Zone {
        names: [(
            "web".to_string(),
            vec![std::net::Ipv4Addr::new(10, 213, 1, 2)],
        )]
        .into_iter()
        .collect(),
        upstreams: Vec::new(),
        by_client: Default::default(),
    };
    if let Ok(q) = dns::parse_query(data) {
        assert!(q.end <= data.len());
    }
    if let dns::Reply::Answer(r) = dns::reply(data, &zone, data.len()) {
        assert_eq!(r[..2], data[..2], "the answer keeps the query's id");
        let _ = dns::answers_of(&r);
    }
}

/// `--format` Go templates (src/template.rs) over a container-list row and an inspect-shaped
/// value, and the table layout of what they print.
pub fn template(data: &[u8]) {
    let s = text(data);
    let v = serde_json::json!({
        "Name": "/x", "State": {"Status": "running", "ExitCode": 0, "Health": null},
        "Config": {"Labels": {"app": "web", "b": "2"}, "Cmd": ["sh", "-c", "true"]},
        "Mounts": [{"Name": "v", "Destination": "/d"}], "N": 1.5,
        "\u{1}Label": {"app": "web"},
    });
    for t in std::iter::once(&*s).chain(s.lines()) {
        // The scan of a `--format` for the fields it reads: total, whatever the text.
        let _ = berth::commands::output::fields_read(Some(t), "table {{.ID}}");
        if let Ok(tmpl) = berth::template::Template::parse(t) {
            if let Ok(out) = tmpl.render(&v) {
                let _ = berth::commands::output::tabwrite(&out);
            }
        }
    }
}
