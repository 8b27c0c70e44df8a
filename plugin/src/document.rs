//! One Kubernetes object of the release, with where it came from.

use serde_json::{Map, Value};

use crate::error::At;

/// Helm 4 stamps each document with the template it came from (reference/helm.md §4).
pub const SOURCE_ANNOTATION: &str = "postrenderer.helm.sh/postrender-filename";
/// Marks a Helm hook; hooks are reclassified by Helm after post-rendering.
pub const HOOK_ANNOTATION: &str = "helm.sh/hook";

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
    /// The object has a top-level `items` key: Kubernetes' client reads any such object as a
    /// list and applies its items, whatever its kind.
    pub items: bool,
    /// The chunk holds no document: empty, comments only, or `null`.
    pub empty: bool,
    /// The scan saw aliases or merge keys where these fields live: only a full parse knows them.
    pub uncertain: bool,
}

/// Where a document's text lives in the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A whole chunk of the input.
    Chunk(usize),
    /// Item `item` of the `kind: List` in chunk `chunk`.
    ListItem {
        /// The List's chunk.
        chunk: usize,
        /// Index in its `items`.
        item: usize,
    },
    /// Made by vf-post (the services.json ConfigMap), written before chunk `before`.
    Generated {
        /// The chunk it is written in front of.
        before: usize,
    },
}

/// One object of the rendered release.
#[derive(Debug, Clone)]
pub struct Document {
    /// 1-based position in the stream, as a person counts documents; generated ones continue it.
    pub position: usize,
    /// Chart template that produced it (`# Source:` or the Helm 4 annotation).
    pub source: Option<String>,
    pub(crate) meta: Meta,
    pub(crate) origin: Origin,
    value: Option<Value>,
    /// A fingerprint of the value as read, taken at the first edit, to tell a real change
    /// from a no-op without keeping a copy.
    original: Option<Fingerprint>,
    removed: bool,
    /// Emitted while reading (a local change), with what changed; the tree is gone.
    pub(crate) early: Option<(String, String)>,
    /// The labels and annotations before any policy module mutated the object: what decides
    /// its team and its exemptions, so a module can neither waive what it adds nor move the
    /// object to a laxer team.
    authored: Option<Box<Authored>>,
}

/// Labels and annotations as the chart wrote them (and vf-post's passes left them).
#[derive(Debug, Clone)]
struct Authored {
    labels: Vec<(String, String)>,
    annotations: Vec<(String, String)>,
}

impl Document {
    pub(crate) fn new(
        position: usize,
        source: Option<String>,
        meta: Meta,
        origin: Origin,
        value: Option<Value>,
    ) -> Self {
        Self {
            position,
            source,
            meta,
            origin,
            value,
            original: None,
            removed: false,
            early: None,
            authored: None,
        }
    }

    /// A document vf-post creates.
    pub(crate) fn generated(
        position: usize,
        source: Option<String>,
        value: Value,
        before: usize,
    ) -> Self {
        let meta = Meta::of_value(&value);
        let origin = Origin::Generated { before };
        let mut doc = Self::new(position, source, meta, origin, Some(value));
        doc.original = Some(Fingerprint::NEW);
        doc
    }

    /// `apiVersion`.
    pub fn api_version(&self) -> &str {
        &self.meta.api_version
    }

    /// `kind`.
    pub fn kind(&self) -> &str {
        &self.meta.kind
    }

    /// `metadata.name`.
    pub fn name(&self) -> &str {
        &self.meta.name
    }

    /// `metadata.namespace`, when the chart set it.
    pub fn namespace(&self) -> Option<&str> {
        self.meta.namespace.as_deref()
    }

    /// The API group of `apiVersion` (`""` for the core group).
    pub fn group(&self) -> &str {
        self.api_version()
            .rsplit_once('/')
            .map_or("", |(group, _)| group)
    }

    /// Whether Helm treats this document as a hook.
    pub fn is_hook(&self) -> bool {
        self.meta.hook.is_some()
    }

    /// The `helm.sh/hook` value (`pre-install,pre-upgrade`, `test`, ...).
    pub fn hook(&self) -> Option<&str> {
        self.meta.hook.as_deref()
    }

    /// Where to point a person: document position and template.
    pub fn at(&self) -> At {
        At {
            document: self.position,
            source: self.source.clone(),
        }
    }

    /// The parsed object, if the pipeline asked for this kind to be parsed.
    pub fn value(&self) -> Option<&Value> {
        self.value.as_ref()
    }

    /// The object, for changing it. Call only when about to change something: the first call
    /// fingerprints the original so the writer can still tell whether anything changed, and
    /// when the edit ends the document's labels and annotations are read again from the tree,
    /// so that team selection, exemptions and policy modules see what leaves vf-post.
    pub fn value_mut(&mut self) -> Option<Edit<'_>> {
        self.value.as_ref()?;
        if self.original.is_none() {
            self.original = self.value.as_ref().map(Fingerprint::of);
        }
        Some(Edit { doc: self })
    }

    /// Gives the document the tree reading did not build; `changed` when it stands for text
    /// already changed while reading.
    pub(crate) fn set_value(&mut self, value: Option<Value>, changed: bool) {
        self.value = value;
        self.original = changed.then_some(Fingerprint::NEW);
    }

    /// Moves the tree out (the writer frees it once written).
    pub(crate) fn take_value(&mut self) -> Option<Value> {
        if self.is_generated() {
            None
        } else {
            self.value.take()
        }
    }

    /// Whether something took the value for changing.
    pub fn is_touched(&self) -> bool {
        self.original.is_some() || self.early.is_some()
    }

    /// Whether the object now differs from what was read (or is new). Fingerprints the
    /// value: call it once per document.
    pub fn is_changed(&self) -> bool {
        match (self.original, &self.value) {
            _ if self.removed => false,
            _ if self.early.is_some() => true,
            (Some(original), Some(value)) => {
                original == Fingerprint::NEW || original != Fingerprint::of(value)
            }
            _ => false,
        }
    }

    /// Leaves the document out of the output (the contract is for vf-post only).
    pub fn remove(&mut self) {
        self.removed = true;
    }

    /// Whether the document is left out of the output.
    pub fn is_removed(&self) -> bool {
        self.removed
    }

    /// Whether the document was made by vf-post.
    pub fn is_generated(&self) -> bool {
        matches!(self.origin, Origin::Generated { .. })
    }

    /// `metadata.labels` with string values, as Kubernetes reads them, parsed or not.
    pub fn labels(&self) -> &[(String, String)] {
        &self.meta.labels
    }

    /// `metadata.annotations` with string values, as Kubernetes reads them, parsed or not.
    pub fn annotations(&self) -> &[(String, String)] {
        &self.meta.annotations
    }

    /// Keeps the labels and annotations as they are now, before a policy module mutates the
    /// object (the first time only).
    pub(crate) fn keep_authored(&mut self) {
        if self.authored.is_none() {
            self.authored = Some(Box::new(Authored {
                labels: self.meta.labels.clone(),
                annotations: self.meta.annotations.clone(),
            }));
        }
    }

    /// `metadata.labels[key]` before any policy module's mutation: what selects the team.
    pub fn authored_label(&self, key: &str) -> Option<&str> {
        match &self.authored {
            Some(authored) => lookup(&authored.labels, key),
            None => self.label(key),
        }
    }

    /// `metadata.annotations[key]` before any policy module's mutation: what exempts.
    pub fn authored_annotation(&self, key: &str) -> Option<&str> {
        match &self.authored {
            Some(authored) => lookup(&authored.annotations, key),
            None => self.annotation(key),
        }
    }

    /// `metadata.annotations[key]` as a string, parsed or not.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        lookup(&self.meta.annotations, key)
    }

    /// `metadata.labels[key]` as a string, parsed or not.
    pub fn label(&self, key: &str) -> Option<&str> {
        lookup(&self.meta.labels, key)
    }
}

fn lookup<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// A change to a document's tree under way; when it ends, the document's metadata is read
/// again from the tree (its identity never changes: patches may not touch it).
pub struct Edit<'d> {
    doc: &'d mut Document,
}

impl std::ops::Deref for Edit<'_> {
    type Target = Value;

    fn deref(&self) -> &Value {
        self.doc.value.as_ref().expect("an edit has a tree")
    }
}

impl std::ops::DerefMut for Edit<'_> {
    fn deref_mut(&mut self) -> &mut Value {
        self.doc.value.as_mut().expect("an edit has a tree")
    }
}

impl Drop for Edit<'_> {
    fn drop(&mut self) {
        if let Some(value) = &self.doc.value {
            let fresh = Meta::of_value(value);
            let meta = &mut self.doc.meta;
            meta.labels = fresh.labels;
            meta.annotations = fresh.annotations;
            meta.hook = fresh.hook;
            meta.source_annotation = fresh.source_annotation;
        }
    }
}

impl Document {}

impl Meta {
    /// The identity of a chunk holding no document.
    pub(crate) fn empty() -> Meta {
        Meta {
            empty: true,
            ..Meta::default()
        }
    }

    /// Identity read from a parsed value (for List items and generated documents).
    pub(crate) fn of_value(value: &Value) -> Meta {
        let text = |pointer: &str| value.pointer(pointer).and_then(Value::as_str);
        let annotation = |key: &str| {
            value
                .pointer("/metadata/annotations")
                .and_then(|a| a.get(key))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let pairs = |key: &str| -> Vec<(String, String)> {
            value
                .pointer(&format!("/metadata/{key}"))
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                .collect()
        };
        Meta {
            labels: pairs("labels"),
            annotations: pairs("annotations"),
            api_version: text("/apiVersion").unwrap_or_default().to_owned(),
            kind: text("/kind").unwrap_or_default().to_owned(),
            name: text("/metadata/name").unwrap_or_default().to_owned(),
            namespace: text("/metadata/namespace").map(str::to_owned),
            source_annotation: annotation(SOURCE_ANNOTATION),
            hook: annotation(HOOK_ANNOTATION),
            items: value.get("items").is_some(),
            empty: value.is_null(),
            uncertain: false,
        }
    }
}

/// A 64-bit hash (foldhash, fixed seed) of a value's content, key order included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fingerprint(u64);

impl Fingerprint {
    /// Marks a document vf-post made: always changed.
    const NEW: Fingerprint = Fingerprint(0);

    fn of(value: &Value) -> Fingerprint {
        use std::hash::{Hash, Hasher};
        fn walk(value: &Value, h: &mut foldhash::quality::FoldHasher<'static>) {
            match value {
                Value::Null => 0u8.hash(h),
                Value::Bool(b) => (1u8, b).hash(h),
                Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
                    (Some(i), _, _) => (2u8, i).hash(h),
                    (_, Some(u), _) => (6u8, u).hash(h),
                    (_, _, f) => (7u8, f.map(f64::to_bits)).hash(h),
                },
                Value::String(s) => (3u8, s).hash(h),
                Value::Array(items) => {
                    (4u8, items.len()).hash(h);
                    items.iter().for_each(|v| walk(v, h));
                }
                Value::Object(map) => {
                    (5u8, map.len()).hash(h);
                    for (k, v) in map {
                        k.hash(h);
                        walk(v, h);
                    }
                }
            }
        }
        use std::hash::BuildHasher as _;
        let mut hasher = foldhash::quality::FixedState::with_seed(0x5f0f_u64).build_hasher();
        walk(value, &mut hasher);
        // 0 is reserved for new documents.
        Fingerprint(hasher.finish().max(1))
    }
}

/// `value[key]` as a mapping, created when missing or null. Anything else is an error: the
/// object is not what Kubernetes reads, and replacing it would change its meaning.
pub fn object_entry<'a>(
    value: &'a mut Value,
    key: &str,
) -> Result<&'a mut Map<String, Value>, String> {
    let entry = entry_or(value, key, Value::Object(Map::new()))?;
    let what = kind(entry);
    entry
        .as_object_mut()
        .ok_or_else(|| format!("`{key}` is {what}, not a mapping; Kubernetes cannot read it"))
}

/// `value[key]` as a list, created when missing or null; anything else is an error, as for
/// [`object_entry`].
pub fn list_entry<'a>(value: &'a mut Value, key: &str) -> Result<&'a mut Vec<Value>, String> {
    let entry = entry_or(value, key, Value::Array(Vec::new()))?;
    let what = kind(entry);
    entry
        .as_array_mut()
        .ok_or_else(|| format!("`{key}` is {what}, not a list; Kubernetes cannot read it"))
}

/// `value[key]`, set to `empty` when missing or null; `value` must be a mapping.
fn entry_or<'a>(value: &'a mut Value, key: &str, empty: Value) -> Result<&'a mut Value, String> {
    let what = kind(value);
    let map = value
        .as_object_mut()
        .ok_or_else(|| format!("cannot add `{key}` to {what}, which is not a mapping"))?;
    let entry = map.entry(key.to_owned()).or_insert(Value::Null);
    if entry.is_null() {
        *entry = empty;
    }
    Ok(entry)
}

/// What a value is, in words.
pub fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}
