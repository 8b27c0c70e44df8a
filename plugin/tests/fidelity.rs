//! Fidelity over the real corpus, judged by Go: what vf-post did not mean to change, Kubernetes
//! reads exactly as it read the input.

mod support;

use serde_json::{Value, json};
use support::{GoPath, assert_same_docs, corpus, go_read};
use vf_plugin::{Config, Stream, render};

const TOUCH: &str = "vf-post.virtufin.io/touched";

fn touch_all() -> Config {
    // "yes" is the classic trap: emitted unquoted, Go would read a boolean.
    support::annotating(TOUCH, "yes")
}

#[test]
fn untouched_corpus_comes_out_byte_for_byte() {
    for file in corpus() {
        let input = std::fs::read(&file).unwrap();
        let out = render(input.clone(), &Config::default()).unwrap().output;
        assert!(out == input, "{} changed", file.display());
    }
}

#[test]
fn every_document_is_read_as_go_reads_it() {
    for file in corpus() {
        let input = std::fs::read(&file).unwrap();
        let ours: Vec<Value> = Stream::read_all(input.clone())
            .unwrap()
            .documents()
            .iter()
            .map(|d| d.value().unwrap().clone())
            .collect();
        let go = go_read(GoPath::Helm3, &input);
        assert_same_docs(&file.display().to_string(), &go, &ours);
    }
}

/// Changes one field in every document and checks, through both of Go's paths, that every
/// other value of every document is unchanged and in order.
#[test]
fn changing_one_field_changes_nothing_else_as_go_reads_it() {
    for file in corpus() {
        let input = std::fs::read(&file).unwrap();
        let out = render(input.clone(), &touch_all()).unwrap().output;
        let mut expected = go_read(GoPath::Helm3, &input);
        for doc in &mut expected {
            let metadata = doc["metadata"]
                .as_object_mut()
                .expect("corpus objects have metadata");
            let annotations = metadata.entry("annotations").or_insert_with(|| json!({}));
            if annotations.is_null() {
                *annotations = json!({});
            }
            annotations[TOUCH] = json!("yes");
        }
        let label = file.display().to_string();
        assert_same_docs(
            &format!("{label} (Helm 3 path)"),
            &expected,
            &go_read(GoPath::Helm3, &out),
        );
        assert_same_docs(
            &format!("{label} (Helm 4 path)"),
            &expected,
            &go_read(GoPath::Helm4, &out),
        );
        assert!(!String::from_utf8_lossy(&out).contains("%YAML"));
        let sources = |b: &[u8]| String::from_utf8_lossy(b).matches("\n# Source: ").count();
        assert_eq!(
            sources(&input),
            sources(&out),
            "{label}: every # Source: line is kept"
        );
    }
}
