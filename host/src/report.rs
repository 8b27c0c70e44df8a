//! Reports: what vf-post did and found, for people (text), machines (JSON), code scanning
//! (SARIF), merge requests (GitLab Code Quality) and test views (JUnit). The outcome, and so
//! the exit code, is decided here.

mod gitlab;
mod json;
pub(crate) mod junit;
mod sarif;
pub mod text;

use vf_plugin::Finding;
use vf_plugin::transform::Applied;

use crate::cli::Format;

/// One input's findings and changes (lint takes several files; a render has one stdin).
#[derive(Debug, Default)]
pub struct Section {
    /// File name in lint mode; `None` for stdin.
    pub input: Option<String>,
    /// Objects in the input.
    pub objects: usize,
    /// What the passes changed.
    pub applied: Vec<Applied>,
    /// Findings, exempted ones included.
    pub findings: Vec<Finding>,
    /// Each step's patch of each object, with `--show-changes`.
    pub changes: Option<Vec<vf_plugin::changes::Change>>,
}

/// Everything a run reports.
#[derive(Debug, Default)]
pub struct Report {
    /// One section per input.
    pub sections: Vec<Section>,
    /// Monitor mode: findings never deny.
    pub audit: bool,
    /// Rule metadata of policy modules, for SARIF: (id, summary).
    pub module_rules: Vec<(String, String)>,
    /// The configuration's rule settings for every object (`rules:`), for SARIF's
    /// configuration overrides.
    pub rule_settings: std::collections::BTreeMap<String, vf_plugin::config::RuleSetting>,
}

/// Counts of findings that count (not exempted), and exempted ones.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub errors: usize,
    pub warnings: usize,
    pub infos: usize,
    pub exempted: usize,
    pub objects: usize,
    pub applied: usize,
}

impl Report {
    /// Whether the findings deny the release.
    pub fn denied(&self) -> bool {
        !self.audit && self.findings().any(Finding::denies)
    }

    /// `denied`, `passed`, or `audit` (findings reported, never denying).
    pub fn outcome(&self) -> &'static str {
        if self.audit {
            "audit"
        } else if self.denied() {
            "denied"
        } else {
            "passed"
        }
    }

    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.sections.iter().flat_map(|s| &s.findings)
    }

    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for f in self.findings() {
            if f.exempted.is_some() {
                s.exempted += 1;
                continue;
            }
            match f.severity {
                vf_plugin::Severity::Error => s.errors += 1,
                vf_plugin::Severity::Warning => s.warnings += 1,
                vf_plugin::Severity::Info => s.infos += 1,
            }
        }
        s.objects = self.sections.iter().map(|s| s.objects).sum();
        s.applied = self.sections.iter().map(|s| s.applied.len()).sum();
        s
    }

    /// The report in `format`; `color` applies to text only; `chart_path` maps template
    /// paths to repository paths in SARIF.
    pub fn render(
        &self,
        format: Format,
        color: bool,
        chart_path: Option<&std::path::Path>,
    ) -> String {
        match format {
            Format::Text => text::render(self, color),
            Format::Json => json::render(self),
            Format::Sarif => sarif::render(self, chart_path),
            Format::Gitlab => gitlab::render(self, chart_path),
            Format::Junit => junit::render(self),
        }
    }
}
