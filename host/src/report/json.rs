//! The JSON report. Its schema is stable and documented in docs/report-schema.md; a change
//! that is not an addition bumps `version`.

use serde_json::{Value, json};

use super::Report;

/// Version of the JSON report schema.
pub const VERSION: u32 = 1;

pub fn render(report: &Report) -> String {
    let s = report.summary();
    let findings: Vec<Value> = report
        .sections
        .iter()
        .flat_map(|section| {
            section.findings.iter().map(move |f| {
                let mut v = serde_json::to_value(f).expect("findings serialize");
                if let Some(input) = &section.input {
                    v["input"] = json!(input);
                }
                v
            })
        })
        .collect();
    let applied: Vec<Value> = report
        .sections
        .iter()
        .flat_map(|s| {
            s.applied
                .iter()
                .map(|a| serde_json::to_value(a).expect("serializes"))
        })
        .collect();
    let changes: Option<Vec<Value>> =
        report
            .sections
            .iter()
            .any(|s| s.changes.is_some())
            .then(|| {
                report
                    .sections
                    .iter()
                    .flat_map(|section| {
                        section.changes.iter().flatten().map(move |c| {
                            let mut v = serde_json::to_value(c).expect("changes serialize");
                            if let Some(input) = &section.input {
                                v["input"] = json!(input);
                            }
                            v
                        })
                    })
                    .collect()
            });
    let mut doc = json!({
        "version": VERSION,
        "tool": { "name": "vf-post", "version": env!("CARGO_PKG_VERSION") },
        "outcome": report.outcome(),
        "summary": {
            "errors": s.errors, "warnings": s.warnings, "infos": s.infos,
            "exempted": s.exempted, "objects": s.objects, "applied": s.applied,
        },
        "findings": findings,
        "applied": applied,
    });
    if let Some(changes) = changes {
        doc["changes"] = json!(changes);
    }
    let mut text = serde_json::to_string_pretty(&doc).expect("JSON serializes");
    text.push('\n');
    text
}
