//! Gatekeeper: ConstraintTemplates (templates.gatekeeper.sh) and their constraints
//! (constraints.gatekeeper.sh), as Gatekeeper's Rego driver runs them. Each template compiles
//! on its own, with its libs; each constraint it matches (constraint_match.rs) evaluates the
//! template's `violation` rule with `input.review` (the admission request of the object) and
//! `input.parameters` (the constraint's, `{}` when none), `data.inventory` from the release.
//! A violation is a finding of the constraint (its name is the rule id) with the violation's
//! `msg`, as severe as its enforcement action: `deny` an error, `warn` a warning, `dryrun` info.

use regorus::{Engine, Value};
use serde::Deserialize;
use serde_json::{Value as Json, json};
use vf_kube::Cluster;

use crate::constraint_match::Match;
use crate::settings::{ReviewStyle, Settings, Source};
use crate::{Doc, Finding, Rule, Severity};

pub struct Gatekeeper {
    templates: Vec<Template>,
    constraints: Vec<Constraint>,
}

struct Template {
    kind: String,
    file: String,
    engine: Engine,
    /// `data.<package>.violation`.
    query: String,
    /// Whether its code reads `data.inventory` (else the release is not copied into it).
    reads_inventory: bool,
}

struct Constraint {
    name: String,
    kind: String,
    file: String,
    template: usize,
    /// `None`: not enforced where vf-post runs (scoped to other enforcement points).
    severity: Option<Severity>,
    matcher: Match,
    parameters: Json,
}

const TARGET: &str = "admission.k8s.gatekeeper.sh";

fn str_at<'a>(object: &'a Json, pointer: &str) -> &'a str {
    object
        .pointer(pointer)
        .and_then(Json::as_str)
        .unwrap_or_default()
}

impl Gatekeeper {
    pub fn load(templates: &[Source], constraints: &[Source]) -> Result<Gatekeeper, String> {
        let templates = templates
            .iter()
            .map(Template::load)
            .collect::<Result<Vec<_>, _>>()?;
        let mut loaded: Vec<Constraint> = Vec::new();
        for source in constraints {
            let c = Constraint::load(source, &templates)?;
            if let Some(other) = loaded.iter().find(|o| o.name == c.name) {
                return Err(format!(
                    "{}: constraint {} {:?} has the name of {} {:?} ({}): the name is its rule id",
                    c.file, c.kind, c.name, other.kind, other.name, other.file
                ));
            }
            loaded.push(c);
        }
        Ok(Gatekeeper {
            templates,
            constraints: loaded,
        })
    }

    pub fn rules(&self) -> Vec<Rule> {
        self.constraints
            .iter()
            .filter_map(|c| {
                Some(Rule {
                    id: c.name.clone(),
                    summary: format!(
                        "{} {} ({}; template {})",
                        c.kind, c.name, c.file, self.templates[c.template].file
                    ),
                    severity: c.severity?,
                })
            })
            .collect()
    }

    pub fn evaluate(
        &mut self,
        settings: &Settings,
        docs: &[Doc],
        wanted: &dyn Fn(&str) -> bool,
        findings: &mut Vec<Finding>,
    ) -> Result<(), String> {
        let active: Vec<usize> = (0..self.constraints.len())
            .filter(|&i| {
                self.constraints[i].severity.is_some() && wanted(&self.constraints[i].name)
            })
            .collect();
        if active.is_empty() {
            return Ok(());
        }
        let mut cluster = Cluster::of(&settings.admission);
        // gator reviews the namespace as written.
        if settings.review == ReviewStyle::Gator {
            cluster.default_namespace.clear();
        }
        for doc in docs {
            cluster.learn(&doc.object);
        }
        // The release copied into `data.inventory` only for templates that read it.
        let mut used: Vec<bool> = vec![false; self.templates.len()];
        for &i in &active {
            used[self.constraints[i].template] = true;
        }
        let reading: Vec<usize> = (0..self.templates.len())
            .filter(|&t| used[t] && self.templates[t].reads_inventory)
            .collect();
        if !reading.is_empty() {
            let inventory = match &settings.inventory {
                Some(objects) => crate::inventory::of(objects.iter(), &cluster, false),
                None => crate::inventory::of(
                    docs.iter().map(|d| &d.object),
                    &cluster,
                    settings.review == ReviewStyle::Release,
                ),
            };
            let data = Value::from(json!({ "inventory": inventory }));
            for t in reading {
                let template = &mut self.templates[t];
                template.engine.clear_data();
                template
                    .engine
                    .add_data(data.clone())
                    .map_err(|e| format!("{}: {e}", template.file))?;
            }
        }
        for doc in docs {
            let Some(target) = cluster.target(&doc.object) else {
                continue;
            };
            // Made for the first constraint that matches, if one does.
            let mut made = None;
            for &i in &active {
                let c = &self.constraints[i];
                if !c.matcher.matches(&target, &doc.object, &cluster) {
                    continue;
                }
                let review = made.get_or_insert_with(|| match (&settings.request, doc.index) {
                    (Some(request), 0) => request_review(request),
                    _ => review(settings, &target, &doc.object, &cluster),
                });
                let template = &mut self.templates[c.template];
                let input = json!({"review": review, "parameters": c.parameters});
                template.engine.set_input(Value::from(input));
                let label = format!("{} (constraint {} {})", template.file, c.kind, c.name);
                let result = crate::conftest::eval(&mut template.engine, &label, &template.query)?;
                let Json::Array(violations) = result else {
                    continue;
                };
                for v in violations {
                    let Some(message) = v.get("msg").and_then(Json::as_str) else {
                        return Err(format!("{label}: a violation without a string `msg`"));
                    };
                    findings.push(Finding {
                        rule: c.name.clone(),
                        severity: c.severity.unwrap_or(Severity::Error),
                        message: message.to_owned(),
                        document: Some(doc.index),
                    });
                }
            }
        }
        Ok(())
    }
}

impl Template {
    fn load(source: &Source) -> Result<Template, String> {
        let object = &source.object;
        let at = |what: &str| {
            format!(
                "{}: ConstraintTemplate {:?}: {what}",
                source.file,
                str_at(object, "/metadata/name")
            )
        };
        let kind = str_at(object, "/spec/crd/spec/names/kind").to_owned();
        if kind.is_empty() {
            return Err(at("spec.crd.spec.names.kind is missing"));
        }
        let targets = object
            .pointer("/spec/targets")
            .and_then(Json::as_array)
            .cloned()
            .unwrap_or_default();
        let [target] = targets.as_slice() else {
            return Err(at("it needs exactly one target"));
        };
        if str_at(target, "/target") != TARGET {
            return Err(at(&format!("its target is not {TARGET}")));
        }
        // `rego` and `libs` on the target, or in the code of engine Rego (version v0 unless
        // the source says v1).
        let code = target
            .get("code")
            .and_then(Json::as_array)
            .and_then(|code| code.iter().find(|c| str_at(c, "/engine") == "Rego"))
            .and_then(|c| c.get("source"));
        let from = code.unwrap_or(target);
        let rego = from.get("rego").and_then(Json::as_str).ok_or_else(|| {
            at("it has no Rego code (vf-post runs the Rego engine of templates; K8sNativeValidation alone is not supported)")
        })?;
        let libs: Vec<&str> = from
            .get("libs")
            .and_then(Json::as_array)
            .map(|l| l.iter().filter_map(Json::as_str).collect())
            .unwrap_or_default();
        let mut engine = Engine::new();
        engine.set_rego_v0(str_at(from, "/version") != "v1");
        let path = format!("{}#{kind}", source.file);
        let package = engine
            .add_policy(path.clone(), rego.to_owned())
            .map_err(|e| at(&crate::shorten(&e.to_string())))?;
        // Gatekeeper refuses a template without the rule it evaluates.
        let declares_violation = engine
            .has_declared_rule_rooted_at(&path, "violation")
            .map_err(|e| at(&crate::shorten(&e.to_string())))?;
        if !declares_violation {
            return Err(at("its Rego declares no `violation` rule"));
        }
        for (i, lib) in libs.iter().enumerate() {
            engine
                .add_policy(format!("{path}/libs/{i}"), (*lib).to_owned())
                .map_err(|e| at(&format!("lib {i}: {}", crate::shorten(&e.to_string()))))?;
        }
        Ok(Template {
            kind,
            file: source.file.clone(),
            engine,
            query: format!("{package}.violation"),
            reads_inventory: std::iter::once(rego)
                .chain(libs.iter().copied())
                .any(|code| code.contains("inventory")),
        })
    }
}

/// `spec` of a constraint, as far as the Rego driver reads it.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Spec {
    #[serde(default)]
    enforcement_action: Option<String>,
    #[serde(default)]
    scoped_enforcement_actions: Vec<Scoped>,
    #[serde(default, rename = "match")]
    matcher: Option<Match>,
    #[serde(default)]
    parameters: Option<Json>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Scoped {
    action: String,
    #[serde(default)]
    enforcement_points: Vec<Point>,
}

#[derive(Deserialize)]
struct Point {
    name: String,
}

/// Where vf-post enforces: at render time, as gator does, and in place of the cluster's
/// admission webhook, which the release meets next.
const POINTS: &[&str] = &[
    "*",
    "gator.gatekeeper.sh",
    "validation.gatekeeper.sh",
    "vf-post.virtufin.io",
];

impl Constraint {
    fn load(source: &Source, templates: &[Template]) -> Result<Constraint, String> {
        let object = &source.object;
        let kind = str_at(object, "/kind").to_owned();
        let name = str_at(object, "/metadata/name").to_owned();
        let at = |what: &str| format!("{}: constraint {kind} {name:?}: {what}", source.file);
        if name.is_empty() {
            return Err(at("metadata.name is missing"));
        }
        let template = templates
            .iter()
            .position(|t| t.kind == kind)
            .ok_or_else(|| at("no ConstraintTemplate declares its kind"))?;
        let spec: Spec = match object.get("spec") {
            Some(spec) => serde_json::from_value(spec.clone()).map_err(|e| at(&e.to_string()))?,
            None => Spec::default(),
        };
        let action = |a: &str| match a.to_ascii_lowercase().as_str() {
            "deny" => Ok(Severity::Error),
            "warn" => Ok(Severity::Warning),
            "dryrun" => Ok(Severity::Info),
            other => Err(at(&format!("unknown enforcement action {other:?}"))),
        };
        // Gatekeeper reads an empty action as the default.
        let severity = match spec
            .enforcement_action
            .as_deref()
            .filter(|a| !a.is_empty())
            .unwrap_or("deny")
        {
            "scoped" => {
                let mut worst = None;
                for s in &spec.scoped_enforcement_actions {
                    if s.enforcement_points
                        .iter()
                        .any(|p| POINTS.contains(&p.name.as_str()))
                    {
                        let this = action(&s.action)?;
                        worst = Some(worst.map_or(this, |w: Severity| rank_max(w, this)));
                    }
                }
                worst
            }
            a => Some(action(a)?),
        };
        let matcher = spec.matcher.unwrap_or_default();
        matcher.check().map_err(|e| at(&e))?;
        Ok(Constraint {
            name,
            kind,
            file: source.file.clone(),
            template,
            severity,
            matcher,
            parameters: spec.parameters.unwrap_or_else(|| json!({})),
        })
    }
}

fn rank_max(a: Severity, b: Severity) -> Severity {
    let rank = |s: Severity| s as u8;
    if rank(a) >= rank(b) { a } else { b }
}

/// `input.review` for an object: the admission request, as vf-post presents the release (a
/// CREATE by the configured user, the object as the API server admits it, with
/// `namespaceObject`) or as gator reviews a bare object.
fn review(settings: &Settings, target: &vf_kube::Target, object: &Json, cluster: &Cluster) -> Json {
    let object = match settings.review {
        ReviewStyle::Release => admitted(object, target),
        ReviewStyle::Gator => object.clone(),
    };
    let mut review = json!({
        "uid": "",
        "kind": {"group": target.group, "version": target.version, "kind": target.kind},
        "name": target.name,
        "object": object,
    });
    match settings.review {
        ReviewStyle::Release => {
            let namespace = cluster.namespace_object(target);
            if !namespace.is_null() {
                review["namespaceObject"] = namespace;
            }
            review["resource"] = json!({"group": target.group, "version": target.version, "resource": target.resources[0]});
            review["operation"] = json!("CREATE");
            review["userInfo"] = json!({
                "username": settings.admission.user_info.username,
                "uid": settings.admission.user_info.uid,
                "groups": settings.admission.user_info.groups,
            });
            if !target.namespace.is_empty() {
                review["namespace"] = json!(target.namespace);
            }
        }
        ReviewStyle::Gator => {
            review["resource"] = json!({"group": "", "version": "", "resource": ""});
            review["operation"] = json!("");
            review["userInfo"] = json!({});
            let written = str_at(&object, "/metadata/namespace");
            if !written.is_empty() {
                review["namespace"] = json!(written);
            }
        }
    }
    review
}

/// `input.review` from an AdmissionReview's request: as given, the old object under review on
/// a DELETE (Gatekeeper's `setObjectOnDelete`).
/// The object as the API server admits a CREATE of it: `metadata.namespace` set to the
/// namespace it goes to (Helm's for objects that name none), cleared for cluster-scoped kinds.
pub(crate) fn admitted(object: &Json, target: &vf_kube::Target) -> Json {
    let mut object = object.clone();
    if let Some(metadata) = object.get_mut("metadata").and_then(Json::as_object_mut) {
        if target.namespace.is_empty() {
            if target.namespaced == Some(false) {
                metadata.remove("namespace");
            }
        } else {
            metadata.insert("namespace".into(), Json::String(target.namespace.clone()));
        }
    }
    object
}

fn request_review(request: &Json) -> Json {
    let mut review = request.clone();
    if str_at(request, "/operation") == "DELETE"
        && let Some(old) = request.get("oldObject").cloned()
    {
        review["object"] = old;
    }
    review
}
