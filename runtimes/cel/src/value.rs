//! JSON and CEL values, both ways, as Kubernetes converts them: a number is an integer when it
//! is whole and fits int64, else a double (YAML's `0.0` reaches the API server as JSON `0`,
//! Go's encoding of a whole float64, and is decoded as int64; nothing decodes to uint); CEL bytes are base64 in JSON, as
//! `structpb` writes them; NaN and infinities have no JSON form.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use kube_cel::cel::Value;
use kube_cel::cel::common::types::{
    CelBool, CelDouble, CelInt, CelList, CelMap, CelMapEntries, CelMapKey, CelNull, CelString,
};
use kube_cel::cel::common::value::Val;
use kube_cel::cel::objects::{Key, Map};
use serde_json::Value as Json;

/// A number that is not an int64 in JSON, as the API server decodes Go's JSON of it: Go
/// writes a whole float64 below 1e21 without a fraction or exponent, and apimachinery reads
/// such digits as int64 when they fit.
fn number(f: f64) -> Value {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if f.fract() == 0.0 && f.abs() < 1e21 && (-TWO_63..TWO_63).contains(&f) {
        Value::Int(f as i64)
    } else {
        Value::Float(f)
    }
}

/// A JSON value as the interpreter holds it, built directly: the same value as
/// `to_cel(json)` converted (which copies everything twice), for the large inputs every
/// evaluation reads (`object`).
pub fn to_val(json: &Json) -> Box<dyn Val> {
    match json {
        Json::Null => Box::new(CelNull),
        Json::Bool(b) => Box::new(CelBool::from(*b)),
        Json::Number(n) => match to_cel(json) {
            Value::Int(i) => Box::new(CelInt::from(i)),
            Value::Float(f) => Box::new(CelDouble::from(f)),
            _ => Box::new(CelDouble::from(n.as_f64().unwrap_or(f64::NAN))),
        },
        Json::String(s) => Box::new(CelString::from(s.as_str())),
        Json::Array(items) => Box::new(CelList::from(items.iter().map(to_val).collect::<Vec<_>>())),
        Json::Object(fields) => Box::new(CelMap::from(
            fields
                .iter()
                .map(|(k, v)| (CelMapKey::from(k.as_str()), to_val(v)))
                .collect::<CelMapEntries>(),
        )),
    }
}

/// JSON text as the interpreter holds it, read straight into CEL's values: the same value as
/// `to_val` of the parsed JSON, without the JSON tree in between. Depth is the host's to
/// bound (it writes objects at most 200 levels deep).
pub fn parse_val(text: &str) -> serde_json::Result<Box<dyn Val>> {
    let mut de = serde_json::Deserializer::from_str(text);
    de.disable_recursion_limit();
    let value = serde::Deserializer::deserialize_any(&mut de, ValVisitor)?;
    de.end()?;
    Ok(value)
}

/// Builds CEL values as serde_json's `Value` visitor builds JSON, number for number: an
/// integer that fits int64 is an int, anything else goes through [`number`] as `to_cel`
/// sends a JSON number that is not an int64.
struct ValVisitor;

impl<'de> serde::de::Visitor<'de> for ValVisitor {
    type Value = Box<dyn Val>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Self::Value, E> {
        Ok(Box::new(CelBool::from(b)))
    }

    fn visit_i64<E>(self, i: i64) -> Result<Self::Value, E> {
        Ok(Box::new(CelInt::from(i)))
    }

    fn visit_u64<E>(self, u: u64) -> Result<Self::Value, E> {
        Ok(match i64::try_from(u) {
            Ok(i) => Box::new(CelInt::from(i)),
            Err(_) => boxed(number(u as f64)),
        })
    }

    fn visit_f64<E>(self, f: f64) -> Result<Self::Value, E> {
        Ok(boxed(number(f)))
    }

    fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
        Ok(Box::new(CelString::from(s)))
    }

    fn visit_string<E>(self, s: String) -> Result<Self::Value, E> {
        Ok(Box::new(CelString::from(s)))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Box::new(CelNull))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element_seed(Seed)? {
            items.push(item);
        }
        Ok(Box::new(CelList::from(items)))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        // Collected first, the map is built at its size at once (JSON does not say it).
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(8));
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let value = map.next_value_seed(Seed)?;
            entries.push((CelMapKey::from(key.as_ref()), value));
        }
        // A key given twice keeps its last value, as serde_json's map does.
        Ok(Box::new(CelMap::from(
            entries.into_iter().collect::<CelMapEntries>(),
        )))
    }
}

struct Seed;

impl<'de> serde::de::DeserializeSeed<'de> for Seed {
    type Value = Box<dyn Val>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(ValVisitor)
    }
}

fn boxed(value: Value) -> Box<dyn Val> {
    match value {
        Value::Int(i) => Box::new(CelInt::from(i)),
        Value::Float(f) => Box::new(CelDouble::from(f)),
        _ => unreachable!("number() gives an int or a double"),
    }
}

/// A JSON value as CEL sees it.
pub fn to_cel(json: &Json) -> Value {
    match json {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => number(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(s) => Value::String(Arc::new(s.clone())),
        Json::Array(items) => Value::List(Arc::new(items.iter().map(to_cel).collect())),
        Json::Object(fields) => {
            let map: HashMap<Key, Value> = fields
                .iter()
                .map(|(k, v)| (Key::String(Arc::new(k.clone())), to_cel(v)))
                .collect();
            Value::Map(Map { map: Arc::new(map) })
        }
    }
}

/// A CEL value as JSON, or why it has no JSON form. Map entries come out in key order, so
/// the same value always gives the same JSON.
pub fn to_json(value: &Value) -> Result<Json, String> {
    Ok(match value {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::UInt(u) => Json::from(*u),
        Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(Json::Number)
            .ok_or_else(|| format!("{f} has no JSON form"))?,
        Value::String(s) => Json::String(s.to_string()),
        Value::Bytes(b) => {
            Json::String(base64::engine::general_purpose::STANDARD.encode(b.as_slice()))
        }
        Value::List(items) => Json::Array(items.iter().map(to_json).collect::<Result<_, _>>()?),
        Value::Map(map) => {
            let mut entries: Vec<(String, Json)> = Vec::with_capacity(map.map.len());
            for (key, value) in map.map.iter() {
                let Key::String(name) = key else {
                    return Err(format!(
                        "a map key {key:?} that is not a string has no JSON form"
                    ));
                };
                entries.push((name.to_string(), to_json(value)?));
            }
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Json::Object(entries.into_iter().collect())
        }
        Value::Timestamp(t) => Json::String(t.to_rfc3339()),
        Value::Duration(d) => Json::String(format!("{}s", d.num_milliseconds() as f64 / 1000.0)),
        other => return Err(format!("a {} has no JSON form", type_name(other))),
    })
}

/// A value's CEL type, for messages.
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::UInt(_) => "uint",
        Value::Float(_) => "double",
        Value::String(_) => "string",
        Value::Bytes(_) => "bytes",
        Value::List(_) => "list",
        Value::Map(_) => "map",
        Value::Timestamp(_) => "timestamp",
        Value::Duration(_) => "duration",
        _ => "opaque value",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_round_trips_through_cel() {
        let object = json!({"a": [1, -2, 3.5, "x", null, true], "b": {"c": {"d": 1.5e300}}});
        assert_eq!(to_json(&to_cel(&object)).unwrap(), object);
    }

    #[test]
    fn values_built_directly_equal_the_converted_ones() {
        let object = json!({"a": [1, -2, 3.5, 0.0, "x", null, true], "b": {"c": {"d": 1.5e300}}});
        let direct = to_val(&object);
        let converted: Box<dyn Val> = to_cel(&object).try_into().unwrap();
        assert!(
            direct.equals(converted.as_ref()),
            "{direct:?} != {converted:?}"
        );
        let back: Value = direct.as_ref().try_into().unwrap();
        assert_eq!(to_json(&back).unwrap(), to_json(&to_cel(&object)).unwrap());
    }

    #[test]
    fn values_read_from_text_equal_those_built_from_json() {
        let text = r#"{"a": [1, -2, 3.5, 0.0, -0.0, 1e20, 1e21, 18446744073709551615, 9223372036854775807, -9223372036854775808, "x\u00e9", null, true, {}], "b": {"c": {"d": 1.5e300}}, "b": 7}"#;
        let json: Json = crate::from_host_json(text).unwrap();
        let read = parse_val(text).unwrap();
        let built = to_val(&json);
        assert!(read.equals(built.as_ref()), "{read:?} != {built:?}");
        let read: Value = read.as_ref().try_into().unwrap();
        assert_eq!(to_json(&read).unwrap(), to_json(&to_cel(&json)).unwrap());
        assert!(parse_val("{\"a\": 1} x").is_err());
        assert!(parse_val("[1,").is_err());
    }

    #[test]
    fn numbers_are_what_the_api_server_decodes() {
        assert_eq!(to_cel(&json!(0.0)), Value::Int(0));
        assert_eq!(to_cel(&json!(-0.0)), Value::Int(0));
        assert_eq!(to_cel(&json!(1e18)), Value::Int(1_000_000_000_000_000_000));
        assert_eq!(to_cel(&json!(1e20)), Value::Float(1e20));
        assert_eq!(to_cel(&json!(1e21)), Value::Float(1e21));
        assert_eq!(
            to_cel(&json!(18446744073709551615u64)),
            Value::Float(1.8446744073709552e19)
        );
        assert_eq!(to_cel(&json!(0.5)), Value::Float(0.5));
    }

    #[test]
    fn what_json_cannot_hold_is_refused() {
        assert!(to_json(&Value::Float(f64::NAN)).is_err());
        let mut map = HashMap::new();
        map.insert(Key::Int(1), Value::Null);
        assert!(to_json(&Value::Map(Map { map: Arc::new(map) })).is_err());
        assert_eq!(
            to_json(&Value::Bytes(Arc::new(b"hi".to_vec()))).unwrap(),
            json!("aGk=")
        );
    }
}
