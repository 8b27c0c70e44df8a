//! RFC 6902 JSON Patch, for policy modules that mutate, read strictly (RFC 6901 pointers:
//! array indices are `0` or digits without a leading zero or sign, `-` only to append to an
//! array) and bounded: a module's patches are code's output, so what they cost the host is
//! budgeted (operations, bytes added, depth) before any of it is spent.
//!
//! All of one module's operations on one document apply to one copy, whole or not at all,
//! and may not change what identifies the object: apiVersion, kind, name, namespace.

use serde::Deserialize;
use serde_json::Value;

use crate::stream::limits::{MAX_DEPTH, NODE_BYTES};

/// One operation.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase", deny_unknown_fields)]
pub enum Operation {
    /// `add`.
    Add {
        /// Where.
        path: String,
        /// What.
        value: Value,
    },
    /// `remove`.
    Remove {
        /// What.
        path: String,
    },
    /// `replace`.
    Replace {
        /// Where.
        path: String,
        /// With what.
        value: Value,
    },
    /// `move`.
    Move {
        /// From where.
        from: String,
        /// To where.
        path: String,
    },
    /// `copy`.
    Copy {
        /// From where.
        from: String,
        /// To where.
        path: String,
    },
    /// `test`.
    Test {
        /// Where.
        path: String,
        /// The value expected there.
        value: Value,
    },
}

impl Operation {
    /// The pointer the operation changes (or tests).
    pub fn path(&self) -> &str {
        match self {
            Operation::Add { path, .. }
            | Operation::Remove { path }
            | Operation::Replace { path, .. }
            | Operation::Move { path, .. }
            | Operation::Copy { path, .. }
            | Operation::Test { path, .. } => path,
        }
    }
}

/// Parses `operations` (JSON text): an RFC 6902 patch, its values no deeper than the
/// documents vf-post reads.
pub fn parse(operations: &str) -> Result<Vec<Operation>, String> {
    // serde_json stops at 128 levels of nesting on its own; values are checked again below.
    let operations: Vec<Operation> =
        serde_json::from_str(operations).map_err(|e| format!("not an RFC 6902 patch: {e}"))?;
    for op in &operations {
        for pointer in [Some(op.path()), from(op)].into_iter().flatten() {
            tokens(pointer)?;
        }
    }
    Ok(operations)
}

fn from(op: &Operation) -> Option<&str> {
    match op {
        Operation::Move { from, .. } | Operation::Copy { from, .. } => Some(from),
        _ => None,
    }
}

/// What patches may still cost, shared by every module of a release.
#[derive(Debug, Clone)]
pub struct Budget {
    /// Operations one module may send in all.
    pub per_module: usize,
    /// Operations one module may send for one document.
    pub per_document: usize,
    /// Bytes patches may still add to the release (values added, replaced or copied, at
    /// [`NODE_BYTES`] a node plus their text).
    pub bytes_left: usize,
}

/// Applies one module's `operations` to `target`, or leaves it unchanged and says why.
pub fn apply(
    target: &mut Value,
    operations: Vec<Operation>,
    budget: &mut Budget,
) -> Result<(), String> {
    if operations.len() > budget.per_document {
        return Err(format!(
            "{} operations for one document, more than the {} allowed (sandbox.maxPatchOperationsPerDocument)",
            operations.len(),
            budget.per_document
        ));
    }
    let mut work = target.clone();
    for (i, op) in operations.into_iter().enumerate() {
        step(&mut work, op, budget).map_err(|e| format!("operation {i}: {e}"))?;
    }
    for pointer in [
        "/apiVersion",
        "/kind",
        "/metadata/name",
        "/metadata/namespace",
    ] {
        if work.pointer(pointer) != target.pointer(pointer) {
            return Err(format!("changes {pointer}, which identifies the object"));
        }
    }
    crate::stream::build::check_metadata(&work).map_err(|(_, message)| message)?;
    if work.get("items").is_some() {
        // Kubernetes would read the object as a list and apply items no policy has seen.
        return Err(
            "adds a top-level `items`, which makes Kubernetes read the object as a list".into(),
        );
    }
    *target = work;
    Ok(())
}

fn step(doc: &mut Value, op: Operation, budget: &mut Budget) -> Result<(), String> {
    match op {
        Operation::Add { path, value } => {
            pay(budget, &path, &value)?;
            add(doc, &path, value)
        }
        Operation::Remove { path } => remove(doc, &path).map(drop),
        Operation::Replace { path, value } => {
            pay(budget, &path, &value)?;
            let slot = get_mut(doc, &path)?.ok_or_else(|| format!("{path} does not exist"))?;
            *slot = value;
            Ok(())
        }
        Operation::Move { from, path } => {
            if from.is_empty() {
                return Err("moves the whole document".into());
            }
            if path.starts_with(&format!("{from}/")) {
                return Err(format!("cannot move {from} into itself"));
            }
            let value = remove(doc, &from)?;
            // A move adds no bytes, but may hang a deep value deeper still.
            let depth = tokens(&path)?.len() + measure(&value, usize::MAX).1;
            if depth > MAX_DEPTH {
                return Err(format!(
                    "would nest the document deeper than {MAX_DEPTH} levels"
                ));
            }
            add(doc, &path, value)
        }
        Operation::Copy { from, path } => {
            if from.is_empty() {
                return Err("copies the whole document into itself".into());
            }
            let source = get(doc, &from)?.ok_or_else(|| format!("{from} does not exist"))?;
            // Priced before it is copied: a doubling copy stops before it takes the memory.
            pay(budget, &path, source)?;
            let value = source.clone();
            add(doc, &path, value)
        }
        Operation::Test { path, value } => match get(doc, &path)? {
            Some(found) if *found == value => Ok(()),
            _ => Err(format!("test of {path} failed")),
        },
    }
}

/// Charges what `value` placed at `path` costs, after checking how deep it would sit.
fn pay(budget: &mut Budget, path: &str, value: &Value) -> Result<(), String> {
    let at = tokens(path)?.len();
    let (bytes, depth) = measure(value, budget.bytes_left.saturating_add(1));
    if at + depth > MAX_DEPTH {
        return Err(format!(
            "would nest the document deeper than {MAX_DEPTH} levels"
        ));
    }
    if bytes > budget.bytes_left {
        return Err(
            "adds more than the patch budget allows (sandbox.patchGrowthFactor, sandbox.patchGrowthMib)"
                .into(),
        );
    }
    budget.bytes_left -= bytes;
    Ok(())
}

/// Bytes and depth of a value, counting no further than `limit` bytes.
fn measure(value: &Value, limit: usize) -> (usize, usize) {
    let mut bytes = 0usize;
    let mut deepest = 0usize;
    let mut stack = vec![(value, 1usize)];
    while let Some((v, depth)) = stack.pop() {
        deepest = deepest.max(depth);
        bytes += NODE_BYTES;
        match v {
            Value::String(s) => bytes += s.len(),
            Value::Array(items) => stack.extend(items.iter().map(|i| (i, depth + 1))),
            Value::Object(map) => {
                for (k, v) in map {
                    bytes += k.len();
                    stack.push((v, depth + 1));
                }
            }
            _ => {}
        }
        if bytes > limit {
            break;
        }
    }
    (bytes, deepest)
}

/// The unescaped reference tokens of an RFC 6901 pointer: `""` is the whole document,
/// anything else starts with `/`; `~` is only `~0` or `~1`.
fn tokens(pointer: &str) -> Result<Vec<String>, String> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let rest = pointer
        .strip_prefix('/')
        .ok_or_else(|| format!("{pointer:?} is not a JSON pointer (it must start with `/`)"))?;
    rest.split('/')
        .map(|token| {
            let mut out = String::with_capacity(token.len());
            let mut chars = token.chars();
            while let Some(c) = chars.next() {
                match (c, c == '~') {
                    (_, false) => out.push(c),
                    (_, true) => match chars.next() {
                        Some('0') => out.push('~'),
                        Some('1') => out.push('/'),
                        _ => return Err(format!("{pointer:?}: `~` must be followed by 0 or 1")),
                    },
                }
            }
            Ok(out)
        })
        .collect()
}

/// An array index as RFC 6901 writes one: `0`, or digits without a leading zero.
fn index(token: &str) -> Option<usize> {
    let digits = !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit());
    if digits && (token == "0" || !token.starts_with('0')) {
        token.parse().ok()
    } else {
        None
    }
}

fn get<'v>(doc: &'v Value, pointer: &str) -> Result<Option<&'v Value>, String> {
    let mut at = doc;
    for token in tokens(pointer)? {
        at = match at {
            Value::Object(map) => match map.get(&token) {
                Some(v) => v,
                None => return Ok(None),
            },
            Value::Array(items) => match index(&token).and_then(|i| items.get(i)) {
                Some(v) => v,
                None => return Ok(None),
            },
            _ => return Ok(None),
        };
    }
    Ok(Some(at))
}

fn get_mut<'v>(doc: &'v mut Value, pointer: &str) -> Result<Option<&'v mut Value>, String> {
    let mut at = doc;
    for token in tokens(pointer)? {
        at = match at {
            Value::Object(map) => match map.get_mut(&token) {
                Some(v) => v,
                None => return Ok(None),
            },
            Value::Array(items) => match index(&token).and_then(|i| items.get_mut(i)) {
                Some(v) => v,
                None => return Ok(None),
            },
            _ => return Ok(None),
        };
    }
    Ok(Some(at))
}

/// Splits a pointer into its parent and its last token, unescaped.
fn parent_of(path: &str) -> Result<(&str, String), String> {
    if path.is_empty() {
        return Err("the whole document cannot be replaced".into());
    }
    let (parent, _) = path
        .rsplit_once('/')
        .ok_or_else(|| format!("{path:?} is not a JSON pointer"))?;
    let last = tokens(path)?
        .pop()
        .expect("a non-empty pointer has a token");
    Ok((parent, last))
}

fn add(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    let (parent, token) = parent_of(path)?;
    match get_mut(doc, parent)? {
        Some(Value::Object(_)) if token == "-" => Err(format!(
            "{path}: `-` appends to an array, and {parent} is an object"
        )),
        Some(Value::Object(map)) => {
            map.insert(token, value);
            Ok(())
        }
        Some(Value::Array(items)) => {
            let at = if token == "-" {
                items.len()
            } else {
                index(&token)
                    .filter(|&i| i <= items.len())
                    .ok_or_else(|| format!("index {token:?} is not in the array"))?
            };
            items.insert(at, value);
            Ok(())
        }
        Some(_) => Err(format!("{parent} is neither an object nor an array")),
        None => Err(format!("{parent} does not exist")),
    }
}

fn remove(doc: &mut Value, path: &str) -> Result<Value, String> {
    let (parent, token) = parent_of(path)?;
    match get_mut(doc, parent)? {
        Some(Value::Object(map)) => map
            .shift_remove(&token)
            .ok_or_else(|| format!("{path} does not exist")),
        Some(Value::Array(items)) => {
            let i = index(&token)
                .filter(|&i| i < items.len())
                .ok_or_else(|| format!("index {token:?} is not in the array"))?;
            Ok(items.remove(i))
        }
        _ => Err(format!("{path} does not exist")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn budget() -> Budget {
        Budget {
            per_module: 10_000,
            per_document: 1_000,
            bytes_left: 1 << 20,
        }
    }

    fn patch(doc: &mut Value, ops: &str) -> Result<(), String> {
        apply(doc, parse(ops)?, &mut budget())
    }

    #[test]
    fn operations_apply_in_order() {
        let mut doc = json!({"kind": "A", "metadata": {"name": "a"}, "list": [1, 2]});
        patch(
            &mut doc,
            r#"[
            {"op": "add", "path": "/metadata/annotations", "value": {"team": "x"}},
            {"op": "add", "path": "/metadata/annotations/a~1b", "value": "y"},
            {"op": "add", "path": "/list/-", "value": 3},
            {"op": "replace", "path": "/list/0", "value": 0},
            {"op": "copy", "from": "/list/1", "path": "/copied"},
            {"op": "move", "from": "/copied", "path": "/moved"},
            {"op": "remove", "path": "/list/1"},
            {"op": "test", "path": "/moved", "value": 2}
        ]"#,
        )
        .unwrap();
        assert_eq!(
            doc,
            json!({"kind": "A", "metadata": {"name": "a", "annotations": {"team": "x", "a/b": "y"}}, "list": [0, 3], "moved": 2})
        );
    }

    #[test]
    fn a_failing_patch_changes_nothing() {
        let mut doc = json!({"kind": "A", "metadata": {"name": "a"}});
        let before = doc.clone();
        assert!(
            patch(
                &mut doc,
                r#"[{"op": "add", "path": "/x", "value": 1}, {"op": "remove", "path": "/nope"}]"#
            )
            .is_err()
        );
        assert_eq!(doc, before);
        assert!(patch(&mut doc, "not json").is_err());
        assert!(patch(&mut doc, r#"[{"op": "frobnicate", "path": "/x"}]"#).is_err());
    }

    #[test]
    fn identity_cannot_change() {
        let mut doc = json!({"kind": "A", "metadata": {"name": "a", "namespace": "n"}});
        for op in ["/kind", "/metadata/name", "/metadata/namespace"] {
            let err = patch(
                &mut doc,
                &format!(r#"[{{"op": "replace", "path": "{op}", "value": "z"}}]"#),
            )
            .unwrap_err();
            assert!(err.contains("identifies the object"), "{err}");
        }
        let err = patch(
            &mut doc,
            r#"[{"op": "add", "path": "/apiVersion", "value": "v2"}]"#,
        )
        .unwrap_err();
        assert!(err.contains("/apiVersion"), "{err}");
    }

    #[test]
    fn pointers_are_read_as_rfc_6901_writes_them() {
        let mut doc = json!({"kind": "A", "metadata": {"name": "a"}, "list": [1, 2], "map": {}});
        for (ops, why) in [
            (
                r#"[{"op": "replace", "path": "/list/+0", "value": 0}]"#,
                "does not exist",
            ),
            (
                r#"[{"op": "replace", "path": "/list/01", "value": 0}]"#,
                "does not exist",
            ),
            (
                r#"[{"op": "add", "path": "/map/-", "value": 0}]"#,
                "appends to an array",
            ),
            (
                r#"[{"op": "add", "path": "map/x", "value": 0}]"#,
                "must start with `/`",
            ),
            (
                r#"[{"op": "add", "path": "/map/a~2", "value": 0}]"#,
                "`~` must be followed",
            ),
            (
                r#"[{"op": "copy", "from": "", "path": "/x"}]"#,
                "whole document",
            ),
            (
                r#"[{"op": "move", "from": "", "path": "/x"}]"#,
                "whole document",
            ),
        ] {
            let err = patch(&mut doc, ops).unwrap_err();
            assert!(err.contains(why), "{ops}: {err}");
        }
    }

    #[test]
    fn a_patch_cannot_make_the_object_a_list_or_nest_it_by_moves() {
        let mut doc = json!({"kind": "ConfigMap", "metadata": {"name": "a"}});
        let err = patch(
            &mut doc,
            r#"[{"op": "add", "path": "/items", "value": [{"kind": "Pod"}]}]"#,
        )
        .unwrap_err();
        assert!(err.contains("as a list"), "{err}");
        // A chain 150 deep, then the chain moved under its own copy's leaf: 300 deep.
        let mut chain = json!(1);
        for _ in 0..150 {
            chain = json!({"a": chain});
        }
        let mut doc =
            json!({"kind": "A", "metadata": {"name": "a"}, "x": chain.clone(), "y": chain});
        let leaf = format!("/y{}", "/a".repeat(149));
        let ops = format!(r#"[{{"op": "move", "from": "/x", "path": "{leaf}/a"}}]"#);
        let mut roomy = Budget {
            bytes_left: 1 << 30,
            ..budget()
        };
        let err = apply(&mut doc, parse(&ops).unwrap(), &mut roomy).unwrap_err();
        assert!(err.contains("deeper than"), "{err}");
    }

    #[test]
    fn budgets_stop_copies_that_double_and_nest() {
        let mut doc =
            json!({"kind": "A", "metadata": {"name": "a"}, "spec": {"x": "y".repeat(1000)}});
        let doubling: Vec<String> = (0..40)
            .map(|i| format!(r#"{{"op": "copy", "from": "/spec", "path": "/spec/again{i}"}}"#))
            .collect();
        let err = patch(&mut doc, &format!("[{}]", doubling.join(","))).unwrap_err();
        assert!(err.contains("patch budget"), "{err}");
        let nesting: Vec<String> = (0..300)
            .map(|_| r#"{"op": "copy", "from": "/spec", "path": "/spec/in"}"#.to_owned())
            .collect();
        let mut doc = json!({"kind": "A", "metadata": {"name": "a"}, "spec": {}});
        let mut roomy = Budget {
            bytes_left: 1 << 30,
            ..budget()
        };
        let err = apply(
            &mut doc,
            parse(&format!("[{}]", nesting.join(","))).unwrap(),
            &mut roomy,
        )
        .unwrap_err();
        assert!(err.contains("deeper than"), "{err}");
        let many: Vec<String> = (0..1001)
            .map(|i| format!(r#"{{"op": "add", "path": "/metadata/x{i}", "value": 1}}"#))
            .collect();
        let err = patch(&mut doc, &format!("[{}]", many.join(","))).unwrap_err();
        assert!(err.contains("1001 operations"), "{err}");
    }
}
