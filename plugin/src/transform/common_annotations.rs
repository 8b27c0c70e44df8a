//! `transforms.commonAnnotations`: the same annotations on every object, as kustomize does.
//! Keys the chart set keep the chart's value. The change needs only the document itself, so
//! documents nothing else reads get it while the stream is read (stream::Plan::local).

use serde_json::Value;

use super::{Applied, object_name};
use crate::config::Transforms;
use crate::document::object_entry;
use crate::error::Result;
use crate::stream::Stream;

/// Name of the pass in reports.
pub const PASS: &str = "common-annotations";

/// The configured annotations an object lacks (none when it has no metadata mapping; reading
/// refuses metadata and annotations that are neither mappings nor null).
fn missing<'t>(value: &Value, transforms: &'t Transforms) -> Vec<(&'t String, &'t String)> {
    let Some(metadata) = value.get("metadata").filter(|m| m.is_object()) else {
        return Vec::new();
    };
    let existing = metadata.get("annotations").filter(|a| a.is_object());
    transforms
        .common_annotations
        .iter()
        .filter(|(k, _)| existing.and_then(|a| a.get(k.as_str())).is_none())
        .collect()
}

/// Adds the missing annotations to one object; says what it did, if anything.
pub fn annotate(value: &mut Value, transforms: &Transforms) -> Option<String> {
    let missing = missing(value, transforms);
    if missing.is_empty() {
        return None;
    }
    let metadata = value.get_mut("metadata").expect("missing() found metadata");
    let annotations = object_entry(metadata, "annotations")
        .expect("reading refuses annotations that are neither a mapping nor null");
    for (key, value) in &missing {
        annotations.insert((*key).clone(), Value::String((*value).clone()));
    }
    Some(format!("{} annotation(s)", missing.len()))
}

/// Annotates the documents kept as trees (and those vf-post made).
pub fn apply(stream: &mut Stream, transforms: &Transforms, log: &mut Vec<Applied>) -> Result<()> {
    if transforms.common_annotations.is_empty() {
        return Ok(());
    }
    for doc in stream.documents_mut() {
        if doc.is_removed() {
            continue;
        }
        if doc
            .value()
            .is_none_or(|v| missing(v, transforms).is_empty())
        {
            continue;
        }
        let change = annotate(&mut doc.value_mut().expect("checked"), transforms).expect("checked");
        log.push(Applied {
            pass: PASS.into(),
            object: object_name(doc),
            source: doc.source.clone(),
            change,
        });
    }
    Ok(())
}
