//! The passes that change documents, in the order they run. Each pass is one file and
//! records what it changed, for the report.

mod common_annotations;
mod dapr;
mod probes;
mod pull_secrets;
mod services_json;

use serde::Serialize;

use crate::changes::{Change, record};
use crate::config::Config;
use crate::contract::{self, Contract};
use crate::document::Meta;
use crate::error::Result;
use crate::stream::Stream;
use crate::workload::{Container, PodTemplate};

/// One change a pass made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Applied {
    /// The pass (`dapr`, `probes`, `pull-secrets`, `services-json`, `common-annotations`,
    /// or `module <name>` for a policy module's patch).
    pub pass: String,
    /// `Kind/name` of the object changed or created.
    pub object: String,
    /// Chart template of the object.
    pub source: Option<String>,
    /// What was done, in a few words.
    pub change: String,
}

/// vf-post's own mutations, in order; returns what changed and the contract, and adds each
/// pass's patches to `changes` when given. Mutating policy modules come after them, and
/// [`derive`] after those.
pub fn mutate(
    stream: &mut Stream,
    config: &Config,
    mut changes: Option<&mut Vec<Change>>,
) -> Result<(Vec<Applied>, Option<Contract>)> {
    let mut log = Vec::new();
    let contract = contract::take(stream)?;
    if let Some(contract) = &contract {
        record(changes.as_deref_mut(), dapr::PASS, stream, |s| {
            dapr::apply(s, contract, &mut log)
        })?;
        record(changes.as_deref_mut(), probes::PASS, stream, |s| {
            probes::apply(s, contract, &mut log)
        })?;
    }
    record(changes.as_deref_mut(), pull_secrets::PASS, stream, |s| {
        pull_secrets::apply(s, contract.as_ref(), &mut log)
    })?;
    record(changes, common_annotations::PASS, stream, |s| {
        common_annotations::apply(s, &config.transforms, &mut log)
    })?;
    // Changes made while reading (none when changes are tracked: every document is read
    // into a tree then).
    for (doc, change) in stream.early_changes() {
        log.push(Applied {
            pass: common_annotations::PASS.into(),
            object: object_name(doc),
            source: doc.source.clone(),
            change: change.to_owned(),
        });
    }
    Ok((log, contract))
}

/// What depends on the final documents, after the last mutation: services.json from the
/// backends as they are, mounted on the gateway with its checksum (and the common
/// annotations on what this adds), each pass's patches added to `changes` when given.
pub fn derive(
    stream: &mut Stream,
    contract: Option<&Contract>,
    config: &Config,
    log: &mut Vec<Applied>,
    mut changes: Option<&mut Vec<Change>>,
) -> Result<()> {
    if let Some(contract) = contract {
        record(changes.as_deref_mut(), services_json::PASS, stream, |s| {
            services_json::apply(s, contract, log)
        })?;
    }
    record(changes, common_annotations::PASS, stream, |s| {
        common_annotations::apply(s, &config.transforms, log)
    })
}

/// The change that needs only the document itself, for documents nothing else reads: it is
/// applied while the stream is read (see `stream::Plan`).
pub fn local(
    config: &Config,
) -> Option<impl Fn(&mut serde_json::Value) -> Option<String> + Sync + '_> {
    let transforms = &config.transforms;
    (!transforms.common_annotations.is_empty()).then_some(move |value: &mut serde_json::Value| {
        common_annotations::annotate(value, transforms)
    })
}

/// Whether a release-wide pass reads a document; `has_contract` says whether the release
/// holds a contract (without one, only the local change of [`local`] runs).
pub fn wants(meta: &Meta, has_contract: bool) -> bool {
    contract::is_contract(meta)
        || (has_contract && matches!(meta.kind.as_str(), "Service" | "ConfigMap"))
        || (has_contract && crate::workload::has_pods(&meta.kind))
}

/// `Kind/name`, as findings and logs name objects.
fn object_name(doc: &crate::Document) -> String {
    format!("{}/{}", doc.kind(), doc.name())
}

/// The app's container in its workload's pod template: the one lookup the passes share,
/// with one error.
fn container_of<'d>(
    doc: &'d crate::Document,
    contract: &Contract,
    app: &contract::App,
) -> Result<(PodTemplate<'d>, Container<'d>)> {
    doc.value()
        .and_then(|value| PodTemplate::of(doc.kind(), value))
        .and_then(|pod| Some((pod, pod.container(&app.container)?)))
        .ok_or_else(|| {
            contract.error(&format!(
                "app {} names container {:?}, which {} does not have",
                app.name,
                app.container,
                object_name(doc)
            ))
        })
}

/// The workload a contract app runs in.
fn workload_of(stream: &Stream, contract: &Contract, app: &contract::App) -> Result<usize> {
    stream
        .documents()
        .iter()
        .position(|d| {
            d.kind() == app.workload.kind && d.name() == app.workload.name && !d.is_hook()
        })
        .ok_or_else(|| {
            let hook = stream.documents().iter().find(|d| {
                d.kind() == app.workload.kind && d.name() == app.workload.name && d.is_hook()
            });
            let why = match hook.and_then(|d| d.hook()) {
                Some(hook) => format!("is a Helm hook ({hook}); hooks never count as apps"),
                None => "is not in the release".to_owned(),
            };
            contract.error(&format!(
                "app {} names {}/{}, which {why}",
                app.name, app.workload.kind, app.workload.name
            ))
        })
}
