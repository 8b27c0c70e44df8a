//! Chunk → `serde_json::Value` in one pass over granit-parser's events (the parser under
//! serde-saphyr), typed as Kubernetes' Go YAML types it: scalars by go-yaml v2's resolver
//! (resolve.rs), keys stringified as sigs.k8s.io/yaml does, aliases copied, `<<` merged in
//! go-yaml v2's order, duplicate keys last-wins. About 3× faster than serde-saphyr's
//! deserializer, against which it is tested (tests/reader.rs) as well as against Go.

use std::collections::HashMap;

use granit_parser::{Event, Parser, ScalarStyle, ScanError, Tag};
use serde_json::{Map, Value};

use super::limits::{MAX_ALIAS_REPLAY, MAX_DEPTH, MAX_NODES};
use super::resolve::{self, CoreTag, Written};
use super::scan::SyntaxError;

/// Builds the chunk's document; `None` when it holds none (empty, comments only, `null`).
pub fn build(text: &str) -> Result<Option<Value>, SyntaxError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    while let Some(next) = parser.next_event() {
        let (event, span) = next.map_err(scan_error)?;
        builder.event(event).map_err(|message| SyntaxError {
            line: span.start.line(),
            column: span.start.col() + 1,
            message,
        })?;
    }
    if builder.documents > 1 {
        return Err(SyntaxError {
            line: 1,
            column: 1,
            message: "more than one document without a `---` separator".into(),
        });
    }
    Ok(builder.root.filter(|v| !v.is_null()))
}

/// A node being built, with its anchor and node count.
enum Frame {
    Map {
        map: Map<String, Value>,
        /// The pending key, once read.
        key: Option<Key>,
        anchor: usize,
        nodes: usize,
    },
    Seq {
        items: Vec<Value>,
        anchor: usize,
        nodes: usize,
    },
}

/// A mapping key, as Kubernetes will name it.
enum Key {
    Name(String),
    /// `<<`: the value is merged in.
    Merge,
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    root: Option<Value>,
    documents: usize,
    /// Anchored nodes by id, with their node counts.
    anchors: HashMap<usize, (Value, usize)>,
    nodes: usize,
    replayed: usize,
}

impl Builder {
    fn event(&mut self, event: Event<'_>) -> Result<(), String> {
        match event {
            Event::DocumentStart(..) => self.documents += 1,
            Event::MappingStart(_, anchor, _) => self.open(Frame::Map {
                map: Map::new(),
                key: None,
                anchor,
                nodes: 1,
            })?,
            Event::SequenceStart(_, anchor, _) => self.open(Frame::Seq {
                items: Vec::new(),
                anchor,
                nodes: 1,
            })?,
            Event::MappingEnd | Event::SequenceEnd => {
                let (value, anchor, nodes) = match self.stack.pop().expect("balanced events") {
                    Frame::Map {
                        map,
                        key,
                        anchor,
                        nodes,
                    } => {
                        debug_assert!(key.is_none(), "a mapping ends after a value");
                        (Value::Object(map), anchor, nodes)
                    }
                    Frame::Seq {
                        items,
                        anchor,
                        nodes,
                    } => (Value::Array(items), anchor, nodes),
                };
                self.complete(value, anchor, nodes)?;
            }
            Event::Scalar(text, style, anchor, tag) => {
                let written = if style == ScalarStyle::Plain {
                    Written::Plain
                } else {
                    Written::Quoted
                };
                let (core, custom) = classify(tag.as_deref());
                // A key is decided from its text, as go-yaml decodes keys on their own.
                if let Some(Frame::Map {
                    key: key @ None, ..
                }) = self.stack.last_mut()
                {
                    let is_merge = text == "<<"
                        && (written == Written::Plain && core.is_none() && !custom
                            || core == Some(CoreTag::Merge));
                    *key = Some(if is_merge {
                        Key::Merge
                    } else {
                        Key::Name(go_key(&resolve::scalar(&text, written, core, custom)?)?)
                    });
                    self.add_to_parent(1);
                    return self.count(1);
                }
                let value = resolve::scalar(&text, written, core, custom)?;
                self.count(1)?;
                self.complete(value, anchor, 1)?;
            }
            Event::Alias(id) => {
                let (value, nodes) =
                    self.anchors.get(&id).cloned().ok_or_else(|| {
                        "an alias refers to an anchor that contains it".to_owned()
                    })?;
                self.replayed += nodes;
                if self.replayed > MAX_ALIAS_REPLAY {
                    return Err(format!(
                        "aliases expand to more than {MAX_ALIAS_REPLAY} nodes; refusing what looks like an alias bomb"
                    ));
                }
                if let Some(Frame::Map {
                    key: key @ None, ..
                }) = self.stack.last_mut()
                {
                    *key = Some(Key::Name(go_key(&value)?));
                    self.add_to_parent(1);
                    return self.count(1);
                }
                self.count(nodes)?;
                self.complete(value, 0, nodes)?;
            }
            _ => {}
        }
        Ok(())
    }

    fn open(&mut self, frame: Frame) -> Result<(), String> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(format!("nesting deeper than {MAX_DEPTH} levels"));
        }
        if let Some(Frame::Map { key: None, .. }) = self.stack.last() {
            return Err(
                "a mapping or sequence as a mapping key cannot be read by Kubernetes".into(),
            );
        }
        self.stack.push(frame);
        self.count(1)
    }

    fn add_to_parent(&mut self, nodes: usize) {
        match self.stack.last_mut() {
            Some(Frame::Map { nodes: n, .. } | Frame::Seq { nodes: n, .. }) => *n += nodes,
            None => {}
        }
    }

    fn count(&mut self, nodes: usize) -> Result<(), String> {
        self.nodes += nodes;
        if self.nodes > MAX_NODES {
            return Err(format!("more than {MAX_NODES} nodes in one document"));
        }
        Ok(())
    }

    /// A node of `nodes` nodes is done: record its anchor and hand it to its parent.
    fn complete(&mut self, value: Value, anchor: usize, nodes: usize) -> Result<(), String> {
        if anchor != 0 {
            self.anchors.insert(anchor, (value.clone(), nodes));
        }
        self.add_to_parent(nodes);
        match self.stack.last_mut() {
            None => self.root = Some(value),
            Some(Frame::Seq { items, .. }) => items.push(value),
            Some(Frame::Map { map, key, .. }) => {
                match key.take().expect("keys are read before values") {
                    Key::Name(name) => {
                        map.insert(name, value);
                    }
                    Key::Merge => merge(map, value)?,
                }
            }
        }
        Ok(())
    }
}

/// go-yaml v2's merge: a mapping's entries overwrite what is there so far (keys written after
/// `<<` overwrite them in turn); in a sequence of mappings the earlier ones win.
fn merge(map: &mut Map<String, Value>, value: Value) -> Result<(), String> {
    match value {
        Value::Object(entries) => {
            map.extend(entries);
            Ok(())
        }
        Value::Array(items) => {
            for item in items.into_iter().rev() {
                match item {
                    Value::Object(entries) => map.extend(entries),
                    _ => {
                        return Err(
                            "map merge requires map or sequence of maps as the value".into()
                        );
                    }
                }
            }
            Ok(())
        }
        _ => Err("map merge requires map or sequence of maps as the value".into()),
    }
}

/// A scalar's explicit tag: a YAML core tag Go resolves, or another (kept as text).
pub(crate) fn classify(tag: Option<&Tag>) -> (Option<CoreTag>, bool) {
    match tag {
        None => (None, false),
        Some(t) => match t
            .suffix_in_namespace("tag:yaml.org,2002:")
            .and_then(|suffix| CoreTag::from_suffix(&suffix))
        {
            Some(core) => (Some(core), false),
            None => (None, true),
        },
    }
}

/// A key as sigs.k8s.io/yaml stringifies it for JSON (`convertToJSONableObject`).
pub(crate) fn go_key(value: &Value) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) if n.is_i64() => Ok(n.to_string()),
        Value::Number(n) if n.is_u64() => Err(format!(
            "mapping key {n} is too large for Kubernetes; quote it"
        )),
        Value::Number(n) => Ok(super::value::go_float_key(n.as_f64().expect("a float"))),
        Value::Null => Err("a null mapping key cannot be read by Kubernetes; quote it".into()),
        Value::Array(_) | Value::Object(_) => {
            Err("a mapping or sequence as a mapping key cannot be read by Kubernetes".into())
        }
    }
}

fn scan_error(error: ScanError) -> SyntaxError {
    let marker = error.marker();
    SyntaxError {
        line: marker.line(),
        column: marker.col() + 1,
        message: error.info(),
    }
}
