//! The `vf:policy` component: the host calls `validate-settings` once when it loads the
//! policy files (compiling every policy), `evaluate` with phase `rules` to learn the rules,
//! and `evaluate` with phase `validate` to judge a release.

use serde_json::Value as Json;

wit_bindgen::generate!({ path: "../../wit/policy.wit", world: "module" });

use exports::vf::policy::policy::{Document, Error, Guest, Metadata, Verdict};
use vf::policy::types::{Finding, Severity as WitSeverity};

use crate::Severity;
use crate::settings::Phase;

struct Runtime;

fn severity(s: Severity) -> WitSeverity {
    match s {
        Severity::Info => WitSeverity::Info,
        Severity::Warning => WitSeverity::Warning,
        Severity::Error => WitSeverity::Error,
    }
}

impl Guest for Runtime {
    fn describe() -> Metadata {
        // The rules come from the policies: the host asks with phase `rules`.
        Metadata {
            name: "vf-rego".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            rules: Vec::new(),
            kinds: Vec::new(),
            needs_object: true,
        }
    }

    fn validate_settings(settings: String) -> Result<(), Error> {
        crate::load(&settings)
            .map(drop)
            .map_err(Error::InvalidSettings)
    }

    fn evaluate(documents: Vec<Document>, settings: String) -> Result<Verdict, Error> {
        let (settings, mut policies) = crate::load(&settings).map_err(Error::InvalidSettings)?;
        if settings.phase == Phase::Rules {
            // Each rule as a finding: id, summary as the message, severity.
            let findings = policies
                .rules()
                .into_iter()
                .map(|r| Finding {
                    rule: r.id,
                    severity: Some(severity(r.severity)),
                    message: r.summary,
                    document: None,
                    container: None,
                    path: None,
                })
                .collect();
            return Ok(Verdict {
                findings,
                patches: Vec::new(),
            });
        }
        let docs = documents
            .into_iter()
            .map(|d| {
                let object: Json = serde_json::from_str(&d.object)
                    .map_err(|e| Error::Failed(format!("document {}: {e}", d.index)))?;
                Ok(crate::Doc {
                    index: d.index,
                    source: d.source,
                    object,
                    text: d.object,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let findings = policies.evaluate(&settings, &docs).map_err(Error::Failed)?;
        Ok(Verdict {
            findings: findings
                .into_iter()
                .map(|f| Finding {
                    rule: f.rule,
                    severity: Some(severity(f.severity)),
                    message: f.message,
                    document: f.document,
                    container: None,
                    path: None,
                })
                .collect(),
            patches: Vec::new(),
        })
    }
}

export!(Runtime);
