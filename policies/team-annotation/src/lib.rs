//! A mutating policy module: adds the team's annotations to every object that lacks them, by
//! JSON patch (applied only where vf-post's configuration sets `mutate: true`).
//!
//! Settings: `{"annotations": {"example.com/team": "payments"}}`.

use std::collections::BTreeMap;

use serde::Deserialize;

wit_bindgen::generate!({ path: "../../wit/policy.wit", world: "module" });

use exports::vf::policy::policy::{Document, Error, Guest, Metadata, Verdict};
use vf::policy::types::{Finding, Patch, RuleInfo, Severity};

/// The annotations to add.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Key → value.
    pub annotations: BTreeMap<String, String>,
}

impl Settings {
    fn parse(text: &str) -> Result<Settings, Error> {
        let settings: Settings =
            serde_json::from_str(text).map_err(|e| Error::InvalidSettings(e.to_string()))?;
        if settings.annotations.is_empty() {
            return Err(Error::InvalidSettings("annotations must name at least one annotation".into()));
        }
        Ok(settings)
    }
}

/// A JSON Pointer token (RFC 6901).
fn token(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// The patch adding the missing annotations to one document, if any are missing.
pub fn patch(doc: &Document, settings: &Settings) -> Option<Patch> {
    let missing: Vec<(&String, &String)> = settings
        .annotations
        .iter()
        .filter(|(k, _)| !doc.annotations.iter().any(|(key, _)| key == *k))
        .collect();
    if missing.is_empty() {
        return None;
    }
    let operations: Vec<serde_json::Value> = if doc.annotations.is_empty() {
        let all: serde_json::Map<String, serde_json::Value> =
            missing.iter().map(|(k, v)| ((*k).clone(), (*v).clone().into())).collect();
        vec![serde_json::json!({"op": "add", "path": "/metadata/annotations", "value": all})]
    } else {
        missing
            .iter()
            .map(|(k, v)| serde_json::json!({"op": "add", "path": format!("/metadata/annotations/{}", token(k)), "value": v}))
            .collect()
    };
    Some(Patch {
        document: doc.index,
        operations: serde_json::Value::Array(operations).to_string(),
    })
}

struct Policy;

impl Guest for Policy {
    fn describe() -> Metadata {
        Metadata {
            name: "team-annotation".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            rules: vec![RuleInfo {
                id: "team-annotation-added".into(),
                summary: "objects carry the team's annotations (added by patch where missing)".into(),
                hint: "set the annotations in the chart, or let the module add them (mutate: true)".into(),
                severity: Severity::Info,
            }],
            kinds: Vec::new(),
            needs_object: false,
        }
    }

    fn validate_settings(settings: String) -> Result<(), Error> {
        Settings::parse(&settings).map(drop)
    }

    fn evaluate(documents: Vec<Document>, settings: String) -> Result<Verdict, Error> {
        let settings = Settings::parse(&settings)?;
        let patches: Vec<Patch> = documents.iter().filter_map(|d| patch(d, &settings)).collect();
        let findings = patches
            .iter()
            .map(|p| Finding {
                rule: "team-annotation-added".into(),
                severity: None,
                message: "lacked the team's annotations; a patch adds them".into(),
                document: Some(p.document),
                container: None,
                path: Some("/metadata/annotations".into()),
            })
            .collect();
        Ok(Verdict { findings, patches })
    }
}

#[cfg(target_arch = "wasm32")]
export!(Policy);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patches_only_what_is_missing() {
        let settings = Settings::parse(r#"{"annotations": {"example.com/team": "payments"}}"#).unwrap();
        let mut doc = Document {
            index: 3,
            source: None,
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            name: "c".into(),
            namespace: None,
            labels: vec![],
            annotations: vec![],
            object: String::new(),
        };
        let p = patch(&doc, &settings).unwrap();
        assert_eq!(p.operations, r#"[{"op":"add","path":"/metadata/annotations","value":{"example.com/team":"payments"}}]"#);
        doc.annotations.push(("other".into(), "x".into()));
        assert!(patch(&doc, &settings).unwrap().operations.contains("/metadata/annotations/example.com~1team"));
        doc.annotations.push(("example.com/team".into(), "x".into()));
        assert!(patch(&doc, &settings).is_none());
    }
}
