//! What each pass and each mutating policy changed in each object, as RFC 6902 JSON Patches
//! (`--show-changes`): the object before a step and after it, compared. Kept only when asked,
//! since it copies every object once per step.

use serde::Serialize;
use serde_json::Value;
pub use vf_jsondiff::diff;

use crate::error::Result;
use crate::finding::ObjectRef;
use crate::stream::Stream;

/// Whether a release keeps what each step changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Changes {
    /// Only the short account of [`crate::transform::Applied`].
    #[default]
    Untracked,
    /// Also each object's patch per step ([`Change`]).
    Tracked,
}

/// One step's change to one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The object, as it is after the step.
    pub object: ObjectRef,
    /// The pass (`dapr`, `probes`, `pull-secrets`, `services-json`, `common-annotations`) or
    /// the policy module.
    pub by: String,
    /// RFC 6902 operations that turn the object before the step into the object after it;
    /// an object the step made is one `add` at the root.
    pub patch: Vec<Value>,
    /// Whether secret values were masked in the patch (then it no longer applies as written).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub masked: bool,
}

/// The objects of a stream before a step: `None` for those without a tree.
pub(crate) struct Snapshot(Vec<Option<Value>>);

impl Snapshot {
    /// Every document's tree, copied.
    pub(crate) fn take(stream: &Stream) -> Snapshot {
        Snapshot(
            stream
                .documents()
                .iter()
                .map(|d| d.value().cloned())
                .collect(),
        )
    }

    /// Appends to `out` what `by` changed since the snapshot: objects it made, and the
    /// differences in those the snapshot holds.
    pub(crate) fn compare(&self, by: &str, stream: &Stream, out: &mut Vec<Change>) {
        for (i, doc) in stream.documents().iter().enumerate() {
            let Some(after) = doc.value().filter(|_| !doc.is_removed()) else {
                continue;
            };
            let patch = match self.0.get(i) {
                None => vec![serde_json::json!({"op": "add", "path": "", "value": after})],
                Some(None) => continue,
                Some(Some(before)) => diff(before, after),
            };
            if !patch.is_empty() {
                out.push(Change {
                    object: ObjectRef::from(doc),
                    by: by.to_owned(),
                    patch,
                    masked: false,
                });
            }
        }
    }
}

/// Runs `step` on the stream, recording what it changed as `by` when `out` is given.
pub(crate) fn record(
    out: Option<&mut Vec<Change>>,
    by: &str,
    stream: &mut Stream,
    step: impl FnOnce(&mut Stream) -> Result<()>,
) -> Result<()> {
    match out {
        None => step(stream),
        Some(out) => {
            let before = Snapshot::take(stream);
            step(stream)?;
            before.compare(by, stream, out);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn applies(before: &Value, after: &Value) {
        let patch = diff(before, after);
        let text = serde_json::to_string(&patch).unwrap();
        let mut target = before.clone();
        let mut budget = crate::patch::Budget {
            per_module: usize::MAX,
            per_document: usize::MAX,
            bytes_left: usize::MAX,
        };
        crate::patch::apply(
            &mut target,
            crate::patch::parse(&text).unwrap(),
            &mut budget,
        )
        .unwrap();
        assert_eq!(&target, after, "{text}");
    }

    #[test]
    fn the_patch_turns_before_into_after() {
        let before = json!({
            "metadata": {"name": "a", "annotations": {"x/y": "1", "a~b": "2", "gone": "3"}},
            "spec": {"list": [1, 2, 3], "short": [1, 2, 3], "kind": {"a": 1}, "same": [{"a": 1}]}
        });
        let after = json!({
            "metadata": {"name": "a", "annotations": {"x/y": "9", "a~b": "2", "new/key": "n"}},
            "spec": {"list": [1, 5, 3, 4, 6], "short": [1], "kind": [1], "same": [{"a": 1}]},
            "added": {"deep": [null]}
        });
        applies(&before, &after);
        let patch = diff(&before, &after);
        assert!(patch.contains(
            &json!({"op": "replace", "path": "/metadata/annotations/x~1y", "value": "9"})
        ));
        assert!(patch.contains(&json!({"op": "remove", "path": "/metadata/annotations/gone"})));
        assert!(patch.contains(
            &json!({"op": "add", "path": "/metadata/annotations/new~1key", "value": "n"})
        ));
        assert!(
            !patch
                .iter()
                .any(|op| op["path"].as_str().unwrap().contains("same"))
        );
    }

    #[test]
    fn equal_values_give_no_patch_and_a_scalar_root_is_replaced() {
        assert!(diff(&json!({"a": [1]}), &json!({"a": [1]})).is_empty());
        assert_eq!(
            diff(&json!(1), &json!("1")),
            vec![json!({"op": "replace", "path": "", "value": "1"})]
        );
        applies(&json!([1, 2, 3]), &json!([]));
        applies(&json!([]), &json!([[1], {"": {"~/": 2}}]));
        applies(&json!({"": 1}), &json!({"": 2, "~": 3}));
    }

    #[test]
    fn an_item_inserted_in_front_or_the_middle_is_one_operation() {
        let long: Vec<u32> = (0..1000).collect();
        let mut front = long.clone();
        front.insert(0, 7);
        assert_eq!(
            diff(&json!({"l": long}), &json!({"l": front})),
            vec![json!({"op": "add", "path": "/l/0", "value": 7})]
        );
        let mut middle = long.clone();
        middle.remove(500);
        assert_eq!(
            diff(&json!(long), &json!(middle)),
            vec![json!({"op": "remove", "path": "/500"})]
        );
        applies(&json!([1, 2, 3, 2, 1]), &json!([1, 2, 9, 9, 3, 2, 1]));
        applies(&json!([1, 1, 1]), &json!([1, 1]));
        applies(&json!([1, 2, 1]), &json!([1]));
    }

    /// Random pairs of values, each patch applied by the engine's own RFC 6902 applier.
    #[test]
    fn random_pairs_round_trip() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        fn value(depth: u32, next: &mut dyn FnMut(u64) -> u64) -> Value {
            let keys = ["a", "b", "c/d", "e~f", ""];
            match if depth == 0 { next(3) } else { next(5) } {
                0 => json!(next(3)),
                1 => json!(["x", "y"][next(2) as usize]),
                2 => Value::Null,
                3 => Value::Array((0..next(4)).map(|_| value(depth - 1, next)).collect()),
                _ => Value::Object(
                    (0..next(4))
                        .map(|_| (keys[next(5) as usize].to_owned(), value(depth - 1, next)))
                        .collect(),
                ),
            }
        }
        for _ in 0..5_000 {
            let a = value(4, &mut next);
            let b = value(4, &mut next);
            applies(&a, &b);
        }
    }
}
