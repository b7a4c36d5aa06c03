//! Image verbs: import, load, save, images, tag, rmi, history, image inspect/prune.

use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context, Result};
use berth_image::archive::{self, SaveFormat};
use berth_image::{Image, Reference, Store};

pub fn import(root: &Path, file: &str, reference: Option<&str>, changes: &[String]) -> Result<()> {
    let name = reference.map(|r| r.parse::<Reference>()).transpose()?;
    let store = Store::open(root)?;
    let mut input: Box<dyn Read> = if file == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::fs::File::open(file).with_context(|| format!("open {file}"))?)
    };
    let img = archive::import(&store, &mut input, name.as_ref(), changes)
        .with_context(|| format!("import {file}"))?;
    ev(
        root,
        "import",
        &img.id().to_string(),
        reference.unwrap_or(""),
    );
    println!("{}", img.id());
    Ok(())
}

/// `push REF`: the image named REF to its registry; prints the digest as Docker does.
pub fn push(root: &Path, what: &str, insecure: Vec<String>, quiet: bool) -> Result<()> {
    use berth_image::push::{self, PushEvent, PushOptions};
    let r: Reference = what.parse()?;
    let store = Store::open(root)?;
    let img = store.resolve(what)?;
    let say = |e: PushEvent| {
        if quiet {
            return;
        }
        match e {
            PushEvent::Exists(d) => eprintln!("{}: Layer already exists", d.short()),
            PushEvent::Pushed { digest, size } => {
                eprintln!("{}: Pushed ({})", digest.short(), human(size))
            }
            PushEvent::Manifest(_) => {}
        }
    };
    let d = push::push(
        &store,
        &img,
        &r,
        &PushOptions {
            insecure,
            credentials: crate::engine::auth::credentials_for(&r.registry),
        },
        &say,
    )?;
    ev(root, "push", &r.to_string(), &r.to_string());
    let size = store.blob_path(&d).metadata().map(|m| m.len()).unwrap_or(0);
    println!(
        "{}: digest: {d} size: {size}",
        r.tag.clone().unwrap_or_else(|| "latest".into())
    );
    Ok(())
}

pub fn pull(
    root: &Path,
    what: &str,
    platform: Option<String>,
    insecure: Vec<String>,
    quiet: bool,
) -> Result<()> {
    let r = pull_image(root, what, platform, insecure, quiet)?;
    println!("{r}");
    Ok(())
}

/// `run`'s pull: progress on stderr as `pull`'s, nothing on stdout.
pub fn pull_quietly(root: &Path, what: &str) -> Result<()> {
    pull_image(root, what, None, Vec::new(), false).map(|_| ())
}

fn pull_image(
    root: &Path,
    what: &str,
    platform: Option<String>,
    insecure: Vec<String>,
    quiet: bool,
) -> Result<Reference> {
    use berth_image::registry::{self, Event, PullOptions};
    use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
    use std::collections::HashMap;
    use std::sync::Mutex;
    let r: Reference = what.parse()?;
    let store = Store::open(root)?;
    let tty = nix::unistd::isatty(std::io::stderr()).unwrap_or(false);
    let multi = MultiProgress::new();
    let bars: Mutex<HashMap<String, ProgressBar>> = Mutex::new(HashMap::new());
    let style =
        ProgressStyle::with_template("{prefix}: {msg:>16} [{bar:30}] {bytes}/{total_bytes}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
    let say = |e: Event| {
        if quiet {
            return;
        }
        let mut bars = bars.lock().unwrap_or_else(|p| p.into_inner());
        match e {
            Event::Resolved { manifest, layers } => {
                eprintln!("{r}: resolved {manifest} ({layers} layers)")
            }
            Event::LayerStart { digest, size } if tty => {
                let b = multi.add(ProgressBar::new(size));
                b.set_style(style.clone());
                b.set_prefix(digest.short().to_string());
                b.set_message("Downloading");
                bars.insert(digest.to_string(), b);
            }
            Event::LayerStart { digest, .. } => eprintln!("{}: Pulling fs layer", digest.short()),
            Event::LayerProgress { digest, done } => {
                if let Some(b) = bars.get(&digest.to_string()) {
                    b.set_position(done);
                }
            }
            Event::LayerDone { digest, cached } => match bars.get(&digest.to_string()) {
                Some(b) => b.finish_with_message("Download complete"),
                None => eprintln!(
                    "{}: {}",
                    digest.short(),
                    if cached {
                        "Already exists"
                    } else {
                        "Download complete"
                    }
                ),
            },
            Event::Unpacking => eprintln!("{r}: unpacking layers"),
        }
    };
    let img = registry::pull(
        &store,
        &r,
        &PullOptions {
            platform,
            insecure,
            credentials: crate::engine::auth::credentials_for(&r.registry),
        },
        &say,
    )
    .with_context(|| format!("pull {r}"))?;
    ev(root, "pull", &r.to_string(), &r.to_string());
    if !quiet {
        eprintln!("Digest: {}", img.manifest_digest);
        eprintln!("Status: Downloaded newer image for {r}");
    }
    Ok(r)
}

pub fn load(root: &Path, input: Option<&Path>, quiet: bool) -> Result<()> {
    let store = Store::open(root)?;
    let (reader, src): (Box<dyn Read>, &Path) = match input {
        Some(p) => (
            Box::new(std::fs::File::open(p).with_context(|| format!("open {}", p.display()))?),
            p,
        ),
        None => (Box::new(std::io::stdin().lock()), Path::new("stdin")),
    };
    let images =
        archive::load(&store, reader, src).with_context(|| format!("load {}", src.display()))?;
    for img in images {
        let name = img.names.first().map(|n| n.to_string()).unwrap_or_default();
        ev(root, "load", &img.id().to_string(), &name);
        if quiet {
            println!("{}", img.id());
        } else if img.names.is_empty() {
            println!("Loaded image ID: {}", img.id());
        } else {
            for n in &img.names {
                println!("Loaded image: {n}");
            }
        }
    }
    Ok(())
}

pub fn save(root: &Path, output: Option<&Path>, format: &str, images: &[String]) -> Result<()> {
    let format = match format {
        "docker-archive" | "docker" => SaveFormat::Docker,
        "oci-archive" | "oci" => SaveFormat::Oci,
        other => bail!("--format {other:?}: want docker-archive or oci-archive"),
    };
    let store = Store::open(root)?;
    let mut list = Vec::new();
    for what in images {
        let img = store.resolve(what)?;
        // A name saves that name; an id saves all names of the image.
        let names = match what.parse::<Reference>() {
            Ok(r) if img.names.contains(&r) => vec![r],
            _ => img.names.clone(),
        };
        list.push((img, names));
    }
    super::output::write_archive(output, |w| Ok(archive::save(&store, &list, w, format)?))?;
    for (img, names) in &list {
        let name = names.first().map(|n| n.to_string()).unwrap_or_default();
        ev(root, "save", &img.id().to_string(), &name);
    }
    Ok(())
}

/// An image event in the root's log (engine/events.rs).
fn ev(root: &Path, action: &str, id: &str, name: &str) {
    crate::engine::events::image(root, action, id, name);
}

pub fn human(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1000.0 && i < units.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    if i == 0 {
        format!("{bytes}B")
    } else {
        format!("{v:.3}{}", units[i]).replace(".000", "")
    }
}

fn rows(images: &[Image]) -> Vec<(String, String, &Image)> {
    let mut out = Vec::new();
    for img in images {
        if img.names.is_empty() {
            out.push(("<none>".to_string(), "<none>".to_string(), img));
        }
        for n in &img.names {
            out.push((
                n.familiar_name(),
                n.tag.clone().unwrap_or_else(|| "<none>".into()),
                img,
            ));
        }
    }
    out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    out
}

pub fn images(root: &Path, quiet: bool, format: Option<&str>, no_trunc: bool) -> Result<()> {
    let store = Store::open(root)?;
    let images = store.images()?;
    if quiet {
        let mut seen = std::collections::BTreeSet::new();
        for img in &images {
            if seen.insert(img.id().clone()) {
                println!(
                    "{}",
                    if no_trunc {
                        img.id().to_string()
                    } else {
                        img.id().short().to_string()
                    }
                );
            }
        }
        return Ok(());
    }
    let values: Vec<serde_json::Value> = rows(&images)
        .into_iter()
        .map(|(repo, tag, img)| {
            let created = img.config.created.clone().unwrap_or_default();
            let since = crate::monitor::logs::parse_rfc3339(&created)
                .map(|t| {
                    let now = crate::monitor::logs::now().as_nanos() as i128;
                    let d = std::time::Duration::from_nanos((now - t).max(0) as u64);
                    format!("{} ago", crate::text::human_duration(d))
                })
                .unwrap_or_else(|| "N/A".into());
            let digest = img.manifest_digest.to_string();
            let size = crate::commands::container::human_size(img.size());
            crate::commands::output::row(
                [
                    (
                        "ID",
                        (if no_trunc {
                            img.id().to_string()
                        } else {
                            img.id().short().to_string()
                        })
                        .into(),
                    ),
                    ("Repository", repo.into()),
                    ("Tag", tag.into()),
                    ("Digest", digest.into()),
                    ("CreatedSince", since.into()),
                    (
                        "CreatedAt",
                        crate::commands::container::created_at(&created).into(),
                    ),
                    ("Size", size.clone().into()),
                    ("VirtualSize", size.into()),
                    ("Containers", "N/A".into()),
                    ("SharedSize", "N/A".into()),
                    ("UniqueSize", "N/A".into()),
                ],
                None,
            )
        })
        .collect();
    let header = serde_json::json!({
        "ID": "IMAGE ID", "Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST",
        "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE",
        "VirtualSize": "VIRTUAL SIZE", "Containers": "CONTAINERS", "SharedSize": "SHARED SIZE",
        "UniqueSize": "UNIQUE SIZE",
    });
    crate::commands::output::print_list(
        &values,
        &header,
        "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}",
        format,
    )
}

pub fn tag(root: &Path, source: &str, target: &str) -> Result<()> {
    let target: Reference = target.parse()?;
    let store = Store::open(root)?;
    let img = store.resolve(source)?;
    let size = std::fs::metadata(store.blob_path(&img.manifest_digest))?.len();
    store.tag(
        Some(&target),
        &berth_image::model::Descriptor::new(
            berth_image::model::MT_OCI_MANIFEST,
            img.manifest_digest.clone(),
            size,
        ),
    )?;
    ev(root, "tag", &img.id().to_string(), &target.to_string());
    Ok(())
}

pub fn rmi(root: &Path, force: bool, images: &[String]) -> Result<()> {
    let store = Store::open(root)?;
    let mut failed = None;
    for what in images {
        let res = (|| -> Result<()> {
            let img = store.resolve(what)?;
            let last_name = match what.parse::<Reference>() {
                Ok(r) if img.names.contains(&r) => img.names.len() == 1,
                _ => true,
            };
            let users = crate::engine::containers_using(root, &img.id().to_string());
            if last_name && !users.is_empty() && !force {
                bail!(
                    "image {} is used by container {}: remove it first or use --force",
                    img.id().short(),
                    users
                        .iter()
                        .map(|u| &u[..12])
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            match what.parse::<Reference>() {
                Ok(r) if img.names.contains(&r) && img.names.len() > 1 => {
                    store.untag(&r)?;
                    ev(root, "untag", &img.id().to_string(), &r.to_string());
                    println!("Untagged: {r}");
                }
                Ok(r) if img.names.contains(&r) => {
                    store.remove_manifest(&img.manifest_digest)?;
                    ev(root, "untag", &img.id().to_string(), &r.to_string());
                    ev(root, "delete", &img.id().to_string(), &r.to_string());
                    println!("Untagged: {r}\nDeleted: {}", img.id());
                }
                _ => {
                    if img.names.len() > 1 && !force {
                        bail!(
                            "image {} is referenced by {} names ({}): remove them one by one or use --force",
                            img.id().short(),
                            img.names.len(),
                            img.names.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", ")
                        );
                    }
                    store.remove_manifest(&img.manifest_digest)?;
                    ev(root, "delete", &img.id().to_string(), "");
                    println!("Deleted: {}", img.id());
                }
            }
            Ok(())
        })();
        if let Err(e) = res {
            eprintln!(
                "berth: {}",
                crate::for_terminal(&format!("rmi {what}: {e:#}"))
            );
            failed = Some(e);
        }
    }
    drop(store);
    Store::gc(root, &crate::engine::layers_in_use(root))?;
    match failed {
        Some(_) => bail!("some images were not removed"),
        None => Ok(()),
    }
}

pub fn history(root: &Path, image: &str, format: Option<&str>) -> Result<()> {
    let store = Store::open(root)?;
    let img = store.resolve(image)?;
    let mut layer_sizes = img.manifest.layers.iter().map(|l| l.size);
    let mut rows = Vec::new();
    for h in img.config.history.iter() {
        let size = if h.empty_layer {
            0
        } else {
            layer_sizes.next().unwrap_or(0)
        };
        rows.push((
            h.created.clone().unwrap_or_default(),
            h.created_by.clone().unwrap_or_default(),
            size,
            h.comment.clone().unwrap_or_default(),
        ));
    }
    rows.reverse();
    let top = img.id().to_string();
    let values: Vec<serde_json::Value> = rows
        .into_iter()
        .enumerate()
        .map(|(i, (created, by, size, comment))| {
            let since = crate::monitor::logs::parse_rfc3339(&created)
                .map(|t| {
                    let now = crate::monitor::logs::now().as_nanos() as i128;
                    let d = std::time::Duration::from_nanos((now - t).max(0) as u64);
                    format!("{} ago", crate::text::human_duration(d))
                })
                .unwrap_or_else(|| "N/A".into());
            // Docker names only the top entry; the layers under it are "<missing>"
            let id = if i == 0 {
                top[7..19.min(top.len())].to_string()
            } else {
                "<missing>".into()
            };
            crate::commands::output::row(
                [
                    ("ID", id.into()),
                    ("CreatedSince", since.into()),
                    (
                        "CreatedAt",
                        crate::commands::container::created_at(&created).into(),
                    ),
                    (
                        "CreatedBy",
                        crate::commands::container::ellipsis(&by.replace('\t', " "), 45).into(),
                    ),
                    ("Size", crate::commands::container::human_size(size).into()),
                    ("Comment", comment.into()),
                ],
                None,
            )
        })
        .collect();
    let header = serde_json::json!({
        "ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT",
        "CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT",
    });
    crate::commands::output::print_list(
        &values,
        &header,
        "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}",
        format,
    )
}

pub fn inspect(root: &Path, images: &[String], format: Option<&str>) -> Result<()> {
    let store = Store::open(root)?;
    let mut out = Vec::new();
    for what in images {
        out.push(inspect_value(&store, what)?);
    }
    crate::commands::output::print_inspect(&out, format)
}

/// `docker image inspect`'s object for one image.
pub fn inspect_value(store: &Store, what: &str) -> Result<serde_json::Value> {
    {
        let img = store.resolve(what)?;
        Ok(serde_json::json!({
            "Id": img.id().to_string(),
            "RepoTags": img.names.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
            "RepoDigests": img.names.iter().map(|n| format!("{}@{}", n.name(), img.manifest_digest)).collect::<Vec<_>>(),
            "Created": img.config.created,
            "Architecture": img.config.architecture,
            "Os": img.config.os,
            "Size": img.size(),
            "Config": img.config.config,
            "RootFS": {"Type": img.config.rootfs.typ, "Layers": img.config.rootfs.diff_ids},
            "Manifest": img.manifest,
        }))
    }
}

/// `image prune`: every image no container uses (with `all`), then what no image refers to
/// (blobs, layers, leftovers of interrupted loads). Asks first unless `force`.
pub fn prune(root: &Path, all: bool, force: bool) -> Result<()> {
    let warning = if all {
        "WARNING! This will remove all images without at least one container associated to them."
    } else {
        "WARNING! This will remove all data no image refers to (blobs, layers, leftovers of interrupted loads)."
    };
    if !force && !crate::commands::output::confirm(warning)? {
        return Ok(());
    }
    if all {
        let store = Store::open(root)?;
        let mut seen = std::collections::BTreeSet::new();
        for img in store.images()? {
            let id = img.id().to_string();
            if seen.insert(id.clone()) && crate::engine::containers_using(root, &id).is_empty() {
                for n in &img.names {
                    println!("Untagged: {n}");
                }
                store.remove_manifest(&img.manifest_digest)?;
                println!("Deleted: {id}");
            }
        }
    }
    let (blobs, layers, bytes) = Store::gc(root, &crate::engine::layers_in_use(root))?;
    println!(
        "Deleted {blobs} blobs and {layers} layers\nTotal reclaimed space: {}",
        human(bytes)
    );
    Ok(())
}

/// `login [SERVER]`: the password from -p, --password-stdin, or a prompt on the terminal.
pub fn login(
    server: Option<&str>,
    username: Option<String>,
    password: Option<String>,
    password_stdin: bool,
    insecure: &[String],
) -> Result<()> {
    use std::io::BufRead;
    let server = server.unwrap_or("docker.io");
    let tty = nix::unistd::isatty(std::io::stdin()).unwrap_or(false);
    let username = match username {
        Some(u) => u,
        None if tty && !password_stdin => {
            eprint!("Username: ");
            let mut u = String::new();
            std::io::stdin().lock().read_line(&mut u)?;
            u.trim().to_string()
        }
        None => bail!("--username is needed (no terminal to ask on)"),
    };
    let password = match (password, password_stdin) {
        (Some(_), true) => bail!("--password and --password-stdin are mutually exclusive"),
        (Some(p), false) => {
            eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
            p
        }
        (None, true) => {
            let mut p = String::new();
            std::io::stdin().read_to_string(&mut p)?;
            p.trim_end_matches(['\n', '\r']).to_string()
        }
        (None, false) if tty => read_password()?,
        (None, false) => bail!("a password is needed: -p, or --password-stdin"),
    };
    if username.is_empty() || password.is_empty() {
        bail!("username and password must not be empty");
    }
    let c = berth_image::auth::Credentials { username, password };
    crate::engine::auth::login(server, &c, insecure)?;
    println!("Login Succeeded");
    Ok(())
}

/// The password from the terminal, not echoed.
fn read_password() -> Result<String> {
    use nix::sys::termios::{self, LocalFlags, SetArg};
    use std::io::BufRead;
    use std::os::fd::AsFd;
    let stdin = std::io::stdin();
    let old = termios::tcgetattr(stdin.as_fd())?;
    let mut quiet = old.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &quiet)?;
    eprint!("Password: ");
    let mut p = String::new();
    let res = stdin.lock().read_line(&mut p);
    let _ = termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &old);
    eprintln!();
    res?;
    Ok(p.trim_end_matches(['\n', '\r']).to_string())
}

/// `logout [SERVER]`.
pub fn logout(server: Option<&str>) -> Result<()> {
    let server = server.unwrap_or("docker.io");
    let key = crate::engine::auth::key_of(server);
    if crate::engine::auth::logout(server)? {
        println!("Removing login credentials for {key}");
    } else {
        println!("Not logged in to {key}");
    }
    Ok(())
}
