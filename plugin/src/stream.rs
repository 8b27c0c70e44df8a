//! Bytes ↔ documents. Reading: split, scan every chunk, parse only what the pipeline wants,
//! expand `kind: List`. Writing: untouched chunks byte for byte, changed ones re-emitted
//! under their own `---` line and `# Source:` header.

pub mod aliasing;
pub mod build;
pub mod characters;
pub mod emit;
pub mod key;
pub mod limits;
pub mod resolve;
pub mod scan;
pub mod split;
pub mod yaml11;

use std::sync::Mutex;

use serde_json::Value;

use crate::document::Meta;
use crate::document::{Document, Origin, SOURCE_ANNOTATION};
use crate::error::{At, Error, Result};
use crate::parallel;
use split::Chunk;

const BOM: &str = "\u{feff}";
/// The Helm 4 source annotation as a YAML key, for [`peek`].
const SOURCE_KEY: &str = "postrenderer.helm.sh/postrender-filename:";

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
    /// What aliases may still copy into the trees built later (for policy modules' patches).
    budget: limits::AliasBudget,
}

impl Stream {
    /// Reads a stream. Every chunk is checked for well-formed YAML. The documents `plan`
    /// keeps are parsed into trees, in parallel; `kind: List` chunks always are (their items
    /// are documents to the passes). The plan's local change is applied to every other
    /// document while reading, and a changed one is emitted at once and its tree freed, so
    /// memory follows what the pipeline reads, not the size of the input.
    pub fn read(input: Vec<u8>, plan: &Plan<'_>) -> Result<Stream> {
        let input = String::from_utf8(input).map_err(not_utf8)?;
        let bom = input.starts_with(BOM);
        let offset = if bom { BOM.len() } else { 0 };
        let mut chunks =
            split::split(&input[offset..]).map_err(|e| split_error(&input[offset..], e))?;
        for chunk in &mut chunks {
            chunk.start += offset;
            chunk.end += offset;
        }
        // A cheap guess of each kind decides what to parse; a wrong guess costs time, not
        // correctness: the scan of an unparsed chunk reads its real identity.
        let peeks: Vec<Peek> = chunks.iter().map(|c| peek(c.text(&input))).collect();
        let budget = limits::AliasBudget::for_input(input.len());
        let guessed_contract = peeks
            .iter()
            .filter_map(|p| p.meta.as_ref())
            .any(plan.is_contract);
        let read = |i: usize, has_contract: bool, known: Option<&Meta>| -> Result<Read> {
            let text = chunks[i].text(&input);
            let keep = |m: &Meta| m.uncertain || is_list(m) || (plan.keep)(m, has_contract);
            let wanted = |m: &Meta| keep(m) || plan.local.is_some();
            let built = match known {
                Some(meta) if !keep(meta) => return Ok(Read::scanned(meta.clone())),
                Some(_) => true,
                None => peeks[i].meta.as_ref().is_some_and(&wanted),
            };
            let source = chunks[i]
                .source_comment
                .clone()
                .or_else(|| peeks[i].source.clone());
            characters::check(text).map_err(|refused| {
                let (line, column) = characters::position(text, refused.offset);
                let why = scan::SyntaxError {
                    line,
                    column,
                    message: refused.why,
                };
                yaml_error(&chunks[i], source.clone(), why, i)
            })?;
            if !built {
                let meta =
                    scan::scan(text).map_err(|e| yaml_error(&chunks[i], source.clone(), e, i))?;
                if meta.empty || !wanted(&meta) {
                    return Ok(Read::scanned(meta));
                }
            }
            let mut value = build::build_within(text, &budget)
                .map_err(|e| yaml_error(&chunks[i], source.clone(), e, i))?;
            let meta = value.as_ref().map_or_else(Meta::empty, Meta::of_value);
            if let Some(list) = value.as_ref().filter(|_| is_list(&meta)) {
                check_list(list).map_err(|message| {
                    // The tree has no positions: point at the list's `items:` line.
                    let (line, column) = text
                        .find("items:")
                        .map_or((1, 1), |at| characters::position(text, at));
                    let why = scan::SyntaxError {
                        line,
                        column,
                        message,
                    };
                    yaml_error(&chunks[i], source.clone(), why, i)
                })?;
            }
            if keep(&meta) {
                return Ok(Read {
                    meta,
                    value,
                    early: None,
                });
            }
            let early = match (plan.local, value.as_mut()) {
                (Some(local), Some(v)) => local(v).map(|change| (emit::emit(v), change)),
                _ => None,
            };
            // What policy modules will see of it: its labels and annotations as changed.
            let meta = match (&early, &value) {
                (Some(_), Some(v)) => Meta::of_value(v),
                _ => meta,
            };
            Ok(Read {
                meta,
                value: None,
                early,
            })
        };
        let indices: Vec<usize> = (0..chunks.len()).collect();
        let mut reads = parallel::map(
            &indices,
            |&i| chunks[i].end - chunks[i].start,
            |&i| read(i, guessed_contract, None),
        )
        .into_iter()
        .collect::<Result<Vec<Read>>>()?;
        // The guess missed a contract (flow style, say): parse what the passes now want.
        if !guessed_contract && reads.iter().any(|r| (plan.is_contract)(&r.meta)) {
            for i in indices {
                if reads[i].value.is_none() && reads[i].early.is_none() && !reads[i].meta.empty {
                    reads[i] = read(i, true, Some(&reads[i].meta.clone()))?;
                }
            }
        }
        Ok(Self::assemble(input, bom, chunks, reads, budget))
    }

    /// Reads a stream, parsing every document.
    pub fn read_all(input: Vec<u8>) -> Result<Stream> {
        Self::read(
            input,
            &Plan {
                keep: &|_, _| true,
                is_contract: |_| false,
                local: None,
            },
        )
    }

    /// Builds the tree of document `index` if reading did not (a policy module patches it):
    /// from the text emitted while reading if there is one, else from the input.
    pub(crate) fn ensure_value(&mut self, index: usize) -> Result<()> {
        let Some(doc) = self.docs.get(index) else {
            return Ok(());
        };
        if doc.value().is_some() {
            return Ok(());
        }
        let (text, chunk) = match (&doc.early, doc.origin) {
            (Some((body, _)), Origin::Chunk(c)) => (body.clone(), c),
            (None, Origin::Chunk(c)) => (self.chunks[c].text(&self.input).to_owned(), c),
            _ => return Ok(()),
        };
        let value = build::build_within(&text, &self.budget)
            .map_err(|e| yaml_error(&self.chunks[chunk], doc.source.clone(), e, chunk))?;
        let doc = &mut self.docs[index];
        let emitted = doc.early.take().is_some();
        doc.set_value(value, emitted);
        Ok(())
    }

    /// Changes made while reading: (document, pass, change).
    pub fn early_changes(&self) -> impl Iterator<Item = (&Document, &str)> {
        self.docs
            .iter()
            .filter_map(|d| d.early.as_ref().map(|(_, change)| (d, change.as_str())))
    }

    fn assemble(
        input: String,
        bom: bool,
        chunks: Vec<Chunk>,
        reads: Vec<Read>,
        budget: limits::AliasBudget,
    ) -> Stream {
        let mut docs = Vec::with_capacity(chunks.len());
        let mut lists = Vec::new();
        for (i, Read { meta, value, early }) in reads.into_iter().enumerate() {
            if meta.empty {
                continue;
            }
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
                value => {
                    let mut doc = Document::new(i + 1, source, meta, Origin::Chunk(i), value);
                    doc.early = early;
                    docs.push(doc);
                }
            }
        }
        let form = if docs.iter().any(|d| d.meta.source_annotation.is_some()) {
            Form::Helm4
        } else {
            Form::Helm3
        };
        Stream {
            input,
            bom,
            chunks,
            lists,
            docs,
            form,
            budget,
        }
    }
}

/// A change that needs only the document itself: says what it did, if anything.
pub type LocalChange<'a> = dyn Fn(&mut Value) -> Option<String> + Sync + 'a;

/// What reading does with each document.
pub struct Plan<'a> {
    /// Documents something reads after the read (a release-wide pass, a rule, a policy
    /// module), given their identity and whether the release holds a vf-post contract.
    pub keep: &'a (dyn Fn(&Meta, bool) -> bool + Sync),
    /// Whether a document is the release's vf-post contract (the reader knows documents, not
    /// what a contract is).
    pub is_contract: fn(&Meta) -> bool,
    /// A change needing only the document itself; returns what it did, if anything.
    pub local: Option<&'a LocalChange<'a>>,
}

/// What reading one chunk gave.
struct Read {
    meta: Meta,
    value: Option<Value>,
    /// Emitted while reading: the body and what changed.
    early: Option<(String, String)>,
}

impl Read {
    fn scanned(meta: Meta) -> Read {
        Read {
            meta,
            value: None,
            early: None,
        }
    }
}

/// A cheap look at a chunk's lines: a guess of its identity, and its template.
struct Peek {
    /// `apiVersion` and `kind` from unindented lines; `None` without a `kind:` line (flow
    /// style, say). Only a hint for what to parse.
    meta: Option<Meta>,
    /// The Helm 4 source annotation, so even a document that cannot be parsed names its template.
    source: Option<String>,
}

fn peek(text: &str) -> Peek {
    let mut meta = Meta::default();
    let mut found = false;
    let mut source = None;
    let value = |rest: &str| {
        let rest = rest.split(" #").next().unwrap_or(rest).trim();
        rest.trim_matches(|c| c == '"' || c == '\'').to_owned()
    };
    for line in text.lines() {
        if let Some(kind) = line.strip_prefix("kind:") {
            meta.kind = value(kind);
            found = true;
        } else if let Some(api_version) = line.strip_prefix("apiVersion:") {
            meta.api_version = value(api_version);
        } else if source.is_none()
            && let Some(rest) = line.trim_start().strip_prefix(SOURCE_KEY)
        {
            source = Some(value(rest));
        }
    }
    Peek {
        meta: found.then_some(meta),
        source,
    }
}

/// Invalid UTF-8, placed: the document holding it, its line and column.
fn not_utf8(e: std::string::FromUtf8Error) -> Error {
    let bytes = e.as_bytes();
    let valid_up_to = e.utf8_error().valid_up_to();
    let valid = std::str::from_utf8(&bytes[..valid_up_to]).expect("valid up to there");
    let (line, column) = characters::position(valid, valid_up_to);
    let line_start = valid.rfind('\n').map_or(0, |i| i + 1);
    // The document is the last one that starts before the bad byte.
    let (document, start) = match split::split(&valid[..line_start]) {
        Ok(chunks) => chunks.last().map_or((1, 0), |c| (chunks.len(), c.start)),
        Err(e) => (e.chunk + 1, e.chunk_start),
    };
    let text = &valid[start..];
    let source = split::split(text)
        .ok()
        .and_then(|c| c.first().and_then(|c| c.source_comment.clone()))
        .or_else(|| peek(text).source);
    Error::Yaml {
        at: At { document, source },
        line,
        column,
        message: format!(
            "invalid UTF-8 (byte 0x{:02X}); Helm writes UTF-8 and Kubernetes refuses anything else",
            bytes[valid_up_to]
        ),
    }
}

/// A stream that cannot be cut into documents, placed.
fn split_error(input: &str, e: split::SplitError) -> Error {
    let source = e
        .source
        .or_else(|| peek(&input[e.chunk_start..e.offset]).source);
    Error::Yaml {
        at: At {
            document: e.chunk + 1,
            source,
        },
        line: e.line,
        column: e.column,
        message: e.message,
    }
}

/// Whether Kubernetes reads the document as a list: any object with a top-level `items`,
/// whatever its kind (apimachinery decodes it as an `UnstructuredList`, and Helm's and
/// kubectl's builders apply its items, never the wrapper).
fn is_list(meta: &Meta) -> bool {
    meta.items
}

/// A list's items, as Kubernetes applies them: mappings, none a list itself (Kubernetes would
/// flatten it further; vf-post reads one level and refuses the rest), each readable.
fn check_list(list: &Value) -> std::result::Result<(), String> {
    let items = list.get("items").and_then(Value::as_array).ok_or(
        "`items` is not a list: Kubernetes reads an object with `items` as a list of objects, \
         and cannot read this one",
    )?;
    for (n, item) in items.iter().enumerate() {
        let n = n + 1;
        if !item.is_object() {
            return Err(format!("item {n} of the list is not an object"));
        }
        if item.get("items").is_some() {
            return Err(format!(
                "item {n} of the list has `items` itself: Kubernetes would apply that list's \
                 items too; put them in the outer list"
            ));
        }
        build::check_metadata(item).map_err(|(_, m)| format!("item {n} of the list: {m}"))?;
    }
    Ok(())
}

fn yaml_error(chunk: &Chunk, source: Option<String>, e: scan::SyntaxError, index: usize) -> Error {
    Error::Yaml {
        at: At {
            document: index + 1,
            source: source.or_else(|| chunk.source_comment.clone()),
        },
        line: chunk.line + e.line - 1,
        column: e.column,
        message: e.message,
    }
}

impl Stream {
    /// The documents, in stream order; generated ones at the end.
    pub fn documents(&self) -> &[Document] {
        &self.docs
    }

    /// The documents, for the transforms.
    pub fn documents_mut(&mut self) -> &mut [Document] {
        &mut self.docs
    }

    /// Adds a document made by vf-post, written in front of document `before` (an index into
    /// [`Self::documents`]). `source` is its template path: written as the Helm 4
    /// annotation or a `# Source:` line, so `helm get manifest` shows where it came from.
    pub fn add(
        &mut self,
        mut value: Value,
        source: Option<String>,
        before: usize,
    ) -> &mut Document {
        if let (Form::Helm4, Some(path)) = (self.form, &source)
            && let Some(meta) = value.get_mut("metadata").filter(|m| m.is_object())
        {
            let annotations = crate::document::object_entry(meta, "annotations")
                .expect("vf-post makes its documents with annotations as a mapping");
            annotations.insert(SOURCE_ANNOTATION.into(), Value::String(path.clone()));
        }
        let position =
            self.chunks.len() + 1 + self.docs.iter().filter(|d| d.is_generated()).count();
        let before = match self.docs[before].origin {
            Origin::Chunk(c) | Origin::ListItem { chunk: c, .. } => c,
            Origin::Generated { before } => before,
        };
        self.docs
            .push(Document::generated(position, source, value, before));
        self.docs.last_mut().expect("just pushed")
    }

    /// Writes the stream: untouched chunks as they came, changed ones re-emitted. Consumes
    /// the stream so each document's tree is freed as soon as it is written out.
    pub fn into_output(mut self) -> Vec<u8> {
        let changed = parallel::map(
            &self.docs,
            |d| if d.is_touched() { 1 } else { 0 },
            Document::is_changed,
        );
        if !changed.iter().any(|&c| c) && !self.docs.iter().any(Document::is_removed) {
            return self.input.into_bytes();
        }
        let by_chunk = self.docs_by_chunk();
        // Trees of rewritten chunks move into slots the emitting workers empty, so they are
        // freed as they go; the others are not needed any more.
        let mut rewritten = vec![false; self.chunks.len()];
        for (c, members) in by_chunk.iter().enumerate() {
            rewritten[c] = members.iter().any(|&d| changed[d]);
        }
        let slots: Vec<Mutex<Option<Pending>>> = self
            .docs
            .iter_mut()
            .map(|d| {
                let keep = match d.origin {
                    Origin::Chunk(c) | Origin::ListItem { chunk: c, .. } => rewritten[c],
                    Origin::Generated { .. } => false,
                };
                let pending = match d.early.take() {
                    Some((body, _)) if keep => Some(Pending::Text(body)),
                    _ if keep => d.take_value().map(Pending::Tree),
                    _ => None,
                };
                Mutex::new(pending)
            })
            .collect();
        let (docs, lists) = (&self.docs, &self.lists);
        let indices: Vec<usize> = (0..self.chunks.len()).collect();
        let emitted = parallel::map(
            &indices,
            |&c| {
                let touched = by_chunk[c].iter().any(|&d| changed[d]);
                if touched {
                    self.chunks[c].end - self.chunks[c].start
                } else {
                    0
                }
            },
            |&c| rewrite(docs, lists, c, &by_chunk[c], &changed, &slots),
        );
        drop(slots);
        let mut out = String::with_capacity(self.input.len() + 1024);
        if self.bom {
            out.push_str(BOM);
        }
        for (i, (chunk, rewritten)) in self.chunks.iter().zip(emitted).enumerate() {
            self.write_generated(&mut out, i);
            match rewritten {
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
                    out.push_str(&body);
                }
            }
        }
        out.into_bytes()
    }

    /// Writes the generated documents placed in front of chunk `before`.
    fn write_generated(&self, out: &mut String, before: usize) {
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
}

/// What chunk `chunk` becomes: kept, dropped, or its changed document(s) re-emitted.
fn rewrite(
    docs: &[Document],
    lists: &[(usize, Value)],
    chunk: usize,
    members: &[usize],
    changed: &[bool],
    slots: &[Mutex<Option<Pending>>],
) -> Rewrite {
    let take = |d: usize| {
        slots[d]
            .lock()
            .expect("no worker panics holding a slot")
            .take()
    };
    let body = |pending: Option<Pending>| match pending.expect("changed documents have a value") {
        Pending::Text(text) => text,
        Pending::Tree(value) => emit::emit(&value),
    };
    let untouched = members
        .iter()
        .all(|&d| !changed[d] && !docs[d].is_removed());
    if let Some((_, list)) = lists.iter().find(|(c, _)| *c == chunk) {
        if untouched {
            return Rewrite::Keep;
        }
        let mut list = list.clone();
        let items: Vec<Value> = members
            .iter()
            .filter(|&&d| !docs[d].is_removed())
            .filter_map(|&d| match take(d) {
                Some(Pending::Tree(value)) => Some(value),
                _ => None,
            })
            .collect();
        if let Some(map) = list.as_object_mut() {
            map.insert("items".into(), Value::Array(items));
        }
        return Rewrite::Body(emit::emit(&list));
    }
    match members.first() {
        Some(&d) if docs[d].is_removed() => Rewrite::Drop,
        Some(&d) if changed[d] => Rewrite::Body(body(take(d))),
        _ => Rewrite::Keep,
    }
}

/// A changed document waiting to be written: its tree, or its text emitted while reading.
enum Pending {
    Tree(Value),
    Text(String),
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
