//! The tree builder: serde-saphyr's events → `serde_json::Value`, with map keys read the way
//! `sigs.k8s.io/yaml` reads them.
//!
//! Go decodes a plain key by its YAML 1.1 type, then stringifies it for JSON: `yes:` becomes
//! `"true"`, `0755:` becomes `"493"`, `1.0:` becomes `"1"`. Deserializing into
//! `serde_json::Value` directly would keep the key's text (`"yes"`), and a re-emitted document
//! would silently differ from what Kubernetes read.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// A document read as Kubernetes reads it.
pub struct GoValue(pub Value);

impl<'de> Deserialize<'de> for GoValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor).map(GoValue)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom(format!("{v} has no JSON form; Kubernetes cannot read it")))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(ValueVisitor)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(GoValue(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(GoKey(key)) = map.next_key()? {
            let GoValue(value) = map.next_value()?;
            // Keys equal once stringified (`yes` and `true`): the last wins, as in Go.
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

/// A mapping key, stringified as `sigs.k8s.io/yaml` does (`convertToJSONableObject`).
struct GoKey(String);

impl<'de> Deserialize<'de> for GoKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(KeyVisitor).map(GoKey)
    }
}

struct KeyVisitor;

impl Visitor<'_> for KeyVisitor {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping key Kubernetes can read (a string, number or boolean)")
    }

    fn visit_bool<E>(self, v: bool) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_i64<E>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        // go-yaml decodes integers above i64 as uint64, a key type sigs.k8s.io/yaml refuses.
        if i64::try_from(v).is_ok() {
            Ok(v.to_string())
        } else {
            Err(E::custom(format!(
                "mapping key {v} is too large for Kubernetes; quote it"
            )))
        }
    }

    fn visit_f64<E>(self, v: f64) -> Result<String, E> {
        Ok(go_float_key(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }

    fn visit_string<E>(self, v: String) -> Result<String, E> {
        Ok(v)
    }

    fn visit_unit<E: de::Error>(self) -> Result<String, E> {
        Err(E::custom(
            "a null mapping key cannot be read by Kubernetes; quote it",
        ))
    }
}

/// Go's `strconv.FormatFloat(v, 'g', -1, 32)` with go-yaml's names for the non-finite values.
pub(crate) fn go_float_key(v: f64) -> String {
    if v.is_nan() {
        return ".nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { ".inf" } else { "-.inf" }.into();
    }
    // Shortest float32 digits, as Rust's `{:e}` writes them: `d.ddde<exp>`.
    #[allow(clippy::cast_possible_truncation)]
    let sci = format!("{:e}", v as f32);
    let (mantissa, exp) = sci.split_once('e').expect("`{:e}` always has an exponent");
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
    use super::go_float_key;

    #[test]
    fn float_keys_format_like_go() {
        // Expected values from Go: strconv.FormatFloat(f, 'g', -1, 32).
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
            (1.234_567_89, "1.2345679"),
            (1e-10, "1e-10"),
            (16_777_217.0, "1.6777216e+07"),
        ] {
            assert_eq!(go_float_key(v), go, "{v}");
        }
    }
}
