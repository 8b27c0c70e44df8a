//! Secret values never appear in a report: whatever a rule or a policy module wrote, every
//! Secret's data and every inline secret of a Dapr Component is masked in every finding.

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
                            let bytes = base64::engine::general_purpose::STANDARD
                                .decode(text.trim())
                                .unwrap_or_default();
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
    out.retain(|v| v.trim().chars().count() >= MIN_LEN);
    out.sort_by_key(|v| std::cmp::Reverse(v.len()));
    out.dedup();
    out
}

/// Masks every secret value in the findings' texts.
pub fn redact(findings: &mut [Finding], secrets: &[String]) {
    if secrets.is_empty() {
        return;
    }
    let mask = |text: &mut String| {
        for secret in secrets {
            if text.contains(secret.as_str()) {
                *text = text.replace(secret.as_str(), MASK);
            }
        }
    };
    for finding in findings {
        mask(&mut finding.message);
        mask(&mut finding.hint);
        if let Some(path) = &mut finding.path {
            mask(path);
        }
        if let Some(exemption) = &mut finding.exempted {
            mask(&mut exemption.reason);
        }
    }
}
