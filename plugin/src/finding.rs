//! Findings: what a rule or a policy module says about the release.

use serde::{Deserialize, Serialize};

/// How much a finding matters. Only `error` denies a release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Shown only.
    Info,
    /// Shown; does not fail.
    Warning,
    /// Fails the render and the lint (exit 1), unless in audit mode.
    Error,
}

impl Severity {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// The object a finding is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectRef {
    /// `kind`.
    pub kind: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`, when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Chart template that produced it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// 1-based position of its document in the stream.
    pub document: usize,
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

impl From<&crate::Document> for ObjectRef {
    fn from(doc: &crate::Document) -> Self {
        ObjectRef {
            kind: doc.kind().to_owned(),
            name: doc.name().to_owned(),
            namespace: doc.namespace().map(str::to_owned),
            source: doc.source.clone(),
            document: doc.position,
        }
    }
}

/// Why a finding does not count: an exemption annotation on its object, or an exception in
/// the configuration, with the reason either gives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exemption {
    /// What waives it (JSON: `annotation` or `exception`).
    #[serde(flatten)]
    pub by: WaivedBy,
    /// The reason it gives.
    pub reason: String,
}

/// What waives a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WaivedBy {
    /// The object's own exemption annotation (its key).
    Annotation(String),
    /// An exception of the configuration.
    Exception(ExceptionRef),
}

impl Exemption {
    /// What waives the finding, in a few words: the annotation, or the exception with its
    /// owner and end date.
    pub fn by(&self) -> String {
        match &self.by {
            WaivedBy::Annotation(annotation) => annotation.clone(),
            WaivedBy::Exception(e) => e.to_string(),
        }
    }
}

/// An exception of the configuration, as reports name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExceptionRef {
    /// Its position in `exceptions:`, from 0.
    pub index: usize,
    /// Who answers for it.
    pub owner: String,
    /// The last day it waives (`YYYY-MM-DD`, UTC).
    pub expires: String,
}

impl std::fmt::Display for ExceptionRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exceptions[{}] (owner {}, until {})",
            self.index, self.owner, self.expires
        )
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable kebab-case rule id.
    pub rule: String,
    /// Severity after configuration.
    pub severity: Severity,
    /// What is wrong, in one sentence.
    pub message: String,
    /// How to fix it.
    pub hint: String,
    /// The object, or none for release-wide findings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<ObjectRef>,
    /// The container, for per-container rules.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// JSON pointer into the object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// `builtin`, or the policy module's name.
    pub origin: String,
    /// Set when an exemption annotation waives it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exempted: Option<Exemption>,
    /// The mutations (policy modules' patches) that brought it about.
    #[serde(rename = "introducedBy", skip_serializing_if = "Vec::is_empty")]
    pub introduced_by: Vec<IntroducedBy>,
}

/// A policy module's patch behind a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IntroducedBy {
    /// The mutating module.
    pub module: String,
    /// Its operations on the object (RFC 6902) whose paths meet the finding's.
    pub operations: Vec<serde_json::Value>,
}

impl Finding {
    /// Whether it denies the release.
    pub fn denies(&self) -> bool {
        self.severity == Severity::Error && self.exempted.is_none()
    }
}
