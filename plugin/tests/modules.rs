//! What policy modules see and do, through the engine's own API: views read while scanning
//! equal views read from trees, and patches land on documents reading did not keep.

mod support;

use vf_plugin::{Config, Objects, prepare};

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
            let scanned = prepare(input.clone(), &config, &Objects::None, &[])
                .unwrap()
                .views(&[], None, false);
            let built = prepare(input.clone(), &config, &Objects::All, &[])
                .unwrap()
                .views(&[], None, false);
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
    )
    .unwrap();
    let views = release.views(&["CustomResourceDefinition".into()], None, true);
    assert_eq!(views.len(), 6);
    assert!(views.iter().all(|v| v.object.starts_with('{')));
}

/// A patch on a document reading emitted at once (a local change) keeps that change.
#[test]
fn patches_land_on_documents_reading_did_not_keep() {
    let input = b"---\n# Source: c/templates/role.yaml\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: reader\nrules: []\n".to_vec();
    for config in [Config::default(), touch_all()] {
        let mut release = prepare(input.clone(), &config, &Objects::None, &[]).unwrap();
        let index = release.views(&["ClusterRole".into()], None, false)[0].index;
        release
            .patch(
                "team",
                index,
                r#"[{"op": "add", "path": "/metadata/labels", "value": {"team": "x"}}]"#,
                true,
            )
            .unwrap();
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
