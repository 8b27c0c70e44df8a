//! Rego policies as policy modules: conftest's `.rego` files and Gatekeeper's
//! ConstraintTemplates with their constraints, run by vf-post's Rego runtime component
//! (runtimes/rego, `vf-post-rego.wasm`, regorus inside) in the sandbox like any module. Each
//! configuration scope (every object, or one team) with Rego policies gets one module; its
//! rules come from the runtime itself (a conftest rule is `<namespace>.<rule>`, a constraint
//! is its name).

use std::path::PathBuf;

use anyhow::{Result, anyhow, bail};
use serde_json::{Value, json};

use super::bindings::module::vf::policy::types::{RuleInfo, Verdict};
use super::files::{self, RegoFile, Source};
use super::load::{self, PolicyModule, error_text};
use super::sandbox::Bounds;

/// The Rego runtime vf-post ships.
pub fn runtime_component() -> Result<PathBuf> {
    super::shipped_component("vf-post-rego.wasm")
}

/// The Rego policies of one scope, as the runtime's settings take them.
#[derive(Debug, Default)]
pub struct Policies {
    pub conftest: Vec<Value>,
    pub templates: Vec<Source>,
    pub constraints: Vec<Source>,
}

impl Policies {
    fn is_empty(&self) -> bool {
        self.conftest.is_empty() && self.templates.is_empty() && self.constraints.is_empty()
    }

    /// The runtime's settings for `phase`, with `extra` fields (a test case's).
    pub fn settings(&self, phase: &str, admission: Value, extra: Value) -> String {
        let mut settings = json!({
            "phase": phase,
            "conftest": self.conftest,
            "templates": self.templates,
            "constraints": self.constraints,
            "admission": admission,
        });
        if let (Value::Object(settings), Value::Object(extra)) = (&mut settings, extra) {
            settings.extend(extra);
        }
        settings.to_string()
    }
}

/// conftest's settings for the Rego files of one entry.
pub fn conftest(files: Vec<RegoFile>, options: &vf_plugin::config::Rego) -> Value {
    json!({
        "files": files,
        "namespaces": options.namespaces,
        "combine": options.combine,
        "version": options.version,
    })
}

/// The Rego modules of a configuration: every-object policies first, then each team's.
pub fn modules(
    config: &vf_plugin::Config,
    scopes: &[files::Scope],
    bounds: Bounds,
) -> Result<Vec<PolicyModule>> {
    let admission = serde_json::to_value(&config.admission)?;
    let mut out = Vec::new();
    for files::Scope { team, entries } in scopes {
        let mut policies = Policies::default();
        // Entries with the same options are one conftest run, as `conftest -p a -p b` merges
        // its policy directories.
        let mut rego: Vec<(&vf_plugin::config::Rego, Vec<RegoFile>)> = Vec::new();
        for (entry, read) in entries {
            if !read.rego.is_empty() {
                match rego.iter_mut().find(|(options, _)| **options == entry.rego) {
                    Some((_, files)) => files.extend(read.rego.iter().cloned()),
                    None => rego.push((&entry.rego, read.rego.clone())),
                }
            }
            for source in read
                .objects
                .iter()
                .filter(|s| files::is_gatekeeper(&s.object))
                .cloned()
            {
                let is_template =
                    source.object.get("kind").and_then(Value::as_str) == Some("ConstraintTemplate");
                if is_template {
                    policies.templates.push(source);
                } else {
                    policies.constraints.push(source);
                }
            }
        }
        // Templates with CEL code only, and their constraints, run in the CEL runtime.
        let cel_kinds = super::gatekeeper_cel::cel_kinds(&policies.templates);
        let of_cel_template = |s: &Source| {
            let kind = |p: &str| {
                s.object
                    .pointer(p)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            cel_kinds.contains(&kind("/spec/crd/spec/names/kind"))
                || cel_kinds.contains(&kind("/kind"))
        };
        policies.templates.retain(|s| !of_cel_template(s));
        policies.constraints.retain(|s| !of_cel_template(s));
        policies.conftest = rego
            .into_iter()
            .map(|(options, files)| conftest(files, options))
            .collect();
        if policies.is_empty() {
            continue;
        }
        let name = match &team {
            None => "rego".to_owned(),
            Some(t) => format!("rego-{t}"),
        };
        let scope = match &team {
            Some(t) => format!("team {t}'s policies"),
            None => "policies".to_owned(),
        };
        let module = runtime(
            &name,
            &format!("{name} (the Rego runtime running {scope})"),
            bounds,
        )?;
        let module = PolicyModule {
            team: team.clone(),
            settings: policies.settings("validate", admission.clone(), json!({})),
            ..module
        };
        let module = load::check_policy_files(module)?;
        let rules = rules(
            &module,
            &policies.settings("rules", admission.clone(), json!({})),
        )?;
        out.push(with_rules(module, rules));
    }
    Ok(out)
}

/// The Rego runtime, loaded and ready for settings.
pub fn runtime(name: &str, label: &str, bounds: Bounds) -> Result<PolicyModule> {
    let path = runtime_component()?;
    let loaded = load::load(name, &path, None, bounds)
        .map_err(|e| anyhow!("the Rego runtime: {e:#} (scripts/build-wasm builds it)"))?;
    Ok(PolicyModule {
        label: label.to_owned(),
        name: name.to_owned(),
        team: None,
        mutate: false,
        validates: true,
        reinvoke: None,
        policies: Vec::new(),
        read_secrets: false,
        settings: String::new(),
        reads: vf_plugin::modules::Reads::Whole,
        bounds,
        loaded,
    })
}

/// The rules the runtime finds in the policies (phase `rules`: each rule as a finding). An id
/// must not be a built-in rule's (configuration and exemptions would reach both) and must be
/// printable: `[A-Za-z0-9._-]`, at most 253 characters.
pub fn rules(module: &PolicyModule, settings: &str) -> Result<Vec<RuleInfo>> {
    let verdict: Verdict = module
        .call(|m, store| m.vf_policy_policy().call_evaluate(store, &[], settings))?
        .map_err(|e| anyhow!("policy module {} {}", module.label, error_text(e)))?;
    for f in &verdict.findings {
        let printable = !f.rule.is_empty()
            && f.rule.len() <= 253
            && f.rule
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !printable {
            bail!(
                "{}: rule id {:?} ({}) is not made of letters, digits, '.', '_' and '-'",
                module.label,
                f.rule,
                f.message
            );
        }
        if vf_plugin::rules::catalog::find(&f.rule).is_some() {
            bail!(
                "{}: {} is named {:?}, a built-in rule's id; rename it",
                module.label,
                f.message,
                f.rule
            );
        }
    }
    Ok(verdict
        .findings
        .into_iter()
        .map(|f| RuleInfo {
            hint: format!("change the object so that {} passes", f.message),
            id: f.rule,
            summary: f.message,
            severity: f
                .severity
                .unwrap_or(super::bindings::module::vf::policy::types::Severity::Error),
        })
        .collect())
}

/// The module with its rules declared, and the culprit search able to run them one by one.
pub fn with_rules(mut module: PolicyModule, rules: Vec<RuleInfo>) -> PolicyModule {
    module.policies = rules
        .iter()
        .map(|r| (r.id.clone(), r.summary.clone()))
        .collect();
    module.loaded.metadata.rules = rules;
    module
}
