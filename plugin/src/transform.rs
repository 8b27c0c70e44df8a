//! The passes that change documents, in the order they run.

mod common_annotations;

use crate::config::Config;
use crate::stream::{Stream, scan::Meta};

/// Runs every pass over the release, in order.
pub fn apply(stream: &mut Stream, config: &Config) {
    common_annotations::apply(stream, &config.transforms);
}

/// Whether some pass needs this document parsed.
pub fn wants(meta: &Meta, config: &Config) -> bool {
    common_annotations::wants(meta, &config.transforms)
}
