//! `transforms.commonAnnotations`: the same annotations on every object, as kustomize does.
//! Keys the chart set keep the chart's value.

use serde_json::Value;

use super::{Applied, object_name};
use crate::config::Transforms;
use crate::document::object_entry;
use crate::stream::{Stream, scan::Meta};

pub fn wants(_meta: &Meta, transforms: &Transforms) -> bool {
    !transforms.common_annotations.is_empty()
}

pub fn apply(stream: &mut Stream, transforms: &Transforms, log: &mut Vec<Applied>) {
    if transforms.common_annotations.is_empty() {
        return;
    }
    for doc in stream.documents_mut() {
        let Some(value) = doc.value() else { continue };
        if doc.is_removed() || !value.get("metadata").is_some_and(Value::is_object) {
            continue;
        }
        let existing = value.pointer("/metadata/annotations");
        let missing: Vec<(&String, &String)> = transforms
            .common_annotations
            .iter()
            .filter(|(k, _)| existing.and_then(|a| a.get(k.as_str())).is_none())
            .collect();
        if missing.is_empty() {
            continue;
        }
        let metadata = doc
            .value_mut()
            .and_then(|v| v.get_mut("metadata"))
            .expect("checked");
        let annotations = object_entry(metadata, "annotations");
        for (key, value) in &missing {
            annotations.insert((*key).clone(), Value::String((*value).clone()));
        }
        log.push(Applied {
            pass: "common-annotations",
            object: object_name(doc),
            source: doc.source.clone(),
            change: format!("{} annotation(s)", missing.len()),
        });
    }
}
