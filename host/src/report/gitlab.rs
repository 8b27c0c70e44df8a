//! GitLab Code Quality (a JSON array of issues), so merge requests show findings on the
//! chart's templates. Exempted findings are left out: Code Quality has no waiver, and a waived
//! finding would count as a new issue.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::json;
use vf_plugin::Severity;

use super::Report;
use super::sarif::{fingerprint, message, place};

pub fn render(report: &Report, chart_path: Option<&Path>) -> String {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut issues = Vec::new();
    for section in &report.sections {
        for finding in section.findings.iter().filter(|f| f.exempted.is_none()) {
            // Unique as GitLab requires, and stable: a second finding with the same rule,
            // object, container and path (rare) is numbered in report order.
            let base = fingerprint(finding);
            let count = seen.entry(base.clone()).or_insert(0);
            let fingerprint = match *count {
                0 => base,
                n => format!("{base}-{n}"),
            };
            *count += 1;
            let (path, line) = place(finding, chart_path).unwrap_or_else(|| {
                (
                    section.input.clone().unwrap_or_else(|| "stdin".into()),
                    None,
                )
            });
            issues.push(json!({
                "description": message(finding),
                "check_name": finding.rule,
                "fingerprint": fingerprint,
                "severity": severity(finding.severity),
                "location": {"path": path, "lines": {"begin": line.unwrap_or(1)}},
            }));
        }
    }
    let mut text = serde_json::to_string_pretty(&issues).expect("JSON serializes");
    text.push('\n');
    text
}

/// Errors deny the release: `critical`; warnings `major`; info `info`.
fn severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "critical",
        Severity::Warning => "major",
        Severity::Info => "info",
    }
}
