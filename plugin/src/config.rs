//! What the engine is told to do, beyond what the chart's contract says.
//!
//! The host reads it from `--config` (YAML, strict) and hands it over as a value; in the
//! wasm engine it crosses the sandbox as JSON text.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Engine configuration. Unknown keys are errors, so a typo never silently does nothing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Config {
    /// Changes made to every document, whatever the chart.
    pub transforms: Transforms,
}

/// Chart-independent changes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Transforms {
    /// Annotations added to every object's `metadata` (kept where the chart set the key).
    pub common_annotations: BTreeMap<String, String>,
}
