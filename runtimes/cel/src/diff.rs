//! The change a policy made to an object, as the RFC 6902 patch the host applies: removed,
//! added and replaced members by their paths, items appended to a list as appends, a list
//! otherwise changed in length replaced whole. Paths say where the change is, so findings it
//! brings about can name it.

use serde_json::{Value as Json, json};

/// The operations that turn `from` into `to`.
pub fn diff(from: &Json, to: &Json) -> Vec<Json> {
    let mut ops = Vec::new();
    walk(from, to, &mut String::new(), &mut ops);
    ops
}

fn walk(from: &Json, to: &Json, path: &mut String, ops: &mut Vec<Json>) {
    if from == to {
        return;
    }
    match (from, to) {
        (Json::Object(a), Json::Object(b)) => {
            for key in a.keys().filter(|k| !b.contains_key(*k)) {
                ops.push(json!({"op": "remove", "path": format!("{path}/{}", escape(key))}));
            }
            for (key, value) in b {
                let len = path.len();
                path.push('/');
                path.push_str(&escape(key));
                match a.get(key) {
                    Some(old) => walk(old, value, path, ops),
                    None => ops.push(json!({"op": "add", "path": path.clone(), "value": value})),
                }
                path.truncate(len);
            }
        }
        (Json::Array(a), Json::Array(b)) if a.len() == b.len() => {
            for (i, (old, new)) in a.iter().zip(b).enumerate() {
                let len = path.len();
                path.push_str(&format!("/{i}"));
                walk(old, new, path, ops);
                path.truncate(len);
            }
        }
        (Json::Array(a), Json::Array(b)) if b.len() > a.len() && b[..a.len()] == a[..] => {
            for value in &b[a.len()..] {
                ops.push(json!({"op": "add", "path": format!("{path}/-"), "value": value}));
            }
        }
        _ => ops.push(json!({"op": "replace", "path": path.clone(), "value": to})),
    }
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_patch_turns_one_into_the_other() {
        let from = json!({"a": 1, "b": {"c/d": [1, 2]}, "gone": true, "l": [1, 2]});
        let to = json!({"a": 2, "b": {"c/d": [1, 2, 3]}, "new": {"x": 1}, "l": [2]});
        let ops = diff(&from, &to);
        assert_eq!(
            ops,
            vec![
                json!({"op": "remove", "path": "/gone"}),
                json!({"op": "replace", "path": "/a", "value": 2}),
                json!({"op": "add", "path": "/b/c~1d/-", "value": 3}),
                json!({"op": "add", "path": "/new", "value": {"x": 1}}),
                json!({"op": "replace", "path": "/l", "value": [2]}),
            ]
        );
        let crate::jsonpatch::Outcome::Applied(applied) =
            crate::jsonpatch::apply(&from, &ops).unwrap()
        else {
            panic!("applies")
        };
        assert_eq!(applied, to);
        assert!(diff(&from, &from).is_empty());
    }
}
