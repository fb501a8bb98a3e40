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
