//! Kubernetes admission policies in CEL (ValidatingAdmissionPolicy, MutatingAdmissionPolicy,
//! their bindings and parameters) as policy modules: vf-post's CEL runtime component
//! (runtimes/cel, `vf-post-cel.wasm`), run in the sandbox like any module, with the policy
//! files as its settings. Each configuration scope (every object, or one team) with policy
//! files gets a validating module and, if it has mutating policies, a mutating one. Each
//! policy is a rule, its name the rule id.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Result, anyhow, bail};
use serde_json::{Value, json};

use super::bindings::module::vf::policy::types::{RuleInfo, Severity};
use super::files::{self, Source};
use super::load::{self, PolicyModule};
use super::sandbox::Bounds;

/// The CEL runtime vf-post ships.
pub fn runtime_component() -> Result<PathBuf> {
    super::shipped_component("vf-post-cel.wasm")
}

/// The CEL modules of a configuration: every-object policies first, then each team's.
pub fn modules(
    config: &vf_plugin::Config,
    scopes: &[files::Scope],
    bounds: Bounds,
) -> Result<Vec<PolicyModule>> {
    let mut out = Vec::new();
    for files::Scope { team, entries } in scopes {
        if entries.is_empty() {
            continue;
        }
        let mut sources = Vec::new();
        let mut gatekeeper_objects = Vec::new();
        for (_, read) in entries {
            // Gatekeeper's objects are the Rego runtime's (rego.rs), but for templates with
            // CEL code only, which run here as Gatekeeper runs them (gatekeeper_cel.rs).
            let (gatekeeper, admission): (Vec<Source>, Vec<Source>) = read
                .objects
                .iter()
                .cloned()
                .partition(|s| files::is_gatekeeper(&s.object));
            sources.extend(admission);
            gatekeeper_objects.extend(gatekeeper);
        }
        sources.extend(super::gatekeeper_cel::admission_objects(
            &gatekeeper_objects,
        )?);
        let scope = match &team {
            Some(t) => format!("team {t}'s policies"),
            None => "policies".to_owned(),
        };
        let declared = Declared::of(&sources, &scope)?;
        for note in &declared.unbound {
            eprintln!("vf-post: note: {note}");
        }
        let runtime = runtime_component()?;
        let settings = |phase: &str| {
            json!({
                "phase": phase,
                "sources": sources,
                "admission": config.admission,
                "cost": {
                    "perExpression": config.sandbox.cel_cost_per_expression,
                    "perEvaluation": config.sandbox.cel_cost_per_evaluation,
                },
            })
            .to_string()
        };
        for (mutating, rules) in [(false, &declared.validating), (true, &declared.mutating)] {
            if rules.is_empty() {
                continue;
            }
            let name = match (&team, mutating) {
                (None, false) => "cel-validating".to_owned(),
                (None, true) => "cel-mutating".to_owned(),
                (Some(t), false) => format!("cel-validating-{t}"),
                (Some(t), true) => format!("cel-mutating-{t}"),
            };
            let mut loaded = load::load(&name, &runtime, None, bounds)
                .map_err(|e| anyhow!("the CEL runtime: {e:#} (scripts/build-wasm builds it)"))?;
            loaded.metadata.rules = rules.clone();
            let module = PolicyModule {
                label: format!("{name} (the CEL runtime running {scope})"),
                name,
                team: team.clone(),
                mutate: mutating,
                validates: !mutating,
                reinvoke: (mutating && declared.reinvoked).then(|| settings("reinvoke")),
                policies: rules
                    .iter()
                    .map(|r| (r.id.clone(), r.summary.clone()))
                    .collect(),
                read_secrets: false,
                settings: settings(if mutating { "mutate" } else { "validate" }),
                reads: vf_plugin::modules::Reads::Whole,
                bounds,
                loaded,
            };
            let module = load::check_policy_files(module)?;
            out.push(module);
        }
    }
    Ok(out)
}

/// What the policy files declare, as far as the host needs it: the rules, and notes.
#[derive(Debug, Default)]
struct Declared {
    validating: Vec<RuleInfo>,
    mutating: Vec<RuleInfo>,
    /// Whether a mutating policy asks to be invoked again (`reinvocationPolicy: IfNeeded`).
    reinvoked: bool,
    /// Policies without a binding: Kubernetes does not enforce them, and neither does vf-post.
    unbound: Vec<String>,
}

/// What an object of a policy file is to the host: a policy or a binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Policy,
    Binding,
}

/// The part an object plays, and whether it is validating (else mutating); `None` for
/// parameter objects.
fn part(object: &Value) -> Option<(Part, bool)> {
    match object.get("kind")?.as_str()? {
        "ValidatingAdmissionPolicy" => Some((Part::Policy, true)),
        "MutatingAdmissionPolicy" => Some((Part::Policy, false)),
        "ValidatingAdmissionPolicyBinding" => Some((Part::Binding, true)),
        "MutatingAdmissionPolicyBinding" => Some((Part::Binding, false)),
        _ => None,
    }
}

const HINT_ANNOTATION: &str = "vf-post.virtufin.io/hint";

impl Declared {
    fn of(sources: &[Source], scope: &str) -> Result<Declared> {
        let str_at = |v: &Value, path: &str| {
            v.pointer(path)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        // Bindings: which policies are bound, and how severely (validationActions).
        let mut bound: BTreeMap<(bool, String), Severity> = BTreeMap::new();
        for s in sources {
            let Some((Part::Binding, validating)) = part(&s.object) else {
                continue;
            };
            let actions: Vec<String> = s
                .object
                .pointer("/spec/validationActions")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            let severity = if !validating || actions.iter().any(|a| a == "Deny") {
                Severity::Error
            } else if actions.iter().any(|a| a == "Warn") {
                Severity::Warning
            } else {
                Severity::Info
            };
            let key = (validating, str_at(&s.object, "/spec/policyName"));
            let worst = bound
                .get(&key)
                .copied()
                .map_or(severity, |s| worse(s, severity));
            bound.insert(key, worst);
        }
        let mut declared = Declared::default();
        for s in sources {
            let Some((Part::Policy, validating)) = part(&s.object) else {
                continue;
            };
            let kind = str_at(&s.object, "/kind");
            let name = str_at(&s.object, "/metadata/name");
            check_rule_id(&name).map_err(|e| anyhow!("{}: {kind} {name:?}: {e}", s.file))?;
            let Some(severity) = bound.get(&(validating, name.clone())).copied() else {
                declared.unbound.push(format!(
                    "{}: {kind} {name} has no binding in the {scope}: Kubernetes does not enforce it, and neither does vf-post",
                    s.file
                ));
                continue;
            };
            let hint = match str_at(
                &s.object,
                &format!(
                    "/metadata/annotations/{}",
                    HINT_ANNOTATION.replace('/', "~1")
                ),
            ) {
                h if !h.is_empty() => h,
                _ if validating => format!(
                    "change the object so that {kind} {name} ({}) admits it",
                    s.file
                ),
                _ => format!(
                    "fix what makes {kind} {name} ({}) fail on the object",
                    s.file
                ),
            };
            let rule = RuleInfo {
                id: name.clone(),
                summary: format!("{kind} {name} ({})", s.file),
                hint,
                severity,
            };
            if validating {
                declared.validating.push(rule);
            } else {
                declared.reinvoked |= str_at(&s.object, "/spec/reinvocationPolicy") == "IfNeeded";
                declared.mutating.push(rule);
            }
        }
        // A binding to a policy the scope's files lack is most likely a typo that would leave
        // a policy unenforced; Kubernetes keeps it inert, vf-post says so and stops.
        for s in sources {
            let Some((Part::Binding, validating)) = part(&s.object) else {
                continue;
            };
            let declared_here = if validating {
                &declared.validating
            } else {
                &declared.mutating
            };
            let kind = str_at(&s.object, "/kind");
            let policy = str_at(&s.object, "/spec/policyName");
            if !declared_here.iter().any(|r| r.id == policy) {
                bail!(
                    "{}: {kind} {:?} binds {} {policy:?}, which none of the {scope}' files declares",
                    s.file,
                    str_at(&s.object, "/metadata/name"),
                    kind.trim_end_matches("Binding"),
                );
            }
        }
        Ok(declared)
    }
}

fn worse(a: Severity, b: Severity) -> Severity {
    let rank = |s: Severity| match s {
        Severity::Info => 0,
        Severity::Warning => 1,
        Severity::Error => 2,
    };
    if rank(a) >= rank(b) { a } else { b }
}

/// A policy's name is its rule id: a DNS subdomain, as Kubernetes names it, not a built-in
/// rule's id.
fn check_rule_id(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    if !ok {
        bail!(
            "the name is not a DNS subdomain (lower-case letters, digits, '-', '.'; at most 253)"
        );
    }
    if vf_plugin::rules::catalog::find(name).is_some() {
        bail!("the name is a built-in rule's id; rename the policy");
    }
    Ok(())
}
