//! Cgroup creation racing with removal: containers share the `berth` parent, and the last
//! one to leave removes it while another may be creating its own cgroup inside.

use berth_runtime::cgroups;
use std::path::Path;

#[test]
fn create_and_remove_race_on_the_shared_parent() {
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::getuid() } != 0 {
        eprintln!("skipping create_and_remove_race_on_the_shared_parent: needs root");
        return;
    }
    let pid = std::process::id();
    let workers: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                let mut failures = Vec::new();
                for i in 0..40 {
                    let id = format!("cgrace-{pid}-{t}-{i}");
                    let path = Path::new("/berth").join(&id);
                    match cgroups::prepare(&path, &id, None) {
                        Ok(rec) => {
                            if let Err(e) = cgroups::remove(&rec) {
                                failures.push(format!("remove {id}: {e}"));
                            }
                        }
                        Err(e) => failures.push(format!("create {id}: {e}")),
                    }
                }
                failures
            })
        })
        .collect();
    let failures: Vec<String> = workers
        .into_iter()
        .flat_map(|w| w.join().expect("worker"))
        .collect();
    // Whatever happened, nothing of this test stays in any hierarchy.
    let mut left = Vec::new();
    for h in ["", "memory", "pids", "cpu", "cpuset", "freezer", "unified"] {
        let dir = Path::new("/sys/fs/cgroup").join(h).join("berth");
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(&format!("cgrace-{pid}-")) {
                let _ = std::fs::remove_dir(e.path());
                left.push(e.path());
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(left.is_empty(), "cgroups left: {left:?}");
}
