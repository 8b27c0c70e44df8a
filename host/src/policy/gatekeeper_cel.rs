//! Gatekeeper ConstraintTemplates whose code is CEL only (engine `K8sNativeValidation`), run
//! as Gatekeeper runs them in a cluster: as a ValidatingAdmissionPolicy with the constraint as
//! its parameter (Gatekeeper's pkg/drivers/k8scel/transform), in vf-post's CEL runtime. Each
//! constraint becomes a policy and binding of its own name (the rule id, as for Rego
//! constraints): the template's match conditions, variables and validations, Gatekeeper's
//! variables `anyObject` and `params`, and Gatekeeper's match conditions for the constraint's
//! `match` (kinds, name, namespaces, excluded namespaces; label and namespace selectors in the
//! binding). Templates with Rego code run in the Rego runtime (rego.rs).

use anyhow::{Result, anyhow, bail};
use serde_json::{Value, json};

use super::files::{Source, is_gatekeeper};

/// Whether a ConstraintTemplate has CEL code and no Rego.
pub fn cel_only(template: &Value) -> bool {
    let Some([target]) = template
        .pointer("/spec/targets")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
    else {
        return false;
    };
    let engines: Vec<&str> = target
        .get("code")
        .and_then(Value::as_array)
        .map(|code| {
            code.iter()
                .filter_map(|c| c.get("engine")?.as_str())
                .collect()
        })
        .unwrap_or_default();
    target.get("rego").is_none()
        && !engines.contains(&"Rego")
        && engines.contains(&"K8sNativeValidation")
}

fn is_template(object: &Value) -> bool {
    object.get("kind").and_then(Value::as_str) == Some("ConstraintTemplate")
}

fn kind_of_template(template: &Value) -> &str {
    template
        .pointer("/spec/crd/spec/names/kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// The kinds of the CEL-only templates among `objects`.
pub fn cel_kinds(objects: &[Source]) -> Vec<String> {
    objects
        .iter()
        .filter(|s| is_gatekeeper(&s.object) && is_template(&s.object) && cel_only(&s.object))
        .map(|s| kind_of_template(&s.object).to_owned())
        .collect()
}

/// Gatekeeper's match conditions for a constraint's `match`, over `params` (the constraint).
const MATCHERS: &[(&str, &str)] = &[
    (
        "gatekeeper_internal_match_excluded_namespaces",
        r#"!has(params.spec) ? true : (!has(params.spec.match) ? true : (!has(params.spec.match.excludedNamespaces) ? true : ([object, oldObject].exists(obj, obj != null && (!has(obj.metadata.namespace) || obj.metadata.namespace == "" ? true : (!params.spec.match.excludedNamespaces.exists(nsMatcher, (string(obj.metadata.namespace).matches("^" + string(nsMatcher).replace("*", ".*") + "$")))))))))"#,
    ),
    (
        "gatekeeper_internal_match_namespaces",
        r#"!has(params.spec) ? true : (!has(params.spec.match) ? true : (!has(params.spec.match.namespaces) ? true : ([object, oldObject].exists(obj, obj != null && (!has(obj.metadata.namespace) || obj.metadata.namespace == "" ? true : (params.spec.match.namespaces.exists(nsMatcher, (string(obj.metadata.namespace).matches("^" + string(nsMatcher).replace("*", ".*") + "$")))))))))"#,
    ),
    (
        "gatekeeper_internal_match_name",
        r#"!has(params.spec) ? true : (!has(params.spec.match) ? true : (!has(params.spec.match.name) ? true : ([object, oldObject].exists(obj, obj != null && ((has(obj.metadata.generateName) && obj.metadata.generateName != "" && params.spec.match.name.endsWith("*") && string(obj.metadata.generateName).matches("^" + string(params.spec.match.name).replace("*", ".*") + "$")) || (has(obj.metadata.name) && string(obj.metadata.name).matches("^" + string(params.spec.match.name).replace("*", ".*") + "$")))))))"#,
    ),
    (
        "gatekeeper_internal_match_kinds",
        r#"!has(params.spec) ? true : (!has(params.spec.match) ? true : (!has(params.spec.match.kinds) ? true : (params.spec.match.kinds.exists(groupskinds, (!has(groupskinds.kinds) || size(groupskinds.kinds) == 0 || "*" in groupskinds.kinds || request.kind.kind in groupskinds.kinds) && (!has(groupskinds.apiGroups) || size(groupskinds.apiGroups) == 0 || "*" in groupskinds.apiGroups || request.kind.group in groupskinds.apiGroups)))))"#,
    ),
];

/// Where vf-post enforces scoped actions (as for Rego constraints, runtimes/rego).
const POINTS: &[&str] = &[
    "*",
    "gator.gatekeeper.sh",
    "validation.gatekeeper.sh",
    "vf-post.virtufin.io",
];

/// The admission objects (policies, bindings, the constraints as their parameters) for the
/// CEL-only templates among `objects` and their constraints.
pub fn admission_objects(objects: &[Source]) -> Result<Vec<Source>> {
    let templates: Vec<&Source> = objects
        .iter()
        .filter(|s| is_gatekeeper(&s.object) && is_template(&s.object) && cel_only(&s.object))
        .collect();
    let mut out = Vec::new();
    for constraint in objects
        .iter()
        .filter(|s| is_gatekeeper(&s.object) && !is_template(&s.object))
    {
        let object = &constraint.object;
        let kind = object
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let Some(template) = templates
            .iter()
            .find(|t| kind_of_template(&t.object) == kind)
        else {
            continue;
        };
        let name = object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let at = |what: &str| anyhow!("{}: constraint {kind} {name:?}: {what}", constraint.file);
        let source = template.object["spec"]["targets"][0]["code"]
            .as_array()
            .and_then(|code| code.iter().find(|c| c["engine"] == "K8sNativeValidation"))
            .map(|c| c["source"].clone())
            .unwrap_or(Value::Null);
        let list = |key: &str| {
            source
                .get(key)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        let Some(actions) = actions(object).map_err(|e| at(&e))? else {
            continue;
        };
        let mut conditions = list("matchConditions");
        conditions.extend(
            MATCHERS
                .iter()
                .map(|(n, e)| json!({"name": n, "expression": e})),
        );
        let mut variables = vec![
            json!({"name": "anyObject", "expression": r#"has(request.operation) && request.operation == "DELETE" && object == null ? oldObject : object"#}),
            json!({"name": "params", "expression": "!has(params.spec) ? null : !has(params.spec.parameters) ? null: params.spec.parameters"}),
        ];
        variables.extend(list("variables"));
        let api_version = object.get("apiVersion").cloned().unwrap_or(Value::Null);
        let policy = json!({
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": name, "annotations": {
                "vf-post.virtufin.io/hint": format!("change the object so that constraint {kind} {name} ({}) admits it", constraint.file),
            }},
            "spec": {
                "failurePolicy": source.get("failurePolicy").cloned().unwrap_or(json!("Fail")),
                "paramKind": {"apiVersion": api_version, "kind": kind},
                "matchConstraints": {"resourceRules": [{"apiGroups": ["*"], "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"], "resources": ["*"]}]},
                "matchConditions": conditions,
                "variables": variables,
                "validations": list("validations"),
            },
        });
        let mut resources = serde_json::Map::new();
        for (from, to) in [
            ("labelSelector", "objectSelector"),
            ("namespaceSelector", "namespaceSelector"),
        ] {
            if let Some(selector) = object.pointer(&format!("/spec/match/{from}")) {
                resources.insert(to.into(), selector.clone());
            }
        }
        let binding = json!({
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": name},
            "spec": {
                "policyName": name,
                "paramRef": {"name": name, "parameterNotFoundAction": "Deny"},
                "matchResources": resources,
                "validationActions": actions,
            },
        });
        let file = format!(
            "{} (as Gatekeeper runs its CEL: template {})",
            constraint.file, template.file
        );
        for object in [policy, binding, object.clone()] {
            out.push(Source {
                file: file.clone(),
                object,
            });
        }
    }
    Ok(out)
}

/// A constraint's enforcement action as validation actions; `None` when it is scoped to
/// other enforcement points only.
fn actions(constraint: &Value) -> std::result::Result<Option<Vec<&'static str>>, String> {
    let one = |a: &str| match a.to_ascii_lowercase().as_str() {
        "deny" => Ok("Deny"),
        "warn" => Ok("Warn"),
        "dryrun" => Ok("Audit"),
        other => Err(format!("unknown enforcement action {other:?}")),
    };
    let action = constraint
        .pointer("/spec/enforcementAction")
        .and_then(Value::as_str)
        .filter(|a| !a.is_empty())
        .unwrap_or("deny");
    if action != "scoped" {
        return Ok(Some(vec![one(action)?]));
    }
    let mut out = Vec::new();
    for scoped in constraint
        .pointer("/spec/scopedEnforcementActions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let here = scoped["enforcementPoints"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| p["name"].as_str().is_some_and(|n| POINTS.contains(&n)));
        if here {
            let action = one(scoped["action"].as_str().unwrap_or_default())?;
            if !out.contains(&action) {
                out.push(action);
            }
        }
    }
    Ok((!out.is_empty()).then_some(out))
}

/// A CEL-only template no constraint uses is fine; one `vf-post test` cannot run is refused.
pub fn refuse_in_tests(template: &Value) -> Result<()> {
    if cel_only(template) {
        bail!(
            "template {} has only CEL code (K8sNativeValidation): vf-post test runs the Rego engine of templates; lint and render run its CEL",
            kind_of_template(template)
        );
    }
    Ok(())
}
