//! What the engine is told to do, beyond what the chart's contract says.
//!
//! The host reads it from `--config` (YAML, strict) and hands it over as a value; in the
//! wasm engine it crosses the sandbox as JSON text. Reference: docs/configuration.md.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::finding::Severity;

/// Engine configuration. Unknown keys are errors, so a typo never silently does nothing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Config {
    /// Changes made to every document, whatever the chart.
    pub transforms: Transforms,
    /// Built-in rules: on or off, and their severities.
    pub rules: BTreeMap<String, RuleSetting>,
    /// Image registries.
    pub registries: Registries,
    /// Per-team overrides, chosen by namespace or label; the first team that matches wins.
    pub teams: Vec<Team>,
    /// Policy modules run for every object (teams add their own).
    pub modules: Vec<ModuleRef>,
    /// Policy files (Kubernetes admission policies) for every object (teams add their own).
    pub policies: Vec<PolicyRef>,
    /// How admission policies see the release: as a CREATE of each object, by this user, into
    /// these namespaces.
    pub admission: Admission,
    /// Bounds of each policy module evaluation.
    pub sandbox: Sandbox,
    /// Findings waived on objects a team cannot annotate (upstream charts), each with a
    /// reason, an owner and an end date. The host applies them: it has the clock.
    pub exceptions: Vec<Exception>,
}

/// A selector that is written has a value: `kind:` with nothing after it (null) would
/// otherwise read as absent and widen the exception to every kind.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<String>::deserialize(d)? {
        Some(value) => Ok(Some(value)),
        None => Err(serde::de::Error::custom(
            "an exception's selector is written without a value, which would match everything: give it one, or leave the key out",
        )),
    }
}

/// A waiver in the configuration: a rule, on the objects (and container) it names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Exception {
    /// The rule waived: built in, or declared by a policy module.
    pub rule: String,
    /// Only objects of this kind.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub kind: Option<String>,
    /// Only objects of this name.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<String>,
    /// Only objects in this namespace (`admission.namespace` for objects that set none).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub namespace: Option<String>,
    /// Only findings on this container.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub container: Option<String>,
    /// Why the finding may stand.
    pub reason: String,
    /// Who answers for it.
    pub owner: String,
    /// The last day it waives, `YYYY-MM-DD` (UTC); from the next day it is an error.
    pub expires: String,
}

/// A policy file, or a directory of them (`*.yaml`, `*.yml`, `*.json`, not recursive).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct PolicyRef {
    /// Path, relative to the configuration file.
    pub path: String,
    /// Hex SHA-256 of the file (a file only); a mismatch refuses it.
    pub sha256: Option<String>,
    /// How its Rego files (conftest policies) are run.
    pub rego: Rego,
}

/// conftest's options for the Rego files of a `policies:` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Rego {
    /// The packages whose `deny`, `violation` and `warn` rules run (`--namespace`).
    pub namespaces: Vec<String>,
    /// The whole release as one input, `[{path, contents}]` (`--combine`).
    pub combine: bool,
    /// Rego syntax, `v1` or `v0` (`--rego-version`).
    pub version: String,
}

impl Default for Rego {
    fn default() -> Self {
        Rego {
            namespaces: vec!["main".into()],
            combine: false,
            version: "v1".into(),
        }
    }
}

/// The admission request each object of the release is presented as, and who installs it:
/// the same type the policy runtimes read (runtimes/kube), so the two cannot drift apart.
pub use vf_kube::Admission;

/// Chart-independent changes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Transforms {
    /// Annotations added to every object's `metadata` (kept where the chart set the key).
    pub common_annotations: BTreeMap<String, String>,
}

/// A rule's setting.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct RuleSetting {
    /// `false` turns the rule off.
    pub enabled: Option<bool>,
    /// Replaces the rule's default severity.
    pub severity: Option<Severity>,
}

/// Image registries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Registries {
    /// Image reference prefixes allowed (`harbor.virtufin.io`, `docker.io/library/`). The
    /// contract's registry is always allowed. Empty, with no contract: the rule has nothing
    /// to enforce.
    pub allowed: Vec<String>,
}

/// A team: which objects are its own, and what differs for them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Team {
    /// Team name, shown in reports.
    pub name: String,
    /// Objects in these namespaces are the team's.
    pub namespaces: Vec<String>,
    /// Objects carrying all these labels are the team's.
    pub labels: BTreeMap<String, String>,
    /// Rule settings that replace the global ones for the team's objects.
    pub rules: BTreeMap<String, RuleSetting>,
    /// Registries allowed for the team's objects, in addition to the global list.
    pub registries: Registries,
    /// Policy modules run for the team's objects.
    pub modules: Vec<ModuleRef>,
    /// Policy files for the team's objects.
    pub policies: Vec<PolicyRef>,
}

/// A policy module, pinned by content hash.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ModuleRef {
    /// Name in reports; defaults to the file name.
    pub name: Option<String>,
    /// Path to the component (relative to the configuration file).
    pub path: String,
    /// Hex SHA-256 of the file; a mismatch refuses the module.
    pub sha256: String,
    /// Settings handed to the module (checked by the module first).
    pub settings: serde_json::Value,
    /// Whether its patches are applied (else they are reported only).
    pub mutate: bool,
    /// Whether it sees Secret values (`data`, `stringData`); by default they are masked.
    pub read_secrets: bool,
}

/// Bounds of policy modules: of each evaluation, and of what their patches may cost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Sandbox {
    /// Wall-clock limit, milliseconds.
    pub timeout_ms: u64,
    /// Memory limit of one evaluation, every linear memory and table together, MiB.
    pub memory_mib: u64,
    /// The largest module file vf-post loads, MiB.
    pub max_module_mib: u64,
    /// The longest a module may take to compile, milliseconds.
    pub compile_timeout_ms: u64,
    /// Which compiler turns a module into native code when no cache entry has it.
    pub compiler: Compiler,
    /// Findings one module may return for one release.
    pub max_findings: usize,
    /// Patch operations one module may send in one release.
    pub max_patch_operations: usize,
    /// Patch operations one module may send for one document.
    pub max_patch_operations_per_document: usize,
    /// Patches may add at most this many times the input's size...
    pub patch_growth_factor: usize,
    /// ...plus this many MiB, all modules together.
    pub patch_growth_mib: usize,
    /// CEL cost one expression may spend (Kubernetes' per-call limit).
    pub cel_cost_per_expression: u64,
    /// CEL cost one policy may spend on one object (Kubernetes' runtime budget).
    pub cel_cost_per_evaluation: u64,
}

/// The compiler of policy modules (`sandbox.compiler`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compiler {
    /// Cranelift for modules under 8 MiB, Winch for larger ones (language runtimes such as
    /// CPython or StarlingMonkey, which Cranelift takes seconds to compile). A Cranelift entry
    /// in the cache is always preferred.
    #[default]
    Auto,
    /// Cranelift, wasmtime's optimizing compiler: slower to compile, faster code.
    Cranelift,
    /// Winch, wasmtime's baseline compiler: a fraction of Cranelift's compile time, slower code.
    Winch,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self {
            timeout_ms: 2_000,
            memory_mib: 64,
            max_module_mib: 32,
            compile_timeout_ms: 60_000,
            compiler: Compiler::Auto,
            max_findings: 10_000,
            max_patch_operations: 10_000,
            max_patch_operations_per_document: 1_000,
            patch_growth_factor: 2,
            patch_growth_mib: 1,
            cel_cost_per_expression: 1_000_000,
            cel_cost_per_evaluation: 10_000_000,
        }
    }
}

impl Sandbox {
    /// What patches may cost in a release read from `input_len` bytes.
    pub fn patch_budget(&self, input_len: usize) -> crate::patch::Budget {
        crate::patch::Budget {
            per_module: self.max_patch_operations,
            per_document: self.max_patch_operations_per_document,
            bytes_left: input_len
                .saturating_mul(self.patch_growth_factor)
                .saturating_add(self.patch_growth_mib.saturating_mul(1 << 20)),
        }
    }
}
