//! The stream's edge cases: every input form Helm or a person can produce, untouched (byte for
//! byte) and touched (judged by Go), and the errors for input that cannot be read.

mod support;

use serde_json::json;
use support::{GoPath, assert_same_docs, go_read};
use vf_plugin::{Config, Error, render};

fn touch() -> Config {
    support::annotating("t", "yes")
}

/// Untouched: identical bytes. Touched: Go reads the input's documents plus the annotation,
/// and a second run changes nothing.
fn check(label: &str, input: &str) -> String {
    let same = render(input.as_bytes().to_vec(), &Config::default())
        .unwrap()
        .output;
    assert_eq!(
        String::from_utf8(same).unwrap(),
        input,
        "{label}: untouched"
    );
    let out = render(input.as_bytes().to_vec(), &touch()).unwrap().output;
    let mut expected = go_read(GoPath::Helm3, input.as_bytes());
    for doc in &mut expected {
        if doc["kind"] == "List" {
            doc["items"]
                .as_array_mut()
                .unwrap()
                .iter_mut()
                .for_each(annotate);
        } else {
            annotate(doc);
        }
    }
    assert_same_docs(label, &expected, &go_read(GoPath::Helm3, &out));
    assert_same_docs(label, &expected, &go_read(GoPath::Helm4, &out));
    let again = render(out.clone(), &touch()).unwrap().output;
    assert_eq!(again, out, "{label}: a second run changes nothing");
    String::from_utf8(out).unwrap()
}

fn annotate(doc: &mut serde_json::Value) {
    if let Some(meta) = doc.get_mut("metadata").and_then(|m| m.as_object_mut()) {
        let annotations = meta.entry("annotations").or_insert_with(|| json!({}));
        if annotations.is_null() {
            *annotations = json!({});
        }
        annotations["t"] = json!("yes");
    }
}

#[test]
fn helm3_form_keeps_source_lines_on_changed_documents() {
    let out = check(
        "helm3",
        "---\n# Source: c/templates/a.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  mode: \"yes\"\n---\n# Source: c/templates/b.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n",
    );
    assert!(
        out.starts_with("---\n# Source: c/templates/a.yaml\napiVersion: v1\n"),
        "{out}"
    );
    assert!(
        out.contains("---\n# Source: c/templates/b.yaml\napiVersion: v1\n"),
        "{out}"
    );
}

#[test]
fn helm4_flow_style_metadata_keeps_its_annotation() {
    let out = check(
        "helm4 flow",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, annotations: {postrenderer.helm.sh/postrender-filename: 'c/templates/a.yaml'}}\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: t\n  annotations:\n    helm.sh/hook: test\n    postrenderer.helm.sh/postrender-filename: 'c/templates/t.yaml'\nspec:\n  containers: [{name: a, image: busybox}]\n",
    );
    assert_eq!(
        out.matches("postrenderer.helm.sh/postrender-filename: c/templates/")
            .count(),
        2,
        "{out}"
    );
}

#[test]
fn bom_crlf_leading_separator_and_missing_final_newline() {
    check(
        "bom",
        "\u{feff}apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
    );
    check(
        "crlf",
        "---\r\n# Source: c/templates/a.yaml\r\napiVersion: v1\r\nkind: ConfigMap\r\nmetadata:\r\n  name: a\r\ndata:\r\n  k: |\r\n    x\r\n    y\r\n---\r\napiVersion: v1\r\nkind: ConfigMap\r\nmetadata:\r\n  name: b\r\n",
    );
    check(
        "no final newline",
        "kind: A\nmetadata:\n  name: a\n---\nkind: B\nmetadata:\n  name: b",
    );
    let out = check(
        "bom + change",
        "\u{feff}---\nkind: A\nmetadata:\n  name: a\n",
    );
    assert!(out.starts_with("\u{feff}---\n"), "{out:?}");
}

#[test]
fn empty_comment_only_null_documents_and_end_markers() {
    check(
        "empty docs",
        "---\n# Source: c/templates/empty.yaml\n---\n# only a comment\n---\nnull\n---\n~\n---\nkind: A\nmetadata:\n  name: a\n...\n# after the end\n---\nkind: B\nmetadata:\n  name: b\n...\n",
    );
}

#[test]
fn duplicate_keys_keep_the_last_value_as_go_does() {
    let out = check(
        "duplicates",
        "kind: A\nmetadata:\n  name: a\n  labels:\n    x: first\n    x: second\n",
    );
    assert!(out.contains("x: second") && !out.contains("first"), "{out}");
}

#[test]
fn list_items_are_documents_to_the_transforms() {
    let out = check(
        "list",
        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: a\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: b\n",
    );
    assert!(out.starts_with("apiVersion: v1\nkind: List\n"), "{out}");
    assert_eq!(out.matches("t: \"yes\"").count(), 2, "{out}");
}

#[test]
fn aliases_and_merge_keys_are_expanded_as_go_does() {
    check(
        "anchors",
        "kind: A\nmetadata:\n  name: a\nbase: &b {p: 1}\nd:\n  <<: *b\n  q: 2\ne: *b\n",
    );
}

fn error_of(input: &str) -> String {
    render(input.as_bytes().to_vec(), &touch())
        .map(|_| ())
        .unwrap_err()
        .to_string()
}

#[test]
fn malformed_yaml_names_document_template_and_position() {
    let message = error_of(
        "---\n# Source: c/templates/a.yaml\nkind: A\n---\n# Source: c/templates/b.yaml\nkind: B\nmetadata:\n  name: b\n    broken: x: y\n",
    );
    assert_eq!(
        message,
        "cannot read document 2 (c/templates/b.yaml), line 9 column 11 of the input: mapping values are not allowed in this context"
    );
    assert!(!message.contains('\n'));
}

#[test]
fn malformed_yaml_is_refused_even_in_documents_no_pass_wants() {
    let err = render(b"kind: A\n---\nkind: [B\n".to_vec(), &Config::default()).unwrap_err();
    assert!(
        matches!(err, Error::Yaml { ref at, line: 3, .. } if at.document == 2),
        "{err}"
    );
}

#[test]
fn content_after_an_end_marker_is_refused() {
    assert_eq!(
        error_of("---\n# Source: c/templates/a.yaml\nkind: A\n...\nkind: B\n"),
        "cannot read document 1 (c/templates/a.yaml), line 5 column 1 of the input: content after \
         the document end marker `...` on line 4: Kubernetes would drop it silently (start a new \
         document with `---`)"
    );
}

#[test]
fn input_that_is_not_utf8_is_refused() {
    let input = b"kind: A\n---\n# Source: c/templates/b.yaml\nkind: B\nname: x\xff\n";
    let err = render(input.to_vec(), &Config::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot read document 2 (c/templates/b.yaml), line 5 column 8 of the input: invalid UTF-8 \
         (byte 0xFF); Helm writes UTF-8 and Kubernetes refuses anything else"
    );
}

#[test]
fn a_few_kb_of_aliases_do_not_expand_to_gigabytes() {
    let mut text =
        String::from("kind: Bomb\nmetadata:\n  name: b\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        text.push_str(&format!(
            "a{i}: &a{i} [{}]\n",
            vec![format!("*a{}", i - 1); 10].join(", ")
        ));
    }
    assert!(text.len() < 4096);
    let message = error_of(&text);
    assert!(message.starts_with("cannot read document 1"), "{message}");
}

#[test]
fn deep_nesting_does_not_overflow_the_stack() {
    let flow = format!(
        "kind: Deep\nmetadata:\n  name: d\nspec: {}\n",
        "[".repeat(50_000)
    );
    assert!(error_of(&flow).starts_with("cannot read document 1"));
    let block: String = (0..5_000)
        .map(|i| format!("{}a:\n", " ".repeat(i)))
        .collect();
    assert!(error_of(&block).contains("nesting deeper than 200"));
}

#[test]
fn values_kubernetes_cannot_read_are_refused_when_rewritten() {
    let message = error_of("kind: A\nmetadata:\n  name: a\nspec:\n  x: .inf\n");
    assert!(message.contains(".inf"), "{message}");
}

/// Kubernetes' client reads any object with `items` as a list and applies its items, whatever
/// the object's kind: so does vf-post, and it refuses what it cannot read one level deep.
#[test]
fn any_object_with_items_is_a_list_of_objects_to_check() {
    let smuggled = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: evil}\n  spec:\n    hostNetwork: true\n    containers: [{name: a, image: nginx:1.0}]\n";
    let rendered = render(smuggled.as_bytes().to_vec(), &Config::default()).unwrap();
    assert!(
        rendered
            .findings
            .iter()
            .any(|f| f.rule == "no-host-network"
                && f.object.as_ref().is_some_and(|o| o.name == "evil")),
        "{:?}",
        rendered.findings
    );
    for (input, why) in [
        (
            "kind: PodList\napiVersion: v1\nitems:\n- kind: List\n  apiVersion: v1\n  items: []\n",
            "has `items` itself",
        ),
        (
            "kind: ConfigMap\napiVersion: v1\nmetadata: {name: a}\nitems: 5\n",
            "`items` is not a list",
        ),
        ("kind: List\napiVersion: v1\nitems: [5]\n", "not an object"),
    ] {
        let err = error_of(input);
        assert!(err.contains(why), "{input:?}: {err}");
    }
}
