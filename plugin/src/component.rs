//! The engine as a WebAssembly component (wit/engine): what `vf-post --engine wasm` runs.
//! Only glue: every call goes to the same code the native engine runs, and each record of
//! the interface converts to or from the engine's own type here.

use std::cell::RefCell;

use crate::changes::Change;
use crate::finding::{
    ExceptionRef, Exemption, Finding, IntroducedBy, ObjectRef, Severity, WaivedBy,
};
use crate::modules::{DocView, ModuleHit, ModulePatch, Parts, Reads, Step};
use crate::transform::Applied;
use crate::{Changes, Config, Objects, Release};

wit_bindgen::generate!({
    path: ["../wit/policy.wit", "../wit/engine"],
    world: "vf:engine/engine-component",
    // The records of vf:policy the interface uses (documents, parts) come with it.
    generate_all,
});

use exports::vf::engine::engine as wit;
use exports::vf::engine::engine::{Error, Guest, GuestRelease, Release as Handle};
use vf::policy::reads as wit_reads;
use vf::policy::types as wit_types;

struct Exports;

impl Guest for Exports {
    type Release = Open;
}

/// A release between `open` and `finish`.
struct Open(RefCell<Option<Release>>);

fn refused(error: impl std::fmt::Display) -> Error {
    Error::Refused(error.to_string())
}

impl Open {
    fn with<T>(&self, f: impl FnOnce(&mut Release) -> T) -> T {
        f(self
            .0
            .borrow_mut()
            .as_mut()
            .expect("the release is open until finish"))
    }
}

impl GuestRelease for Open {
    fn open(
        input: Vec<u8>,
        config: String,
        objects: wit::Objects,
        module_rules: Vec<String>,
        track_changes: bool,
    ) -> Result<Handle, Error> {
        let config: Config = serde_json::from_str(&config).map_err(refused)?;
        let objects = match objects {
            wit::Objects::None => Objects::None,
            wit::Objects::All => Objects::All,
            wit::Objects::Kinds(kinds) => Objects::Kinds(kinds),
        };
        let changes = if track_changes {
            Changes::Tracked
        } else {
            Changes::Untracked
        };
        let release =
            crate::prepare(input, &config, &objects, &module_rules, changes).map_err(refused)?;
        Ok(Handle::new(Open(RefCell::new(Some(release)))))
    }

    fn report(&self) -> wit::Report {
        self.with(|r| wit::Report {
            objects: position(r.objects()),
            applied: r.applied.iter().cloned().map(applied).collect(),
            findings: r.findings.iter().cloned().map(finding).collect(),
            changes: r.changes().map(|c| c.into_iter().map(change).collect()),
        })
    }

    fn documents(
        &self,
        kinds: Vec<String>,
        team: Option<String>,
        reads: wit::Reads,
        with_secrets: bool,
    ) -> Vec<wit_types::Document> {
        let reads = match reads {
            wit::Reads::Identity => Reads::Identity,
            wit::Reads::Whole => Reads::Whole,
            wit::Reads::Parts(parts) => Reads::Parts(Parts {
                paths: parts
                    .paths
                    .into_iter()
                    .map(|path| path.into_iter().map(step).collect())
                    .collect(),
                whole_kinds: parts.whole_kinds,
            }),
        };
        self.with(|r| r.views(&kinds, team.as_deref(), &reads, with_secrets))
            .into_iter()
            .map(document)
            .collect()
    }

    fn mutate(&self, origin: String, patches: Vec<wit::ModulePatch>) -> Result<(), Error> {
        let patches: Vec<ModulePatch> = patches.into_iter().map(patch).collect();
        self.with(|r| r.mutate(&origin, &patches)).map_err(refused)
    }

    fn propose(
        &self,
        origin: String,
        patches: Vec<wit::ModulePatch>,
        why: String,
    ) -> Result<(), Error> {
        let patches: Vec<ModulePatch> = patches.into_iter().map(patch).collect();
        self.with(|r| r.propose(&origin, &patches, &why))
            .map_err(refused)
    }

    fn validate(&self) -> Result<(), Error> {
        self.with(Release::validate).map_err(refused)
    }

    fn settle(&self, origin: String, hits: Vec<wit::ModuleHit>) -> Result<(), Error> {
        let hits = hits.into_iter().map(hit).collect();
        self.with(|r| r.settle(&origin, hits)).map_err(refused)
    }

    fn finish(&self) -> Vec<u8> {
        let release = self.0.borrow_mut().take().expect("finish is called once");
        release.stream.into_output()
    }
}

/// A count or position as the interface carries it: wasm32's `usize` is 32 bits.
fn position(n: usize) -> u32 {
    u32::try_from(n).expect("usize is 32 bits on wasm32")
}

fn step(step: wit_reads::Step) -> Step {
    match step {
        wit_reads::Step::Field(name) => Step::Field(name),
        wit_reads::Step::Items => Step::Items,
    }
}

fn wit_severity(severity: Severity) -> wit_types::Severity {
    match severity {
        Severity::Info => wit_types::Severity::Info,
        Severity::Warning => wit_types::Severity::Warning,
        Severity::Error => wit_types::Severity::Error,
    }
}

fn document(view: DocView) -> wit_types::Document {
    move_fields!(view, DocView => wit_types::Document {
        index, source, api_version, kind, name, namespace, labels, annotations, object,
    })
}

fn patch(patch: wit::ModulePatch) -> ModulePatch {
    move_fields!(patch, wit::ModulePatch => ModulePatch { document, operations, policy })
}

fn hit(hit: wit::ModuleHit) -> ModuleHit {
    move_fields!(hit, wit::ModuleHit => ModuleHit {
        rule,
        severity: match severity {
            wit_types::Severity::Info => Severity::Info,
            wit_types::Severity::Warning => Severity::Warning,
            wit_types::Severity::Error => Severity::Error,
        },
        message, hint, document, container, path,
    })
}

fn wit_object(object: ObjectRef) -> wit::ObjectRef {
    move_fields!(object, ObjectRef => wit::ObjectRef {
        kind, name, namespace, source, document: position(document),
    })
}

/// RFC 6902 operations as the interface carries them: a JSON array.
fn operations_json(operations: Vec<serde_json::Value>) -> String {
    serde_json::Value::Array(operations).to_string()
}

fn finding(finding: Finding) -> wit::Finding {
    move_fields!(finding, Finding => wit::Finding {
        rule,
        severity: wit_severity(severity),
        message,
        hint,
        object: object.map(wit_object),
        container,
        path,
        origin,
        exempted: exempted.map(|exempted| move_fields!(exempted, Exemption => wit::Exemption {
            by: match by {
                WaivedBy::Annotation(key) => wit::WaivedBy::Annotation(key),
                WaivedBy::Exception(exception) => wit::WaivedBy::Exception(move_fields!(
                    exception, ExceptionRef => wit::ExceptionRef {
                        index: position(index), owner, expires,
                    }
                )),
            },
            reason,
        })),
        introduced_by: introduced_by
            .into_iter()
            .map(|by| move_fields!(by, IntroducedBy => wit::IntroducedBy {
                module, operations: operations_json(operations),
            }))
            .collect(),
    })
}

fn applied(applied: Applied) -> wit::Applied {
    move_fields!(applied, Applied => wit::Applied { pass, object, source, change })
}

fn change(change: Change) -> wit::Change {
    move_fields!(change, Change => wit::Change {
        object: wit_object(object), by, patch: operations_json(patch), masked,
    })
}

export!(Exports);
