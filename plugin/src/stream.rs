//! Bytes ↔ documents. Reading: split, scan every chunk, parse only what the pipeline wants,
//! expand `kind: List`. Writing: untouched chunks byte for byte, changed ones re-emitted
//! under their own `---` line and `# Source:` header.

pub mod emit;
pub mod limits;
pub mod parse;
pub mod scan;
pub mod split;
pub mod value;

use serde_json::Value;

use crate::document::{Document, Origin, SOURCE_ANNOTATION};
use crate::error::{At, Error, Result};
use crate::parallel;
use scan::Meta;
use split::Chunk;

const BOM: &str = "\u{feff}";

/// How Helm marked provenance in the input, and so how new documents must be marked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// `# Source: <template>` before each document (Helm 3, `helm template`).
    Helm3,
    /// The `postrenderer.helm.sh/postrender-filename` annotation (Helm 4 plugins).
    Helm4,
}

/// A rendered release: the input text and the documents read from it.
#[derive(Debug)]
pub struct Stream {
    input: String,
    bom: bool,
    chunks: Vec<Chunk>,
    /// Parsed `kind: List` chunks, by chunk index, with their items moved out into documents.
    lists: Vec<(usize, Value)>,
    docs: Vec<Document>,
    form: Form,
}

/// Documents a scan found, before any full parse.
#[derive(Debug)]
pub struct Scanned {
    input: String,
    bom: bool,
    chunks: Vec<Chunk>,
    metas: Vec<Meta>,
}

impl Scanned {
    /// Splits and scans `input`: every chunk is checked for well-formed YAML.
    pub fn read(input: Vec<u8>) -> Result<Scanned> {
        let input = String::from_utf8(input).map_err(|e| Error::NotUtf8 {
            offset: e.utf8_error().valid_up_to(),
        })?;
        let bom = input.starts_with(BOM);
        let body = &input[if bom { BOM.len() } else { 0 }..];
        let offset = input.len() - body.len();
        let mut chunks = split::split(body)?;
        for chunk in &mut chunks {
            chunk.start += offset;
            chunk.end += offset;
        }
        let metas = parallel::map(
            &chunks,
            |c| c.end - c.start,
            |c| scan::scan(c.text(&input)).map_err(|e| yaml_error(c, c.source_comment.clone(), e)),
        )
        .into_iter()
        .enumerate()
        .map(|(i, meta)| meta.map_err(|e| renumber(e, i)))
        .collect::<Result<Vec<_>>>()?;
        Ok(Scanned {
            input,
            bom,
            chunks,
            metas,
        })
    }

    /// What the scan read of each chunk's document.
    pub fn metas(&self) -> &[Meta] {
        &self.metas
    }

    /// Parses the chunks `wanted` asks for (and every `List`, whose items are documents),
    /// in parallel, and builds the documents.
    pub fn parse(self, wanted: impl Fn(&Meta) -> bool + Sync) -> Result<Stream> {
        let Scanned {
            input,
            bom,
            chunks,
            metas,
        } = self;
        let jobs: Vec<(usize, bool)> = metas
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let list = is_list(m);
                (i, !m.empty && (m.uncertain || list || wanted(m)))
            })
            .collect();
        let values = parallel::map(
            &jobs,
            |&(i, go)| {
                if go {
                    chunks[i].end - chunks[i].start
                } else {
                    0
                }
            },
            |&(i, go)| -> Result<Option<Value>> {
                if !go {
                    return Ok(None);
                }
                let chunk = &chunks[i];
                parse::parse(chunk.text(&input)).map_err(|e| {
                    let source = chunk
                        .source_comment
                        .clone()
                        .or_else(|| metas[i].source_annotation.clone());
                    renumber(yaml_error(chunk, source, e), i)
                })
            },
        );
        let mut docs = Vec::with_capacity(chunks.len());
        let mut lists = Vec::new();
        for (i, (meta, value)) in metas.into_iter().zip(values).enumerate() {
            let value = value?;
            if meta.empty {
                continue;
            }
            let meta = match (&value, meta.uncertain) {
                (Some(v), true) => Meta::of_value(v),
                _ => meta,
            };
            let source = chunks[i]
                .source_comment
                .clone()
                .or_else(|| meta.source_annotation.clone());
            match value {
                Some(mut list) if is_list(&meta) => {
                    let items = list
                        .get_mut("items")
                        .and_then(Value::as_array_mut)
                        .map(std::mem::take)
                        .unwrap_or_default();
                    for (item, value) in items.into_iter().enumerate() {
                        let item_meta = Meta::of_value(&value);
                        let item_source = item_meta.source_annotation.clone().or(source.clone());
                        docs.push(Document::new(
                            i + 1,
                            item_source,
                            item_meta,
                            Origin::ListItem { chunk: i, item },
                            Some(value),
                        ));
                    }
                    lists.push((i, list));
                }
                value => docs.push(Document::new(i + 1, source, meta, Origin::Chunk(i), value)),
            }
        }
        let form = if docs.iter().any(|d| d.meta.source_annotation.is_some()) {
            Form::Helm4
        } else {
            Form::Helm3
        };
        Ok(Stream {
            input,
            bom,
            chunks,
            lists,
            docs,
            form,
        })
    }
}

fn is_list(meta: &Meta) -> bool {
    meta.kind == "List" && meta.api_version == "v1"
}

fn yaml_error(chunk: &Chunk, source: Option<String>, e: scan::SyntaxError) -> Error {
    Error::Yaml {
        at: At {
            document: 0,
            source,
        },
        line: chunk.line + e.line - 1,
        column: e.column,
        message: e.message,
    }
}

fn renumber(mut error: Error, index: usize) -> Error {
    if let Error::Yaml { at, .. } = &mut error {
        at.document = index + 1;
    }
    error
}

impl Stream {
    /// Reads a stream, parsing every document.
    pub fn read_all(input: Vec<u8>) -> Result<Stream> {
        Scanned::read(input)?.parse(|_| true)
    }

    /// Which provenance marker the input used.
    pub fn form(&self) -> Form {
        self.form
    }

    /// The documents, in stream order; generated ones at the end.
    pub fn documents(&self) -> &[Document] {
        &self.docs
    }

    /// The documents, for the transforms.
    pub fn documents_mut(&mut self) -> &mut [Document] {
        &mut self.docs
    }

    /// Adds a document made by vf-post, written in front of document `before` (an index into
    /// [`Self::documents`]) or at the end. `source` is its template path: written as the Helm 4
    /// annotation or a `# Source:` line, so `helm get manifest` shows where it came from.
    pub fn add(
        &mut self,
        mut value: Value,
        source: Option<String>,
        before: Option<usize>,
    ) -> &mut Document {
        if let (Form::Helm4, Some(path)) = (self.form, &source)
            && let Some(meta) = value.get_mut("metadata").filter(|m| m.is_object())
        {
            let annotations = crate::document::object_entry(meta, "annotations");
            annotations.insert(SOURCE_ANNOTATION.into(), Value::String(path.clone()));
        }
        let position =
            self.chunks.len() + 1 + self.docs.iter().filter(|d| d.is_generated()).count();
        let before = before.and_then(|i| match self.docs[i].origin {
            Origin::Chunk(c) | Origin::ListItem { chunk: c, .. } => Some(c),
            Origin::Generated { before } => before,
        });
        self.docs
            .push(Document::generated(position, source, value, before));
        self.docs.last_mut().expect("just pushed")
    }

    /// Whether writing would reproduce the input byte for byte.
    pub fn is_unchanged(&self) -> bool {
        self.docs.iter().all(|d| !d.is_changed() && !d.is_removed())
    }

    /// Writes the stream: untouched chunks as they came, changed ones re-emitted.
    pub fn write(&self) -> Vec<u8> {
        if self.is_unchanged() {
            return self.input.clone().into_bytes();
        }
        let by_chunk = self.docs_by_chunk();
        let emitted = self.emit_changed(&by_chunk);
        let mut out = String::with_capacity(self.input.len() + 1024);
        if self.bom {
            out.push_str(BOM);
        }
        for (i, chunk) in self.chunks.iter().enumerate() {
            self.write_generated(&mut out, Some(i));
            match &emitted[i] {
                Rewrite::Keep => {
                    let text = chunk.text(&self.input);
                    start_document(&mut out, self.bom, text.starts_with("---"));
                    out.push_str(text);
                }
                Rewrite::Drop => {}
                Rewrite::Body(body) => {
                    let preamble = chunk.preamble(&self.input);
                    start_document(&mut out, self.bom, preamble.starts_with("---"));
                    out.push_str(preamble);
                    out.push_str(body);
                }
            }
        }
        self.write_generated(&mut out, None);
        out.into_bytes()
    }

    /// Writes the generated documents placed in front of chunk `before` (or last, for `None`).
    fn write_generated(&self, out: &mut String, before: Option<usize>) {
        for doc in &self.docs {
            if doc.origin != (Origin::Generated { before }) || doc.is_removed() {
                continue;
            }
            start_document(out, self.bom, true);
            if let (Form::Helm3, Some(source)) = (self.form, &doc.source) {
                out.push_str("---\n# Source: ");
                out.push_str(source);
                out.push('\n');
            } else {
                out.push_str("---\n");
            }
            out.push_str(&emit::emit(
                doc.value().expect("generated documents have values"),
            ));
        }
    }

    /// For each chunk, the indices of its documents.
    fn docs_by_chunk(&self) -> Vec<Vec<usize>> {
        let mut by_chunk = vec![Vec::new(); self.chunks.len()];
        for (i, doc) in self.docs.iter().enumerate() {
            match doc.origin {
                Origin::Chunk(c) | Origin::ListItem { chunk: c, .. } => by_chunk[c].push(i),
                Origin::Generated { .. } => {}
            }
        }
        by_chunk
    }

    /// Decides and emits, in parallel, what each chunk becomes.
    fn emit_changed(&self, by_chunk: &[Vec<usize>]) -> Vec<Rewrite> {
        let indices: Vec<usize> = (0..self.chunks.len()).collect();
        parallel::map(
            &indices,
            |&c| {
                let touched = by_chunk[c].iter().any(|&d| self.docs[d].is_changed());
                if touched {
                    self.chunks[c].end - self.chunks[c].start
                } else {
                    0
                }
            },
            |&c| self.rewrite(c, &by_chunk[c]),
        )
    }

    fn rewrite(&self, chunk: usize, docs: &[usize]) -> Rewrite {
        let docs: Vec<&Document> = docs.iter().map(|&d| &self.docs[d]).collect();
        if let Some((_, list)) = self.lists.iter().find(|(c, _)| *c == chunk) {
            if docs.iter().all(|d| !d.is_changed() && !d.is_removed()) {
                return Rewrite::Keep;
            }
            let mut list = list.clone();
            let items: Vec<Value> = docs
                .iter()
                .filter(|d| !d.is_removed())
                .filter_map(|d| d.value().cloned())
                .collect();
            if let Some(map) = list.as_object_mut() {
                map.insert("items".into(), Value::Array(items));
            }
            return Rewrite::Body(emit::emit(&list));
        }
        match docs.first() {
            Some(doc) if doc.is_removed() => Rewrite::Drop,
            Some(doc) if doc.is_changed() => Rewrite::Body(emit::emit(
                doc.value().expect("changed documents have values"),
            )),
            _ => Rewrite::Keep,
        }
    }
}

/// What one chunk becomes in the output.
enum Rewrite {
    Keep,
    Drop,
    Body(String),
}

/// Ends the previous document's last line, and writes a `---` line unless the document
/// brings its own or is the first.
fn start_document(out: &mut String, bom: bool, has_separator: bool) {
    let written = out.len() > if bom { BOM.len() } else { 0 };
    if written && !out.ends_with('\n') {
        out.push('\n');
    }
    if written && !has_separator {
        out.push_str("---\n");
    }
}
