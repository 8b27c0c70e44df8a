//! vf-post's Rego runtime: policies in Rego, through regorus, as a policy component in the
//! sandbox. Two kinds of policy teams already have:
//! - conftest policies (conftest.rs): `deny`, `violation` and `warn` rules of a namespace
//!   (`main` by default), each object of the release an input as conftest takes each
//!   document of a file, or the whole release as one (`combine`);
//! - Gatekeeper ConstraintTemplates and their constraints (gatekeeper.rs): constraints
//!   matched as Gatekeeper matches (constraint_match.rs), `violation` evaluated with
//!   `input.review` and `input.parameters`, `data.inventory` from the release
//!   (inventory.rs).
//!
//! The flow: settings (settings.rs) → compiled policies ([`load`]) → findings per document
//! ([`Policies::evaluate`]). Time and memory are the sandbox's to bound: the interpreter's
//! own timer needs a clock, which the sandbox does not give.

mod conftest;
mod constraint_match;
mod gatekeeper;
mod inventory;
pub mod settings;

#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
mod component;

use serde_json::Value as Json;

pub use settings::Settings;

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Info,
    Warning,
    Error,
}

/// A rule the policies declare: a conftest rule of a namespace, or a Gatekeeper constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub id: String,
    pub summary: String,
    pub severity: Severity,
}

/// One object of the release.
#[derive(Debug)]
pub struct Doc {
    pub index: u32,
    /// The chart template that made it.
    pub source: Option<String>,
    pub object: Json,
    /// The object as the JSON text it came as (read into Rego's values directly).
    pub text: String,
}

/// What a policy found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub rule: String,
    pub severity: Severity,
    pub message: String,
    /// `None` for a finding on the whole release (conftest's `combine`).
    pub document: Option<u32>,
}

/// An error of regorus, which quotes the offending source line, cut to what a person reads:
/// a policy's one line may be megabytes.
pub(crate) fn shorten(message: &str) -> String {
    const MAX: usize = 1000;
    if message.len() <= MAX {
        return message.to_owned();
    }
    let mut end = MAX;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{}... ({} bytes more)",
        &message[..end],
        message.len() - end
    )
}

/// The compiled policies of one call.
pub struct Policies {
    conftest: Vec<conftest::Conftest>,
    gatekeeper: gatekeeper::Gatekeeper,
}

/// Reads the settings and compiles every policy; an error names the file and what is wrong.
pub fn load(settings: &str) -> Result<(Settings, Policies), String> {
    let settings: Settings =
        serde_json::from_str(settings).map_err(|e| format!("settings: {e}"))?;
    let conftest = settings
        .conftest
        .iter()
        .map(conftest::Conftest::load)
        .collect::<Result<Vec<_>, _>>()?;
    let gatekeeper = gatekeeper::Gatekeeper::load(&settings.templates, &settings.constraints)?;
    Ok((
        settings,
        Policies {
            conftest,
            gatekeeper,
        },
    ))
}

impl Policies {
    /// Every rule, in the order of the policy files.
    pub fn rules(&self) -> Vec<Rule> {
        let mut rules: Vec<Rule> = self.conftest.iter().flat_map(|c| c.rules()).collect();
        rules.extend(self.gatekeeper.rules());
        rules
    }

    /// Judges the documents.
    pub fn evaluate(&mut self, settings: &Settings, docs: &[Doc]) -> Result<Vec<Finding>, String> {
        let wanted = |rule: &str| {
            settings
                .only
                .as_ref()
                .is_none_or(|only| only.iter().any(|r| r == rule))
        };
        let mut findings = Vec::new();
        for conftest in &mut self.conftest {
            conftest.evaluate(docs, &wanted, &mut findings)?;
        }
        self.gatekeeper
            .evaluate(settings, docs, &wanted, &mut findings)?;
        Ok(findings)
    }
}
