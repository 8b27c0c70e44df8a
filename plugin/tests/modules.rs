//! What policy modules see and do, through the engine's own API: views read while scanning
//! equal views read from trees, and patches land on documents reading did not keep.

mod support;

use vf_plugin::modules::{ModuleHit, ModulePatch, Parts, Reads, Step};
use vf_plugin::{Changes, Config, Objects, Severity, prepare};

fn touch_all() -> Config {
    support::annotating("example.com/touched", "yes")
}

/// Every corpus document: labels and annotations from the scan (no tree) equal those from
/// the tree, untouched and after a change made while reading.
#[test]
fn views_without_trees_equal_views_with_trees() {
    for file in support::corpus() {
        let input = std::fs::read(&file).unwrap();
        for config in [Config::default(), touch_all()] {
            let scanned = prepare(
                input.clone(),
                &config,
                &Objects::None,
                &[],
                Changes::Untracked,
            )
            .unwrap()
            .views(&[], None, &Reads::Identity, false);
            let built = prepare(
                input.clone(),
                &config,
                &Objects::All,
                &[],
                Changes::Untracked,
            )
            .unwrap()
            .views(&[], None, &Reads::Identity, false);
            assert_eq!(scanned.len(), built.len(), "{}", file.display());
            for (a, b) in scanned.iter().zip(&built) {
                assert_eq!(a, b, "{}: {} {}", file.display(), a.kind, a.name);
            }
        }
    }
}

#[test]
fn whole_objects_come_only_for_the_kinds_asked() {
    let input = std::fs::read(support::shared().join("corpus/cert-manager.helm3.yaml")).unwrap();
    let release = prepare(
        input,
        &Config::default(),
        &Objects::Kinds(vec!["CustomResourceDefinition".into()]),
        &[],
        Changes::Untracked,
    )
    .unwrap();
    let views = release.views(
        &["CustomResourceDefinition".into()],
        None,
        &Reads::Whole,
        false,
    );
    assert_eq!(views.len(), 6);
    assert!(views.iter().all(|v| v.object.starts_with('{')));
}

/// A path written with dots, `*` for every item of a list.
fn path(dotted: &str) -> Vec<Step> {
    dotted
        .split('.')
        .map(|s| match s {
            "*" => Step::Items,
            field => Step::Field(field.to_owned()),
        })
        .collect()
}

/// A module reading parts gets, of each object, the values at its paths whole and the maps
/// on the way with only the fields on some path; everything else as a whole-object reader
/// gets it (Secrets masked, whole kinds whole).
#[test]
fn parts_are_the_values_at_the_paths_and_the_maps_on_the_way() {
    let input = br#"---
# Source: c/templates/a.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
  annotations: {a: "1", b: "2"}
spec:
  replicas: 2
  selector: [not, a, map]
  template:
    spec:
      containers: [{name: app, image: "x:1"}, {name: side, image: "y:2", ports: []}, 3]
      volumes: {not: a list}
      initContainers: [{name: init, image: "z:1"}]
---
# Source: c/templates/ns.yaml
apiVersion: v1
kind: Namespace
metadata: {name: team, labels: {tier: a}}
---
# Source: c/templates/s.yaml
apiVersion: v1
kind: Secret
metadata: {name: s}
data: {password: aHVudGVyMg==}
"#
    .to_vec();
    let release = prepare(
        input,
        &Config::default(),
        &Objects::All,
        &[],
        Changes::Untracked,
    )
    .unwrap();
    let parts = Reads::Parts(Parts {
        paths: vec![
            path("kind"),
            path("metadata.annotations.b"),
            path("metadata.missing"),
            path("spec.selector.matchLabels"),
            path("spec.template.spec.containers.*.image"),
            path("spec.template.spec.volumes.*.name"),
            // A longer path under one read whole changes nothing.
            path("spec.template.spec.initContainers"),
            path("spec.template.spec.initContainers.*.name"),
            // Items of a map: the map whole (iterating it reads its keys).
            path("metadata.labels.*"),
            path("data.password"),
        ],
        whole_kinds: vec!["Namespace".into()],
    });
    let views = release.views(&[], None, &parts, false);
    let objects: Vec<serde_json::Value> = views
        .iter()
        .map(|v| serde_json::from_str(&v.object).unwrap())
        .collect();
    assert_eq!(
        objects[0],
        serde_json::json!({
            "kind": "Deployment",
            "metadata": {"labels": {"app": "web"}, "annotations": {"b": "2"}},
            "spec": {
                "selector": ["not", "a", "map"],
                "template": {"spec": {
                    "containers": [{"image": "x:1"}, {"image": "y:2"}, 3],
                    "volumes": {"not": "a list"},
                    "initContainers": [{"name": "init", "image": "z:1"}],
                }},
            },
        })
    );
    assert_eq!(
        objects[1]["metadata"]["labels"]["tier"], "a",
        "{}",
        objects[1]
    );
    assert_eq!(objects[1]["apiVersion"], "v1");
    let whole = release.views(&[], None, &Reads::Whole, false);
    assert_eq!(
        objects[2]["data"]["password"],
        serde_json::from_str::<serde_json::Value>(&whole[2].object).unwrap()["data"]["password"],
        "a Secret's parts are masked as its whole is"
    );
    assert!(
        !views[2].object.contains("aHVudGVyMg=="),
        "{}",
        views[2].object
    );
    // The empty path reads the object whole.
    let all = Reads::Parts(Parts {
        paths: vec![Vec::new()],
        whole_kinds: vec![],
    });
    let objects = |views: Vec<vf_plugin::modules::DocView>| -> Vec<String> {
        views.into_iter().map(|v| v.object).collect()
    };
    assert_eq!(
        objects(release.views(&[], None, &all, false)),
        objects(whole.clone())
    );
    // A module reading parts finds labels and annotations in its parts.
    assert!(
        views
            .iter()
            .all(|v| v.labels.is_empty() && v.annotations.is_empty())
    );
}

/// A patch on a document reading emitted at once (a local change) keeps that change.
#[test]
fn patches_land_on_documents_reading_did_not_keep() {
    let input = b"---\n# Source: c/templates/role.yaml\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: reader\nrules: []\n".to_vec();
    for config in [Config::default(), touch_all()] {
        let mut release = prepare(
            input.clone(),
            &config,
            &Objects::None,
            &[],
            Changes::Untracked,
        )
        .unwrap();
        let index = release.views(&["ClusterRole".into()], None, &Reads::Identity, false)[0].index;
        let patch = ModulePatch {
            document: index,
            operations: r#"[{"op": "add", "path": "/metadata/labels", "value": {"team": "x"}}]"#
                .into(),
            policy: None,
        };
        release.mutate("team", &[patch]).unwrap();
        release.validate().unwrap();
        assert_eq!(
            release.stream.documents()[index as usize].label("team"),
            Some("x")
        );
        let out = String::from_utf8(release.stream.into_output()).unwrap();
        assert!(out.contains("team: x"), "{out}");
        assert!(
            out.starts_with("---\n# Source: c/templates/role.yaml\n"),
            "{out}"
        );
        assert_eq!(
            out.contains("example.com/touched"),
            !config.transforms.common_annotations.is_empty(),
            "{out}"
        );
    }
}

/// Team selection, exemptions and module views read one truth for every document, parsed or
/// not: a team chosen by labels gets every kind of the corpus, not only the kinds vf-post
/// parses.
#[test]
fn a_team_chosen_by_labels_gets_every_kind() {
    let mut config = Config::default();
    config.teams.push(vf_plugin::config::Team {
        name: "payments".into(),
        labels: [("team".to_owned(), "payments".to_owned())].into(),
        ..Default::default()
    });
    let mut kinds = std::collections::BTreeSet::new();
    for file in support::corpus() {
        let stream = vf_plugin::Stream::read_all(std::fs::read(&file).unwrap()).unwrap();
        let mut labelled = String::new();
        for doc in stream.documents() {
            let mut value = doc.value().unwrap().clone();
            let metadata = value["metadata"].as_object_mut().unwrap();
            let labels = metadata.entry("labels").or_insert(serde_json::json!({}));
            if labels.is_null() {
                *labels = serde_json::json!({});
            }
            labels["team"] = "payments".into();
            labelled.push_str("---\n");
            labelled.push_str(&vf_plugin::stream::emit::emit(&value));
        }
        let release = prepare(
            labelled.into_bytes(),
            &config,
            &Objects::None,
            &[],
            Changes::Untracked,
        )
        .unwrap();
        let all = release.views(&[], None, &Reads::Identity, false);
        let team = release.views(&[], Some("payments"), &Reads::Identity, false);
        assert_eq!(all.len(), team.len(), "{}", file.display());
        kinds.extend(team.into_iter().map(|v| v.kind));
    }
    // Far more kinds than vf-post parses: ServiceAccounts, RBAC, CRDs, webhooks...
    assert!(kinds.len() > 20, "{kinds:?}");
    assert!(kinds.contains("ServiceAccount") && kinds.contains("ClusterRole"));
}

/// An exemption annotation waives a module's finding on a kind vf-post does not parse.
#[test]
fn exemptions_hold_on_documents_without_trees() {
    let input = b"apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: a\n  annotations:\n    exempt.vf-post.virtufin.io/team-needs-x: \"upstream chart\"\n".to_vec();
    let mut release = prepare(
        input,
        &Config::default(),
        &Objects::None,
        &["team-needs-x".into()],
        Changes::Untracked,
    )
    .unwrap();
    assert!(
        release.stream.documents()[0].value().is_none(),
        "a ServiceAccount is not parsed"
    );
    release.validate().unwrap();
    let hit = ModuleHit {
        rule: "team-needs-x".into(),
        severity: Severity::Error,
        message: "needs x".into(),
        hint: String::new(),
        document: Some(0),
        container: None,
        path: None,
    };
    release.settle("team", vec![hit]).unwrap();
    let finding = release
        .findings
        .iter()
        .find(|f| f.rule == "team-needs-x")
        .unwrap();
    assert_eq!(
        finding.exempted.as_ref().map(|e| e.reason.as_str()),
        Some("upstream chart")
    );
}

/// Mutations first, validation last: a setting a mutating module adds is denied like any
/// other, and the finding names the module and its operation.
#[test]
fn what_a_mutation_adds_is_validated_and_named() {
    let input =
        std::fs::read(support::repo().join("tests/rules/not-privileged/input.yaml")).unwrap();
    let mut release = prepare(
        input,
        &Config::default(),
        &Objects::None,
        &[],
        Changes::Untracked,
    )
    .unwrap();
    let good = release
        .views(&["Deployment".into()], None, &Reads::Identity, false)
        .into_iter()
        .find(|v| v.name == "good-unprivileged")
        .unwrap();
    let op = r#"[{"op": "add", "path": "/spec/template/spec/containers/0/securityContext/privileged", "value": true}]"#;
    let patch = ModulePatch {
        document: good.index,
        operations: op.into(),
        policy: None,
    };
    release.mutate("evil", &[patch]).unwrap();
    release.validate().unwrap();
    let finding = release
        .findings
        .iter()
        .find(|f| {
            f.rule == "not-privileged"
                && f.object
                    .as_ref()
                    .is_some_and(|o| o.name == "good-unprivileged")
        })
        .expect("the mutation's privileged container is denied");
    assert_eq!(finding.introduced_by.len(), 1);
    assert_eq!(finding.introduced_by[0].module, "evil");
    let before = release
        .findings
        .iter()
        .find(|f| {
            f.rule == "not-privileged"
                && f.object
                    .as_ref()
                    .is_some_and(|o| o.name == "bad-privileged")
        })
        .unwrap();
    assert!(
        before.introduced_by.is_empty(),
        "a finding from before any mutation is nobody's doing"
    );
}
