//! What policy modules see of a release, and what they give back. The host runs the modules
//! (natively, or beside the wasm engine); this is the pure part both share.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::finding::Severity;
use crate::rules::{self, Hit};
use crate::transform::Applied;
use crate::{Release, patch, redact};

/// A document as a policy module sees it (the `document` record of wit/policy.wit).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DocView {
    /// Index into the release's documents.
    pub index: u32,
    /// Chart template.
    pub source: Option<String>,
    /// `apiVersion`.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`.
    pub namespace: Option<String>,
    /// `metadata.labels` with string values.
    pub labels: Vec<(String, String)>,
    /// `metadata.annotations` with string values.
    pub annotations: Vec<(String, String)>,
    /// The object as JSON, when asked for; else empty.
    pub object: String,
}

/// A finding of a policy module, before configuration and exemptions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModuleHit {
    /// Rule id (declared in the module's metadata).
    pub rule: String,
    /// Severity: the module's, or its rule's declared one.
    pub severity: Severity,
    /// What is wrong.
    pub message: String,
    /// Hint from the rule's declaration.
    pub hint: String,
    /// Index into the release's documents; `None` for release-wide findings.
    pub document: Option<u32>,
    /// Container.
    pub container: Option<String>,
    /// JSON pointer.
    pub path: Option<String>,
}

impl Release {
    /// The documents a module sees: of `kinds` (every kind when empty), of `team` when
    /// given, with the whole object as JSON when `with_object`.
    pub fn views(&self, kinds: &[String], team: Option<&str>, with_object: bool) -> Vec<DocView> {
        self.stream
            .documents()
            .iter()
            .enumerate()
            .filter(|(_, d)| !d.is_removed())
            .filter(|(_, d)| kinds.is_empty() || kinds.iter().any(|k| k == d.kind()))
            .filter(|(_, d)| {
                team.is_none() || rules::team_of(&self.config, d).map(|t| t.name.as_str()) == team
            })
            .filter_map(|(i, d)| {
                // A tree is current (the passes may have changed it); without one, the
                // labels and annotations read while scanning are.
                let value = d.value();
                let pairs = |key: &str| -> Vec<(String, String)> {
                    match value {
                        Some(value) => value
                            .get("metadata")
                            .and_then(|m| m.get(key))
                            .and_then(Value::as_object)
                            .into_iter()
                            .flatten()
                            .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                            .collect(),
                        None if key == "labels" => d.meta.labels.clone(),
                        None => d.meta.annotations.clone(),
                    }
                };
                Some(DocView {
                    index: u32::try_from(i).ok()?,
                    source: d.source.clone(),
                    api_version: d.api_version().to_owned(),
                    kind: d.kind().to_owned(),
                    name: d.name().to_owned(),
                    namespace: d.namespace().map(str::to_owned),
                    labels: pairs("labels"),
                    annotations: pairs("annotations"),
                    object: match value {
                        Some(value) if with_object => value.to_string(),
                        _ => String::new(),
                    },
                })
            })
            .collect()
    }

    /// Checks module `origin`'s JSON patch for document `index`, applies it when `apply`
    /// (the module may mutate), and logs it either way.
    pub fn patch(&mut self, origin: &str, index: u32, operations: &str, apply: bool) -> Result<()> {
        if apply {
            self.stream.ensure_value(index as usize)?;
        }
        let doc = self
            .stream
            .documents_mut()
            .get_mut(index as usize)
            .filter(|d| !d.is_removed())
            .ok_or_else(|| {
                Error::Config(format!(
                    "policy module {origin}: a patch names no document ({index})"
                ))
            })?;
        let at = doc.at();
        let refused = move |message: String| Error::Patch {
            at,
            message: format!("policy module {origin}: {message}"),
        };
        let change = if apply {
            // patch::apply works on a copy: a patch applies whole or not at all.
            let value = doc.value_mut().expect("ensured above");
            patch::apply(value, operations).map_err(refused)?;
            "patched"
        } else {
            // Not applied, so its syntax is all that needs checking: no tree to build.
            patch::check(operations).map_err(refused)?;
            "patch proposed, not applied (the module may not mutate)"
        };
        self.applied.push(Applied {
            pass: format!("module {origin}"),
            object: format!("{}/{}", doc.kind(), doc.name()),
            source: doc.source.clone(),
            change: change.into(),
        });
        Ok(())
    }

    /// Adds module `origin`'s findings: configuration, exemptions and secret masking applied.
    pub fn settle(&mut self, origin: &str, hits: Vec<ModuleHit>) -> Result<()> {
        let docs = self.stream.documents();
        let mut converted = Vec::with_capacity(hits.len());
        for hit in hits {
            let doc = match hit.document {
                Some(i) if docs.get(i as usize).is_some_and(|d| !d.is_removed()) => {
                    Some(i as usize)
                }
                Some(i) => {
                    return Err(Error::Config(format!(
                        "policy module {origin}: finding {} points at no document ({i})",
                        hit.rule
                    )));
                }
                None => None,
            };
            converted.push(Hit {
                rule: hit.rule,
                doc,
                container: hit.container,
                path: hit.path,
                message: hit.message,
                severity: Some(hit.severity),
                hint: Some(hit.hint),
            });
        }
        let mut findings = rules::settle(converted, docs, &self.config, origin);
        let secrets = self
            .secrets
            .get_or_insert_with(|| redact::secret_values(docs));
        redact::redact(&mut findings, secrets);
        self.findings.extend(findings);
        Ok(())
    }

    /// Objects that reach the cluster.
    pub fn objects(&self) -> usize {
        self.stream
            .documents()
            .iter()
            .filter(|d| !d.is_removed())
            .count()
    }
}
