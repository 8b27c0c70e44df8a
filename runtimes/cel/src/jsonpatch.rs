//! A MutatingAdmissionPolicy's JSON patch, applied as the API server applies it: with
//! gopkg.in/evanphx/json-patch.v4's reading of RFC 6902, quirks included (negative array
//! indices count from the end; `replace` of a missing object key adds it; `test` of a
//! missing member against null passes), and a failed `test` leaving the object unchanged.

use serde_json::Value as Json;

/// What applying a patch came to.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    /// Every operation applied.
    Applied(Json),
    /// A `test` failed: the API server keeps the object as it was.
    TestFailed,
}

/// Applies `operations` (JSON objects with `op`, `path`, `from`, `value`) to a copy of `doc`.
pub fn apply(doc: &Json, operations: &[Json]) -> Result<Outcome, String> {
    let mut doc = doc.clone();
    for (i, op) in operations.iter().enumerate() {
        let kind = op.get("op").and_then(Json::as_str).unwrap_or("unknown");
        let path = || {
            op.get("path")
                .and_then(Json::as_str)
                .ok_or_else(|| format!("operation {i} ({kind}) has no path"))
        };
        let from = || {
            op.get("from")
                .and_then(Json::as_str)
                .ok_or_else(|| format!("operation {i} ({kind}) has no from"))
        };
        let value = || op.get("value").cloned().unwrap_or(Json::Null);
        let result = match kind {
            "add" => add(&mut doc, path()?, value()),
            "remove" => remove(&mut doc, path()?).map(drop),
            "replace" => replace(&mut doc, path()?, value()),
            "move" => {
                let moved = get(&doc, from()?)?.cloned().unwrap_or(Json::Null);
                remove(&mut doc, from()?)?;
                add(&mut doc, path()?, moved)
            }
            "copy" => {
                let copied = get(&doc, from()?)?.cloned().unwrap_or(Json::Null);
                add(&mut doc, path()?, copied)
            }
            "test" => {
                let path = path()?;
                let actual = if path.is_empty() {
                    Some(&doc)
                } else {
                    get(&doc, path)?
                };
                let expected = op.get("value").unwrap_or(&Json::Null);
                let same = match actual {
                    None | Some(Json::Null) => expected.is_null(),
                    Some(actual) => equal(actual, expected),
                };
                if !same {
                    return Ok(Outcome::TestFailed);
                }
                Ok(())
            }
            other => Err(format!("unexpected kind: {other}")),
        };
        result.map_err(|e| format!("operation {i} ({kind}): {e}"))?;
    }
    Ok(Outcome::Applied(doc))
}

/// JSON equality as Go's `reflect.DeepEqual` on decoded JSON sees it: numbers as float64.
fn equal(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => x.as_f64() == y.as_f64(),
        (Json::Array(x), Json::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| equal(a, b))
        }
        (Json::Object(x), Json::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| equal(v, w)))
        }
        _ => a == b,
    }
}

/// RFC 6901 unescaping, `~1` before `~0` and never overlapping, as Go's strings.Replacer.
fn unescape(part: &str) -> String {
    let mut out = String::with_capacity(part.len());
    let mut chars = part.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('~', Some('1')) => {
                out.push('/');
                chars.next();
            }
            ('~', Some('0')) => {
                out.push('~');
                chars.next();
            }
            _ => out.push(c),
        }
    }
    out
}

/// evanphx's `findObject`: the container holding the path's last segment, and that
/// segment. Whatever precedes the first `/` is ignored, as there.
fn parent<'a>(doc: &'a mut Json, path: &str) -> Result<(&'a mut Json, String), String> {
    let parts: Vec<&str> = path.split('/').collect();
    if parts.len() < 2 {
        return Err(format!("doc is missing path: {path:?}"));
    }
    let mut at = doc;
    for part in &parts[1..parts.len() - 1] {
        let key = unescape(part);
        at = match at {
            Json::Object(map) => map.get_mut(&key),
            Json::Array(items) => {
                let len = items.len();
                index(&key, len, false).ok().and_then(|i| items.get_mut(i))
            }
            _ => None,
        }
        .filter(|v| v.is_object() || v.is_array())
        .ok_or_else(|| format!("doc is missing path: {path:?}"))?;
    }
    Ok((at, unescape(parts[parts.len() - 1])))
}

/// An array index with negative ones counting from the end; `len` is the largest index
/// allowed plus one (so `add` may name the end).
fn index(key: &str, len: usize, inclusive: bool) -> Result<usize, String> {
    let idx: i64 = key
        .parse()
        .map_err(|_| format!("value was not a proper array index: {key:?}"))?;
    let bound = len as i64 + i64::from(inclusive);
    let idx = if idx < 0 { idx + bound } else { idx };
    if idx < 0 || idx >= bound {
        return Err(format!("unable to access invalid index: {key}"));
    }
    Ok(idx as usize)
}

fn get<'a>(doc: &'a Json, path: &str) -> Result<Option<&'a Json>, String> {
    let parts: Vec<&str> = path.split('/').collect();
    if parts.len() < 2 {
        return Err(format!("doc is missing path: {path:?}"));
    }
    let mut at = doc;
    for (n, part) in parts[1..].iter().enumerate() {
        let key = unescape(part);
        let last = n + 2 == parts.len();
        let next = match at {
            Json::Object(map) => map.get(&key),
            Json::Array(items) => items.get(index(&key, items.len(), false)?),
            _ => None,
        };
        match next {
            Some(v) => at = v,
            None if last => return Ok(None),
            None => return Err(format!("doc is missing path: {path:?}")),
        }
    }
    Ok(Some(at))
}

fn add(doc: &mut Json, path: &str, value: Json) -> Result<(), String> {
    let (container, key) = parent(doc, path)?;
    match container {
        Json::Object(map) => {
            map.insert(key, value);
            Ok(())
        }
        Json::Array(items) => {
            let at = if key == "-" {
                items.len()
            } else {
                index(&key, items.len(), true)?
            };
            items.insert(at, value);
            Ok(())
        }
        _ => Err(format!("doc is missing path: {path:?}")),
    }
}

fn remove(doc: &mut Json, path: &str) -> Result<Json, String> {
    let (container, key) = parent(doc, path)?;
    match container {
        Json::Object(map) => map
            .shift_remove(&key)
            .ok_or_else(|| format!("unable to remove nonexistent key: {key}")),
        Json::Array(items) => {
            let at = index(&key, items.len(), false)?;
            Ok(items.remove(at))
        }
        _ => Err(format!("doc is missing path: {path:?}")),
    }
}

fn replace(doc: &mut Json, path: &str, value: Json) -> Result<(), String> {
    if path.is_empty() {
        if !(value.is_object() || value.is_array()) {
            return Err("replace operation value must be object or array".into());
        }
        *doc = value;
        return Ok(());
    }
    let (container, key) = parent(doc, path)?;
    match container {
        // evanphx v4 finds no error getting a missing object key: replace adds it.
        Json::Object(map) => {
            map.insert(key, value);
            Ok(())
        }
        Json::Array(items) => {
            let at = index(&key, items.len(), false)?;
            items[at] = value;
            Ok(())
        }
        _ => Err(format!("doc is missing path: {path:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(doc: Json, ops: Json) -> Result<Outcome, String> {
        apply(&doc, ops.as_array().unwrap())
    }

    #[test]
    fn operations_apply_as_evanphx_v4_applies_them() {
        let doc = json!({"a": [1, 2, 3], "b": {"c~/": 1}});
        let Outcome::Applied(out) = run(
            doc,
            json!([
                {"op": "add", "path": "/a/-", "value": 4},
                {"op": "add", "path": "/a/-1", "value": 9},
                {"op": "remove", "path": "/a/0"},
                {"op": "replace", "path": "/b/new", "value": true},
                {"op": "copy", "from": "/b/c~0~1", "path": "/d"},
                {"op": "move", "from": "/d", "path": "/e"},
            ]),
        )
        .unwrap() else {
            panic!("applied")
        };
        assert_eq!(
            out,
            json!({"a": [2, 3, 4, 9], "b": {"c~/": 1, "new": true}, "e": 1})
        );
    }

    #[test]
    fn a_failed_test_keeps_the_object_and_other_errors_are_errors() {
        let doc = json!({"spec": {"example": "Blue"}});
        let ops = json!([
            {"op": "test", "path": "/spec/example", "value": "Red"},
            {"op": "replace", "path": "/spec/example", "value": "Green"},
        ]);
        assert_eq!(run(doc.clone(), ops).unwrap(), Outcome::TestFailed);
        assert_eq!(
            run(
                doc.clone(),
                json!([{"op": "test", "path": "/spec/missing", "value": null}])
            )
            .unwrap(),
            Outcome::Applied(doc.clone())
        );
        assert!(
            run(
                doc.clone(),
                json!([{"op": "add", "path": "/x/y", "value": 1}])
            )
            .is_err()
        );
        assert!(run(doc.clone(), json!([{"op": "remove", "path": "/nope"}])).is_err());
        assert!(run(doc.clone(), json!([{"op": "frobnicate", "path": "/a"}])).is_err());
        assert!(
            run(
                doc,
                json!([{"op": "add", "path": "/spec/example/7", "value": 1}])
            )
            .is_err()
        );
    }

    #[test]
    fn numbers_compare_as_go_compares_decoded_json() {
        let doc = json!({"n": 1});
        assert!(matches!(
            run(doc, json!([{"op": "test", "path": "/n", "value": 1.0}])).unwrap(),
            Outcome::Applied(_)
        ));
    }

    /// A mutation's change goes to the host as vf-jsondiff's patch: applied as the API server
    /// applies a policy's patch, it gives the mutated object.
    #[test]
    fn the_patch_of_a_change_applies_as_the_api_server_applies_it() {
        let from = json!({"a": 1, "b": {"c/d": [1, 2]}, "gone": true, "l": [1, 2], "m": [1, 2, 3]});
        let to =
            json!({"a": 2, "b": {"c/d": [1, 2, 3]}, "new": {"x": 1}, "l": [2], "m": [0, 1, 2, 3]});
        let ops = vf_jsondiff::diff(&from, &to);
        let Outcome::Applied(applied) = apply(&from, &ops).unwrap() else {
            panic!("applies")
        };
        assert_eq!(applied, to);
        assert!(vf_jsondiff::diff(&from, &from).is_empty());
    }
}
