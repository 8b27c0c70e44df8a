//! Running the modules against a release, in Kubernetes' admission order. First the mutation
//! phase: each module allowed to mutate, in configuration order, sees the documents as vf-post's
//! passes and the modules before it left them, and its patches are applied. Then the release
//! is validated (derived values, built-in rules) and every module, mutating ones too, judges
//! the final documents: the findings describe what leaves vf-post. Patches given in the
//! validation phase are reported, never applied.

use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use vf_plugin::modules::{ModuleHit, ModulePatch};

use super::bindings::document;
use super::bindings::module::vf::policy::types::Verdict;
use super::load::{PolicyModule, error_text};
use crate::engine::OpenRelease;
use crate::timings::phase;

pub fn evaluate(modules: &[PolicyModule], release: &mut dyn OpenRelease) -> Result<()> {
    // What mutating-only modules (admission policies) found while mutating: failures, settled
    // with the validation findings.
    let mut early: Vec<(&str, Vec<ModuleHit>)> = Vec::new();
    let mut changed_by = Vec::new();
    for (i, module) in modules.iter().enumerate().filter(|(_, m)| m.mutate) {
        let (hits, patches) = run(module, &module.settings, release, "mutate")?;
        if !patches.is_empty() {
            changed_by.push(i);
        }
        phase(
            &format!("module {}: apply {} patches", module.name, patches.len()),
            || release.mutate(&module.name, &patches),
        )?;
        if !module.validates {
            early.push((&module.name, hits));
        }
    }
    // Kubernetes' `reinvocationPolicy: IfNeeded`: once more, if a later module changed the
    // documents after it ran.
    for (i, module) in modules.iter().enumerate() {
        let Some(settings) = &module.reinvoke else {
            continue;
        };
        if !changed_by.iter().any(|&later| later > i) {
            continue;
        }
        let (hits, patches) = run(module, settings, release, "reinvoke")?;
        release.mutate(&module.name, &patches)?;
        early.push((&module.name, hits));
    }
    phase("validate", || release.validate())?;
    for (name, hits) in early {
        release.settle(name, hits)?;
    }
    for module in modules.iter().filter(|m| m.validates) {
        let (hits, patches) = run(module, &module.settings, release, "validate")?;
        let count = hits.len();
        phase(
            &format!("module {}: settle {count} findings", module.name),
            || release.settle(&module.name, hits),
        )?;
        if !patches.is_empty() {
            let why = if module.mutate {
                "given after the mutation phase"
            } else {
                "the module may not mutate"
            };
            release.propose(&module.name, &patches, why)?;
        }
    }
    Ok(())
}

/// One evaluation of `module` on the release as it is: its findings and patches, with
/// document indices turned into the release's own.
fn run(
    module: &PolicyModule,
    settings: &str,
    release: &mut dyn OpenRelease,
    stage: &str,
) -> Result<(Vec<ModuleHit>, Vec<ModulePatch>)> {
    let metadata = &module.loaded.metadata;
    let views = phase(
        &format!("module {} ({stage}): documents", module.name),
        || {
            release.views(
                &metadata.kinds,
                module.team.as_deref(),
                &module.reads,
                module.read_secrets,
            )
        },
    )?;
    let index_of: Vec<u32> = views.iter().map(|v| v.index).collect();
    let documents: Vec<_> = views
        .into_iter()
        .enumerate()
        .map(|(i, v)| document(u32::try_from(i).expect("fewer than 2^32 documents"), v))
        .collect();
    let call = |settings: &str| {
        module.call(|m, store| {
            m.vf_policy_policy()
                .call_evaluate(store, &documents, settings)
        })
    };
    let verdict: Verdict = phase(
        &format!(
            "module {} ({stage}): evaluate {} documents",
            module.name,
            documents.len()
        ),
        || call(settings),
    )
    .map_err(|e| culprit(module, settings, &call, e))?
    .map_err(|e| anyhow!("policy module {} {}", module.label, error_text(e)))?;
    let bad = |what: String| anyhow!("policy module {} returned {what}", module.label);
    check_sizes(&verdict, module.bounds).map_err(bad)?;
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
    let mut patches = Vec::with_capacity(verdict.patches.len());
    for p in verdict.patches {
        let document = target(p.document)?;
        for (policy, operations) in by_policy(module, p.operations).map_err(bad)? {
            patches.push(ModulePatch {
                document,
                operations,
                policy,
            });
        }
    }
    Ok((hits, patches))
}

/// A patch split where its operations name the policy that made them: a `policy` member,
/// which RFC 6902 lets an operation carry and the CEL runtime sets to the admission policy's
/// name. Reports then say which policy changed what. The member is taken out; it must name
/// one of the module's rules, so a module cannot put a change on another's account.
#[allow(clippy::type_complexity)]
fn by_policy(
    module: &PolicyModule,
    operations: String,
) -> Result<Vec<(Option<String>, String)>, String> {
    // Most patches name no policy: not read twice.
    if !operations.contains("\"policy\"") {
        return Ok(vec![(None, operations)]);
    }
    // Unreadable text is the engine's to refuse, with its own message.
    let Ok(serde_json::Value::Array(ops)) = serde_json::from_str(&operations) else {
        return Ok(vec![(None, operations)]);
    };
    let mut runs: Vec<(Option<String>, Vec<serde_json::Value>)> = Vec::new();
    for mut op in ops {
        let policy = match op.as_object_mut().and_then(|o| o.remove("policy")) {
            None => None,
            Some(serde_json::Value::String(name)) if module.rule(&name).is_some() => Some(name),
            Some(other) => {
                return Err(format!(
                    "a patch operation naming policy {other}, which is not one of its rules"
                ));
            }
        };
        match runs.last_mut() {
            Some((last, run)) if *last == policy => run.push(op),
            _ => runs.push((policy, vec![op])),
        }
    }
    Ok(runs
        .into_iter()
        .map(|(policy, run)| (policy, serde_json::Value::Array(run).to_string()))
        .collect())
}

/// When the CEL runtime exhausts the sandbox (memory, time), the policy that did it, found
/// by halving: the half of the policies that still exhausts it alone is searched further (the
/// runtime then compiles only those), within five time limits of the sandbox all together
/// (each step is bounded by one; a memory bomb may take most of one to fill the memory). The
/// error names it, or says that no single policy did.
fn culprit<T>(
    module: &PolicyModule,
    settings: &str,
    call: &dyn Fn(&str) -> Result<T>,
    error: anyhow::Error,
) -> anyhow::Error {
    let Ok(serde_json::Value::Object(mut all)) = serde_json::from_str(settings) else {
        return error;
    };
    let budget = 5 * module.bounds.timeout.unwrap_or(Duration::from_secs(2));
    let started = Instant::now();
    let mut fails = |names: &[(String, String)]| {
        let only = names
            .iter()
            .map(|(name, _)| serde_json::Value::String(name.clone()))
            .collect();
        all.insert("only".into(), serde_json::Value::Array(only));
        call(&serde_json::Value::Object(all.clone()).to_string()).is_err()
    };
    let mut suspects = module.policies.as_slice();
    while suspects.len() > 1 {
        if started.elapsed() > budget {
            return error.context(
                "while evaluating its policies (the search for the one to blame ran out of time)",
            );
        }
        let (first, second) = suspects.split_at(suspects.len() / 2);
        suspects = if fails(first) {
            first
        } else if fails(second) {
            second
        } else {
            return error
                .context("while evaluating its policies together (no half exhausts it alone)");
        };
    }
    match suspects {
        [(_, what)] => error.context(format!("while evaluating {what}")),
        _ => error,
    }
}

/// Texts longer than these, or more findings and patches than the sandbox allows, end the run
/// naming the module: the host keeps and copies what a module returns, and a report is read
/// by people.
const MAX_MESSAGE: usize = 4096;
const MAX_PATH: usize = 4096;
const MAX_CONTAINER: usize = 253;

fn check_sizes(verdict: &Verdict, bounds: super::sandbox::Bounds) -> Result<(), String> {
    if verdict.findings.len() > bounds.max_findings {
        return Err(format!(
            "{} findings, more than the {} allowed (sandbox.maxFindings)",
            verdict.findings.len(),
            bounds.max_findings
        ));
    }
    if verdict.patches.len() > bounds.max_patches {
        return Err(format!(
            "{} patches, more than the {} allowed (sandbox.maxPatchOperations)",
            verdict.patches.len(),
            bounds.max_patches
        ));
    }
    for f in &verdict.findings {
        let too_long = |what: &str, text: &str, max: usize| {
            (text.len() > max).then(|| format!("a {what} of {} bytes, more than {max}", text.len()))
        };
        let long = too_long("message", &f.message, MAX_MESSAGE)
            .or_else(|| too_long("path", f.path.as_deref().unwrap_or(""), MAX_PATH))
            .or_else(|| {
                too_long(
                    "container",
                    f.container.as_deref().unwrap_or(""),
                    MAX_CONTAINER,
                )
            });
        if let Some(long) = long {
            return Err(long);
        }
    }
    Ok(())
}
