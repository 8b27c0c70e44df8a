//! Errors of the engine: input it cannot read, configuration it cannot use.
//!
//! Policy violations are not errors: they are [`crate::Finding`]s.

use std::fmt;

/// Where a problem sits in the input stream: which document, from which template.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct At {
    /// 1-based position of the document in the stream (counting every `---` chunk).
    pub document: usize,
    /// Chart template the document came from, when Helm said so.
    pub source: Option<String>,
}

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "document {}", self.document)?;
        match &self.source {
            Some(source) => write!(f, " ({source})"),
            None => Ok(()),
        }
    }
}

/// Everything that stops the engine before it can produce output.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A document is not valid YAML, is not UTF-8, or is YAML Kubernetes cannot read or
    /// would read differently from vf-post.
    #[error("cannot read {at}, line {line} column {column} of the input: {message}")]
    Yaml {
        /// The document.
        at: At,
        /// 1-based line in the whole input.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the parser said.
        message: String,
    },
    /// A document vf-post must change is not an object Kubernetes reads (found only once
    /// parsed, so without a line).
    #[error("{at}: {message}")]
    Document {
        /// The document.
        at: At,
        /// What is wrong with it.
        message: String,
    },
    /// The chart's vf-post contract document is unusable.
    #[error("vf-post contract in {at}: {message}")]
    Contract {
        /// The contract document.
        at: At,
        /// What is wrong with it.
        message: String,
    },
    /// The engine configuration is unusable.
    #[error("configuration: {0}")]
    Config(String),
    /// A patch could not be applied (bad pointer, forbidden field).
    #[error("patch for {at}: {message}")]
    Patch {
        /// The patched document.
        at: At,
        /// Why the patch was refused.
        message: String,
    },
}

/// The engine's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
