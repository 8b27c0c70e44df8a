//! Mapping keys as Kubernetes names them, and the keys it would pick between at random.
//!
//! go-yaml v2 decodes a mapping into a Go map keyed by typed values (`1`, `"1"`, `1.0` and
//! `true` are four keys), and sigs.k8s.io/yaml then names each key for JSON: `1`, `1` again,
//! `1` a third time, `true`. Keys that end up with one name are written from a Go map, whose
//! order is random, so Kubernetes keeps one of them at random. vf-post refuses such mappings
//! rather than guess which one the cluster will see.

use serde_json::Value;

/// A key as Go holds it: its type and value.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyId {
    /// A string key.
    Str,
    /// An integer key.
    Int(i64),
    /// A float key (NaN never equals itself, as in a Go map).
    Float(f64),
    /// A boolean key.
    Bool(bool),
    /// A key merged in with `<<` whose name Go could also give a number or a boolean.
    Merged,
}

/// A mapping key: the name JSON gives it, and what Go holds.
#[derive(Debug, Clone, PartialEq)]
pub struct GoKey {
    /// The JSON name (`convertToJSONableObject` in sigs.k8s.io/yaml).
    pub name: String,
    /// The Go key.
    pub id: KeyId,
}

/// A key decoded as `value`, named as sigs.k8s.io/yaml names it; an error for keys it refuses.
pub fn go_key(value: &Value) -> Result<GoKey, String> {
    let (name, id) = match value {
        Value::String(s) => (s.clone(), KeyId::Str),
        Value::Bool(b) => (b.to_string(), KeyId::Bool(*b)),
        Value::Number(n) if n.is_i64() => {
            let i = n.as_i64().expect("an i64");
            (i.to_string(), KeyId::Int(i))
        }
        Value::Number(n) if n.is_u64() => {
            return Err(format!(
                "mapping key {n} is too large for Kubernetes; quote it"
            ));
        }
        Value::Number(n) => {
            let f = n.as_f64().expect("a float");
            (go_float_key(f), KeyId::Float(f))
        }
        Value::Null => {
            return Err("a null mapping key cannot be read by Kubernetes; quote it".into());
        }
        Value::Array(_) | Value::Object(_) => {
            return Err(
                "a mapping or sequence as a mapping key cannot be read by Kubernetes".into(),
            );
        }
    };
    Ok(GoKey { name, id })
}

/// A key merged in by `<<`, known only by its JSON name.
pub fn merged_key(name: &str) -> GoKey {
    let typed = super::resolve::scalar(name, super::resolve::Written::Plain, None, false);
    let id = match typed {
        Ok(Value::String(_)) => KeyId::Str,
        _ => KeyId::Merged,
    };
    GoKey {
        name: name.to_owned(),
        id,
    }
}

/// The non-string keys of one mapping seen so far.
#[derive(Debug, Default)]
pub struct Keys {
    typed: Vec<(String, KeyId)>,
}

impl Keys {
    /// Admits `key` into its mapping; `existing` says whether a key of that name is already
    /// there. Refuses two Go keys with one name, and one Go key under two names (`0.0` and
    /// `-0.0`): Kubernetes would read either at random.
    pub fn admit(&mut self, key: &GoKey, existing: bool) -> Result<(), String> {
        if let KeyId::Float(f) = key.id
            && let Some((other, _)) = self
                .typed
                .iter()
                .find(|(n, id)| matches!(id, KeyId::Float(g) if *g == f) && *n != key.name)
        {
            return Err(format!(
                "mapping keys `{other}` and `{}` are one key to Kubernetes under two names, and it \
                 keeps either at random; write the key once",
                key.name
            ));
        }
        let previous = match self.typed.iter().find(|(n, _)| *n == key.name) {
            Some((_, id)) => Some(id.clone()),
            None if existing => Some(KeyId::Str),
            None => None,
        };
        match previous {
            Some(previous) if !same(&previous, &key.id) => Err(format!(
                "two mapping keys both read as `{}` (a {} and a {}), and Kubernetes keeps either at \
                 random; write the key once, quoted",
                key.name,
                what(&previous),
                what(&key.id)
            )),
            Some(_) => Ok(()),
            None => {
                if key.id != KeyId::Str {
                    self.typed.push((key.name.clone(), key.id.clone()));
                }
                Ok(())
            }
        }
    }
}

/// Whether two keys are one key in a Go map.
fn same(a: &KeyId, b: &KeyId) -> bool {
    match (a, b) {
        (KeyId::Str, KeyId::Str) => true,
        (KeyId::Int(x), KeyId::Int(y)) => x == y,
        (KeyId::Float(x), KeyId::Float(y)) => x == y,
        (KeyId::Bool(x), KeyId::Bool(y)) => x == y,
        _ => false,
    }
}

fn what(id: &KeyId) -> &'static str {
    match id {
        KeyId::Str => "string",
        KeyId::Int(_) => "integer",
        KeyId::Float(_) => "float",
        KeyId::Bool(_) => "boolean",
        KeyId::Merged => "key merged in with `<<`",
    }
}

/// Go's `strconv.FormatFloat(v, 'g', -1, 32)` with sigs.k8s.io/yaml's names for the infinite
/// and NaN values (a float64 key beyond float32's range is `+Inf` there).
pub fn go_float_key(v: f64) -> String {
    #[allow(clippy::cast_possible_truncation)]
    let single = v as f32;
    if single.is_nan() {
        return ".nan".into();
    }
    if single.is_infinite() {
        return if single > 0.0 { ".inf" } else { "-.inf" }.into();
    }
    // Shortest float32 digits, as Rust's `{:e}` writes them: `d.ddde<exp>`.
    let sci = format!("{single:e}");
    let (mantissa, exp) = sci.split_once('e').expect("a finite float has an exponent");
    let exp: i32 = exp.parse().expect("an integer exponent");
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if negative { "-" } else { "" };
    // Shortest formatting decides between %e and %f with precision 6 (strconv/ftoa.go).
    if !(-4..6).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() { "" } else { "." };
        let exp_sign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{dot}{rest}e{exp_sign}{:02}", exp.abs());
    }
    let point = exp + 1; // digits before the decimal point
    let text = if point <= 0 {
        format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
    } else if point as usize >= digits.len() {
        format!("{digits}{}", "0".repeat(point as usize - digits.len()))
    } else {
        let (int, frac) = digits.split_at(point as usize);
        format!("{int}.{frac}")
    };
    format!("{sign}{text}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn float_keys_format_like_go() {
        // Expected values from Go: strconv.FormatFloat(f, 'g', -1, 32), then sigs.k8s.io/yaml.
        for (v, go) in [
            (1.0, "1"),
            (1.1, "1.1"),
            (1000.0, "1000"),
            (123_456.0, "123456"),
            (1_234_567.0, "1.234567e+06"),
            (1e6, "1e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.5, "-2.5"),
            (0.1, "0.1"),
            (1e21, "1e+21"),
            (0.0, "0"),
            (-0.0, "-0"),
            (1.234_567_89, "1.2345679"),
            (1e-10, "1e-10"),
            (16_777_217.0, "1.6777216e+07"),
            (1e39, ".inf"),
            (-1e39, "-.inf"),
            (1e-50, "0"),
        ] {
            assert_eq!(go_float_key(v), go, "{v}");
        }
    }

    #[test]
    fn keys_kubernetes_would_pick_at_random_are_refused() {
        let key = |v: Value| go_key(&v).unwrap();
        for (first, second) in [
            (json!(1), json!("1")),
            (json!("1"), json!(1)),
            (json!(1), json!(1.0)),
            (json!(true), json!("true")),
            (json!(1e39), json!(1e40)),
            (json!(0.0), json!(-0.0)),
        ] {
            let mut keys = Keys::default();
            let (a, b) = (key(first.clone()), key(second.clone()));
            keys.admit(&a, false).unwrap();
            let existing = a.name == b.name;
            assert!(keys.admit(&b, existing).is_err(), "{first} then {second}");
        }
        for (first, second) in [
            (json!(1), json!(1)),
            (json!("a"), json!("a")),
            (json!(true), json!(true)),
        ] {
            let mut keys = Keys::default();
            keys.admit(&key(first), false).unwrap();
            keys.admit(&key(second), true).unwrap();
        }
    }
}
