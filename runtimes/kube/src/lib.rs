//! What vf-post's policy runtimes know of a Kubernetes cluster from the release and the
//! configuration, shared by the CEL and Rego runtimes: how an admission request names an
//! object (group, version, kind, resource, scope, namespace), the release's namespaces and
//! custom resources, label selectors as apimachinery reads them, and how vf-post presents
//! the release to admission (a CREATE by a configured user into Helm's namespace).

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;
use serde_json::Value as Json;

mod admission;
pub use admission::{Admission, UserInfo};

/// The object being admitted, as an admission request names it.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub group: String,
    pub version: String,
    pub kind: String,
    /// The resource's plural name; for a kind of a group neither built in nor defined by the
    /// release, every plural the cluster could serve it as (its CRD decides, and is not here).
    pub resources: Vec<String>,
    /// Whether the resource is namespaced; `None` where its CRD is not in the release.
    pub namespaced: Option<bool>,
    pub name: String,
    /// Empty for cluster-scoped objects.
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
}

/// What vf-post knows of the cluster from the release and the configuration: namespaces and
/// their labels, and the custom resources the release defines.
#[derive(Debug, Default)]
pub struct Cluster {
    /// The namespace objects without `metadata.namespace` go to (Helm's `--namespace`).
    pub default_namespace: String,
    /// Labels of namespaces, by name: the release's Namespace objects, then the configuration.
    pub namespace_labels: HashMap<String, BTreeMap<String, String>>,
    /// The release's Namespace objects, by name (`namespaceObject`).
    pub namespace_objects: HashMap<String, Json>,
    /// Custom resources the release defines: (group, kind) → (plural, namespaced).
    pub custom: HashMap<(String, String), (String, bool)>,
    /// Whether no policy or binding selects objects by label: [`Cluster::target_of_val`]
    /// then leaves `labels` out (a Namespace, judged by its own labels, is read as JSON).
    pub no_object_selectors: bool,
}

impl Cluster {
    /// What the configuration says of the cluster: Helm's namespace, and the labels of
    /// namespaces the release does not create.
    pub fn of(admission: &Admission) -> Cluster {
        Cluster {
            default_namespace: admission.namespace.clone(),
            namespace_labels: admission
                .namespace_labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            ..Cluster::default()
        }
    }

    /// Learns namespaces and custom resource definitions from the release's objects.
    pub fn learn(&mut self, object: &Json) {
        let kind = object
            .get("kind")
            .and_then(Json::as_str)
            .unwrap_or_default();
        let api = object
            .get("apiVersion")
            .and_then(Json::as_str)
            .unwrap_or_default();
        let name = str_at(object, &["metadata", "name"]);
        match (api, kind) {
            ("v1", "Namespace") if !name.is_empty() => {
                self.namespace_labels
                    .insert(name.to_owned(), labels_of(object));
                self.namespace_objects
                    .insert(name.to_owned(), object.clone());
            }
            ("apiextensions.k8s.io/v1", "CustomResourceDefinition") => {
                let group = str_at(object, &["spec", "group"]);
                let kind = str_at(object, &["spec", "names", "kind"]);
                let plural = str_at(object, &["spec", "names", "plural"]);
                let namespaced = str_at(object, &["spec", "scope"]) != "Cluster";
                if !kind.is_empty() && !plural.is_empty() {
                    self.custom.insert(
                        (group.to_owned(), kind.to_owned()),
                        (plural.to_owned(), namespaced),
                    );
                }
            }
            _ => {}
        }
    }

    /// The object as an admission request names it; `None` without apiVersion or kind.
    pub fn target(&self, object: &Json) -> Option<Target> {
        self.target_named(Named {
            api: object.get("apiVersion")?.as_str()?,
            kind: object.get("kind")?.as_str()?,
            name: str_at(object, &["metadata", "name"]),
            namespace: str_at(object, &["metadata", "namespace"]),
            labels: labels_of(object),
        })
    }

    /// [`Cluster::target`] of what an admission request names of an object.
    pub fn target_named(&self, object: Named<'_>) -> Option<Target> {
        let api = object.api;
        let kind = object.kind.to_owned();
        let (group, version) = match api.split_once('/') {
            Some((g, v)) => (g.to_owned(), v.to_owned()),
            None => (String::new(), api.to_owned()),
        };
        // A built-in group's kinds are the API server's own: a CRD cannot redefine them.
        let custom = (!BUILTIN_GROUPS.contains(&group.as_str()))
            .then(|| self.custom.get(&(group.clone(), kind.clone())))
            .flatten();
        let (resources, namespaced) = match custom {
            Some((plural, namespaced)) => (vec![plural.clone()], Some(*namespaced)),
            None if BUILTIN_GROUPS.contains(&group.as_str()) => (
                vec![builtin_resource(&group, &kind)],
                Some(!CLUSTER_KINDS.contains(&kind.as_str())),
            ),
            None => (plurals(&kind), None),
        };
        // The API server clears metadata.namespace of a cluster-scoped object.
        let namespace = if namespaced == Some(false) {
            String::new()
        } else {
            match object.namespace {
                "" => self.default_namespace.clone(),
                ns => ns.to_owned(),
            }
        };
        Some(Target {
            group,
            version,
            kind,
            resources,
            namespaced,
            name: object.name.to_owned(),
            namespace,
            labels: object.labels,
        })
    }

    /// The labels of the namespace an object is in: the release's or the configuration's,
    /// with `kubernetes.io/metadata.name`, which the API server sets on every namespace.
    pub fn labels_of_namespace(&self, name: &str) -> BTreeMap<String, String> {
        let mut labels = self.namespace_labels.get(name).cloned().unwrap_or_default();
        labels.insert("kubernetes.io/metadata.name".into(), name.to_owned());
        labels
    }

    /// `namespaceObject`: the release's Namespace, or one made of the known labels; null for
    /// cluster-scoped objects.
    pub fn namespace_object(&self, target: &Target) -> Json {
        if target.namespace.is_empty() {
            return Json::Null;
        }
        if let Some(ns) = self.namespace_objects.get(&target.namespace) {
            return ns.clone();
        }
        serde_json::json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": target.namespace,
                "labels": self.labels_of_namespace(&target.namespace),
            },
        })
    }
}

/// What an admission request names of an object (`metadata` strings empty when missing).
pub struct Named<'a> {
    pub api: &'a str,
    pub kind: &'a str,
    pub name: &'a str,
    pub namespace: &'a str,
    /// String-valued labels.
    pub labels: BTreeMap<String, String>,
}

/// The string at `path`, empty when missing.
pub fn str_at<'a>(object: &'a Json, path: &[&str]) -> &'a str {
    let mut at = object;
    for key in path {
        match at.get(key) {
            Some(next) => at = next,
            None => return "",
        }
    }
    at.as_str().unwrap_or_default()
}

/// The string-valued labels of an object.
pub fn labels_of(object: &Json) -> BTreeMap<String, String> {
    object
        .get("metadata")
        .and_then(|m| m.get("labels"))
        .and_then(Json::as_object)
        .map(|labels| {
            labels
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelSelector {
    #[serde(default)]
    pub match_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub match_expressions: Vec<Requirement>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Requirement {
    pub key: String,
    pub operator: String,
    #[serde(default)]
    pub values: Vec<String>,
}

/// A label selector against labels, as metav1.LabelSelectorAsSelector reads it (checked
/// when the policy loads: see [`check_selector`]).
pub fn selects(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    selector
        .match_labels
        .iter()
        .all(|(k, v)| labels.get(k) == Some(v))
        && selector.match_expressions.iter().all(|r| {
            let value = labels.get(&r.key);
            match r.operator.as_str() {
                "In" => value.is_some_and(|v| r.values.contains(v)),
                "NotIn" => value.is_none_or(|v| !r.values.contains(v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                _ => false,
            }
        })
}

/// A selector the API server would refuse: an unknown operator, values where none belong or
/// none where they must be.
pub fn check_selector(selector: &LabelSelector) -> Result<(), String> {
    for r in &selector.match_expressions {
        match r.operator.as_str() {
            "In" | "NotIn" if r.values.is_empty() => {
                return Err(format!(
                    "operator {} on `{}` needs values",
                    r.operator, r.key
                ));
            }
            "Exists" | "DoesNotExist" if !r.values.is_empty() => {
                return Err(format!(
                    "operator {} on `{}` takes no values",
                    r.operator, r.key
                ));
            }
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => return Err(format!("unknown operator {other:?} on `{}`", r.key)),
        }
    }
    Ok(())
}

/// apimachinery's `UnsafeGuessKindToResource`: the lower-cased kind, pluralized.
pub fn guess_resource(kind: &str) -> String {
    let singular = kind.to_ascii_lowercase();
    if singular.ends_with('s') {
        format!("{singular}es")
    } else if let Some(stem) = singular.strip_suffix('y') {
        format!("{stem}ies")
    } else {
        format!("{singular}s")
    }
}

/// The plurals a CRD could give a kind vf-post has no definition of: apimachinery's guess,
/// English after a vowel's `y` (`gateways`, not `gatewaies`), and a plain `s`.
fn plurals(kind: &str) -> Vec<String> {
    let singular = kind.to_ascii_lowercase();
    let mut out = vec![guess_resource(kind), format!("{singular}s")];
    out.dedup();
    out
}

/// The resource of a built-in kind.
fn builtin_resource(group: &str, kind: &str) -> String {
    match (group, kind) {
        ("", "Endpoints") => "endpoints".into(),
        ("", "ComponentStatus") => "componentstatuses".into(),
        _ => guess_resource(kind),
    }
}

/// The API groups Kubernetes itself serves.
const BUILTIN_GROUPS: &[&str] = &[
    "",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "apiregistration.k8s.io",
    "apps",
    "authentication.k8s.io",
    "authorization.k8s.io",
    "autoscaling",
    "batch",
    "certificates.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
    "events.k8s.io",
    "flowcontrol.apiserver.k8s.io",
    "internal.apiserver.k8s.io",
    "networking.k8s.io",
    "node.k8s.io",
    "policy",
    "rbac.authorization.k8s.io",
    "resource.k8s.io",
    "scheduling.k8s.io",
    "storage.k8s.io",
    "storagemigration.k8s.io",
];

/// Cluster-scoped kinds of the built-in API (and Dapr's none): everything else is namespaced.
const CLUSTER_KINDS: &[&str] = &[
    "Namespace",
    "Node",
    "PersistentVolume",
    "ComponentStatus",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "StorageClass",
    "CSIDriver",
    "CSINode",
    "VolumeAttachment",
    "PriorityClass",
    "RuntimeClass",
    "IngressClass",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "MutatingAdmissionPolicy",
    "MutatingAdmissionPolicyBinding",
    "APIService",
    "CertificateSigningRequest",
    "ClusterTrustBundle",
    "FlowSchema",
    "PriorityLevelConfiguration",
    "DeviceClass",
    "IPAddress",
    "ServiceCIDR",
    "VolumeAttributesClass",
    "ResourceSlice",
    "StorageVersionMigration",
    "StorageVersion",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_read_as_apimachinery_reads_them() {
        let labels: BTreeMap<String, String> = [("a".to_owned(), "1".to_owned())].into();
        let req = |op: &str, values: &[&str]| LabelSelector {
            match_expressions: vec![Requirement {
                key: "b".into(),
                operator: op.into(),
                values: values.iter().map(|s| (*s).to_owned()).collect(),
            }],
            ..Default::default()
        };
        assert!(selects(&req("NotIn", &["x"]), &labels));
        assert!(selects(&req("DoesNotExist", &[]), &labels));
        assert!(!selects(&req("In", &["x"]), &labels));
        assert!(check_selector(&req("In", &[])).is_err());
        assert!(check_selector(&req("Near", &["x"])).is_err());
    }
}
