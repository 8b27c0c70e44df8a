//! A validating policy module: every object of the team carries the labels and annotations
//! the team requires (say `team` and `cost-center`).
//!
//! Settings: `{"labels": ["team"], "annotations": ["cost-center"]}`.

use serde::Deserialize;

wit_bindgen::generate!({ path: "../../wit/policy.wit", world: "module" });

use exports::vf::policy::policy::{Document, Error, Guest, Metadata, Verdict};
use vf::policy::types::{Finding, RuleInfo, Severity};

/// What the team requires.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Label keys every object must carry.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Annotation keys every object must carry.
    #[serde(default)]
    pub annotations: Vec<String>,
}

impl Settings {
    fn parse(text: &str) -> Result<Settings, Error> {
        let settings: Settings =
            serde_json::from_str(text).map_err(|e| Error::InvalidSettings(e.to_string()))?;
        if settings.labels.is_empty() && settings.annotations.is_empty() {
            return Err(Error::InvalidSettings("give at least one label or annotation to require".into()));
        }
        Ok(settings)
    }
}

/// Findings for the documents: one per object and missing kind of key.
pub fn check(documents: &[Document], settings: &Settings) -> Vec<Finding> {
    let mut findings = Vec::new();
    for doc in documents {
        for (rule, wanted, present, path) in [
            ("team-required-labels", &settings.labels, &doc.labels, "/metadata/labels"),
            ("team-required-annotations", &settings.annotations, &doc.annotations, "/metadata/annotations"),
        ] {
            let missing: Vec<&str> = wanted
                .iter()
                .filter(|k| !present.iter().any(|(key, value)| key == *k && !value.is_empty()))
                .map(String::as_str)
                .collect();
            if !missing.is_empty() {
                findings.push(Finding {
                    rule: rule.into(),
                    severity: None,
                    message: format!("lacks {}", missing.join(", ")),
                    document: Some(doc.index),
                    container: None,
                    path: Some(path.into()),
                });
            }
        }
    }
    findings
}

struct Policy;

impl Guest for Policy {
    fn describe() -> Metadata {
        Metadata {
            name: "require-labels".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            rules: vec![
                RuleInfo {
                    id: "team-required-labels".into(),
                    summary: "objects carry the labels the team requires".into(),
                    hint: "add the labels to the object's metadata.labels".into(),
                    severity: Severity::Error,
                },
                RuleInfo {
                    id: "team-required-annotations".into(),
                    summary: "objects carry the annotations the team requires (cost-center, ...)".into(),
                    hint: "add the annotations to the object's metadata.annotations".into(),
                    severity: Severity::Error,
                },
            ],
            kinds: Vec::new(),
            needs_object: false,
        }
    }

    fn validate_settings(settings: String) -> Result<(), Error> {
        Settings::parse(&settings).map(drop)
    }

    fn evaluate(documents: Vec<Document>, settings: String) -> Result<Verdict, Error> {
        let settings = Settings::parse(&settings)?;
        Ok(Verdict {
            findings: check(&documents, &settings),
            patches: Vec::new(),
        })
    }
}

#[cfg(target_arch = "wasm32")]
export!(Policy);

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(labels: &[(&str, &str)], annotations: &[(&str, &str)]) -> Document {
        let pairs = |p: &[(&str, &str)]| p.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        Document {
            index: 0,
            source: None,
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            name: "c".into(),
            namespace: None,
            labels: pairs(labels),
            annotations: pairs(annotations),
            object: String::new(),
        }
    }

    #[test]
    fn reports_what_is_missing() {
        let settings = Settings::parse(r#"{"labels": ["team"], "annotations": ["cost-center"]}"#).unwrap();
        assert!(check(&[doc(&[("team", "a")], &[("cost-center", "42")])], &settings).is_empty());
        let findings = check(&[doc(&[], &[("cost-center", "")])], &settings);
        assert_eq!(findings.len(), 2);
        assert_eq!(findings[0].message, "lacks team");
    }

    #[test]
    fn settings_are_checked() {
        assert!(Settings::parse("{}").is_err());
        assert!(Settings::parse(r#"{"lables": ["x"]}"#).is_err());
    }
}
