//! Chunk → `serde_json::Value` in one pass over granit-parser's events (the parser under
//! serde-saphyr), typed as Kubernetes' Go YAML types it: scalars by go-yaml v2's resolver
//! (resolve.rs), keys stringified as sigs.k8s.io/yaml does, aliases copied, `<<` merged in
//! go-yaml v2's order, duplicate keys last-wins. About 3× faster than serde-saphyr's
//! deserializer. Go judges it: tests/differential, plugin/tests/fidelity.rs.

use std::collections::HashMap;

use granit_parser::{Event, ScalarStyle, Span, StructureStyle, Tag};
use serde_json::{Map, Value};

use super::aliasing::Aliasing;
use super::key::{self, GoKey, Keys};
use super::limits::{AliasBudget, MAX_DEPTH, MAX_NODES, NODE_BYTES};
use super::resolve::{self, CoreTag, Written};
use super::scan::SyntaxError;
use super::yaml11::{Checks, Place};

/// Builds the chunk's document, its aliases' copies paid from `budget` (the stream's);
/// `None` when it holds none (empty, comments only, `null`).
pub fn build_within(text: &str, budget: &AliasBudget) -> Result<Option<Value>, SyntaxError> {
    let mut builder = Builder::new(budget);
    let mut parser = super::yaml11::parser(text);
    let mut checks = Checks::new(text);
    while let Some(next) = parser.next_event() {
        let (event, span) = next.map_err(super::yaml11::syntax_error)?;
        checks
            .next(&span, builder.in_flow())
            .map_err(|message| SyntaxError {
                line: span.start.line(),
                column: span.start.col() + 1,
                message,
            })?;
        builder
            .event(&checks, event, &span)
            .map_err(|message| SyntaxError {
                line: span.start.line(),
                column: span.start.col() + 1,
                message,
            })?;
    }
    if builder.documents > 1 {
        return Err(SyntaxError {
            line: 1,
            column: 1,
            message: super::scan::SECOND_DOCUMENT.into(),
        });
    }
    let root = builder.root.filter(|v| !v.is_null());
    if let Some(value) = &root {
        check_metadata(value).map_err(|(field, message)| {
            // The tree has no positions: point at the field's first line.
            let needle = format!("{field}:");
            let (line, column) = text
                .find(&needle)
                .map_or((1, 1), |at| super::characters::position(text, at));
            SyntaxError {
                line,
                column,
                message,
            }
        })?;
    }
    Ok(root)
}

/// `metadata`, its `labels` and its `annotations` are mappings (or null) in any object
/// Kubernetes reads; anything else is refused, naming the field.
pub fn check_metadata(value: &Value) -> Result<(), (&'static str, String)> {
    let not_a_mapping = |field: &'static str, path: &str, v: &Value| {
        let what = match v {
            Value::Array(_) => "a list",
            Value::String(_) => "a string",
            Value::Number(_) => "a number",
            Value::Bool(_) => "a boolean",
            Value::Null | Value::Object(_) => return Ok(()),
        };
        Err((
            field,
            format!("{path} is {what}, not a mapping; Kubernetes cannot read the object"),
        ))
    };
    let Some(metadata) = value.get("metadata") else {
        return Ok(());
    };
    not_a_mapping("metadata", "metadata", metadata)?;
    for field in ["labels", "annotations"] {
        if let Some(v) = metadata.get(field) {
            not_a_mapping(field, &format!("metadata.{field}"), v)?;
        }
    }
    Ok(())
}

/// A node being built, with its anchor and weight (what it costs in memory, about).
enum Frame {
    Map {
        map: Map<String, Value>,
        /// Its non-string keys so far.
        keys: Keys,
        /// The pending key, once read.
        key: Option<Key>,
        anchor: usize,
        weight: usize,
        flow: bool,
    },
    Seq {
        items: Vec<Value>,
        anchor: usize,
        weight: usize,
        flow: bool,
    },
}

/// A mapping key, as Kubernetes will name it.
enum Key {
    Name(GoKey),
    /// `<<`: the value is merged in.
    Merge,
}

struct Builder<'b> {
    stack: Vec<Frame>,
    root: Option<Value>,
    documents: usize,
    /// Anchored nodes by id, with their weights.
    anchors: HashMap<usize, (Value, usize)>,
    nodes: usize,
    budget: &'b AliasBudget,
    /// Go's own alias guard, which refuses documents within our budget too.
    aliasing: Aliasing,
}

impl<'b> Builder<'b> {
    fn new(budget: &'b AliasBudget) -> Self {
        Builder {
            stack: Vec::new(),
            root: None,
            documents: 0,
            anchors: HashMap::new(),
            nodes: 0,
            budget,
            aliasing: Aliasing::default(),
        }
    }

    fn in_flow(&self) -> bool {
        matches!(
            self.stack.last(),
            Some(Frame::Map { flow: true, .. } | Frame::Seq { flow: true, .. })
        )
    }

    fn event(&mut self, checks: &Checks<'_>, event: Event<'_>, span: &Span) -> Result<(), String> {
        let in_flow = self.in_flow();
        let place = match self.stack.last() {
            Some(Frame::Map {
                flow: true,
                key: None,
                ..
            }) => Place::FlowKey,
            _ if in_flow => Place::Flow,
            _ => Place::Block,
        };
        match event {
            Event::DocumentStart(..) => {
                self.documents += 1;
                self.aliasing.document()?;
            }
            Event::MappingStart(style, anchor, _) => self.open(Frame::Map {
                map: Map::new(),
                keys: Keys::default(),
                key: None,
                anchor,
                weight: NODE_BYTES,
                flow: in_flow || style == StructureStyle::Flow,
            })?,
            Event::SequenceStart(style, anchor, _) => self.open(Frame::Seq {
                items: Vec::new(),
                anchor,
                weight: NODE_BYTES,
                flow: in_flow || style == StructureStyle::Flow,
            })?,
            Event::MappingEnd | Event::SequenceEnd => {
                self.aliasing.close()?;
                let (value, anchor, weight) = match self.stack.pop().expect("balanced events") {
                    Frame::Map {
                        map,
                        key,
                        anchor,
                        weight,
                        ..
                    } => {
                        debug_assert!(key.is_none(), "a mapping ends after a value");
                        (Value::Object(map), anchor, weight)
                    }
                    Frame::Seq {
                        items,
                        anchor,
                        weight,
                        ..
                    } => (Value::Array(items), anchor, weight),
                };
                self.complete(value, anchor, weight)?;
            }
            Event::Scalar(value, style, anchor, tag) => {
                checks.scalar(&value, style, span, place)?;
                let text = value;
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
                    // Go never decodes the `<<` key itself.
                    if !is_merge {
                        self.aliasing.scalar(anchor)?;
                    }
                    *key = Some(if is_merge {
                        Key::Merge
                    } else {
                        Key::Name(key::go_key(&resolve::scalar(
                            &text, written, core, custom,
                        )?)?)
                    });
                    self.add_to_parent(NODE_BYTES + text.len());
                    return self.count(1);
                }
                let value = resolve::as_admitted(resolve::scalar(&text, written, core, custom)?);
                self.aliasing.scalar(anchor)?;
                self.count(1)?;
                self.complete(value, anchor, NODE_BYTES + text.len())?;
            }
            Event::Anchor(_, name) => super::yaml11::check_anchor(&name)?,
            Event::Alias(id) => {
                checks.alias(span)?;
                self.aliasing.alias(id)?;
                let weight =
                    self.anchors.get(&id).map(|(_, w)| *w).ok_or_else(|| {
                        "an alias refers to an anchor that contains it".to_owned()
                    })?;
                // Paid before the copy is made: a bomb stops before it takes the memory.
                self.budget.spend(weight)?;
                let value = self.anchors[&id].0.clone();
                if let Some(Frame::Map {
                    key: key @ None, ..
                }) = self.stack.last_mut()
                {
                    *key = Some(Key::Name(key::go_key(&value)?));
                    self.add_to_parent(weight);
                    return self.count(1);
                }
                // go-yaml merges an alias only of a mapping (a list of aliases, written out, is fine).
                if matches!(
                    self.stack.last(),
                    Some(Frame::Map {
                        key: Some(Key::Merge),
                        ..
                    })
                ) && !value.is_object()
                {
                    return Err(MERGE_WANTS_MAP.into());
                }
                self.count(weight / NODE_BYTES)?;
                self.complete(value, 0, weight)?;
            }
            _ => {}
        }
        Ok(())
    }

    fn open(&mut self, frame: Frame) -> Result<(), String> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(format!("nesting deeper than {MAX_DEPTH} levels"));
        }
        let merged_items = match self.stack.last() {
            Some(Frame::Map { key: None, .. }) => {
                return Err(
                    "a mapping or sequence as a mapping key cannot be read by Kubernetes".into(),
                );
            }
            Some(Frame::Map {
                key: Some(Key::Merge),
                ..
            }) => matches!(frame, Frame::Seq { .. }),
            _ => false,
        };
        let anchor = match &frame {
            Frame::Map { anchor, .. } | Frame::Seq { anchor, .. } => *anchor,
        };
        self.aliasing.open(anchor, !merged_items)?;
        self.stack.push(frame);
        self.count(1)
    }

    fn add_to_parent(&mut self, weight: usize) {
        match self.stack.last_mut() {
            Some(Frame::Map { weight: w, .. } | Frame::Seq { weight: w, .. }) => *w += weight,
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

    /// A node of `weight` is done: record its anchor and hand it to its parent.
    fn complete(&mut self, value: Value, anchor: usize, weight: usize) -> Result<(), String> {
        if anchor != 0 {
            self.anchors.insert(anchor, (value.clone(), weight));
        }
        self.add_to_parent(weight);
        match self.stack.last_mut() {
            None => self.root = Some(value),
            Some(Frame::Seq { items, .. }) => items.push(value),
            Some(Frame::Map { map, keys, key, .. }) => {
                match key.take().expect("keys are read before values") {
                    Key::Name(name) => {
                        keys.admit(&name, map.contains_key(&name.name))?;
                        map.insert(name.name, value);
                    }
                    Key::Merge => merge(map, keys, value)?,
                }
            }
        }
        Ok(())
    }
}

/// go-yaml's words.
const MERGE_WANTS_MAP: &str = "map merge requires map or sequence of maps as the value";

/// go-yaml v2's merge: a mapping's entries overwrite what is there so far (keys written after
/// `<<` overwrite them in turn); in a sequence of mappings the earlier ones win.
fn merge(map: &mut Map<String, Value>, keys: &mut Keys, value: Value) -> Result<(), String> {
    let mut extend = |entries: Map<String, Value>| -> Result<(), String> {
        for (name, value) in entries {
            keys.admit(&key::merged_key(&name), map.contains_key(&name))?;
            map.insert(name, value);
        }
        Ok(())
    };
    match value {
        Value::Object(entries) => extend(entries),
        Value::Array(items) => {
            for item in items.into_iter().rev() {
                match item {
                    Value::Object(entries) => extend(entries)?,
                    _ => {
                        return Err(MERGE_WANTS_MAP.into());
                    }
                }
            }
            Ok(())
        }
        _ => Err(MERGE_WANTS_MAP.into()),
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
