//! `transforms.commonAnnotations`: the same annotations on every object, as kustomize does.

use serde_json::Value;

use crate::config::Transforms;
use crate::document::object_entry;
use crate::stream::{Stream, scan::Meta};

pub fn wants(_meta: &Meta, transforms: &Transforms) -> bool {
    !transforms.common_annotations.is_empty()
}

pub fn apply(stream: &mut Stream, transforms: &Transforms) {
    if transforms.common_annotations.is_empty() {
        return;
    }
    for doc in stream.documents_mut() {
        let Some(value) = doc.value() else { continue };
        let existing = value.pointer("/metadata/annotations");
        let missing = transforms
            .common_annotations
            .keys()
            .any(|k| existing.and_then(|a| a.get(k)).is_none());
        if !missing || !value.get("metadata").is_some_and(Value::is_object) {
            continue;
        }
        let metadata = doc
            .value_mut()
            .and_then(|v| v.get_mut("metadata"))
            .expect("checked");
        let annotations = object_entry(metadata, "annotations");
        for (key, value) in &transforms.common_annotations {
            annotations
                .entry(key.clone())
                .or_insert_with(|| Value::String(value.clone()));
        }
    }
}
