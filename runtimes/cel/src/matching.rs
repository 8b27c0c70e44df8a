//! Which objects of the release a policy and its binding apply to, as the API server decides
//! for a CREATE of each: resource rules (resources by their plural names, as the API serves
//! them), scope, names, namespace and object label selectors.

use std::collections::{BTreeMap, HashMap};

use kube_cel::cel::common::types::{CelMap, CelMapKey, CelString};
use kube_cel::cel::common::value::Val;
use serde_json::Value as Json;

use crate::api::{LabelSelector, MatchResources, ResourceRule};

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

    /// [`Cluster::target`] of an object read straight into CEL's values.
    pub fn target_of_val(&self, object: &dyn Val) -> Option<Target> {
        fn field<'v>(v: &'v dyn Val, name: &str) -> Option<&'v dyn Val> {
            v.downcast_ref::<CelMap>()?.field(name)
        }
        fn string(v: Option<&dyn Val>) -> Option<&str> {
            v?.downcast_ref::<CelString>().map(|s| s.inner())
        }
        let metadata = field(object, "metadata");
        let labels = metadata
            .filter(|_| !self.no_object_selectors)
            .and_then(|m| field(m, "labels"))
            .and_then(|l| l.downcast_ref::<CelMap>())
            .map(|labels| {
                labels
                    .inner()
                    .iter()
                    .filter_map(|(k, v)| {
                        let CelMapKey::String(k) = k else {
                            return None;
                        };
                        Some((k.inner().to_owned(), string(Some(v.as_ref()))?.to_owned()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let at = |name| string(metadata.and_then(|m| field(m, name))).unwrap_or_default();
        self.target_named(Named {
            api: string(field(object, "apiVersion"))?,
            kind: string(field(object, "kind"))?,
            name: at("name"),
            namespace: at("namespace"),
            labels,
        })
    }

    fn target_named(&self, object: Named<'_>) -> Option<Target> {
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
struct Named<'a> {
    api: &'a str,
    kind: &'a str,
    name: &'a str,
    namespace: &'a str,
    /// String-valued labels.
    labels: BTreeMap<String, String>,
}

fn str_at<'a>(object: &'a Json, path: &[&str]) -> &'a str {
    let mut at = object;
    for key in path {
        match at.get(key) {
            Some(next) => at = next,
            None => return "",
        }
    }
    at.as_str().unwrap_or_default()
}

fn labels_of(object: &Json) -> BTreeMap<String, String> {
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

/// Whether `constraints` select `target`: some resource rule matches and no exclusion does,
/// and both selectors match. A binding's `matchResources` without rules does not constrain
/// resources (`rules_required: false`).
pub fn matches(
    constraints: &MatchResources,
    target: &Target,
    cluster: &Cluster,
    rules_required: bool,
) -> bool {
    let equivalent = constraints.match_policy.as_deref() != Some("Exact");
    let rule_matches = |rule: &ResourceRule| rule_matches(rule, target, equivalent);
    if (rules_required || !constraints.resource_rules.is_empty())
        && !constraints.resource_rules.iter().any(rule_matches)
    {
        return false;
    }
    if constraints.exclude_resource_rules.iter().any(rule_matches) {
        return false;
    }
    if let Some(selector) = &constraints.object_selector
        && !selects(selector, &target.labels)
    {
        return false;
    }
    if let Some(selector) = &constraints.namespace_selector {
        // The API server: a cluster-scoped object that is not a namespace is never exempted;
        // a namespace is judged by its own labels.
        let labels = if target.resources[0] == "namespaces" && target.group.is_empty() {
            let mut own = target.labels.clone();
            own.insert("kubernetes.io/metadata.name".into(), target.name.clone());
            Some(own)
        } else if target.namespace.is_empty() {
            None
        } else {
            Some(cluster.labels_of_namespace(&target.namespace))
        };
        if let Some(labels) = labels
            && !selects(selector, &labels)
        {
            return false;
        }
    }
    true
}

/// One rule against a CREATE of `target`'s main resource. With `matchPolicy: Equivalent`
/// (the default), another version of the same group and resource matches too, as the API
/// server matches equivalent versions it serves.
fn rule_matches(rule: &ResourceRule, target: &Target, equivalent: bool) -> bool {
    let any = |list: &[String], value: &str| list.iter().any(|v| v == "*" || v == value);
    let operation = any(&rule.operations, "CREATE");
    let group = any(&rule.api_groups, &target.group);
    let version = equivalent || any(&rule.api_versions, &target.version);
    // `pods/*` and `*/*` name subresources and, as the API server splits them, the main
    // resource too (`*` matches the empty subresource).
    let resource = rule.resources.iter().any(|r| {
        let (res, sub) = r.split_once('/').unwrap_or((r, ""));
        (res == "*" || target.resources.iter().any(|t| t == res)) && (sub == "*" || sub.is_empty())
    });
    // A resource of unknown scope matches either: passing what the cluster denies is worse
    // than evaluating a policy the cluster would skip.
    let scope = match (rule.scope.as_deref(), target.namespaced) {
        (Some("Cluster"), Some(namespaced)) => !namespaced,
        (Some("Namespaced"), Some(namespaced)) => namespaced,
        _ => true,
    };
    let names = rule.resource_names.is_empty() || rule.resource_names.contains(&target.name);
    operation && group && version && resource && scope && names
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
fn guess_resource(kind: &str) -> String {
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
    use serde_json::json;

    fn rule(resources: &[&str]) -> ResourceRule {
        ResourceRule {
            api_groups: vec!["apps".into()],
            api_versions: vec!["v1".into()],
            operations: vec!["CREATE".into(), "UPDATE".into()],
            resources: resources.iter().map(|s| (*s).to_owned()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn resources_are_plural_names_and_subresource_wildcards_take_the_main_resource() {
        let cluster = Cluster {
            default_namespace: "default".into(),
            ..Default::default()
        };
        let deployment =
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "a"}});
        let target = cluster.target(&deployment).unwrap();
        assert_eq!(target.resources, ["deployments"]);
        assert_eq!(target.namespace, "default");
        for (resources, expected) in [
            (&["deployments"][..], true),
            (&["*"][..], true),
            (&["*/*"][..], true),
            (&["deployments/*"][..], true),
            (&["deployments/status"][..], false),
            (&["statefulsets"][..], false),
        ] {
            assert_eq!(
                rule_matches(&rule(resources), &target, false),
                expected,
                "{resources:?}"
            );
        }
        let mut beta = rule(&["deployments"]);
        beta.api_versions = vec!["v1beta1".into()];
        assert!(!rule_matches(&beta, &target, false));
        assert!(rule_matches(&beta, &target, true));
        let mut delete_only = rule(&["deployments"]);
        delete_only.operations = vec!["DELETE".into()];
        assert!(!rule_matches(&delete_only, &target, true));
    }

    #[test]
    fn plurals_follow_apimachinery_and_the_release_crds() {
        assert_eq!(guess_resource("NetworkPolicy"), "networkpolicies");
        assert_eq!(guess_resource("Ingress"), "ingresses");
        assert_eq!(guess_resource("Resiliency"), "resiliencies");
        let mut cluster = Cluster::default();
        cluster.learn(&json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "octopi.example.com"},
            "spec": {"group": "example.com", "scope": "Cluster", "names": {"kind": "Octopus", "plural": "octopi"}}
        }));
        let octopus =
            json!({"apiVersion": "example.com/v1", "kind": "Octopus", "metadata": {"name": "o"}});
        let target = cluster.target(&octopus).unwrap();
        assert_eq!(
            (target.resources.as_slice(), target.namespaced),
            (&["octopi".to_owned()][..], Some(false))
        );
        // No CRD in the release: every plural the cluster could use, scope unknown.
        let gateway = json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway", "metadata": {"name": "g"}});
        let target = cluster.target(&gateway).unwrap();
        assert_eq!(target.resources, ["gatewaies", "gateways"]);
        assert_eq!(target.namespaced, None);
        let mut cluster_scoped = rule(&["gateways"]);
        cluster_scoped.api_groups = vec!["*".into()];
        cluster_scoped.scope = Some("Cluster".into());
        assert!(rule_matches(&cluster_scoped, &target, true));
        // A CRD cannot redefine a built-in kind; a cluster-scoped object has no namespace,
        // whatever its metadata says.
        cluster.learn(&json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "shadows.rbac.authorization.k8s.io"},
            "spec": {"group": "rbac.authorization.k8s.io", "scope": "Namespaced", "names": {"kind": "ClusterRole", "plural": "shadows"}}
        }));
        let role = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "r", "namespace": "virtufin"}});
        let target = cluster.target(&role).unwrap();
        assert_eq!(
            (target.resources.as_slice(), target.namespaced),
            (&["clusterroles".to_owned()][..], Some(false))
        );
        assert_eq!(target.namespace, "");
    }

    #[test]
    fn namespace_selectors_read_the_namespace_and_spare_cluster_objects() {
        let mut cluster = Cluster {
            default_namespace: "default".into(),
            ..Default::default()
        };
        cluster.learn(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod", "labels": {"env": "prod"}}}));
        let constraints = MatchResources {
            namespace_selector: Some(LabelSelector {
                match_labels: [("env".to_owned(), "prod".to_owned())].into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let in_prod = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "prod"}});
        let in_default =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}});
        let cluster_role = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "r"}});
        let check = |o: &Json| matches(&constraints, &cluster.target(o).unwrap(), &cluster, false);
        assert!(check(&in_prod));
        assert!(!check(&in_default));
        assert!(check(&cluster_role));
    }

    /// An object read straight into CEL's values is named as its JSON is.
    #[test]
    fn targets_of_values_equal_targets_of_json() {
        let mut cluster = Cluster {
            default_namespace: "shop".into(),
            ..Cluster::default()
        };
        cluster.learn(&json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "gizmos.example.com"}, "spec": {"group": "example.com", "names": {"kind": "Widget", "plural": "gizmos"}, "scope": "Cluster"}}));
        for object in [
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"a": "b", "n": 1, "m": null}}}),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "ns", "labels": []}}),
            json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "x"}}),
            json!({"apiVersion": "example.com/v1", "kind": "Other", "metadata": 3}),
            json!({"apiVersion": "v1", "kind": 7}),
            json!({"kind": "Pod"}),
            json!([1]),
        ] {
            let value = crate::value::parse_val(&object.to_string()).unwrap();
            assert_eq!(
                cluster.target_of_val(value.as_ref()),
                cluster.target(&object),
                "{object}"
            );
        }
    }

    #[test]
    fn selectors_read_as_apimachinery_reads_them() {
        let labels: BTreeMap<String, String> = [("a".to_owned(), "1".to_owned())].into();
        let req = |op: &str, values: &[&str]| LabelSelector {
            match_expressions: vec![crate::api::Requirement {
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
