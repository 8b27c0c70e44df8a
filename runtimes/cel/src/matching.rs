//! Which objects of the release a policy and its binding apply to, as the API server decides
//! for a CREATE of each: resource rules (resources by their plural names, as the API serves
//! them), scope, names, namespace and object label selectors. What an object is to the API
//! server (its target) is vf-kube's, shared with the Rego runtime.

use kube_cel::cel::common::types::{CelMap, CelMapKey, CelString};
use kube_cel::cel::common::value::Val;
pub use vf_kube::{Cluster, Named, Target, check_selector, selects};

use crate::api::{MatchResources, ResourceRule};

/// [`Cluster::target`] of an object read straight into CEL's values.
pub fn target_of_val(cluster: &Cluster, object: &dyn Val) -> Option<Target> {
    fn field<'v>(v: &'v dyn Val, name: &str) -> Option<&'v dyn Val> {
        v.downcast_ref::<CelMap>()?.field(name)
    }
    fn string(v: Option<&dyn Val>) -> Option<&str> {
        v?.downcast_ref::<CelString>().map(|s| s.inner())
    }
    let metadata = field(object, "metadata");
    let labels = metadata
        .filter(|_| !cluster.no_object_selectors)
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
    cluster.target_named(Named {
        api: string(field(object, "apiVersion"))?,
        kind: string(field(object, "kind"))?,
        name: at("name"),
        namespace: at("namespace"),
        labels,
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::LabelSelector;
    use serde_json::{Value as Json, json};

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
        assert_eq!(vf_kube::guess_resource("NetworkPolicy"), "networkpolicies");
        assert_eq!(vf_kube::guess_resource("Ingress"), "ingresses");
        assert_eq!(vf_kube::guess_resource("Resiliency"), "resiliencies");
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
                target_of_val(&cluster, value.as_ref()),
                cluster.target(&object),
                "{object}"
            );
        }
    }
}
