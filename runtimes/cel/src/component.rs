//! The `vf:policy` component: the host calls `validate-settings` once when it loads the
//! policy files (compiling every expression), `reads` to learn what of each object to send,
//! and `evaluate` for each phase of a release.

use serde_json::Value as Json;

wit_bindgen::generate!({ path: "../../wit/policy.wit", world: "module-with-reads" });

use exports::vf::policy::policy::{Document, Error, Guest, Metadata, Verdict};
use exports::vf::policy::reads::{Guest as Reads, Parts, Step};
use vf::policy::types::{Finding, Patch, Severity as WitSeverity};

use crate::Severity;

struct Runtime;

impl Guest for Runtime {
    fn describe() -> Metadata {
        // The rules are the policies' names: the host declares them from the policy files.
        Metadata {
            name: "vf-cel".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            rules: Vec::new(),
            kinds: Vec::new(),
            needs_object: true,
        }
    }

    fn validate_settings(settings: String) -> Result<(), Error> {
        let functions = crate::functions();
        crate::load(&settings, &functions)
            .map(drop)
            .map_err(Error::InvalidSettings)
    }

    fn evaluate(documents: Vec<Document>, settings: String) -> Result<Verdict, Error> {
        let functions = crate::functions();
        let (settings, set) = crate::load(&settings, &functions).map_err(Error::InvalidSettings)?;
        let docs = documents
            .iter()
            .map(|d| crate::Doc::read(d.index, &d.kind, &d.object, &set, settings.phase))
            .collect::<Result<Vec<_>, String>>()
            .map_err(Error::Failed)?;
        let verdict = crate::evaluate::evaluate(&functions, &set, &settings, &docs);
        // The instance ends with this call: freeing the release's objects, value by value,
        // only spends time on memory about to vanish.
        std::mem::forget((documents, docs));
        Ok(Verdict {
            findings: verdict
                .findings
                .into_iter()
                .map(|f| Finding {
                    rule: f.rule,
                    severity: Some(match f.severity {
                        Severity::Info => WitSeverity::Info,
                        Severity::Warning => WitSeverity::Warning,
                        Severity::Error => WitSeverity::Error,
                    }),
                    message: f.message,
                    document: Some(f.document),
                    container: None,
                    path: None,
                })
                .collect(),
            patches: verdict
                .patches
                .into_iter()
                .map(|p| Patch {
                    document: p.document,
                    operations: Json::Array(p.operations).to_string(),
                })
                .collect(),
        })
    }
}

impl Reads for Runtime {
    fn reads(settings: String) -> Result<Option<Parts>, Error> {
        let functions = crate::functions();
        let (settings, set) = crate::load(&settings, &functions).map_err(Error::InvalidSettings)?;
        Ok(crate::reads::of(&set, settings.phase).map(|p| Parts {
            paths: p
                .paths
                .into_iter()
                .map(|path| {
                    path.into_iter()
                        .map(|step| match step {
                            crate::reads::Step::Field(f) => Step::Field(f),
                            crate::reads::Step::Items => Step::Items,
                        })
                        .collect()
                })
                .collect(),
            whole_kinds: p.whole_kinds,
        }))
    }
}

export!(Runtime);
