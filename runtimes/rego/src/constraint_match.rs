//! A constraint's `spec.match`, as Gatekeeper matches an object (pkg/mutation/match): kinds
//! by API group and kind, namespaces and excluded namespaces (with `prefix*` and `*suffix`
//! wildcards; a Namespace is in itself), label and namespace selectors, scope and name. Every
//! criterion given must hold. Unknown criteria are refused: one ignored would widen or narrow
//! the constraint unseen.

use serde::Deserialize;
use serde_json::Value as Json;
use vf_kube::{Cluster, LabelSelector, Target, check_selector, selects};

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Match {
    #[serde(default)]
    kinds: Vec<Kinds>,
    #[serde(default)]
    namespaces: Vec<String>,
    #[serde(default)]
    excluded_namespaces: Vec<String>,
    #[serde(default)]
    label_selector: Option<LabelSelector>,
    #[serde(default)]
    namespace_selector: Option<LabelSelector>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    name: Option<String>,
    /// `Original`, `Generated` or `All`: vf-post reviews only original objects.
    #[serde(default)]
    source: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Kinds {
    #[serde(default)]
    api_groups: Vec<String>,
    #[serde(default)]
    kinds: Vec<String>,
}

impl Match {
    /// What Gatekeeper would refuse when the constraint is created.
    pub fn check(&self) -> Result<(), String> {
        for selector in [&self.label_selector, &self.namespace_selector]
            .into_iter()
            .flatten()
        {
            check_selector(selector)?;
        }
        match self.scope.as_deref() {
            None | Some("*" | "Cluster" | "Namespaced") => {}
            Some(other) => {
                return Err(format!(
                    "match.scope {other:?} is not *, Cluster or Namespaced"
                ));
            }
        }
        match self.source.as_deref() {
            None | Some("All" | "Original" | "Generated") => Ok(()),
            Some(other) => Err(format!(
                "match.source {other:?} is not All, Original or Generated"
            )),
        }
    }

    /// Whether the constraint applies to the object. A kind whose scope vf-post cannot know
    /// (a custom resource whose definition is not in the release) matches if it would as
    /// either: passing what the cluster denies is worse than checking what it would skip.
    pub fn matches(&self, target: &Target, object: &Json, cluster: &Cluster) -> bool {
        if target.namespaced.is_none() && !target.namespace.is_empty() {
            let cluster_scoped = Target {
                namespace: String::new(),
                ..target.clone()
            };
            return self.matches_as(target, object, cluster)
                || self.matches_as(&cluster_scoped, object, cluster);
        }
        self.matches_as(target, object, cluster)
    }

    fn matches_as(&self, target: &Target, object: &Json, cluster: &Cluster) -> bool {
        let is_namespace = target.kind == "Namespace" && target.group.is_empty();
        // The namespace the object is in; a Namespace is in itself.
        let namespace = if is_namespace {
            target.name.as_str()
        } else {
            target.namespace.as_str()
        };
        let any = |list: &[String], value: &str| list.iter().any(|v| v == "*" || v == value);
        let kinds = self.kinds.is_empty()
            || self.kinds.iter().any(|k| {
                (k.kinds.is_empty() || any(&k.kinds, &target.kind))
                    && (k.api_groups.is_empty() || any(&k.api_groups, &target.group))
            });
        let namespaces = self.namespaces.is_empty()
            || namespace.is_empty()
            || self.namespaces.iter().any(|n| wildcard(n, namespace));
        let excluded = !namespace.is_empty()
            && self
                .excluded_namespaces
                .iter()
                .any(|n| wildcard(n, namespace));
        let labels = self
            .label_selector
            .as_ref()
            .is_none_or(|s| selects(s, &target.labels));
        let namespace_labels = match &self.namespace_selector {
            None => true,
            Some(_) if !is_namespace && namespace.is_empty() => true,
            Some(s) if is_namespace => {
                let mut own = target.labels.clone();
                own.insert("kubernetes.io/metadata.name".into(), target.name.clone());
                selects(s, &own)
            }
            Some(s) => selects(s, &cluster.labels_of_namespace(namespace)),
        };
        let has_namespace = !target.namespace.is_empty();
        let scope = match self.scope.as_deref() {
            Some("Cluster") => is_namespace || !has_namespace,
            Some("Namespaced") => !is_namespace && has_namespace,
            _ => true,
        };
        let generate_name = object
            .pointer("/metadata/generateName")
            .and_then(Json::as_str)
            .unwrap_or_default();
        let name = self.name.as_deref().is_none_or(|n| {
            wildcard(n, &target.name)
                || (!generate_name.is_empty() && n.ends_with('*') && wildcard(n, generate_name))
        });
        let source = self.source.as_deref() != Some("Generated");
        kinds && namespaces && !excluded && labels && namespace_labels && scope && name && source
    }
}

/// Gatekeeper's wildcard (pkg/wildcard): exact, `prefix*`, `*suffix`, or `*infix*`.
fn wildcard(pattern: &str, value: &str) -> bool {
    match (pattern.strip_prefix('*'), pattern.strip_suffix('*')) {
        (Some(rest), Some(_)) if pattern.len() > 1 => {
            value.contains(rest.strip_suffix('*').unwrap_or(rest))
        }
        (Some(suffix), _) => value.ends_with(suffix),
        (None, Some(prefix)) => value.starts_with(prefix),
        (None, None) => pattern == value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(m: Json, object: Json) -> bool {
        let m: Match = serde_json::from_value(m).unwrap();
        let mut cluster = Cluster {
            default_namespace: "apps".into(),
            ..Cluster::default()
        };
        cluster.learn(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod", "labels": {"env": "prod"}}}));
        let target = cluster.target(&object).unwrap();
        m.matches(&target, &object, &cluster)
    }

    #[test]
    fn criteria_match_as_gatekeeper_matches() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-1", "namespace": "kube-system", "labels": {"a": "b"}}});
        assert!(check(
            json!({"kinds": [{"apiGroups": [""], "kinds": ["Pod"]}]}),
            pod.clone()
        ));
        assert!(!check(
            json!({"kinds": [{"apiGroups": ["apps"], "kinds": ["Pod"]}]}),
            pod.clone()
        ));
        assert!(check(
            json!({"kinds": [{"apiGroups": ["*"], "kinds": ["*"]}]}),
            pod.clone()
        ));
        assert!(!check(
            json!({"excludedNamespaces": ["kube-*"]}),
            pod.clone()
        ));
        assert!(check(json!({"namespaces": ["*-system"]}), pod.clone()));
        assert!(!check(json!({"namespaces": ["prod"]}), pod.clone()));
        assert!(check(
            json!({"labelSelector": {"matchLabels": {"a": "b"}}}),
            pod.clone()
        ));
        assert!(!check(
            json!({"namespaceSelector": {"matchLabels": {"env": "prod"}}}),
            pod.clone()
        ));
        assert!(check(json!({"scope": "Namespaced", "name": "web-*"}), pod));
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod", "labels": {"env": "prod"}}});
        assert!(check(
            json!({"namespaces": ["prod"], "scope": "Cluster"}),
            ns.clone()
        ));
        assert!(check(
            json!({"namespaceSelector": {"matchLabels": {"env": "prod"}}}),
            ns
        ));
        let role = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "r"}});
        assert!(check(
            json!({"namespaces": ["prod"], "namespaceSelector": {"matchLabels": {"x": "y"}}}),
            role.clone()
        ));
        assert!(!check(json!({"scope": "Namespaced"}), role));
        // Objects without a namespace are in Helm's.
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        assert!(check(json!({"namespaces": ["apps"]}), cm));
        assert!(serde_json::from_value::<Match>(json!({"kind": []})).is_err());
        // `*infix*`, as Gatekeeper's wildcard reads it.
        let web = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "my-web-config", "namespace": "team-prod-eu"}});
        assert!(check(
            json!({"namespaces": ["*prod*"], "name": "*web*"}),
            web.clone()
        ));
        assert!(!check(json!({"excludedNamespaces": ["*prod*"]}), web));
        // A custom resource of unknown scope matches as either.
        let issuer = json!({"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer", "metadata": {"name": "le"}});
        assert!(check(json!({"scope": "Cluster"}), issuer.clone()));
        assert!(check(json!({"namespaces": ["prod"]}), issuer.clone()));
        assert!(check(
            json!({"scope": "Namespaced", "namespaces": ["apps"]}),
            issuer
        ));
    }
}
