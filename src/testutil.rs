//! Helpers shared by unit tests.

use std::path::{Path, PathBuf};

/// `../shared/<rel>` beside the repository (the reference corpora; CI has them), when present.
/// Tests that need it print a note and skip when it is absent.
pub(crate) fn shared(rel: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared")
        .join(rel);
    p.exists().then_some(p)
}

/// Compares `actual` with the committed JSON document `tests/fixtures/golden/<name>` (as JSON
/// values, so key order does not matter); with `UPDATE_GOLDEN=1` in the environment,
/// (re)writes the file instead.
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub(crate) fn golden_json(name: &str, actual: &serde_json::Value) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/golden")
        .join(name);
    let pretty = serde_json::to_string_pretty(actual).unwrap() + "\n";
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, pretty).unwrap();
        return;
    }
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with UPDATE_GOLDEN=1 to create it)",
            path.display()
        )
    });
    let expected: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(
        &expected == actual,
        "{} differs from the output (UPDATE_GOLDEN=1 rewrites it after review):\n--- expected\n{text}\n--- actual\n{pretty}",
        path.display()
    );
}

/// An event with `fields` (a JSON object), from input `t`, received now.
pub(crate) fn event_with(fields: serde_json::Value) -> crate::event::Event {
    let m = match fields {
        serde_json::Value::Object(m) => m,
        _ => serde_json::Map::new(),
    };
    crate::event::Event::new(
        crate::event::Origin {
            input: "t".into(),
            source: "t".into(),
            index: 0,
        },
        chrono::Utc::now(),
        crate::event::Fields::from(m),
    )
}

/// Opens the store at `dir` again after a handle to it was dropped in this process. sled's
/// background flusher can hold the file lock a moment longer than the handle, so a lock error
/// is retried for up to 5 s (a restarted daemon is a new process and never meets this).
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub(crate) fn reopen_store(dir: &Path) -> crate::store::Store {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match crate::store::Store::open(dir) {
            Ok(store) => return store,
            Err(_) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => panic!("reopening the store at {}: {e}", dir.display()),
        }
    }
}
