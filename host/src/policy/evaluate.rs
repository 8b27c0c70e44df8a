//! Running the modules against a release. Each module sees the release as vf-post's passes
//! left it (never another module's patches) and answers in a fresh, bounded instance; its
//! findings are settled like built-in ones. Patches are checked as they come and applied after
//! every module has run: in configuration order, and within a module in the order it gave.

use anyhow::{Result, anyhow};
use vf_plugin::modules::ModuleHit;

use super::bindings::document;
use super::load::{PolicyModule, error_text};
use crate::engine::Release;
use crate::timings::phase;

pub fn evaluate(modules: &[PolicyModule], release: &mut dyn Release) -> Result<()> {
    let mut patches = Vec::new();
    for module in modules {
        let metadata = &module.loaded.metadata;
        let views = phase(&format!("module {}: documents", module.name), || {
            release.views(
                &metadata.kinds,
                module.team.as_deref(),
                metadata.needs_object,
            )
        })?;
        let index_of: Vec<u32> = views.iter().map(|v| v.index).collect();
        let documents: Vec<_> = views
            .into_iter()
            .enumerate()
            .map(|(i, v)| document(u32::try_from(i).expect("fewer than 2^32 documents"), v))
            .collect();
        let verdict = phase(
            &format!(
                "module {}: evaluate {} documents",
                module.name,
                documents.len()
            ),
            || {
                module.call(|m, store| {
                    m.vf_policy_policy()
                        .call_evaluate(store, &documents, &module.settings)
                })
            },
        )?
        .map_err(|e| anyhow!("policy module {} {}", module.name, error_text(e)))?;
        let bad = |what: String| anyhow!("policy module {} returned {what}", module.name);
        let target = |i: u32| {
            index_of.get(i as usize).copied().ok_or_else(|| {
                bad(format!(
                    "a result for document {i}, but it was given {} documents",
                    index_of.len()
                ))
            })
        };
        let mut hits = Vec::with_capacity(verdict.findings.len());
        for finding in verdict.findings {
            let rule = module.rule(&finding.rule).ok_or_else(|| {
                bad(format!(
                    "a finding of rule {:?}, which it does not declare",
                    finding.rule
                ))
            })?;
            hits.push(ModuleHit {
                severity: finding.severity.unwrap_or(rule.severity).into(),
                hint: rule.hint.clone(),
                rule: finding.rule,
                message: finding.message,
                document: finding.document.map(target).transpose()?,
                container: finding.container,
                path: finding.path,
            });
        }
        let count = hits.len();
        phase(
            &format!("module {}: settle {count} findings", module.name),
            || release.settle(&module.name, hits),
        )?;
        for patch in verdict.patches {
            let operations: serde_json::Value = serde_json::from_str(&patch.operations)
                .map_err(|e| bad(format!("a malformed patch (not JSON: {e})")))?;
            if !operations.is_array() {
                return Err(bad(
                    "a malformed patch (not a JSON array of operations)".into()
                ));
            }
            patches.push((module, target(patch.document)?, patch.operations));
        }
    }
    for (module, index, operations) in patches {
        release.patch(&module.name, index, &operations, module.mutate)?;
    }
    Ok(())
}
