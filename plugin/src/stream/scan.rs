//! Chunk → [`Meta`]: one pass over the parser's events, no tree built.
//!
//! Every document is scanned, which proves it is well-formed YAML, and the scan reads what
//! the pipeline needs to decide whether the document is worth a full parse: its kind, name,
//! namespace and the two Helm annotations. Scanning runs about 3× faster than a full parse.

use granit_parser::Event;

use super::aliasing::Aliasing;
use super::key::{GoKey, KeyId, Keys};
use super::limits::MAX_DEPTH;
use super::yaml11::Place;
use crate::document::{HOOK_ANNOTATION, Meta, SOURCE_ANNOTATION};

/// A syntax error, with a 1-based line and column relative to the chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// 1-based line within the chunk.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// The parser's message.
    pub message: String,
}

/// The fields the scan records, by their place in the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    ApiVersion,
    Kind,
    Metadata,
    Name,
    Namespace,
    Annotations,
    Labels,
    SourceAnnotation,
    Hook,
    /// The root's `items`: the object is a list to Kubernetes.
    Items,
    /// Any other entry of `metadata.labels` or `metadata.annotations`.
    Entry,
    Other,
}

impl Field {
    /// Classifies the key `key` found in a mapping that is the value of `parent`
    /// (`None` for the document's root mapping).
    fn of(parent: Option<Field>, key: &str) -> Field {
        match (parent, key) {
            (None, "apiVersion") => Field::ApiVersion,
            (None, "kind") => Field::Kind,
            (None, "metadata") => Field::Metadata,
            (None, "items") => Field::Items,
            (Some(Field::Metadata), "name") => Field::Name,
            (Some(Field::Metadata), "namespace") => Field::Namespace,
            (Some(Field::Metadata), "annotations") => Field::Annotations,
            (Some(Field::Metadata), "labels") => Field::Labels,
            (Some(Field::Annotations), SOURCE_ANNOTATION) => Field::SourceAnnotation,
            (Some(Field::Annotations), HOOK_ANNOTATION) => Field::Hook,
            (Some(Field::Annotations | Field::Labels), _) => Field::Entry,
            _ => Field::Other,
        }
    }

    /// Whether the scan looks inside a mapping held by this field.
    fn is_tracked_map(parent: Option<Field>) -> bool {
        matches!(
            parent,
            None | Some(Field::Metadata) | Some(Field::Annotations) | Some(Field::Labels)
        )
    }
}

/// One open collection.
struct Frame {
    is_map: bool,
    /// In a mapping: the next node is a key.
    key_next: bool,
    /// The field this collection is the value of (`None` for the root).
    field: Option<Field>,
    /// Whether this collection is the value of a tracked field path (root, metadata, annotations).
    tracked: bool,
    /// The current key's field, while its value is pending.
    key: Field,
    /// In `metadata.labels` or `metadata.annotations`: the current key, as Kubernetes names it.
    key_text: Option<String>,
    /// In `metadata.labels` or `metadata.annotations`: the keys so far, to refuse two that
    /// Kubernetes reads as one.
    names: Vec<String>,
    keys: Keys,
    /// In a flow collection (`{...}`, `[...]`), where YAML 1.1 reads `?` and `:` otherwise.
    flow: bool,
    /// Its anchor id (0 for none): an alias to it inside it is a recursion Go refuses.
    anchor: usize,
    /// In a mapping: the pending key is `<<`.
    merging: bool,
}

/// Scans one chunk. Refuses, besides syntax errors, what Kubernetes cannot read in any
/// document: a second document in the chunk, complex, null or too large keys, explicitly
/// tagged values Go cannot decode, infinite and NaN numbers (JSON has none), and labels or
/// annotations Go would read as one key.
pub fn scan(text: &str) -> Result<Meta, SyntaxError> {
    let mut meta = Meta {
        empty: true,
        ..Meta::default()
    };
    let mut stack: Vec<Frame> = Vec::with_capacity(16);
    let mut root_seen = false;
    let mut documents = 0;
    let mut parser = super::yaml11::parser(text);
    let mut checks = super::yaml11::Checks::new(text);
    let mut aliasing = Aliasing::default();
    while let Some(next) = parser.next_event() {
        let (event, span) = next.map_err(super::yaml11::syntax_error)?;
        let refuse = |message: String| SyntaxError {
            line: span.start.line(),
            column: span.start.col() + 1,
            message,
        };
        let place = match stack.last() {
            Some(f) if f.flow && f.is_map && f.key_next => Place::FlowKey,
            Some(f) if f.flow => Place::Flow,
            _ => Place::Block,
        };
        checks.next(&span, place != Place::Block).map_err(&refuse)?;
        match event {
            Event::DocumentStart(..) => {
                documents += 1;
                if documents > 1 {
                    return Err(refuse(SECOND_DOCUMENT.into()));
                }
                aliasing.document().map_err(|e| refuse(e.into()))?;
            }
            Event::MappingStart(style, anchor, _) | Event::SequenceStart(style, anchor, _) => {
                let is_map = matches!(event, Event::MappingStart(..));
                let flow = style == granit_parser::StructureStyle::Flow
                    || stack.last().is_some_and(|f| f.flow);
                if stack.len() >= MAX_DEPTH {
                    return Err(refuse(format!("nesting deeper than {MAX_DEPTH} levels")));
                }
                // Go merges a `<<` sequence's items and never decodes the sequence itself.
                let merged_items = !is_map && stack.last().is_some_and(|f| f.merging);
                aliasing
                    .open(anchor, !merged_items)
                    .map_err(|e| refuse(e.into()))?;
                let frame = match stack.last() {
                    None => {
                        root_seen = true;
                        meta.empty = false;
                        Frame::new(is_map, None, is_map, flow)
                    }
                    Some(parent) if parent.is_map && parent.key_next => {
                        return Err(refuse(COMPLEX_KEY.into()));
                    }
                    Some(parent)
                        if !is_map
                            && parent.tracked
                            && matches!(
                                parent.key,
                                Field::Metadata | Field::Labels | Field::Annotations
                            ) =>
                    {
                        return Err(refuse(not_a_mapping(parent.key, "a list")));
                    }
                    Some(parent) => {
                        let field = parent.tracked.then_some(parent.key);
                        let tracked = is_map && parent.tracked && Field::is_tracked_map(field);
                        Frame::new(is_map, field, tracked, flow)
                    }
                };
                stack.push(Frame { anchor, ..frame });
            }
            Event::Anchor(_, name) => super::yaml11::check_anchor(&name).map_err(&refuse)?,
            Event::MappingEnd | Event::SequenceEnd => {
                aliasing.close().map_err(|e| refuse(e.into()))?;
                stack.pop().expect("balanced events");
                if let Some(parent) = stack.last_mut() {
                    parent.advance();
                }
            }
            Event::Scalar(value, style, anchor, tag) => {
                checks
                    .scalar(&value, style, &span, place)
                    .map_err(&refuse)?;
                let plain = style == granit_parser::ScalarStyle::Plain;
                // Only plain or tagged scalars can be anything but a string; of those, only
                // the tagged ones and a few first characters need a closer look.
                let typed = if tag.is_some() || (plain && maybe_not_a_string(&value)) {
                    Some(typed(&value, style, tag.as_deref()).map_err(&refuse)?)
                } else {
                    None
                };
                let is_key = stack.last().is_some_and(|f| f.is_map && f.key_next);
                if !is_key {
                    aliasing.scalar(anchor).map_err(|e| refuse(e.into()))?;
                }
                match stack.last_mut() {
                    None => {
                        root_seen = true;
                        // A plain `null`/`~`/empty root is no document, as in Go.
                        meta.empty = matches!(typed, Some(serde_json::Value::Null)) && plain;
                    }
                    Some(frame) if frame.is_map && frame.key_next => {
                        frame.key_next = false;
                        let merge = value == "<<"
                            && (plain && tag.is_none() || is_merge_tag(tag.as_deref()));
                        if merge {
                            // The tree builder checks what is merged, and what it overrides.
                            // Go never decodes the `<<` key itself.
                            meta.uncertain = true;
                            frame.key = Field::Other;
                            frame.merging = true;
                            continue;
                        }
                        aliasing.scalar(anchor).map_err(|e| refuse(e.into()))?;
                        let key = match &typed {
                            Some(v) => super::key::go_key(v).map_err(&refuse)?,
                            None => GoKey {
                                name: value.clone().into_owned(),
                                id: KeyId::Str,
                            },
                        };
                        frame.key = if frame.tracked {
                            Field::of(frame.field, &key.name)
                        } else {
                            Field::Other
                        };
                        // A key given twice: the last value is the whole of it, as in Go.
                        forget(&mut meta, frame.key);
                        meta.items |= frame.key == Field::Items;
                        if matches!(frame.field, Some(Field::Labels | Field::Annotations)) {
                            let existing = frame.names.contains(&key.name);
                            frame.keys.admit(&key, existing).map_err(&refuse)?;
                            frame.names.push(key.name.clone());
                            // Whatever its value turns out to be, an earlier one is gone.
                            let list = if frame.field == Some(Field::Labels) {
                                &mut meta.labels
                            } else {
                                &mut meta.annotations
                            };
                            list.retain(|(k, _)| *k != key.name);
                            frame.key_text = Some(key.name);
                        }
                    }
                    Some(frame) => {
                        if frame.is_map
                            && frame.tracked
                            && matches!(
                                frame.key,
                                Field::Metadata | Field::Labels | Field::Annotations
                            )
                            && !(plain && matches!(typed, Some(serde_json::Value::Null)))
                        {
                            return Err(refuse(not_a_mapping(frame.key, "a scalar")));
                        }
                        if frame.is_map && frame.tracked {
                            let text = match typed {
                                Some(serde_json::Value::String(text)) => Some(text),
                                Some(_) => None,
                                None => Some(value.into_owned()),
                            };
                            if let Some(key) = frame.key_text.take() {
                                let list = if frame.field == Some(Field::Labels) {
                                    &mut meta.labels
                                } else {
                                    &mut meta.annotations
                                };
                                if let Some(text) = &text {
                                    list.push((key, text.clone()));
                                }
                            }
                            record(&mut meta, frame.key, text);
                        }
                        frame.advance();
                    }
                }
            }
            Event::Alias(id) => {
                checks.alias(&span).map_err(&refuse)?;
                if stack.iter().any(|f| f.anchor == id) {
                    return Err(refuse(
                        "an alias inside the node its anchor names: Kubernetes refuses the recursion".into(),
                    ));
                }
                aliasing.alias(id).map_err(|e| refuse(e.into()))?;
                if let Some(frame) = stack.last_mut() {
                    if frame.tracked {
                        meta.uncertain = true;
                    }
                    if frame.is_map && frame.key_next {
                        frame.key_next = false;
                        frame.key = Field::Other;
                    } else {
                        frame.advance();
                    }
                } else {
                    root_seen = true;
                    meta.empty = false;
                    meta.uncertain = true;
                }
            }
            _ => {}
        }
    }
    if !root_seen {
        meta.empty = true;
    }
    Ok(meta)
}

/// Forgets what an earlier value of `field` said.
fn forget(meta: &mut Meta, field: Field) {
    match field {
        Field::ApiVersion => meta.api_version.clear(),
        Field::Kind => meta.kind.clear(),
        Field::Name => meta.name.clear(),
        Field::Namespace => meta.namespace = None,
        Field::SourceAnnotation => meta.source_annotation = None,
        Field::Hook => meta.hook = None,
        Field::Labels => meta.labels.clear(),
        Field::Annotations => {
            meta.annotations.clear();
            meta.source_annotation = None;
            meta.hook = None;
        }
        Field::Metadata => {
            forget(meta, Field::Name);
            forget(meta, Field::Namespace);
            forget(meta, Field::Labels);
            forget(meta, Field::Annotations);
        }
        Field::Items | Field::Entry | Field::Other => {}
    }
}

fn not_a_mapping(field: Field, what: &str) -> String {
    let path = match field {
        Field::Labels => "metadata.labels",
        Field::Annotations => "metadata.annotations",
        _ => "metadata",
    };
    format!("{path} is {what}, not a mapping; Kubernetes cannot read the object")
}

/// Refused: go-yaml reads the first document of a chunk and silently drops the rest.
pub(crate) const SECOND_DOCUMENT: &str =
    "a second document without a `---` line of its own; Kubernetes would read only the first";
const COMPLEX_KEY: &str = "a mapping or sequence as a mapping key cannot be read by Kubernetes";

impl Frame {
    fn new(is_map: bool, field: Option<Field>, tracked: bool, flow: bool) -> Self {
        Frame {
            flow,
            anchor: 0,
            merging: false,
            is_map,
            key_next: true,
            field,
            tracked,
            key: Field::Other,
            key_text: None,
            names: Vec::new(),
            keys: Keys::default(),
        }
    }

    /// A value (or sequence item) finished.
    fn advance(&mut self) {
        if self.is_map {
            self.key_next = true;
            self.key = Field::Other;
            self.merging = false;
        }
    }
}

/// Whether a plain scalar may be a null, a boolean or a number: the only texts go-yaml does
/// not read as strings. Numbers start with a digit, a sign or a dot; the rest are a few short
/// words. Cheap, since the scan asks it of every plain scalar.
fn maybe_not_a_string(text: &str) -> bool {
    match text.as_bytes().first() {
        None => true,
        Some(b'0'..=b'9' | b'+' | b'-' | b'.') => true,
        Some(_) if text.len() > 5 => false,
        Some(_) => matches!(
            text,
            "~" | "y"
                | "Y"
                | "yes"
                | "Yes"
                | "YES"
                | "n"
                | "N"
                | "no"
                | "No"
                | "NO"
                | "true"
                | "True"
                | "TRUE"
                | "false"
                | "False"
                | "FALSE"
                | "on"
                | "On"
                | "ON"
                | "off"
                | "Off"
                | "OFF"
                | "null"
                | "Null"
                | "NULL"
        ),
    }
}

fn is_merge_tag(tag: Option<&granit_parser::Tag>) -> bool {
    super::build::classify(tag).0 == Some(super::resolve::CoreTag::Merge)
}

fn record(meta: &mut Meta, field: Field, value: Option<String>) {
    let slot = match field {
        Field::ApiVersion => &mut meta.api_version,
        Field::Kind => &mut meta.kind,
        Field::Name => &mut meta.name,
        Field::Namespace => {
            meta.namespace = value;
            return;
        }
        Field::SourceAnnotation => {
            meta.source_annotation = value;
            return;
        }
        Field::Hook => {
            meta.hook = value;
            return;
        }
        Field::Metadata
        | Field::Annotations
        | Field::Labels
        | Field::Items
        | Field::Entry
        | Field::Other => {
            return;
        }
    };
    *slot = value.unwrap_or_default();
}

/// A scalar typed as the tree builder types it, or why Go cannot decode it.
fn typed(
    text: &str,
    style: granit_parser::ScalarStyle,
    tag: Option<&granit_parser::Tag>,
) -> Result<serde_json::Value, String> {
    let written = if style == granit_parser::ScalarStyle::Plain {
        super::resolve::Written::Plain
    } else {
        super::resolve::Written::Quoted
    };
    let (core, custom) = super::build::classify(tag);
    super::resolve::scalar(text, written, core, custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_identity_and_helm_annotations() {
        let meta = scan(
            "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\n  namespace: demo\n  annotations:\n    \"helm.sh/hook\": pre-install\n    postrenderer.helm.sh/postrender-filename: 'c/templates/job.yaml'\nspec:\n  template:\n    metadata:\n      name: nested\n      annotations: {helm.sh/hook: nope}\n",
        )
        .unwrap();
        assert_eq!(meta.api_version, "batch/v1");
        assert_eq!(meta.kind, "Job");
        assert_eq!(meta.name, "migrate");
        assert_eq!(meta.namespace.as_deref(), Some("demo"));
        assert_eq!(meta.hook.as_deref(), Some("pre-install"));
        assert_eq!(
            meta.source_annotation.as_deref(),
            Some("c/templates/job.yaml")
        );
        assert!(!meta.empty && !meta.uncertain);
    }

    #[test]
    fn flow_style_metadata_as_helm4_writes_it() {
        let meta = scan("kind: ConfigMap\nmetadata: {name: a, annotations: {postrenderer.helm.sh/postrender-filename: 'c/t.yaml'}}\n").unwrap();
        assert_eq!(meta.name, "a");
        assert_eq!(meta.source_annotation.as_deref(), Some("c/t.yaml"));
    }

    #[test]
    fn duplicate_keys_last_wins_like_go() {
        assert_eq!(scan("kind: A\nkind: B\n").unwrap().kind, "B");
    }

    #[test]
    fn empty_comment_only_and_null_documents() {
        for text in ["", "# only a comment\n", "---\n", "--- null\n", "~\n"] {
            assert!(scan(text).unwrap().empty, "{text:?}");
        }
        assert!(!scan("--- just a string\n").unwrap().empty);
    }

    #[test]
    fn aliases_and_merge_keys_in_metadata_make_the_scan_uncertain() {
        assert!(scan("m: &m {name: a}\nmetadata: *m\n").unwrap().uncertain);
        assert!(
            scan("m: &m {name: a}\nmetadata:\n  <<: *m\n")
                .unwrap()
                .uncertain
        );
        assert!(
            !scan("kind: A\nspec:\n  a: &x 1\n  b: *x\n")
                .unwrap()
                .uncertain
        );
    }

    #[test]
    fn what_kubernetes_cannot_read_in_any_document_is_refused_with_its_place() {
        for (text, place, why) in [
            (
                "kind: A\nspec:\n  ? {kind: X}\n  : 1\n",
                (3, 5),
                "as a mapping key",
            ),
            ("kind: A\nspec:\n  ~: 1\n", (3, 3), "null mapping key"),
            (
                "kind: A\nspec:\n  18446744073709551615: 1\n",
                (3, 3),
                "too large",
            ),
            ("kind: A\nspec:\n  x: .nan\n", (3, 6), "not a finite number"),
            // granit-parser places a tagged scalar at its end.
            ("kind: A\nspec:\n  x: !!int abc\n", (3, 12), "cannot decode"),
            (
                "kind: A\nmetadata:\n  labels:\n    1: a\n    \"1\": b\n",
                (5, 5),
                "either at random",
            ),
            ("kind: A\n...\n--- x\n", (3, 1), "second document"),
        ] {
            let err = scan(text).unwrap_err();
            assert_eq!((err.line, err.column), place, "{text:?}");
            assert!(err.message.contains(why), "{text:?}: {}", err.message);
        }
    }

    #[test]
    fn identity_is_read_only_from_strings_as_kubernetes_types_them() {
        let meta = scan("apiVersion: 1__0\nkind: yes\nmetadata:\n  name: \"0644\"\n  namespace: 0644\n  labels: {a: yes, b: 'yes'}\n").unwrap();
        assert_eq!((meta.api_version.as_str(), meta.kind.as_str()), ("", ""));
        assert_eq!(
            (meta.name.as_str(), meta.namespace.as_deref()),
            ("0644", None)
        );
        assert_eq!(meta.labels, [("b".to_owned(), "yes".to_owned())]);
    }

    #[test]
    fn merge_keys_anywhere_leave_the_reading_to_the_tree_builder() {
        assert!(scan("kind: A\nspec:\n  <<: {a: 1}\n").unwrap().uncertain);
    }

    #[test]
    fn syntax_errors_carry_line_and_column() {
        let err = scan("a: b\n  c: d: e\n").unwrap_err();
        assert_eq!((err.line, err.column), (2, 4));
        assert!(err.message.contains("mapping values"), "{}", err.message);
    }

    #[test]
    fn deep_nesting_is_refused_without_recursion() {
        let flow = "[".repeat(100_000);
        let err = scan(&flow).unwrap_err();
        assert!(
            err.message.contains("nesting deeper than 200"),
            "{}",
            err.message
        );
        let block: String = (0..300).map(|i| format!("{}a:\n", " ".repeat(i))).collect();
        let err = scan(&block).unwrap_err();
        assert!(
            err.message.contains("nesting deeper than 200"),
            "{}",
            err.message
        );
    }
}
