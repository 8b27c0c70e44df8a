//! Admission of each object of the release, as the API server admits a CREATE: for every
//! policy and binding that match it, once per parameter object, the match conditions, then
//! the validations and audit annotations (validating policies) or the mutations in order
//! (mutating policies), each expression within its cost budget. An evaluation error counts as
//! the binding's denial under `failurePolicy: Fail` and is reported as information under
//! `Ignore`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use kube_cel::cel::common::value::Val;
use kube_cel::cel::objects::{Key, Map};
use kube_cel::cel::{Context, Value};
use serde_json::Value as Json;

use crate::api::ParamRef;
use crate::expression::Compiled;
use crate::matching::{self, Cluster, Target};
use crate::policy::{Binding, Patcher, Policy, PolicySet, Severity};
use crate::settings::{Phase, Settings};
use crate::value::{self, to_cel, to_json};
use crate::{jsonpatch, smd};

/// One object of the release, by its index in the call.
pub struct Doc {
    pub index: u32,
    /// The object as JSON; null for one read straight into CEL's values (`value`).
    pub object: Json,
    /// The object as CEL's values, when read straight from its JSON text.
    pub value: Option<Box<dyn Val>>,
}

impl Doc {
    /// Reads a document the host sent as JSON text. Validating policies see most objects only
    /// as CEL values, read straight from the text; the mutating phases, and the objects read
    /// as JSON besides (namespaces, resource definitions, parameters), are read as JSON.
    pub fn read(
        index: u32,
        kind: &str,
        text: &str,
        set: &PolicySet,
        phase: Phase,
    ) -> Result<Doc, String> {
        let as_json = phase != Phase::Validate
            || matches!(kind, "Namespace" | "CustomResourceDefinition")
            || set
                .validating
                .iter()
                .any(|p| p.param_kind.as_ref().is_some_and(|(_, k)| k == kind));
        if as_json {
            let object =
                crate::from_host_json(text).map_err(|e| format!("document {index}: {e}"))?;
            return Ok(Doc {
                index,
                object,
                value: None,
            });
        }
        let value = value::parse_val(text).map_err(|e| format!("document {index}: {e}"))?;
        Ok(Doc {
            index,
            object: Json::Null,
            value: Some(value),
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// The policy's name: its rule id.
    pub rule: String,
    pub severity: Severity,
    pub message: String,
    pub document: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Patch {
    pub document: u32,
    pub operations: Vec<Json>,
}

#[derive(Debug, Default)]
pub struct Verdict {
    pub findings: Vec<Finding>,
    pub patches: Vec<Patch>,
}

/// Reports hold messages to this many bytes.
const MAX_MESSAGE: usize = 4000;

/// Evaluates the call's phase on `docs`.
pub fn evaluate(
    functions: &Context<'_>,
    set: &PolicySet,
    settings: &Settings,
    docs: &[Doc],
) -> Verdict {
    let mut cluster = Cluster {
        no_object_selectors: !set
            .validating
            .iter()
            .chain(&set.mutating)
            .flat_map(|p| {
                std::iter::once(&p.constraints)
                    .chain(p.bindings.iter().filter_map(|b| b.resources.as_ref()))
            })
            .any(|m| m.object_selector.is_some()),
        ..Cluster::of(&settings.admission)
    };
    for doc in docs {
        cluster.learn(&doc.object);
    }
    let run = Run {
        functions,
        set,
        settings,
        cluster: &cluster,
        docs,
        names: set
            .validating
            .iter()
            .chain(&set.mutating)
            .flat_map(|p| p.expressions())
            .flat_map(|c| c.names.iter().map(String::as_str))
            .collect(),
    };
    let mut verdict = Verdict::default();
    for doc in docs {
        match settings.phase {
            Phase::Validate => run.validate(doc, &mut verdict.findings),
            Phase::Mutate | Phase::Reinvoke => run.mutate(doc, &mut verdict),
        }
    }
    verdict
}

struct Run<'a> {
    functions: &'a Context<'a>,
    set: &'a PolicySet,
    settings: &'a Settings,
    cluster: &'a Cluster,
    docs: &'a [Doc],
    /// The names the policies' expressions read: `request` and `namespaceObject` are made
    /// for each object only when some expression reads them.
    names: BTreeSet<&'a str>,
}

/// One evaluation: a policy and binding on one object with one parameter object.
struct Evaluation<'a> {
    policy: &'a Policy,
    binding: &'a Binding,
    params: Option<&'a Json>,
    /// What the evaluation has spent of its cost budget.
    spent: u64,
}

impl<'a> Evaluation<'a> {
    fn new(policy: &'a Policy, binding: &'a Binding, params: Option<&'a Json>) -> Self {
        Evaluation {
            policy,
            binding,
            params,
            spent: 0,
        }
    }
}

impl Run<'_> {
    fn validate(&self, doc: &Doc, findings: &mut Vec<Finding>) {
        let target = match &doc.value {
            Some(value) => matching::target_of_val(self.cluster, value.as_ref()),
            None => self.cluster.target(&doc.object),
        };
        let Some(target) = target else {
            return;
        };
        // The object in CEL's values, made once for every policy that matches it: each
        // evaluation reads it from this scope, its parent.
        let scope = std::cell::OnceCell::new();
        for policy in self.set.validating.iter().filter(|p| self.wanted(p)) {
            for (binding, params) in self.bound(policy, &target, doc, findings) {
                let mut eval = Evaluation::new(policy, binding, params);
                let scope = scope.get_or_init(|| {
                    let object = match &doc.value {
                        Some(value) => value.clone_as_boxed(),
                        None => value::to_val(&doc.object),
                    };
                    self.scope(object, &target)
                });
                self.validate_one(&mut eval, scope, doc, findings);
            }
        }
    }

    /// Every mutating policy on one object, in order. The patch is each policy's change in
    /// turn, every operation naming its policy (a `policy` member, which RFC 6902 lets a
    /// patch carry), so reports can say which policy changed what.
    fn mutate(&self, doc: &Doc, verdict: &mut Verdict) {
        let mut current = doc.object.clone();
        let mut operations = Vec::new();
        // Which policies changed the object, in order: a policy asking to be reinvoked runs
        // once more if one after it changed the object, as the API server reinvokes it.
        let mut changed = Vec::new();
        for (i, policy) in self.set.mutating.iter().enumerate() {
            if self.settings.phase == Phase::Reinvoke && !policy.reinvoke || !self.wanted(policy) {
                continue;
            }
            if self.mutate_policy(
                policy,
                &mut current,
                doc,
                &mut verdict.findings,
                &mut operations,
            ) {
                changed.push(i);
            }
        }
        if self.settings.phase == Phase::Mutate {
            for (i, policy) in self.set.mutating.iter().enumerate() {
                if policy.reinvoke && self.wanted(policy) && changed.iter().any(|&later| later > i)
                {
                    self.mutate_policy(
                        policy,
                        &mut current,
                        doc,
                        &mut verdict.findings,
                        &mut operations,
                    );
                }
            }
        }
        if !operations.is_empty() {
            verdict.patches.push(Patch {
                document: doc.index,
                operations,
            });
        }
    }

    /// Whether the call evaluates `policy` (all, unless the host asks for one).
    fn wanted(&self, policy: &Policy) -> bool {
        self.settings
            .only
            .as_ref()
            .is_none_or(|only| only.contains(&policy.name))
    }

    /// Every binding of one mutating policy on `current`; whether it changed it. Its change
    /// is added to `operations`, each naming the policy.
    fn mutate_policy(
        &self,
        policy: &Policy,
        current: &mut Json,
        doc: &Doc,
        findings: &mut Vec<Finding>,
        operations: &mut Vec<Json>,
    ) -> bool {
        let Some(target) = self.cluster.target(current) else {
            return false;
        };
        let before = current.clone();
        for (binding, params) in self.bound(policy, &target, doc, findings) {
            let mut eval = Evaluation::new(policy, binding, params);
            if let Some(next) = self.mutate_one(&mut eval, &target, current, doc, findings) {
                *current = next;
            }
        }
        if *current == before {
            return false;
        }
        operations.extend(
            vf_jsondiff::diff(&before, current)
                .into_iter()
                .map(|mut op| {
                    op["policy"] = Json::String(policy.name.clone());
                    op
                }),
        );
        true
    }

    /// The bindings of `policy` that apply to `target`, each with its parameter objects (one
    /// `None` for a policy without `paramKind`). A binding whose parameters are missing under
    /// `parameterNotFoundAction: Deny` is a failure of the policy.
    fn bound<'p>(
        &'p self,
        policy: &'p Policy,
        target: &Target,
        doc: &Doc,
        findings: &mut Vec<Finding>,
    ) -> Vec<(&'p Binding, Option<&'p Json>)> {
        if !matching::matches(&policy.constraints, target, self.cluster, true) {
            return Vec::new();
        }
        let mut out = Vec::new();
        for binding in &policy.bindings {
            if let Some(resources) = &binding.resources
                && !matching::matches(resources, target, self.cluster, false)
            {
                continue;
            }
            let (Some((api, kind)), Some(param_ref)) = (&policy.param_kind, &binding.param_ref)
            else {
                out.push((binding, None));
                continue;
            };
            let found = self.params(api, kind, param_ref, target);
            if found.is_empty() {
                if param_ref.parameter_not_found_action.as_deref() == Some("Deny") {
                    let eval = Evaluation::new(policy, binding, None);
                    let why = format!(
                        "no {kind} parameters found for the binding (parameterNotFoundAction: Deny)"
                    );
                    failure(&eval, doc, why, findings);
                }
                continue;
            }
            out.extend(found.into_iter().map(|p| (binding, Some(p))));
        }
        out
    }

    /// Parameter objects of `kind` the reference names: from the policy files and the
    /// release, by name or selector, in the reference's namespace, else the object's
    /// (a policy file's parameter object without a namespace is found from any).
    fn params<'p>(&'p self, api: &str, kind: &str, r: &ParamRef, target: &Target) -> Vec<&'p Json> {
        let namespace = r
            .namespace
            .clone()
            .unwrap_or_else(|| target.namespace.clone());
        let namespace_of = |p: &Json| {
            p.get("metadata")
                .and_then(|m| m.get("namespace"))
                .and_then(Json::as_str)
                .map(str::to_owned)
        };
        // A policy file's parameter object without a namespace serves every namespace; the
        // release's objects are where Helm puts them (its namespace when they name none).
        let from_files = self.set.params.iter().map(|p| (p, namespace_of(p)));
        let from_release = self.docs.iter().map(|d| {
            let ns = namespace_of(&d.object).or_else(|| {
                self.cluster
                    .target(&d.object)
                    .filter(|t| t.namespaced != Some(false))
                    .map(|t| t.namespace)
            });
            (&d.object, ns)
        });
        from_files
            .chain(from_release)
            .filter(|(p, _)| p.get("apiVersion").and_then(Json::as_str) == Some(api))
            .filter(|(p, _)| p.get("kind").and_then(Json::as_str) == Some(kind))
            .filter(|(_, ns)| ns.as_deref().is_none_or(|ns| ns == namespace))
            .map(|(p, _)| p)
            .filter(|p| {
                let meta = p.get("metadata");
                match (&r.name, &r.selector) {
                    (Some(name), _) => {
                        meta.and_then(|m| m.get("name")).and_then(Json::as_str) == Some(name)
                    }
                    (None, Some(selector)) => {
                        let labels: BTreeMap<String, String> = meta
                            .and_then(|m| m.get("labels"))
                            .and_then(Json::as_object)
                            .map(|l| {
                                l.iter()
                                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                                    .collect()
                            })
                            .unwrap_or_default();
                        matching::selects(selector, &labels)
                    }
                    (None, None) => false,
                }
            })
            .collect()
    }

    /// What every evaluation on `object` sees: `object`, `oldObject`, and `request` and
    /// `namespaceObject` when read. Adding a variable converts it to CEL's values whole, so this scope
    /// is made once per object and shared by the evaluations (`context`).
    fn scope(&self, object: Box<dyn Val>, target: &Target) -> Context<'_> {
        let mut ctx = self.functions.new_inner_scope();
        ctx.add_variable_as_val("object", object);
        ctx.add_variable_from_value("oldObject", Value::Null);
        if self.names.contains("request") {
            ctx.add_variable_from_value("request", to_cel(&self.request(target)));
        }
        if self.names.contains("namespaceObject") {
            ctx.add_variable_from_value(
                "namespaceObject",
                to_cel(&self.cluster.namespace_object(target)),
            );
        }
        ctx
    }

    /// The variables every expression of an evaluation sees, but `variables`.
    fn context<'c>(&self, scope: &'c Context<'c>, eval: &Evaluation<'_>) -> Context<'c> {
        let mut ctx = scope.new_inner_scope();
        if eval.policy.param_kind.is_some() {
            ctx.add_variable_from_value("params", eval.params.map_or(Value::Null, to_cel));
        }
        // `variables` where the policy declares some or names it (`size(variables)`).
        let policy = eval.policy;
        if !policy.variables.is_empty()
            || policy.expressions().any(|c| c.names.contains("variables"))
        {
            ctx.add_variable_from_value(
                "variables",
                Value::Map(Map {
                    map: Arc::new(HashMap::new()),
                }),
            );
        }
        ctx
    }

    /// `request`, as the API server fills it for a CREATE.
    fn request(&self, t: &Target) -> Json {
        let kind = serde_json::json!({"group": t.group, "version": t.version, "kind": t.kind});
        let resource =
            serde_json::json!({"group": t.group, "version": t.version, "resource": t.resources[0]});
        serde_json::json!({
            "kind": kind,
            "resource": resource,
            "subResource": "",
            "requestKind": kind,
            "requestResource": resource,
            "requestSubResource": "",
            "name": t.name,
            "namespace": t.namespace,
            "operation": "CREATE",
            "userInfo": self.settings.admission.user_info,
            "dryRun": false,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
        })
    }

    /// Evaluates the policy's variables into `ctx` (lazily in Kubernetes: an error counts
    /// only where a variable that failed is read).
    fn variables(
        &self,
        ctx: &mut Context<'_>,
        eval: &mut Evaluation<'_>,
    ) -> BTreeMap<String, String> {
        let mut values: HashMap<Key, Value> = HashMap::new();
        let mut failed = BTreeMap::new();
        for (name, compiled) in &eval.policy.variables {
            match self.run(compiled, ctx, eval, &failed) {
                Ok(v) => {
                    values.insert(Key::String(Arc::new(name.clone())), v);
                    ctx.add_variable_from_value(
                        "variables",
                        Value::Map(Map {
                            map: Arc::new(values.clone()),
                        }),
                    );
                }
                Err(e) => {
                    failed.insert(name.clone(), e);
                }
            }
        }
        failed
    }

    /// One expression within what is left of the evaluation's budget.
    fn run(
        &self,
        compiled: &Compiled,
        ctx: &Context<'_>,
        eval: &mut Evaluation<'_>,
        failed: &BTreeMap<String, String>,
    ) -> Result<Value, String> {
        if let Some(name) = compiled.variables.iter().find(|v| failed.contains_key(*v)) {
            return Err(format!(
                "{}: variables.{name} failed: {}",
                compiled.place, failed[name]
            ));
        }
        let cost = &self.settings.cost;
        let left = cost.per_evaluation.saturating_sub(eval.spent);
        if left == 0 {
            return Err(format!(
                "{}: the evaluation spent its whole cost budget ({} units)",
                compiled.place, cost.per_evaluation
            ));
        }
        let (result, spent) =
            kube_cel::cel::budget::with_budget(cost.per_expression.min(left), || {
                compiled.program.execute(ctx)
            });
        eval.spent += spent;
        result.map_err(|e| format!("{}: {}", compiled.place, one_line(&e.to_string())))
    }

    fn validate_one(
        &self,
        eval: &mut Evaluation<'_>,
        scope: &Context<'_>,
        doc: &Doc,
        findings: &mut Vec<Finding>,
    ) {
        let mut ctx = self.context(scope, eval);
        if !self.conditions_hold(&ctx, eval, doc, findings) {
            return;
        }
        let failed = self.variables(&mut ctx, eval);
        for check in &eval.policy.validations {
            match self.run(&check.expression, &ctx, eval, &failed) {
                Ok(Value::Bool(true)) => {}
                Ok(Value::Bool(false)) => {
                    let custom = check.message_expression.as_ref().and_then(|m| {
                        match self.run(m, &ctx, eval, &failed) {
                            Ok(Value::String(s))
                                if !s.trim().is_empty() && !s.contains(['\n', '\r']) =>
                            {
                                Some(s.to_string())
                            }
                            _ => None,
                        }
                    });
                    let message = custom.or_else(|| check.message.clone()).unwrap_or_else(|| {
                        format!("failed expression: {}", check.expression.source.trim())
                    });
                    let reason = match check.reason.as_deref() {
                        None | Some("Invalid") => String::new(),
                        Some(r) => format!("{r}: "),
                    };
                    findings.push(Finding {
                        rule: eval.policy.name.clone(),
                        severity: eval.binding.severity,
                        message: clip(format!("{reason}{message}{}", suffix(eval))),
                        document: doc.index,
                    });
                }
                Ok(other) => failure(
                    eval,
                    doc,
                    format!(
                        "{}: returned {}, not a bool",
                        check.expression.place,
                        value::type_name(&other)
                    ),
                    findings,
                ),
                Err(e) => failure(eval, doc, e, findings),
            }
        }
        for (key, compiled) in &eval.policy.audit {
            match self.run(compiled, &ctx, eval, &failed) {
                Ok(Value::Null) => {}
                Ok(Value::String(s)) => findings.push(Finding {
                    rule: eval.policy.name.clone(),
                    severity: Severity::Info,
                    message: clip(format!(
                        "audit annotation {}/{key}: {s}{}",
                        eval.policy.name,
                        suffix(eval)
                    )),
                    document: doc.index,
                }),
                Ok(other) => failure(
                    eval,
                    doc,
                    format!(
                        "{}: returned {}, not a string or null",
                        compiled.place,
                        value::type_name(&other)
                    ),
                    findings,
                ),
                Err(e) => failure(eval, doc, e, findings),
            }
        }
    }

    /// Whether every match condition holds; an error is a failure of the policy.
    fn conditions_hold(
        &self,
        ctx: &Context<'_>,
        eval: &mut Evaluation<'_>,
        doc: &Doc,
        findings: &mut Vec<Finding>,
    ) -> bool {
        // As the API server: any condition false skips the policy, errors or not; else the
        // first error is a failure of the policy; else it applies.
        let mut error = None;
        for condition in &eval.policy.conditions {
            match self.run(condition, ctx, eval, &BTreeMap::new()) {
                Ok(Value::Bool(true)) => {}
                Ok(Value::Bool(false)) => return false,
                Ok(other) => {
                    error.get_or_insert(format!(
                        "{}: returned {}, not a bool",
                        condition.place,
                        value::type_name(&other)
                    ));
                }
                Err(e) => {
                    error.get_or_insert(e);
                }
            }
        }
        match error {
            Some(why) => {
                failure(eval, doc, why, findings);
                false
            }
            None => true,
        }
    }

    /// The policy's mutations on `object` in order, each seeing the last one's result; the
    /// object they leave, or `None` when nothing applied.
    fn mutate_one(
        &self,
        eval: &mut Evaluation<'_>,
        target: &Target,
        object: &Json,
        doc: &Doc,
        findings: &mut Vec<Finding>,
    ) -> Option<Json> {
        {
            let scope = self.scope(value::to_val(object), target);
            let ctx = self.context(&scope, eval);
            if !self.conditions_hold(&ctx, eval, doc, findings) {
                return None;
            }
        }
        let mut current = object.clone();
        for mutation in &eval.policy.mutations {
            let scope = self.scope(value::to_val(&current), target);
            let mut ctx = self.context(&scope, eval);
            let failed = self.variables(&mut ctx, eval);
            let result = match mutation {
                Patcher::JsonPatch(c) => self
                    .run(c, &ctx, eval, &failed)
                    .and_then(|v| json_patch(&c.place, &v))
                    .and_then(|ops| {
                        jsonpatch::apply(&current, &ops).map_err(|e| format!("{}: {e}", c.place))
                    })
                    .map(|outcome| match outcome {
                        jsonpatch::Outcome::Applied(next) => next,
                        jsonpatch::Outcome::TestFailed => current.clone(),
                    }),
                Patcher::Apply(c) => self.run(c, &ctx, eval, &failed).and_then(|v| {
                    let patch = match &v {
                        Value::Map(_) => to_json(&v).map_err(|e| format!("{}: {e}", c.place))?,
                        other => {
                            return Err(format!(
                                "{}: returned {}, not an Object",
                                c.place,
                                value::type_name(other)
                            ));
                        }
                    };
                    self.apply_configuration(target, &current, &patch)
                        .map_err(|e| format!("{}: {e}", c.place))
                }),
            };
            drop(ctx);
            match result {
                Ok(next) => current = next,
                Err(e) => failure(eval, doc, e, findings),
            }
        }
        Some(current)
    }

    fn apply_configuration(
        &self,
        target: &Target,
        live: &Json,
        patch: &Json,
    ) -> Result<Json, String> {
        let root = match smd::builtin_type(&target.group, &target.version, &target.kind) {
            Some(name) => smd::TypeRef {
                named_type: Some(name),
                ..Default::default()
            },
            None => self
                .crd_schema(target)
                .map(|s| smd::from_openapi(&s))
                .ok_or_else(|| {
                    format!(
                        "no schema for {} {}: an ApplyConfiguration needs the object's schema (a built-in kind, or a CustomResourceDefinition in the release); a JSONPatch does not",
                        if target.group.is_empty() { target.version.clone() } else { format!("{}/{}", target.group, target.version) },
                        target.kind
                    )
                })?,
        };
        smd::builtin().apply(&root, live, patch)
    }

    /// The `openAPIV3Schema` of the release's CustomResourceDefinition for the target's
    /// group, kind and version.
    fn crd_schema(&self, t: &Target) -> Option<Json> {
        self.docs.iter().map(|d| &d.object).find_map(|crd| {
            let spec = crd.get("spec")?;
            if crd.get("kind")?.as_str()? != "CustomResourceDefinition"
                || spec.get("group")?.as_str()? != t.group
                || spec.get("names")?.get("kind")?.as_str()? != t.kind
            {
                return None;
            }
            spec.get("versions")?
                .as_array()?
                .iter()
                .find(|v| v.get("name").and_then(Json::as_str) == Some(&t.version))?
                .get("schema")?
                .get("openAPIV3Schema")
                .cloned()
        })
    }
}

/// A JSONPatch expression's result as JSON patch operations.
fn json_patch(place: &str, value: &Value) -> Result<Vec<Json>, String> {
    let Value::List(items) = value else {
        return Err(format!(
            "{place}: returned {}, not a list of JSONPatch",
            value::type_name(value)
        ));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let Value::Map(map) = item else {
                return Err(format!(
                    "{place}: item {i} is a {}, not a JSONPatch",
                    value::type_name(item)
                ));
            };
            let mut op = serde_json::Map::new();
            for (key, v) in map.map.iter() {
                let Key::String(key) = key else {
                    return Err(format!("{place}: item {i} has a key that is not a string"));
                };
                match (key.as_str(), v) {
                    ("op" | "path" | "from", Value::String(s)) => {
                        op.insert(key.to_string(), Json::String(s.to_string()));
                    }
                    ("value", v) => {
                        op.insert(
                            "value".into(),
                            to_json(v).map_err(|e| format!("{place}: item {i}: {e}"))?,
                        );
                    }
                    (other, _) => {
                        return Err(format!(
                            "{place}: item {i}: JSONPatch has no field {other:?} of that type"
                        ));
                    }
                }
            }
            Ok(Json::Object(op))
        })
        .collect()
}

/// A failure of the policy's evaluation: the binding's denial under `failurePolicy: Fail`,
/// information under `Ignore`.
fn failure(eval: &Evaluation<'_>, doc: &Doc, why: String, findings: &mut Vec<Finding>) {
    let (severity, what) = if eval.policy.fail {
        (eval.binding.severity, "failed")
    } else {
        (Severity::Info, "failed, ignored (failurePolicy: Ignore)")
    };
    findings.push(Finding {
        rule: eval.policy.name.clone(),
        severity,
        message: clip(format!("policy evaluation {what}: {why}{}", suffix(eval))),
        document: doc.index,
    });
}

/// Which binding (and parameter object) a finding comes from.
fn suffix(eval: &Evaluation<'_>) -> String {
    let params = eval.params.map(|p| {
        let meta = p.get("metadata");
        let name = meta
            .and_then(|m| m.get("name"))
            .and_then(Json::as_str)
            .unwrap_or("?");
        match meta.and_then(|m| m.get("namespace")).and_then(Json::as_str) {
            Some(ns) => format!(", params {ns}/{name}"),
            None => format!(", params {name}"),
        }
    });
    format!(
        " (binding {}{})",
        eval.binding.name,
        params.unwrap_or_default()
    )
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// At most [`MAX_MESSAGE`] bytes, cut at a character boundary.
fn clip(mut message: String) -> String {
    if message.len() > MAX_MESSAGE {
        let mut end = MAX_MESSAGE;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        message.push('…');
    }
    message
}
