//! What of each object the validating policies read, so that the host sends only that: the
//! parts every expression selects from `object`, what matching reads, and whole the objects
//! that serve as namespaces, resource definitions and parameters. Mutations rewrite whole
//! objects, so the mutating phases read them whole.

use std::collections::BTreeSet;

use crate::policy::PolicySet;
use crate::settings::Phase;

/// One step of a path into an object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    /// A map's field.
    Field(String),
    /// Every item of a list.
    Items,
}

/// Parts of objects: paths, and kinds read whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parts {
    /// No path is a prefix of another (the shorter one reads the value whole).
    pub paths: Vec<Vec<Step>>,
    pub whole_kinds: Vec<String>,
}

/// What matching reads of every object (matching.rs: `target`, and `learn` of a
/// CustomResourceDefinition: the group, names and scope of a custom kind). A
/// CustomResourceDefinition's schema is most of a release's bytes, and only mutations read it.
const MATCHED: [&[&str]; 8] = [
    &["apiVersion"],
    &["kind"],
    &["metadata", "name"],
    &["metadata", "namespace"],
    &["metadata", "labels"],
    &["spec", "group"],
    &["spec", "names"],
    &["spec", "scope"],
];

/// Kinds the evaluation reads whole whatever the expressions: namespaces (their labels and
/// `namespaceObject`).
const WHOLE: [&str; 1] = ["Namespace"];

/// What the policies of `phase` read of each object; `None`: whole objects.
pub fn of(set: &PolicySet, phase: Phase) -> Option<Parts> {
    if phase != Phase::Validate {
        return None;
    }
    let mut paths: BTreeSet<Vec<Step>> = MATCHED
        .iter()
        .map(|p| p.iter().map(|s| Step::Field((*s).to_owned())).collect())
        .collect();
    let mut whole_kinds: BTreeSet<String> = WHOLE.iter().map(|k| (*k).to_owned()).collect();
    for policy in &set.validating {
        paths.extend(policy.expressions().flat_map(|c| c.reads.iter().cloned()));
        if let Some((_, kind)) = &policy.param_kind {
            whole_kinds.insert(kind.clone());
        }
    }
    if paths.contains(&Vec::new()) {
        return None;
    }
    // Sorted, a path's prefixes come right before it.
    let mut kept: Vec<Vec<Step>> = Vec::new();
    for path in paths {
        if !kept.iter().any(|k| path.starts_with(k)) {
            kept.push(path);
        }
    }
    Some(Parts {
        paths: kept,
        whole_kinds: whole_kinds.into_iter().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Source;

    fn parts(expressions: &[&str]) -> Option<Parts> {
        let validations: Vec<_> = expressions
            .iter()
            .map(|e| serde_json::json!({"expression": e}))
            .collect();
        let policy = serde_json::json!({
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": "p.example.com"},
            "spec": {
                "paramKind": {"apiVersion": "v1", "kind": "ConfigMap"},
                "matchConstraints": {"resourceRules": [{"apiGroups": ["*"], "apiVersions": ["*"], "operations": ["CREATE"], "resources": ["*"]}]},
                "validations": validations,
            },
        });
        let sources = [Source {
            file: "p.yaml".into(),
            object: policy,
        }];
        let set = PolicySet::compile(&sources, &crate::functions()).unwrap();
        of(&set, Phase::Validate)
    }

    fn paths(p: &Parts) -> Vec<String> {
        p.paths
            .iter()
            .map(|p| {
                p.iter()
                    .map(|s| match s {
                        Step::Field(f) => f.as_str(),
                        Step::Items => "*",
                    })
                    .collect::<Vec<_>>()
                    .join(".")
            })
            .collect()
    }

    #[test]
    fn every_form_of_selection_ends_where_the_value_is_read_whole() {
        let p = parts(&[
            "has(object.spec.replicas) && object.spec.template.spec.containers.all(c, c.image != '')",
            "object.metadata.?annotations[?'a.io/b'].orValue('') != 'x' && object['data']['k'] == 'v'",
            "object.spec.selector.size() > 0 && object.spec.template.spec.containers[0].name != ''",
        ])
        .unwrap();
        assert_eq!(
            paths(&p),
            [
                "apiVersion",
                "data.k",
                "kind",
                "metadata.annotations.a.io/b",
                "metadata.labels",
                "metadata.name",
                "metadata.namespace",
                "spec.group",
                "spec.names",
                "spec.replicas",
                "spec.scope",
                "spec.selector",
                "spec.template.spec.containers",
            ]
        );
        assert_eq!(p.whole_kinds, ["ConfigMap", "Namespace"]);
    }

    #[test]
    fn loops_over_parts_read_what_they_select_of_every_item() {
        let p = parts(&[
            "object.?spec.?template.?spec.?containers.orValue([]).all(c, c.?image.orValue(':').contains(':') && c.ports.all(p, p.containerPort > 0))",
            "object.spec.volumes.exists(v, true)",
            "object.spec.initContainers.filter(c, c.name == 'x').size() == 0",
            "object.data.all(k, k != 'x')",
            "object.spec.hostAliases.orValue(params.x).all(h, h.ip != '')",
        ])
        .unwrap();
        let paths = paths(&p);
        for expected in [
            // What the loop selects of each item, nested loops too.
            "spec.template.spec.containers.*.image",
            "spec.template.spec.containers.*.ports.*.containerPort",
            // A loop reading nothing of its items reads the list.
            "spec.volumes",
            // `filter` keeps items, and a map's items are its keys: read whole.
            "spec.initContainers.*",
            "data.*",
            // A default that is not a constant: the general rule.
            "spec.hostAliases",
        ] {
            assert!(
                paths.contains(&expected.to_owned()),
                "{expected} not in {paths:?}"
            );
        }
        assert!(
            !paths
                .iter()
                .any(|p| p.starts_with("spec.template.spec.containers") && !p.contains('*')),
            "{paths:?}"
        );
    }

    #[test]
    fn the_object_used_whole_or_by_a_computed_key_is_read_whole_up_to_there() {
        assert_eq!(parts(&["dyn(object) != null"]), None);
        assert_eq!(parts(&["object == object"]), None);
        let p = parts(&["object.metadata[params.data.key] == 'x'"]).unwrap();
        assert!(paths(&p).contains(&"metadata".to_owned()), "{p:?}");
        // A comprehension variable named `object` is not the object.
        let p = parts(&["[1].all(object, object > 0) && object.kind != ''"]).unwrap();
        assert!(!paths(&p).is_empty());
    }
}
