//! The RFC 6902 JSON Patch that turns one JSON value into another, shared by vf-post's engine
//! (`--show-changes`: what each pass and policy changed) and its CEL runtime (a mutating
//! policy's change, sent to the host as a patch). Paths say where each change is, so findings
//! it brings about can name it.

use serde_json::Value;

/// An RFC 6902 patch from `before` to `after`: maps compared key by key; lists past their
/// common start and end item by item, then the items added or removed there (so an item
/// inserted in front of a long list is one `add`, not a replacement of every item).
pub fn diff(before: &Value, after: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    walk(before, after, &mut String::new(), &mut out);
    out
}

fn walk(before: &Value, after: &Value, path: &mut String, out: &mut Vec<Value>) {
    if before == after {
        return;
    }
    let len = path.len();
    match (before, after) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, old) in a {
                push_token(path, key);
                match b.get(key) {
                    Some(new) => walk(old, new, path, out),
                    None => out.push(serde_json::json!({"op": "remove", "path": path})),
                }
                path.truncate(len);
            }
            for (key, new) in b.iter().filter(|(k, _)| !a.contains_key(*k)) {
                push_token(path, key);
                out.push(serde_json::json!({"op": "add", "path": path, "value": new}));
                path.truncate(len);
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            let start = a.iter().zip(b).take_while(|(x, y)| x == y).count();
            let end = a[start..]
                .iter()
                .rev()
                .zip(b[start..].iter().rev())
                .take_while(|(x, y)| x == y)
                .count();
            let (a_mid, b_mid) = (&a[start..a.len() - end], &b[start..b.len() - end]);
            let paired = a_mid.len().min(b_mid.len());
            for (i, (old, new)) in a_mid.iter().zip(b_mid).enumerate() {
                path.push_str(&format!("/{}", start + i));
                walk(old, new, path, out);
                path.truncate(len);
            }
            for (i, new) in b_mid.iter().enumerate().skip(paired) {
                let at = start + i;
                out.push(
                    serde_json::json!({"op": "add", "path": format!("{path}/{at}"), "value": new}),
                );
            }
            for i in (paired..a_mid.len()).rev() {
                let at = start + i;
                out.push(serde_json::json!({"op": "remove", "path": format!("{path}/{at}")}));
            }
        }
        _ => out.push(serde_json::json!({"op": "replace", "path": path, "value": after})),
    }
}

/// A JSON pointer token: `~` as `~0`, `/` as `~1` (RFC 6901).
fn push_token(path: &mut String, key: &str) {
    path.push('/');
    for c in key.chars() {
        match c {
            '~' => path.push_str("~0"),
            '/' => path.push_str("~1"),
            c => path.push(c),
        }
    }
}
