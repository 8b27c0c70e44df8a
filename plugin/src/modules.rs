//! What policy modules see of a release, and what they give back. The host runs the modules
//! (natively, or beside the wasm engine); this is the pure part both share.

use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::finding::Severity;
use crate::rules::{self, Hit};
use crate::transform::{self, Applied};
use crate::{Release, patch, redact};

/// A document as a policy module sees it (the `document` record of wit/policy.wit).
#[derive(Debug, Clone, PartialEq)]
pub struct DocView {
    /// Index into the release's documents.
    pub index: u32,
    /// Chart template.
    pub source: Option<String>,
    /// `apiVersion`.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`.
    pub namespace: Option<String>,
    /// `metadata.labels` with string values.
    pub labels: Vec<(String, String)>,
    /// `metadata.annotations` with string values.
    pub annotations: Vec<(String, String)>,
    /// The object as JSON, when asked for; else empty.
    pub object: String,
}

/// What a policy module reads of each object (wit/policy.wit: `needs-object`, `reads`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reads {
    /// Identity, labels and annotations only.
    Identity,
    /// The whole object.
    Whole,
    /// Parts of it.
    Parts(Parts),
}

/// Parts of objects (the `parts` record of wit/policy.wit): paths, each value at the end of
/// one sent whole, and kinds sent whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parts {
    /// From the object's top: `metadata.labels`, `spec.containers[*].image`.
    pub paths: Vec<Vec<Step>>,
    /// Kinds sent whole.
    pub whole_kinds: Vec<String>,
}

/// One step of a path (the `step` variant of wit/policy.wit).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    /// A map's field.
    Field(String),
    /// Every item of a list.
    Items,
}

impl Parts {
    /// The paths as a tree of field names, for [`Fields::json`].
    pub fn fields(&self) -> Fields {
        let mut root = Fields::default();
        for path in &self.paths {
            let mut at = &mut root;
            for step in path {
                if at.whole {
                    break;
                }
                at = match step {
                    Step::Field(name) => at.fields.entry(name.clone()).or_default(),
                    Step::Items => at.items.get_or_insert_default(),
                };
            }
            // A path ending here takes the value whole, whatever longer paths asked for.
            at.whole = true;
            at.fields.clear();
            at.items = None;
        }
        root
    }
}

/// What to send of a value: whole, or of a map the fields named and of a list every item,
/// each by its own tree.
#[derive(Debug, Default)]
pub struct Fields {
    whole: bool,
    fields: std::collections::BTreeMap<String, Fields>,
    items: Option<Box<Fields>>,
}

impl Fields {
    /// `object`'s parts as JSON text: of each map on the way to a path's end, the fields on
    /// some path, in the object's order; of each list on the way, every item; a value at a
    /// path's end, or one on the way that is not what the step reads (or a map iterated as
    /// items: its keys are read), whole.
    pub fn json(&self, object: &Value) -> String {
        serde_json::to_string(&Projected {
            fields: self,
            value: object,
        })
        .expect("JSON values serialize")
    }
}

struct Projected<'a> {
    fields: &'a Fields,
    value: &'a Value,
}

impl Serialize for Projected<'_> {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap as _, SerializeSeq as _};
        let items = self.fields.items.as_deref();
        match self.value {
            _ if self.fields.whole => self.value.serialize(serializer),
            Value::Array(list) => match items {
                Some(fields) => {
                    let mut out = serializer.serialize_seq(Some(list.len()))?;
                    for value in list {
                        out.serialize_element(&Projected { fields, value })?;
                    }
                    out.end()
                }
                None => self.value.serialize(serializer),
            },
            Value::Object(map) if items.is_none() => {
                let mut out = serializer.serialize_map(None)?;
                for (key, value) in map {
                    if let Some(fields) = self.fields.fields.get(key) {
                        out.serialize_entry(key, &Projected { fields, value })?;
                    }
                }
                out.end()
            }
            _ => self.value.serialize(serializer),
        }
    }
}

/// A finding of a policy module, before configuration and exemptions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleHit {
    /// Rule id (declared in the module's metadata).
    pub rule: String,
    /// Severity: the module's, or its rule's declared one.
    pub severity: Severity,
    /// What is wrong.
    pub message: String,
    /// Hint from the rule's declaration.
    pub hint: String,
    /// Index into the release's documents; `None` for release-wide findings.
    pub document: Option<u32>,
    /// Container.
    pub container: Option<String>,
    /// JSON pointer.
    pub path: Option<String>,
}

/// A mutating module's patch on one document, kept to name it behind the findings it causes.
#[derive(Debug, Clone)]
pub struct Mutation {
    /// The module.
    pub module: String,
    /// The document's 1-based position.
    pub position: usize,
    /// The operations, as the module wrote them.
    pub operations: Vec<Value>,
}

/// What identifies a finding across two checks: rule, document position, container, path.
pub type FindingKey = (String, Option<usize>, Option<String>, Option<String>);

fn key(f: &crate::Finding) -> FindingKey {
    (
        f.rule.clone(),
        f.object.as_ref().map(|o| o.document),
        f.container.clone(),
        f.path.clone(),
    )
}

/// One module's patch for one document, by the document's index in the release.
#[derive(Debug, Clone, PartialEq)]
pub struct ModulePatch {
    /// Index into the release's documents.
    pub document: u32,
    /// An RFC 6902 patch, as JSON text.
    pub operations: String,
    /// Which of the module's policies made it, when the module says (reports name it).
    pub policy: Option<String>,
}

impl Release {
    /// The documents a module sees: of `kinds` (every kind when empty), of `team` when
    /// given, with what it `reads` of the object as JSON (a module reading parts gets labels
    /// and annotations only there). Labels and annotations are the
    /// documents' own, parsed or not, as the last mutation left them. Unless `with_secrets`
    /// (a module the platform lets read them), Secret values are replaced and any secret
    /// copied elsewhere is masked.
    pub fn views(
        &self,
        kinds: &[String],
        team: Option<&str>,
        reads: &Reads,
        with_secrets: bool,
    ) -> Vec<DocView> {
        let fields = match reads {
            Reads::Parts(parts) => Some((parts.fields(), &parts.whole_kinds)),
            _ => None,
        };
        self.stream
            .documents()
            .iter()
            .enumerate()
            .filter(|(_, d)| !d.is_removed())
            .filter(|(_, d)| kinds.is_empty() || kinds.iter().any(|k| k == d.kind()))
            .filter(|(_, d)| {
                team.is_none() || rules::team_of(&self.config, d).map(|t| t.name.as_str()) == team
            })
            .filter_map(|(i, d)| {
                Some(DocView {
                    index: u32::try_from(i).ok()?,
                    source: d.source.clone(),
                    api_version: d.api_version().to_owned(),
                    kind: d.kind().to_owned(),
                    name: d.name().to_owned(),
                    namespace: d.namespace().map(str::to_owned),
                    // A module reading parts reads labels and annotations there.
                    labels: match fields {
                        Some(_) => Vec::new(),
                        None => d.labels().to_vec(),
                    },
                    annotations: match fields {
                        Some(_) => Vec::new(),
                        None => d.annotations().to_vec(),
                    },
                    object: match (d.value(), reads) {
                        (None, _) | (_, Reads::Identity) => String::new(),
                        (Some(value), _) => {
                            let mut hidden = None;
                            if !with_secrets && d.kind() == "Secret" {
                                let mut value = value.clone();
                                redact::hide_from_module(&mut value);
                                hidden = Some(value);
                            }
                            let value = hidden.as_ref().unwrap_or(value);
                            match &fields {
                                Some((fields, whole_kinds))
                                    if !whole_kinds.iter().any(|k| k == d.kind()) =>
                                {
                                    fields.json(value)
                                }
                                _ => value.to_string(),
                            }
                        }
                    },
                })
            })
            .collect()
    }

    /// The mutation phase: applies module `origin`'s patches, in order, each document's
    /// operations to one copy, whole or not at all, within the patch budgets. Only before
    /// [`Release::validate`].
    pub fn mutate(&mut self, origin: &str, patches: &[ModulePatch]) -> Result<()> {
        assert!(!self.validated, "mutations come before validation");
        let grouped = self.group(origin, patches)?;
        if self.before_mutations.is_none() {
            // What the built-in rules say before any module mutates, to tell which findings a
            // mutation brought about.
            let before = rules::check(
                self.stream.documents(),
                self.contract.as_ref(),
                &self.config,
                &self.module_rules,
            );
            self.before_mutations = Some(before.iter().map(key).collect());
        }
        for mut g in grouped {
            let index = g.index;
            self.stream.ensure_value(index)?;
            let doc = &mut self.stream.documents_mut()[index];
            doc.keep_authored();
            let at = doc.at();
            let count = g.operations.len();
            let secret_before = (doc.kind() == "Secret")
                .then(|| doc.value().cloned())
                .flatten();
            let tracked_before = self
                .tracked
                .is_some()
                .then(|| doc.value().cloned())
                .flatten();
            // Kept for splitting the change by policy only when changes are tracked.
            let operations = if tracked_before.is_some() {
                g.operations.clone()
            } else {
                std::mem::take(&mut g.operations)
            };
            {
                let mut edit = doc.value_mut().ok_or_else(|| {
                    Error::Config(format!(
                        "policy module {origin}: a patch names a document with no object ({index})"
                    ))
                })?;
                patch::apply(&mut edit, operations, &mut self.patch_budget).map_err(|message| {
                    Error::Patch {
                        at: at.clone(),
                        message: format!("policy module {origin}: {message}"),
                    }
                })?;
            }
            if let (Some(before), Some(after)) = (&secret_before, doc.value())
                && let Some(field) = redact::mask_written(before, after)
            {
                return Err(Error::Patch {
                    at,
                    message: format!(
                        "policy module {origin}: a patch writes {MASK} into the Secret's {field}: the mask it sees instead of Secret values (only modules configured with readSecrets: true see them)",
                        MASK = redact::MASK
                    ),
                });
            }
            let position = doc.position;
            let applied = Applied {
                pass: format!("module {origin}"),
                object: format!("{}/{}", doc.kind(), doc.name()),
                source: doc.source.clone(),
                change: format!("patched ({count} operations)"),
            };
            if let Some(before) = tracked_before {
                self.track(origin, index, before, &g);
            }
            self.mutations.push(Mutation {
                module: origin.to_owned(),
                position,
                operations: g.raw,
            });
            self.applied.push(applied);
        }
        Ok(())
    }

    /// The validation phase: module `origin`'s patches are checked and reported, not applied
    /// (`why` says why not).
    pub fn propose(&mut self, origin: &str, patches: &[ModulePatch], why: &str) -> Result<()> {
        for g in self.group(origin, patches)? {
            let doc = &self.stream.documents()[g.index];
            self.applied.push(Applied {
                pass: format!("module {origin}"),
                object: format!("{}/{}", doc.kind(), doc.name()),
                source: doc.source.clone(),
                change: format!("patch proposed, not applied ({why})"),
            });
        }
        Ok(())
    }

    /// A module's patches read and grouped by document, in the order given, within the
    /// per-module operation budget.
    fn group(&self, origin: &str, patches: &[ModulePatch]) -> Result<Vec<Grouped>> {
        let docs = self.stream.documents();
        let mut grouped: Vec<Grouped> = Vec::new();
        let mut total = 0usize;
        for p in patches {
            let index = p.document as usize;
            let doc = docs.get(index).filter(|d| !d.is_removed()).ok_or_else(|| {
                Error::Config(format!(
                    "policy module {origin}: a patch names no document ({index})"
                ))
            })?;
            let refused = |message: String| Error::Patch {
                at: doc.at(),
                message: format!("policy module {origin}: {message}"),
            };
            let operations = patch::parse(&p.operations).map_err(refused)?;
            total += operations.len();
            if total > self.patch_budget.per_module {
                return Err(refused(format!(
                    "more than {} patch operations (sandbox.maxPatchOperations)",
                    self.patch_budget.per_module
                )));
            }
            let raw: Vec<Value> =
                serde_json::from_str(&p.operations).map_err(|e| refused(e.to_string()))?;
            let span = (p.policy.clone(), operations.len());
            match grouped.iter_mut().find(|g| g.index == index) {
                Some(g) => {
                    g.operations.extend(operations);
                    g.raw.extend(raw);
                    g.spans.push(span);
                }
                None => grouped.push(Grouped {
                    index,
                    operations,
                    raw,
                    spans: vec![span],
                }),
            }
        }
        Ok(grouped)
    }

    /// Records what module `origin` changed in document `index`, from `before`: per policy
    /// when the module named them (its spans replayed on a copy), else as one change.
    fn track(&mut self, origin: &str, index: usize, before: Value, g: &Grouped) {
        let Some(tracked) = &mut self.tracked else {
            return;
        };
        let doc = &self.stream.documents()[index];
        let Some(after) = doc.value() else {
            return;
        };
        let object = crate::finding::ObjectRef::from(doc);
        let mut change = |by: &str, from: &Value, to: &Value| {
            let patch = crate::changes::diff(from, to);
            if !patch.is_empty() {
                tracked.push(crate::changes::Change {
                    object: object.clone(),
                    by: by.to_owned(),
                    patch,
                    masked: false,
                });
            }
        };
        if g.spans.iter().all(|(policy, _)| policy.is_none()) {
            return change(origin, &before, after);
        }
        // Applied for real already, within the budgets: the replay only splits the change.
        let mut unbounded = patch::Budget {
            per_module: usize::MAX,
            per_document: usize::MAX,
            bytes_left: usize::MAX,
        };
        let (mut current, mut start) = (before, 0);
        for (policy, count) in &g.spans {
            let mut next = current.clone();
            let ops = g.operations[start..start + count].to_vec();
            start += count;
            if patch::apply(&mut next, ops, &mut unbounded).is_err() {
                return change(origin, &current, after);
            }
            change(policy.as_deref().unwrap_or(origin), &current, &next);
            current = next;
        }
    }

    /// After the last mutation: derives services.json and its checksum from the final
    /// documents, then runs every built-in rule on them. Idempotent.
    pub fn validate(&mut self) -> Result<()> {
        if self.validated {
            return Ok(());
        }
        transform::derive(
            &mut self.stream,
            self.contract.as_ref(),
            &self.config,
            &mut self.applied,
            self.tracked.as_mut(),
        )?;
        let mut findings = rules::check(
            self.stream.documents(),
            self.contract.as_ref(),
            &self.config,
            &self.module_rules,
        );
        self.attribute(&mut findings, true);
        // A value a mutation rotated out of a Secret stays masked too: no report shows it.
        let mut secrets = redact::secret_values(self.stream.documents());
        secrets.append(&mut self.secrets);
        redact::order(&mut secrets);
        self.secrets = secrets;
        redact::redact(&mut findings, &self.secrets);
        self.findings = findings;
        self.validated = true;
        Ok(())
    }

    /// Names the mutations behind findings on documents modules patched: those whose
    /// operations meet the finding's path (all of them for a finding without one). A built-in
    /// finding already there before any mutation is nobody's doing.
    fn attribute(&self, findings: &mut [crate::Finding], builtin: bool) {
        if self.mutations.is_empty() {
            return;
        }
        for finding in findings {
            let Some(position) = finding.object.as_ref().map(|o| o.document) else {
                continue;
            };
            let known = builtin
                && self
                    .before_mutations
                    .as_ref()
                    .is_some_and(|before| before.contains(&key(finding)));
            if known {
                continue;
            }
            let on_document: Vec<&Mutation> = self
                .mutations
                .iter()
                .filter(|m| m.position == position)
                .collect();
            for m in &on_document {
                let operations: Vec<Value> = m
                    .operations
                    .iter()
                    .filter(|op| meets(op, finding.path.as_deref()))
                    .cloned()
                    .collect();
                if !operations.is_empty() {
                    finding.introduced_by.push(crate::finding::IntroducedBy {
                        module: m.module.clone(),
                        operations,
                    });
                }
            }
            // A built-in finding that was not there before the mutations, though no operation
            // touched its path (a rule reading the whole pod, say): every patch of the object.
            if builtin && finding.introduced_by.is_empty() {
                for m in on_document {
                    finding.introduced_by.push(crate::finding::IntroducedBy {
                        module: m.module.clone(),
                        operations: m.operations.clone(),
                    });
                }
            }
        }
    }

    /// Adds module `origin`'s findings (the validation phase): configuration, exemptions,
    /// attribution and secret masking applied.
    pub fn settle(&mut self, origin: &str, hits: Vec<ModuleHit>) -> Result<()> {
        let docs = self.stream.documents();
        let mut converted = Vec::with_capacity(hits.len());
        for hit in hits {
            let doc = match hit.document {
                Some(i) if docs.get(i as usize).is_some_and(|d| !d.is_removed()) => {
                    Some(i as usize)
                }
                Some(i) => {
                    return Err(Error::Config(format!(
                        "policy module {origin}: finding {} points at no document ({i})",
                        hit.rule
                    )));
                }
                None => None,
            };
            converted.push(Hit {
                rule: hit.rule,
                doc,
                container: hit.container,
                path: hit.path,
                message: hit.message,
                severity: Some(hit.severity),
                hint: Some(hit.hint),
            });
        }
        let mut findings = rules::settle(converted, docs, &self.config, origin);
        self.attribute(&mut findings, false);
        redact::redact(&mut findings, &self.secrets);
        self.findings.extend(findings);
        Ok(())
    }

    /// What each pass and mutating module changed, object by object, secret values masked;
    /// `None` unless tracked ([`crate::Changes::Tracked`]).
    pub fn changes(&self) -> Option<Vec<crate::changes::Change>> {
        let mut changes = self.tracked.clone()?;
        for change in &mut changes {
            let before = change.patch.clone();
            change
                .patch
                .iter_mut()
                .for_each(|op| redact::mask_value(op, &self.secrets));
            change.masked = change.patch != before;
        }
        Some(changes)
    }

    /// Objects that reach the cluster.
    pub fn objects(&self) -> usize {
        self.stream
            .documents()
            .iter()
            .filter(|d| !d.is_removed())
            .count()
    }
}

/// One module's operations on one document, in order, and the runs of them each policy
/// made (`None`: the module did not say).
struct Grouped {
    index: usize,
    operations: Vec<patch::Operation>,
    raw: Vec<Value>,
    spans: Vec<(Option<String>, usize)>,
}

/// Whether a patch operation's paths meet a finding's path (one holds the other); every
/// operation meets a finding without a path.
fn meets(op: &Value, path: Option<&str>) -> bool {
    let Some(path) = path else {
        return true;
    };
    let overlaps = |p: &str| {
        // An append (`.../-`) made an element somewhere in the array.
        let p = p.strip_suffix("/-").unwrap_or(p);
        p == path || path.starts_with(&format!("{p}/")) || p.starts_with(&format!("{path}/"))
    };
    ["path", "from"]
        .iter()
        .filter_map(|k| op.get(*k).and_then(Value::as_str))
        .any(overlaps)
}
