//! The policy files' objects, checked as the API server checks them when they are created,
//! and compiled: ValidatingAdmissionPolicies, MutatingAdmissionPolicies, their bindings, and
//! the parameter objects. An error names the file, the object and the field.

use std::collections::BTreeSet;

use kube_cel::cel::Context;
use serde::de::DeserializeOwned;
use serde_json::Value as Json;

use crate::api::{
    self, BindingSpec, MatchResources, MutatingSpec, NamedExpression, ValidatingSpec,
};
use crate::expression::{self, Compiled, Messages, Scope};
use crate::matching::check_selector;
use crate::settings::Source;

/// A policy's variables, by name, in their order.
type Variables = Vec<(String, Compiled)>;

/// What a policy finding weighs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Info,
    Warning,
    Error,
}

/// Every policy of the files, compiled, with its bindings; and the parameter objects.
pub struct PolicySet {
    pub validating: Vec<Policy>,
    pub mutating: Vec<Policy>,
    pub params: Vec<Json>,
}

pub struct Policy {
    pub name: String,
    pub file: String,
    /// `paramKind`: apiVersion and kind.
    pub param_kind: Option<(String, String)>,
    pub constraints: MatchResources,
    pub conditions: Vec<Compiled>,
    pub variables: Vec<(String, Compiled)>,
    /// `failurePolicy: Fail` (the default).
    pub fail: bool,
    pub validations: Vec<Check>,
    pub audit: Vec<(String, Compiled)>,
    pub mutations: Vec<Patcher>,
    /// `reinvocationPolicy: IfNeeded`.
    pub reinvoke: bool,
    pub bindings: Vec<Binding>,
}

impl Policy {
    /// Every expression of the policy.
    pub fn expressions(&self) -> impl Iterator<Item = &Compiled> {
        let checks = self
            .validations
            .iter()
            .flat_map(|c| std::iter::once(&c.expression).chain(c.message_expression.as_ref()));
        let mutations = self.mutations.iter().map(|m| match m {
            Patcher::Apply(c) | Patcher::JsonPatch(c) => c,
        });
        self.conditions
            .iter()
            .chain(self.variables.iter().map(|(_, c)| c))
            .chain(checks)
            .chain(self.audit.iter().map(|(_, c)| c))
            .chain(mutations)
    }
}

pub struct Check {
    pub expression: Compiled,
    pub message: Option<String>,
    pub message_expression: Option<Compiled>,
    pub reason: Option<String>,
}

pub enum Patcher {
    Apply(Compiled),
    JsonPatch(Compiled),
}

pub struct Binding {
    pub name: String,
    pub param_ref: Option<api::ParamRef>,
    pub resources: Option<MatchResources>,
    /// From `validationActions` (Deny error, Warn warning, Audit info); error for a
    /// mutating binding, whose failures deny.
    pub severity: Severity,
}

const ADMISSION: [&str; 2] = [
    "admissionregistration.k8s.io/v1",
    "admissionregistration.k8s.io/v1beta1",
];

/// The kinds of admissionregistration vf-post evaluates.
const POLICY_KINDS: [&str; 4] = [
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "MutatingAdmissionPolicy",
    "MutatingAdmissionPolicyBinding",
];

/// Whether a policy file's object is needed to evaluate the policy `name` without others: the
/// policy, its bindings, and every other object (parameters).
pub fn concerns(object: &Json, name: &str) -> bool {
    let at = |path: &str| object.pointer(path).and_then(Json::as_str);
    match at("/kind") {
        Some("ValidatingAdmissionPolicy" | "MutatingAdmissionPolicy") => {
            at("/metadata/name") == Some(name)
        }
        Some("ValidatingAdmissionPolicyBinding" | "MutatingAdmissionPolicyBinding") => {
            at("/spec/policyName") == Some(name)
        }
        _ => true,
    }
}

impl PolicySet {
    /// Reads and compiles the files' objects.
    pub fn compile(sources: &[Source], functions: &Context<'_>) -> Result<PolicySet, String> {
        let mut set = PolicySet {
            validating: Vec::new(),
            mutating: Vec::new(),
            params: Vec::new(),
        };
        let mut bindings: Vec<(String, String, bool, BindingSpec, String)> = Vec::new();
        for source in sources {
            let api_version = source
                .object
                .get("apiVersion")
                .and_then(Json::as_str)
                .unwrap_or_default();
            let kind = source
                .object
                .get("kind")
                .and_then(Json::as_str)
                .unwrap_or_default();
            let name = source
                .object
                .get("metadata")
                .and_then(|m| m.get("name"))
                .and_then(Json::as_str)
                .unwrap_or_default()
                .to_owned();
            let at = format!("{}: {kind} {name:?}", source.file);
            let policy_kind = POLICY_KINDS.contains(&kind);
            if !ADMISSION.contains(&api_version) {
                if policy_kind {
                    // Read as a parameter object, it would be a policy silently not enforced.
                    return Err(format!(
                        "{at}: apiVersion {api_version:?}: vf-post reads {} (convert older versions first)",
                        ADMISSION.join(" and ")
                    ));
                }
                set.params.push(source.object.clone());
                continue;
            }

            if name.is_empty() {
                return Err(format!("{}: a {kind} without metadata.name", source.file));
            }
            match kind {
                "ValidatingAdmissionPolicy" => {
                    let object: api::Object<ValidatingSpec> = read(&source.object, &at)?;
                    let policy = validating(&object, &source.file, functions)
                        .map_err(|e| format!("{at}: {e}"))?;
                    set.validating.push(policy);
                }
                "MutatingAdmissionPolicy" => {
                    let object: api::Object<MutatingSpec> = read(&source.object, &at)?;
                    let policy = mutating(&object, &source.file, functions)
                        .map_err(|e| format!("{at}: {e}"))?;
                    set.mutating.push(policy);
                }
                "ValidatingAdmissionPolicyBinding" | "MutatingAdmissionPolicyBinding" => {
                    let object: api::Object<BindingSpec> = read(&source.object, &at)?;
                    let validating = kind.starts_with("Validating");
                    bindings.push((name, at, validating, object.spec, source.file.clone()));
                }
                other => {
                    return Err(format!(
                        "{at}: {other} is no admission policy or binding vf-post knows"
                    ));
                }
            }
        }
        let mut names = BTreeSet::new();
        for p in set.validating.iter().chain(&set.mutating) {
            if !names.insert(&p.name) {
                return Err(format!("{}: two policies named {:?}", p.file, p.name));
            }
        }
        let mut binding_names = BTreeSet::new();
        for (name, at, validating, spec, _) in bindings {
            if !is_dns_subdomain(&name) {
                return Err(format!("{at}: metadata.name is not a DNS subdomain name"));
            }
            if !binding_names.insert((validating, name.clone())) {
                return Err(format!("{at}: two bindings named {name:?}"));
            }
            let policies = if validating {
                &mut set.validating
            } else {
                &mut set.mutating
            };
            let Some(policy) = policies.iter_mut().find(|p| p.name == spec.policy_name) else {
                return Err(format!(
                    "{at}: binds policy {:?}, which none of the policy files defines",
                    spec.policy_name
                ));
            };
            let binding =
                binding(name, spec, validating, policy).map_err(|e| format!("{at}: {e}"))?;
            policy.bindings.push(binding);
        }
        Ok(set)
    }
}

/// A Kubernetes object as its spec type; unknown fields are errors.
fn read<T: DeserializeOwned>(object: &Json, at: &str) -> Result<T, String> {
    serde_json::from_value(object.clone()).map_err(|e| format!("{at}: {e}"))
}

struct Compiler<'a> {
    functions: &'a Context<'a>,
    params: bool,
    messages: Messages,
    variables: Vec<String>,
}

impl<'a> Compiler<'a> {
    fn new(functions: &'a Context<'a>, params: bool, messages: Messages) -> Self {
        Compiler {
            functions,
            params,
            messages,
            variables: Vec::new(),
        }
    }

    fn compile(&self, place: &str, source: &str) -> Result<Compiled, String> {
        let scope = Scope {
            functions: self.functions,
            variables: &self.variables,
            params: self.params,
            messages: self.messages,
        };
        expression::compile(place, source, &scope)
    }

    /// matchConditions and variables, shared by both kinds of policy.
    fn common(
        &mut self,
        conditions: &[NamedExpression],
        variables: &[NamedExpression],
    ) -> Result<(Vec<Compiled>, Variables), String> {
        if conditions.len() > 64 {
            return Err(format!(
                "{} matchConditions, more than the 64 allowed",
                conditions.len()
            ));
        }
        let mut seen = BTreeSet::new();
        let mut compiled_conditions = Vec::new();
        for (i, c) in conditions.iter().enumerate() {
            if !seen.insert(&c.name) {
                return Err(format!(
                    "matchConditions[{i}]: the name {:?} is used twice",
                    c.name
                ));
            }
            compiled_conditions
                .push(self.compile(&format!("matchConditions[{i}] ({})", c.name), &c.expression)?);
        }
        let mut compiled_variables = Vec::new();
        for (i, v) in variables.iter().enumerate() {
            if !is_identifier(&v.name) || self.variables.contains(&v.name) {
                return Err(format!(
                    "variables[{i}]: {:?} is not a new CEL identifier",
                    v.name
                ));
            }
            let c = self.compile(&format!("variables[{i}] ({})", v.name), &v.expression)?;
            self.variables.push(v.name.clone());
            compiled_variables.push((v.name.clone(), c));
        }
        // Conditions are compiled before the variables: they may not read them.
        Ok((compiled_conditions, compiled_variables))
    }
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A Kubernetes object name: lower-case alphanumerics, `-` and `.`, at most 253 characters.
fn is_dns_subdomain(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// A resource rule as the API server validates it: nothing it would refuse is read as a
/// rule that silently matches nothing.
fn check_rule(rule: &crate::api::ResourceRule) -> Result<(), String> {
    for (field, values) in [
        ("operations", &rule.operations),
        ("apiGroups", &rule.api_groups),
        ("apiVersions", &rule.api_versions),
        ("resources", &rule.resources),
    ] {
        if values.is_empty() {
            return Err(format!("{field} is required"));
        }
    }
    if let Some(op) = rule.operations.iter().find(|op| {
        !matches!(
            op.as_str(),
            "*" | "CREATE" | "UPDATE" | "DELETE" | "CONNECT"
        )
    }) {
        return Err(format!(
            "operation {op:?}: one of CREATE, UPDATE, DELETE, CONNECT or *"
        ));
    }
    match rule.scope.as_deref() {
        None | Some("*" | "Cluster" | "Namespaced") => Ok(()),
        Some(other) => Err(format!("scope {other:?}: Cluster, Namespaced or *")),
    }
}

fn constraints(m: &Option<MatchResources>) -> Result<MatchResources, String> {
    let m = m.clone().ok_or("spec.matchConstraints is required")?;
    if m.resource_rules.is_empty() {
        return Err("spec.matchConstraints.resourceRules is required".into());
    }
    check_match(&m)?;
    Ok(m)
}

fn check_match(m: &MatchResources) -> Result<(), String> {
    for selector in [&m.namespace_selector, &m.object_selector]
        .into_iter()
        .flatten()
    {
        check_selector(selector)?;
    }
    for (field, rules) in [
        ("resourceRules", &m.resource_rules),
        ("excludeResourceRules", &m.exclude_resource_rules),
    ] {
        for (i, rule) in rules.iter().enumerate() {
            check_rule(rule).map_err(|e| format!("{field}[{i}]: {e}"))?;
        }
    }
    match m.match_policy.as_deref() {
        None | Some("Exact") | Some("Equivalent") => Ok(()),
        Some(other) => Err(format!("matchPolicy {other:?}: Exact or Equivalent")),
    }
}

fn failure_policy(value: &Option<String>) -> Result<bool, String> {
    match value.as_deref() {
        None | Some("Fail") => Ok(true),
        Some("Ignore") => Ok(false),
        Some(other) => Err(format!("failurePolicy {other:?}: Fail or Ignore")),
    }
}

fn param_kind(p: &Option<api::ParamKind>) -> Result<Option<(String, String)>, String> {
    match p {
        None => Ok(None),
        Some(p) if p.api_version.is_empty() || p.kind.is_empty() => {
            Err("paramKind needs apiVersion and kind".into())
        }
        Some(p) => Ok(Some((p.api_version.clone(), p.kind.clone()))),
    }
}

/// What both kinds of policy declare alike.
struct Shared<'s> {
    name: &'s str,
    param_kind: &'s Option<api::ParamKind>,
    match_constraints: &'s Option<MatchResources>,
    match_conditions: &'s [NamedExpression],
    variables: &'s [NamedExpression],
    failure_policy: &'s Option<String>,
}

/// [`Shared`] of a ValidatingAdmissionPolicy's or a MutatingAdmissionPolicy's spec: two types
/// with these fields in common, as in the Kubernetes API.
macro_rules! shared {
    ($name:expr, $spec:expr) => {
        Shared {
            name: $name,
            param_kind: &$spec.param_kind,
            match_constraints: &$spec.match_constraints,
            match_conditions: &$spec.match_conditions,
            variables: &$spec.variables,
            failure_policy: &$spec.failure_policy,
        }
    };
}

/// A policy with its shared parts compiled and the rest empty, and the compiler for the rest.
fn begin<'a>(
    shared: Shared<'_>,
    file: &str,
    functions: &'a Context<'a>,
    messages: Messages,
) -> Result<(Policy, Compiler<'a>), String> {
    let params = param_kind(shared.param_kind)?;
    let mut compiler = Compiler::new(functions, params.is_some(), messages);
    let (conditions, variables) = compiler.common(shared.match_conditions, shared.variables)?;
    let policy = Policy {
        name: shared.name.to_owned(),
        file: file.to_owned(),
        param_kind: params,
        constraints: constraints(shared.match_constraints)?,
        conditions,
        variables,
        fail: failure_policy(shared.failure_policy)?,
        validations: Vec::new(),
        audit: Vec::new(),
        mutations: Vec::new(),
        reinvoke: false,
        bindings: Vec::new(),
    };
    Ok((policy, compiler))
}

fn validating<'a>(
    object: &api::Object<ValidatingSpec>,
    file: &str,
    functions: &'a Context<'a>,
) -> Result<Policy, String> {
    let spec = &object.spec;
    let shared = shared!(&object.metadata.name, spec);
    let (mut policy, compiler) = begin(shared, file, functions, Messages::None)?;
    if spec.validations.is_empty() && spec.audit_annotations.is_empty() {
        return Err("needs validations or auditAnnotations".into());
    }
    let mut validations = Vec::new();
    for (i, v) in spec.validations.iter().enumerate() {
        if let Some(m) = &v.message
            && m.contains(['\n', '\r'])
        {
            return Err(format!("validations[{i}].message: no line breaks"));
        }
        if let Some(r) = &v.reason
            && ![
                "Unauthorized",
                "Forbidden",
                "Invalid",
                "RequestEntityTooLarge",
            ]
            .contains(&r.as_str())
        {
            return Err(format!(
                "validations[{i}].reason {r:?}: Unauthorized, Forbidden, Invalid or RequestEntityTooLarge"
            ));
        }
        validations.push(Check {
            expression: compiler.compile(&format!("validations[{i}].expression"), &v.expression)?,
            message: v.message.clone(),
            message_expression: v
                .message_expression
                .as_ref()
                .map(|m| compiler.compile(&format!("validations[{i}].messageExpression"), m))
                .transpose()?,
            reason: v.reason.clone(),
        });
    }
    let mut audit = Vec::new();
    let mut keys = BTreeSet::new();
    for (i, a) in spec.audit_annotations.iter().enumerate() {
        // As the API server: a qualified name's part, so `<policy>/<key>` is an annotation key.
        let part = a.key.len() <= 63
            && a.key.starts_with(|c: char| c.is_ascii_alphanumeric())
            && a.key.ends_with(|c: char| c.is_ascii_alphanumeric())
            && a.key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !part || !keys.insert(&a.key) {
            return Err(format!(
                "auditAnnotations[{i}].key {:?}: not a qualified name (alphanumerics, '-', '_', '.', at most 63) or used twice",
                a.key
            ));
        }
        audit.push((
            a.key.clone(),
            compiler.compile(
                &format!("auditAnnotations[{i}].valueExpression"),
                &a.value_expression,
            )?,
        ));
    }
    policy.validations = validations;
    policy.audit = audit;
    Ok(policy)
}

fn mutating<'a>(
    object: &api::Object<MutatingSpec>,
    file: &str,
    functions: &'a Context<'a>,
) -> Result<Policy, String> {
    let spec = &object.spec;
    let shared = shared!(&object.metadata.name, spec);
    let (mut policy, compiler) = begin(shared, file, functions, Messages::Mutation)?;
    if spec.mutations.is_empty() {
        return Err("spec.mutations is required".into());
    }
    let mut mutations = Vec::new();
    for (i, m) in spec.mutations.iter().enumerate() {
        mutations.push(match (m.patch_type.as_str(), &m.apply_configuration, &m.json_patch) {
            ("ApplyConfiguration", Some(a), None) => {
                let c = compiler.compile(&format!("mutations[{i}].applyConfiguration.expression"), &a.expression)?;
                if let Some(name) = c.message_type().filter(|n| *n != "Object") {
                    return Err(format!("{}: must evaluate to Object but got {name}", c.place));
                }
                Patcher::Apply(c)
            }
            ("JSONPatch", None, Some(j)) => Patcher::JsonPatch(
                compiler.compile(&format!("mutations[{i}].jsonPatch.expression"), &j.expression)?,
            ),
            (t, _, _) => {
                return Err(format!(
                    "mutations[{i}]: patchType {t:?} needs exactly its own field (applyConfiguration or jsonPatch)"
                ));
            }
        });
    }
    let reinvoke = match spec.reinvocation_policy.as_deref() {
        None | Some("Never") => false,
        Some("IfNeeded") => true,
        Some(other) => return Err(format!("reinvocationPolicy {other:?}: Never or IfNeeded")),
    };
    policy.mutations = mutations;
    policy.reinvoke = reinvoke;
    Ok(policy)
}

fn binding(
    name: String,
    spec: BindingSpec,
    validating: bool,
    policy: &Policy,
) -> Result<Binding, String> {
    if let Some(m) = &spec.match_resources {
        check_match(m)?;
    }
    // As the API server: a policy with a paramKind and a binding without a paramRef is
    // evaluated with null params; a paramRef for a policy without a paramKind is ignored.
    if let (Some(_), Some(r)) = (&policy.param_kind, &spec.param_ref) {
        if r.name.is_some() == r.selector.is_some() {
            return Err("paramRef needs exactly one of name and selector".into());
        }
        if let Some(s) = &r.selector {
            check_selector(s)?;
        }
        match r.parameter_not_found_action.as_deref() {
            Some("Allow") | Some("Deny") => {}
            other => {
                return Err(format!(
                    "paramRef.parameterNotFoundAction {other:?}: Allow or Deny"
                ));
            }
        }
    }
    let severity = if validating {
        let actions = &spec.validation_actions;
        if actions.is_empty() {
            return Err("validationActions is required (Deny, Warn, Audit)".into());
        }
        let mut seen = BTreeSet::new();
        for a in actions {
            if !["Deny", "Warn", "Audit"].contains(&a.as_str()) || !seen.insert(a) {
                return Err(format!("validationActions: {a:?} unknown or given twice"));
            }
        }
        if seen.contains(&"Deny".to_owned()) && seen.contains(&"Warn".to_owned()) {
            return Err("validationActions: Deny and Warn may not be used together".into());
        }
        if seen.contains(&"Deny".to_owned()) {
            Severity::Error
        } else if seen.contains(&"Warn".to_owned()) {
            Severity::Warning
        } else {
            Severity::Info
        }
    } else {
        if !spec.validation_actions.is_empty() {
            return Err("validationActions belongs to ValidatingAdmissionPolicyBinding".into());
        }
        Severity::Error
    };
    Ok(Binding {
        name,
        param_ref: spec.param_ref,
        resources: spec.match_resources,
        severity,
    })
}
