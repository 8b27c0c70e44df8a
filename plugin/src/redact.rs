//! Secret values never appear in a report: whatever a rule or a policy module wrote, every
//! Secret's data and every inline secret of a Dapr Component is masked in every text of every
//! finding, in the forms a module could write it to slip past a plain search (reversed, hex,
//! base64, with zero-width characters between its letters). By default policy modules never
//! see a Secret's values either ([`hide_from_module`]); other objects they see as they are,
//! since masking a Secret's value wherever it appears would let a chart blind every policy to
//! any word (a Secret holding "Service" would hide every Service's kind).

use base64::Engine as _;
use serde_json::Value;

use crate::document::Document;
use crate::finding::Finding;

/// What replaces a secret value.
pub const MASK: &str = "***";

/// Values shorter than this are not masked: they would mask ordinary words ("a", "no").
const MIN_LEN: usize = 4;

/// The secret values held by the release's documents.
pub fn secret_values(docs: &[Document]) -> Vec<String> {
    let mut out = Vec::new();
    for value in docs.iter().filter_map(Document::value) {
        match value.get("kind").and_then(Value::as_str) {
            Some("Secret") => {
                for (key, decode) in [("data", true), ("stringData", false)] {
                    for v in value
                        .get(key)
                        .and_then(Value::as_object)
                        .into_iter()
                        .flatten()
                        .map(|(_, v)| v)
                    {
                        let Some(text) = v.as_str() else { continue };
                        if decode {
                            // Go's decoder, as the API server reads `data`, skips line
                            // breaks: a wrapped value is a secret all the same.
                            let unwrapped: String =
                                text.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
                            let bytes = base64::engine::general_purpose::STANDARD
                                .decode(unwrapped.trim())
                                .unwrap_or_default();
                            if unwrapped != text {
                                out.push(unwrapped);
                            }
                            out.push(String::from_utf8_lossy(&bytes).into_owned());
                        }
                        out.push(text.to_owned());
                    }
                }
            }
            Some("Component") => {
                for item in value
                    .pointer("/spec/metadata")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let name = item
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_ascii_lowercase();
                    if [
                        "password",
                        "secret",
                        "token",
                        "key",
                        "credential",
                        "connectionstring",
                    ]
                    .iter()
                    .any(|w| name.contains(w))
                        && let Some(text) = item.get("value").and_then(Value::as_str)
                    {
                        out.push(text.to_owned());
                    }
                }
            }
            _ => {}
        }
    }
    // Texts are searched with invisible characters taken out; so are the secrets.
    for secret in &mut out {
        secret.retain(|c| !invisible(c));
    }
    out.retain(|v| v.trim().chars().count() >= MIN_LEN);
    // Longest first, so that a secret containing another is masked whole; each form once (a
    // release repeats its Secrets' values, and every form costs a search of every text).
    let mut forms: Vec<String> = out.iter().flat_map(|s| written_forms(s)).collect();
    order(&mut forms);
    forms
}

/// Longest first, each once: the order masking needs.
pub fn order(forms: &mut Vec<String>) {
    forms.sort_unstable();
    forms.dedup();
    forms.sort_by_key(|v| std::cmp::Reverse(v.len()));
}

/// A secret as itself, reversed, in hex and in base64.
fn written_forms(secret: &str) -> Vec<String> {
    let bytes = secret.as_bytes();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let engine = &base64::engine::general_purpose::STANDARD;
    let padded = engine.encode(bytes);
    // In a JSON pointer (a patch's path), `~` and `/` are escaped (RFC 6901).
    let pointer = secret.replace('~', "~0").replace('/', "~1");
    vec![
        secret.to_owned(),
        secret.chars().rev().collect(),
        hex.to_ascii_uppercase(),
        hex,
        padded.trim_end_matches('=').to_owned(),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes),
        padded,
        pointer,
    ]
}

/// Characters that show nothing and could split a secret so a search misses it.
fn invisible(c: char) -> bool {
    matches!(c, '\u{ad}' | '\u{34f}' | '\u{180e}' | '\u{200b}'..='\u{200f}' | '\u{2060}'..='\u{2064}' | '\u{feff}')
}

/// Masks every secret (in every form of [`secret_values`]) in `text`; invisible characters
/// go too, so they cannot hide one.
pub fn mask(text: &mut String, secrets: &[String]) {
    if secrets.is_empty() {
        return;
    }
    if text.chars().any(invisible) {
        text.retain(|c| !invisible(c));
    }
    for secret in secrets {
        if text.contains(secret.as_str()) {
            *text = text.replace(secret.as_str(), MASK);
        }
    }
}

/// Masks secrets in every string of a JSON value, keys of maps too (a policy could write a
/// secret as a label's key).
pub fn mask_value(value: &mut Value, secrets: &[String]) {
    match value {
        Value::String(s) => mask(s, secrets),
        Value::Array(items) => items.iter_mut().for_each(|v| mask_value(v, secrets)),
        Value::Object(map) => {
            let keys_hold_secrets = map.keys().any(|k| {
                let mut masked = k.clone();
                mask(&mut masked, secrets);
                masked != *k
            });
            if keys_hold_secrets {
                *map = std::mem::take(map)
                    .into_iter()
                    .map(|(mut k, v)| {
                        mask(&mut k, secrets);
                        (k, v)
                    })
                    .collect();
            }
            map.values_mut().for_each(|v| mask_value(v, secrets));
        }
        _ => {}
    }
}

/// What a policy module sees of a Secret when it may not read secrets: its values replaced,
/// its keys kept.
pub fn hide_from_module(secret: &mut Value) {
    for key in SECRET_FIELDS {
        if let Some(map) = secret.get_mut(key).and_then(Value::as_object_mut) {
            map.values_mut()
                .for_each(|v| *v = Value::String(MASK.into()));
        }
    }
}

/// Where a Secret keeps its values.
const SECRET_FIELDS: [&str; 2] = ["data", "stringData"];

/// The first value of a Secret that a patch made hold the mask, if any: a module that saw
/// the Secret masked and wrote from its view would ship `***` as the password.
pub fn mask_written(before: &Value, after: &Value) -> Option<String> {
    SECRET_FIELDS.iter().find_map(|field| {
        let after = after.get(field)?.as_object()?;
        after.iter().find_map(|(key, value)| {
            let masked = |v: &Value| v.as_str().is_some_and(|v| v.contains(MASK));
            let was = before.get(field).and_then(|m| m.get(key));
            (masked(value) && !was.is_some_and(masked)).then(|| format!("{field}.{key}"))
        })
    })
}

/// Masks every secret in every text of the findings.
pub fn redact(findings: &mut [Finding], secrets: &[String]) {
    if secrets.is_empty() {
        return;
    }
    for finding in findings {
        mask(&mut finding.message, secrets);
        mask(&mut finding.hint, secrets);
        for text in [&mut finding.path, &mut finding.container]
            .into_iter()
            .flatten()
        {
            mask(text, secrets);
        }
        if let Some(exemption) = &mut finding.exempted {
            mask(&mut exemption.reason, secrets);
        }
        for by in &mut finding.introduced_by {
            by.operations
                .iter_mut()
                .for_each(|op| mask_value(op, secrets));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_secret_is_masked_in_every_form_a_module_could_write_it() {
        let secrets: Vec<String> = written_forms("hunter2-secret");
        let mut forms = secrets.clone();
        forms.sort_by_key(|v| std::cmp::Reverse(v.len()));
        for text in [
            "the password is hunter2-secret",
            "backwards: terces-2retnuh",
            "hex: 68756e746572322d736563726574",
            "HEX: 68756E746572322D736563726574",
            "b64: aHVudGVyMi1zZWNyZXQ=",
            "joined: h\u{200b}u\u{200b}n\u{200b}t\u{200b}e\u{200b}r\u{200b}2-secret",
        ] {
            let mut text = text.to_owned();
            mask(&mut text, &forms);
            assert!(text.contains(MASK), "{text}");
            assert!(!text.contains("hunter2"), "{text}");
        }
    }

    #[test]
    fn a_secret_holding_an_invisible_character_is_masked_too() {
        let doc = crate::Stream::read_all(
            "kind: Secret\nmetadata: {name: s}\nstringData:\n  pw: \"hunter\\u200b2-topsecret\"\n"
                .as_bytes()
                .to_vec(),
        )
        .unwrap();
        let secrets = secret_values(doc.documents());
        for text in [
            "saw hunter\u{200b}2-topsecret",
            "saw hunter2-topsecret",
            "tercespot-2retnuh",
        ] {
            let mut text = text.to_owned();
            mask(&mut text, &secrets);
            assert!(
                !text.contains("topsecret") && !text.contains("tercespot"),
                "{text}"
            );
        }
    }

    #[test]
    fn modules_see_a_secrets_keys_not_its_values() {
        let mut secret = json!({"kind": "Secret", "data": {"password": "czNjcjN0LXZhbHVl"}, "stringData": {"token": "s3cr3t-value"}});
        let before = secret.clone();
        hide_from_module(&mut secret);
        assert_eq!(secret["data"]["password"], MASK);
        assert_eq!(secret["stringData"]["token"], MASK);
        // Writing the masked view back is caught; keeping the real value is not.
        assert_eq!(
            mask_written(&before, &secret).as_deref(),
            Some("data.password")
        );
        assert_eq!(mask_written(&before, &before), None);
    }
}
