//! Chunk → [`Meta`]: one pass over the parser's events, no tree built.
//!
//! Every document is scanned, which proves it is well-formed YAML, and the scan reads what
//! the pipeline needs to decide whether the document is worth a full parse: its kind, name,
//! namespace and the two Helm annotations. Scanning runs about 3× faster than a full parse.

use granit_parser::{Event, Parser, ScanError};

use super::limits::MAX_DEPTH;

/// What a scan learns about a document without building it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Meta {
    /// `apiVersion`, empty when absent.
    pub api_version: String,
    /// `kind`, empty when absent.
    pub kind: String,
    /// `metadata.name`, empty when absent.
    pub name: String,
    /// `metadata.namespace`.
    pub namespace: Option<String>,
    /// `metadata.annotations["postrenderer.helm.sh/postrender-filename"]` (Helm 4 form).
    pub source_annotation: Option<String>,
    /// `metadata.annotations["helm.sh/hook"]`.
    pub hook: Option<String>,
    /// `metadata.labels` with string values (policy modules see them without a full parse).
    pub labels: Vec<(String, String)>,
    /// `metadata.annotations` with string values.
    pub annotations: Vec<(String, String)>,
    /// The chunk holds no document: empty, comments only, or `null`.
    pub empty: bool,
    /// The scan saw aliases or merge keys where these fields live: only a full parse knows them.
    pub uncertain: bool,
}

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
            (Some(Field::Metadata), "name") => Field::Name,
            (Some(Field::Metadata), "namespace") => Field::Namespace,
            (Some(Field::Metadata), "annotations") => Field::Annotations,
            (Some(Field::Metadata), "labels") => Field::Labels,
            (Some(Field::Annotations), crate::document::SOURCE_ANNOTATION) => {
                Field::SourceAnnotation
            }
            (Some(Field::Annotations), crate::document::HOOK_ANNOTATION) => Field::Hook,
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
    /// The collection is itself a mapping key (complex key).
    is_key: bool,
    /// In `metadata.labels` or `metadata.annotations`: the current key, as Kubernetes names it.
    key_text: Option<String>,
}

/// Scans one chunk.
pub fn scan(text: &str) -> Result<Meta, SyntaxError> {
    let mut meta = Meta {
        empty: true,
        ..Meta::default()
    };
    let mut stack: Vec<Frame> = Vec::with_capacity(16);
    let mut root_seen = false;
    let mut parser = Parser::new_from_str(text);
    while let Some(next) = parser.next_event() {
        let (event, span) = next.map_err(syntax_error)?;
        match event {
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let is_map = matches!(event, Event::MappingStart(..));
                if stack.len() >= MAX_DEPTH {
                    return Err(SyntaxError {
                        line: span.start.line(),
                        column: span.start.col() + 1,
                        message: format!("nesting deeper than {MAX_DEPTH} levels"),
                    });
                }
                let frame = match stack.last() {
                    None => {
                        root_seen = true;
                        meta.empty = false;
                        Frame::new(is_map, None, is_map, false)
                    }
                    Some(parent) => {
                        let is_key = parent.is_map && parent.key_next;
                        let field = (!is_key && parent.tracked).then_some(parent.key);
                        let tracked = is_map && parent.tracked && Field::is_tracked_map(field);
                        Frame::new(is_map, field, tracked, is_key)
                    }
                };
                stack.push(frame);
            }
            Event::MappingEnd | Event::SequenceEnd => {
                let done = stack.pop().expect("balanced events");
                if let Some(parent) = stack.last_mut() {
                    if done.is_key {
                        parent.key_next = false;
                        parent.key = Field::Other;
                    } else {
                        parent.advance();
                    }
                }
            }
            Event::Scalar(value, style, _, tag) => match stack.last_mut() {
                None => {
                    root_seen = true;
                    // A plain `null`/`~`/empty root is no document, as in Go.
                    let null = style == granit_parser::ScalarStyle::Plain
                        && matches!(value.as_ref(), "" | "~" | "null" | "Null" | "NULL");
                    meta.empty = null;
                }
                Some(frame) if frame.is_map && frame.key_next => {
                    frame.key_next = false;
                    frame.key = if frame.tracked {
                        if value == "<<" {
                            meta.uncertain = true;
                        }
                        Field::of(frame.field, &value)
                    } else {
                        Field::Other
                    };
                    if matches!(frame.field, Some(Field::Labels | Field::Annotations)) {
                        frame.key_text = typed(&value, style, tag.as_deref())
                            .and_then(|v| super::build::go_key(&v).ok());
                        meta.uncertain |= frame.key_text.is_none();
                    }
                }
                Some(frame) => {
                    if frame.is_map && frame.tracked {
                        if let Some(key) = frame.key_text.take() {
                            let list = if frame.field == Some(Field::Labels) {
                                &mut meta.labels
                            } else {
                                &mut meta.annotations
                            };
                            if let Some(serde_json::Value::String(text)) =
                                typed(&value, style, tag.as_deref())
                            {
                                list.retain(|(k, _)| *k != key);
                                list.push((key, text));
                            }
                        }
                        record(&mut meta, frame.key, value.into_owned());
                    }
                    frame.advance();
                }
            },
            Event::Alias(_) => {
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

impl Frame {
    fn new(is_map: bool, field: Option<Field>, tracked: bool, is_key: bool) -> Self {
        Frame {
            is_map,
            key_next: true,
            field,
            tracked,
            key: Field::Other,
            is_key,
            key_text: None,
        }
    }

    /// A value (or sequence item) finished.
    fn advance(&mut self) {
        if self.is_map {
            self.key_next = true;
            self.key = Field::Other;
        }
    }
}

fn record(meta: &mut Meta, field: Field, value: String) {
    let slot = match field {
        Field::ApiVersion => &mut meta.api_version,
        Field::Kind => &mut meta.kind,
        Field::Name => &mut meta.name,
        Field::Namespace => {
            meta.namespace = (!is_null(&value)).then_some(value);
            return;
        }
        Field::SourceAnnotation => {
            meta.source_annotation = Some(value);
            return;
        }
        Field::Hook => {
            meta.hook = Some(value);
            return;
        }
        Field::Metadata | Field::Annotations | Field::Labels | Field::Entry | Field::Other => {
            return;
        }
    };
    *slot = value;
}

/// A scalar typed as the tree builder types it.
fn typed(
    text: &str,
    style: granit_parser::ScalarStyle,
    tag: Option<&granit_parser::Tag>,
) -> Option<serde_json::Value> {
    let written = if style == granit_parser::ScalarStyle::Plain {
        super::resolve::Written::Plain
    } else {
        super::resolve::Written::Quoted
    };
    let (core, custom) = super::build::classify(tag);
    super::resolve::scalar(text, written, core, custom).ok()
}

fn is_null(value: &str) -> bool {
    matches!(value, "" | "~" | "null" | "Null" | "NULL")
}

fn syntax_error(error: ScanError) -> SyntaxError {
    let marker = error.marker();
    SyntaxError {
        line: marker.line(),
        column: marker.col() + 1,
        message: error.info(),
    }
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
    fn complex_keys_do_not_confuse_the_scan() {
        let meta = scan("? {kind: X}\n: 1\nkind: Real\n").unwrap();
        assert_eq!(meta.kind, "Real");
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
        assert!(err.message.contains("recursion limit"), "{}", err.message);
        let block: String = (0..300).map(|i| format!("{}a:\n", " ".repeat(i))).collect();
        let err = scan(&block).unwrap_err();
        assert!(
            err.message.contains("nesting deeper than 200"),
            "{}",
            err.message
        );
    }
}
