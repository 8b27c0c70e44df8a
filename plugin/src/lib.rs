//! The vf-post engine: Helm's rendered stream in, post-rendered stream and findings out.
//!
//! Pure: no I/O, no clock, no environment, so it runs the same natively and as a wasm32
//! component. The data flow is the module list: [`stream`] reads bytes into [`Document`]s,
//! [`transform`] changes them, and [`stream::Stream::write`] turns them back into bytes.
#![warn(missing_docs)]
#![cfg_attr(not(target_arch = "wasm32"), forbid(unsafe_code))]

/// Moves a struct's fields into a struct with the same field names, converting the fields
/// written `field: conversion` (the source's field is in scope under its own name). Both
/// structs are written out in full, so a field one gains and the other lacks does not compile:
/// the engine's records and wit/engine's are kept in step this way, on both sides.
#[macro_export]
macro_rules! move_fields {
    ($value:expr, $from:path => $to:path { $($field:ident $(: $convert:expr)?),* $(,)? }) => {{
        let $from { $($field),* } = $value;
        $to { $($field: $crate::move_fields!(@field $field $(, $convert)?)),* }
    }};
    (@field $field:ident) => {
        $field
    };
    (@field $field:ident, $convert:expr) => {
        $convert
    };
}

pub mod changes;
// wit-bindgen's generated glue needs `unsafe` for the canonical ABI.
#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
mod component;
pub mod config;
pub mod contract;
pub mod dapr;
pub mod document;
pub mod error;
pub mod finding;
pub mod modules;
mod parallel;
pub mod patch;
pub mod redact;
pub mod rules;
pub mod stream;
pub mod transform;
pub mod workload;

pub use changes::Changes;
pub use config::Config;
pub use document::Document;
pub use error::{Error, Result};
pub use finding::{Finding, Severity};
pub use stream::{Plan, Stream};

/// A release between reading and writing. Kubernetes' admission order: every mutation
/// first (vf-post's passes, then mutating policy modules in configuration order), then
/// [`Release::validate`] derives what depends on the final documents (services.json and its
/// checksum) and runs every validation on them: what the findings describe is what leaves.
#[derive(Debug)]
pub struct Release {
    /// The documents.
    pub stream: Stream,
    /// The chart's contract, if it had one (already removed from the output).
    pub contract: Option<contract::Contract>,
    /// What the passes and the mutating modules changed.
    pub applied: Vec<transform::Applied>,
    /// Their patches, object by object, when tracked ([`Changes::Tracked`]); secret values
    /// not yet masked (see [`Release::changes`]).
    tracked: Option<Vec<changes::Change>>,
    /// What the built-in rules and policy modules found (after [`Release::validate`]).
    pub findings: Vec<Finding>,
    /// The configuration it was read with.
    pub config: Config,
    /// The rule ids policy modules declare (exemptions may name them).
    module_rules: Vec<String>,
    /// Secret values, in every form to mask (gathered again after the mutations).
    secrets: Vec<String>,
    /// What mutating modules changed, for naming the mutation behind a finding.
    mutations: Vec<modules::Mutation>,
    /// The built-in rules' findings before the first module mutation, by key.
    before_mutations: Option<Vec<modules::FindingKey>>,
    /// What patches may still cost.
    patch_budget: patch::Budget,
    validated: bool,
}

/// What one render produced.
#[derive(Debug)]
pub struct Rendered {
    /// The post-rendered stream.
    pub output: Vec<u8>,
    /// What the passes changed.
    pub applied: Vec<transform::Applied>,
    /// What the built-in rules found.
    pub findings: Vec<Finding>,
}

/// Which documents policy modules read as whole objects (the others they see by identity,
/// labels and annotations, which reading gets without building a tree).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Objects {
    /// No module needs whole objects.
    #[default]
    None,
    /// Objects of these kinds.
    Kinds(Vec<String>),
    /// Every object.
    All,
}

impl Objects {
    fn wants(&self, meta: &document::Meta) -> bool {
        match self {
            Objects::None => false,
            Objects::Kinds(kinds) => kinds.contains(&meta.kind),
            Objects::All => true,
        }
    }
}

/// Bytes → documents → vf-post's passes: the mutations vf-post makes itself. Only the kinds a
/// pass, a rule or a policy module (`objects`) reads are parsed into trees (every one when
/// `changes` are tracked). `module_rules` are the rule ids policy modules declare (exemptions
/// may name them). Mutating modules come next ([`Release::mutate`]), then
/// [`Release::validate`].
pub fn prepare(
    input: Vec<u8>,
    config: &Config,
    objects: &Objects,
    module_rules: &[String],
    changes: Changes,
) -> Result<Release> {
    let tracked = changes == Changes::Tracked;
    let keep = |meta: &document::Meta, has_contract: bool| {
        tracked || objects.wants(meta) || transform::wants(meta, has_contract) || rules::wants(meta)
    };
    let local = transform::local(config);
    let plan = Plan {
        keep: &keep,
        is_contract: contract::is_contract,
        local: local
            .as_ref()
            .map(|f| f as &(dyn Fn(&mut serde_json::Value) -> Option<String> + Sync)),
    };
    let input_len = input.len();
    let mut stream = Stream::read(input, &plan)?;
    let mut tracked = tracked.then(Vec::new);
    let (applied, contract) = transform::mutate(&mut stream, config, tracked.as_mut())?;
    let secrets = redact::secret_values(stream.documents());
    Ok(Release {
        stream,
        contract,
        applied,
        tracked,
        findings: Vec::new(),
        config: config.clone(),
        module_rules: module_rules.to_vec(),
        secrets,
        mutations: Vec::new(),
        before_mutations: None,
        patch_budget: config.sandbox.patch_budget(input_len),
        validated: false,
    })
}

/// The whole engine in one call: bytes in, post-rendered bytes and findings out.
pub fn render(input: Vec<u8>, config: &Config) -> Result<Rendered> {
    let mut release = prepare(input, config, &Objects::None, &[], Changes::Untracked)?;
    release.validate()?;
    Ok(Rendered {
        output: release.stream.into_output(),
        applied: release.applied,
        findings: release.findings,
    })
}
