//! What the host hands the runtime with every call (JSON): the phase, the policies (conftest
//! files, Gatekeeper templates and constraints), how the admission request looks, and for
//! `vf-post test` the inventory and request of a test case.

use serde::Deserialize;
use serde_json::Value as Json;
pub use vf_kube::Admission;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Settings {
    pub phase: Phase,
    /// conftest policies: one entry per `policies:` entry of the configuration.
    #[serde(default)]
    pub conftest: Vec<Conftest>,
    /// Gatekeeper ConstraintTemplates.
    #[serde(default)]
    pub templates: Vec<Source>,
    /// Gatekeeper constraints.
    #[serde(default)]
    pub constraints: Vec<Source>,
    #[serde(default)]
    pub admission: Admission,
    /// How the release is reviewed; `gator` as gator reviews a test case's object.
    #[serde(default)]
    pub review: ReviewStyle,
    /// `data.inventory`: these objects instead of the release's (a test case's inventory).
    #[serde(default)]
    pub inventory: Option<Vec<Json>>,
    /// The admission request of document 0 (a test case written as an AdmissionReview).
    #[serde(default)]
    pub request: Option<Json>,
    /// Evaluate these rules only (the host finds which policy exhausted the sandbox).
    #[serde(default)]
    pub only: Option<Vec<String>>,
}

/// Which part of the work the call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// The rules the policies declare, as findings without documents.
    Rules,
    /// Judge the documents.
    Validate,
}

/// How a document becomes `input.review`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReviewStyle {
    /// A CREATE by the configured user, objects without a namespace in Helm's.
    #[default]
    Release,
    /// As gator reviews a bare object: no operation, no user, the namespace as written.
    Gator,
}

/// conftest policies and how conftest would be run on them.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Conftest {
    pub files: Vec<RegoFile>,
    /// conftest's `--namespace` (several: as given in turn).
    #[serde(default = "main")]
    pub namespaces: Vec<String>,
    /// conftest's `--combine`: the whole release is one input, `[{path, contents}]`.
    #[serde(default)]
    pub combine: bool,
    /// conftest's `--rego-version`.
    #[serde(default)]
    pub version: RegoVersion,
}

fn main() -> Vec<String> {
    vec!["main".into()]
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RegoVersion {
    V0,
    #[default]
    V1,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegoFile {
    /// The file, for messages.
    pub file: String,
    pub text: String,
}

/// One object of a policy file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// The file, for messages.
    pub file: String,
    pub object: Json,
}
