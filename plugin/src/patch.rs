//! RFC 6902 JSON Patch, for policy modules that mutate. A patch applies whole or not at all,
//! and may not change what identifies an object: apiVersion, kind, name, namespace.

use serde::Deserialize;
use serde_json::Value;

/// One operation.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase", deny_unknown_fields)]
enum Operation {
    Add { path: String, value: Value },
    Remove { path: String },
    Replace { path: String, value: Value },
    Move { from: String, path: String },
    Copy { from: String, path: String },
    Test { path: String, value: Value },
}

/// Checks that `operations` (JSON text) is an RFC 6902 patch, without applying it.
pub fn check(operations: &str) -> Result<(), String> {
    parse(operations).map(drop)
}

fn parse(operations: &str) -> Result<Vec<Operation>, String> {
    serde_json::from_str(operations).map_err(|e| format!("not an RFC 6902 patch: {e}"))
}

/// Applies `operations` (JSON text) to `target`, or leaves it unchanged and says why.
pub fn apply(target: &mut Value, operations: &str) -> Result<(), String> {
    let operations = parse(operations)?;
    let mut work = target.clone();
    for (i, op) in operations.into_iter().enumerate() {
        step(&mut work, op).map_err(|e| format!("operation {i}: {e}"))?;
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
    *target = work;
    Ok(())
}

fn step(doc: &mut Value, op: Operation) -> Result<(), String> {
    match op {
        Operation::Add { path, value } => add(doc, &path, value),
        Operation::Remove { path } => remove(doc, &path).map(drop),
        Operation::Replace { path, value } => {
            let slot = doc
                .pointer_mut(&path)
                .ok_or_else(|| format!("{path} does not exist"))?;
            *slot = value;
            Ok(())
        }
        Operation::Move { from, path } => {
            if path.starts_with(&format!("{from}/")) {
                return Err(format!("cannot move {from} into itself"));
            }
            let value = remove(doc, &from)?;
            add(doc, &path, value)
        }
        Operation::Copy { from, path } => {
            let value = doc
                .pointer(&from)
                .cloned()
                .ok_or_else(|| format!("{from} does not exist"))?;
            add(doc, &path, value)
        }
        Operation::Test { path, value } => match doc.pointer(&path) {
            Some(found) if *found == value => Ok(()),
            _ => Err(format!("test of {path} failed")),
        },
    }
}

/// Splits a pointer into its parent and its last token, unescaped.
fn parent_of(path: &str) -> Result<(&str, String), String> {
    if path.is_empty() {
        return Err("the whole document cannot be replaced".into());
    }
    let (parent, last) = path
        .rsplit_once('/')
        .ok_or_else(|| format!("{path:?} is not a JSON pointer"))?;
    Ok((parent, last.replace("~1", "/").replace("~0", "~")))
}

fn add(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    let (parent, token) = parent_of(path)?;
    match doc.pointer_mut(parent) {
        Some(Value::Object(map)) => {
            map.insert(token, value);
            Ok(())
        }
        Some(Value::Array(items)) => {
            let index = if token == "-" {
                items.len()
            } else {
                index(&token, items.len() + 1)?
            };
            items.insert(index, value);
            Ok(())
        }
        Some(_) => Err(format!("{parent} is neither an object nor an array")),
        None => Err(format!("{parent} does not exist")),
    }
}

fn remove(doc: &mut Value, path: &str) -> Result<Value, String> {
    let (parent, token) = parent_of(path)?;
    match doc.pointer_mut(parent) {
        Some(Value::Object(map)) => map
            .shift_remove(&token)
            .ok_or_else(|| format!("{path} does not exist")),
        Some(Value::Array(items)) => {
            let i = index(&token, items.len())?;
            Ok(items.remove(i))
        }
        _ => Err(format!("{path} does not exist")),
    }
}

fn index(token: &str, len: usize) -> Result<usize, String> {
    let i: usize = token
        .parse()
        .map_err(|_| format!("{token:?} is not an array index"))?;
    if i < len && (token == "0" || !token.starts_with('0')) {
        Ok(i)
    } else {
        Err(format!("index {token} is out of range"))
    }
}

#[cfg(test)]
mod tests {
    use super::apply;
    use serde_json::json;

    #[test]
    fn operations_apply_in_order() {
        let mut doc = json!({"kind": "A", "metadata": {"name": "a"}, "list": [1, 2]});
        apply(
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
            apply(
                &mut doc,
                r#"[{"op": "add", "path": "/x", "value": 1}, {"op": "remove", "path": "/nope"}]"#
            )
            .is_err()
        );
        assert_eq!(doc, before);
        assert!(apply(&mut doc, "not json").is_err());
        assert!(apply(&mut doc, r#"[{"op": "frobnicate", "path": "/x"}]"#).is_err());
    }

    #[test]
    fn identity_cannot_change() {
        let mut doc = json!({"kind": "A", "metadata": {"name": "a", "namespace": "n"}});
        for op in ["/kind", "/metadata/name", "/metadata/namespace"] {
            let err = apply(
                &mut doc,
                &format!(r#"[{{"op": "replace", "path": "{op}", "value": "z"}}]"#),
            )
            .unwrap_err();
            assert!(err.contains("identifies the object"), "{err}");
        }
        let err = apply(
            &mut doc,
            r#"[{"op": "add", "path": "/apiVersion", "value": "v2"}]"#,
        )
        .unwrap_err();
        assert!(err.contains("/apiVersion"), "{err}");
    }
}
