//! The fuzz corpora as regression tests on stable: every seed under `fuzz/corpus/<target>/`
//! and every saved crash under `fuzz/regressions/<target>/` goes through the same body the
//! fuzz target runs (fuzz/src/lib.rs, included here as a module), and none may panic or hang.

use std::path::{Path, PathBuf};
use std::time::Duration;

#[path = "../fuzz/src/lib.rs"]
mod entries;

use entries::Target;

/// Longer than any input of the corpus needs, even in a debug build on a busy machine.
const HANG: Duration = Duration::from_secs(60);

/// (target, input file) for every file in `dir/<target>/`; unknown target dirs are errors.
fn inputs(dir: &Path, errors: &mut Vec<String>) -> Vec<(Target, PathBuf)> {
    let mut out = Vec::new();
    let Ok(targets) = std::fs::read_dir(dir) else {
        return out;
    };
    for t in targets {
        let t = t.expect("read fuzz dir").path();
        let name = t.file_name().unwrap_or_default().to_string_lossy();
        let Some(&target) = entries::TARGETS.iter().find(|(n, _)| *n == name) else {
            errors.push(format!("{}: no fuzz target of that name", t.display()));
            continue;
        };
        for f in std::fs::read_dir(&t).expect("read corpus dir") {
            out.push((target, f.expect("read corpus dir").path()));
        }
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    out
}

#[test]
fn corpus_and_regressions_replay_without_panics() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut errors = Vec::new();
    let seeds = inputs(&fuzz.join("corpus"), &mut errors);
    let regressions = inputs(&fuzz.join("regressions"), &mut errors);
    for (name, _) in entries::TARGETS {
        if !seeds.iter().any(|((t, _), _)| t == name) {
            errors.push(format!(
                "fuzz target {name} has no seeds in fuzz/corpus/{name}/"
            ));
        }
    }
    for &((target, run), ref file) in seeds.iter().chain(&regressions) {
        let data = std::fs::read(file).expect("read corpus file");
        // On a thread of its own, so that a hang (one input of the corpus was one) fails the
        // test instead of stalling it; the spinning thread dies with the test process.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(std::panic::catch_unwind(|| run(&data)).is_ok());
        });
        match rx.recv_timeout(HANG) {
            Ok(true) => {}
            Ok(false) => errors.push(format!("{target}: {} panicked (above)", file.display())),
            Err(_) => {
                errors.push(format!(
                    "{target}: {} still running after {HANG:?}",
                    file.display()
                ));
                break;
            }
        }
    }
    eprintln!(
        "replayed {} seeds and {} regression inputs",
        seeds.len(),
        regressions.len()
    );
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}
