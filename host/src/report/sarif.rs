//! SARIF 2.1.0, so GitHub code scanning shows findings on the chart's templates. Locations
//! use the template path Helm reported; `--chart-path` maps the chart's name to its
//! directory in the repository, and then the line of the object's `kind:` is given too.

use std::path::Path;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use vf_plugin::finding::WaivedBy;
use vf_plugin::rules::catalog::RULES;
use vf_plugin::{Finding, Severity};

use super::Report;

pub fn render(report: &Report, chart_path: Option<&Path>) -> String {
    let mut rules: Vec<Value> = RULES
        .iter()
        .map(|r| {
            let mut rule = rule(r.id, r.summary, Some(r.hint), r.severity);
            rule["defaultConfiguration"]["enabled"] = json!(r.on_by_default);
            rule
        })
        .collect();
    for (id, summary) in &report.module_rules {
        rules.push(rule(id, summary, None, Severity::Error));
    }
    let index_of = |id: &str| rules.iter().position(|r| r["id"] == id);
    let overrides = overrides(report, &rules);
    let mut results = Vec::new();
    for finding in report.findings() {
        let mut result = json!({
            "ruleId": finding.rule,
            "level": level(finding.severity),
            "message": { "text": message(finding) },
            "locations": locations(finding, chart_path),
            "partialFingerprints": { "vfPostFinding/v1": fingerprint(finding) },
            "properties": {
                "origin": finding.origin,
                "container": finding.container,
                "path": finding.path,
                "introducedBy": finding.introduced_by,
            },
        });
        if let Some(i) = index_of(&finding.rule) {
            result["ruleIndex"] = json!(i);
        }
        if let Some(exemption) = &finding.exempted {
            result["suppressions"] = json!([suppression(exemption)]);
        }
        results.push(result);
    }
    let mut doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "vf-post",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/virtufin/vf-post",
                "rules": rules,
            }},
            "results": results,
            "columnKind": "unicodeCodePoints",
        }],
    });
    if !overrides.is_empty() {
        doc["runs"][0]["invocations"] =
            json!([{ "executionSuccessful": true, "ruleConfigurationOverrides": overrides }]);
    }
    let mut text = serde_json::to_string_pretty(&doc).expect("JSON serializes");
    text.push('\n');
    text
}

/// The rules the configuration turns on or off or gives another severity, for every object,
/// as this run's configuration of them. Teams' settings apply to their objects only, so
/// they are not the run's.
fn overrides(report: &Report, rules: &[Value]) -> Vec<Value> {
    rules
        .iter()
        .enumerate()
        .filter_map(|(index, rule)| {
            let id = rule["id"].as_str()?;
            let setting = report.rule_settings.get(id)?;
            let mut configuration = serde_json::Map::new();
            if let Some(enabled) = setting.enabled {
                configuration.insert("enabled".into(), json!(enabled));
            }
            if let Some(severity) = setting.severity {
                configuration.insert("level".into(), json!(level(severity)));
            }
            (!configuration.is_empty()).then(|| {
                json!({
                    "descriptor": { "id": id, "index": index },
                    "configuration": configuration,
                })
            })
        })
        .collect()
}

/// An annotation on the object is a suppression in the source; an exception of the
/// configuration an external one, with its owner and end date.
fn suppression(exemption: &vf_plugin::finding::Exemption) -> Value {
    match &exemption.by {
        WaivedBy::Exception(exception) => json!({
            "kind": "external",
            "justification": exemption.reason,
            "location": { "logicalLocations": [{ "name": format!("exceptions[{}]", exception.index) }] },
            "properties": { "owner": exception.owner, "expires": exception.expires },
        }),
        WaivedBy::Annotation(_) => json!({
            "kind": "inSource",
            "justification": exemption.reason,
            "location": { "logicalLocations": [{ "name": exemption.by() }] },
        }),
    }
}

fn rule(id: &str, summary: &str, hint: Option<&str>, severity: Severity) -> Value {
    let mut rule = json!({
        "id": id,
        "shortDescription": { "text": summary },
        "fullDescription": { "text": summary },
        "defaultConfiguration": { "level": level(severity) },
    });
    if let Some(hint) = hint {
        rule["help"] = json!({ "text": hint });
    }
    rule
}

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

pub(super) fn message(f: &Finding) -> String {
    let object = f
        .object
        .as_ref()
        .map(|o| format!("{o}: "))
        .unwrap_or_default();
    let container = f
        .container
        .as_ref()
        .map(|c| format!("container {c}: "))
        .unwrap_or_default();
    let mutation = match f.introduced_by.as_slice() {
        [] => String::new(),
        by => format!(
            " (introduced by policy module {})",
            by.iter()
                .map(|m| m.module.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    format!(
        "{object}{container}{}{mutation}. Fix: {}",
        f.message, f.hint
    )
}

fn locations(f: &Finding, chart_path: Option<&Path>) -> Value {
    let Some(object) = &f.object else {
        return json!([]);
    };
    let logical = json!([{
        "name": object.name,
        "fullyQualifiedName": format!("{}/{}{}", object.kind, object.namespace.as_ref().map(|n| format!("{n}/")).unwrap_or_default(), object.name),
        "kind": "resource",
    }]);
    let Some((uri, line)) = place(f, chart_path) else {
        return json!([{ "logicalLocations": logical }]);
    };
    let mut physical = json!({ "artifactLocation": { "uri": uri } });
    if let Some(line) = line {
        physical["region"] = json!({ "startLine": line });
    }
    json!([{ "physicalLocation": physical, "logicalLocations": logical }])
}

/// Where a finding's object is written: its template (a repository path with `--chart-path`),
/// and then the line of its `kind:`; `None` without a template.
pub(super) fn place(f: &Finding, chart_path: Option<&Path>) -> Option<(String, Option<usize>)> {
    let object = f.object.as_ref()?;
    let source = object.source.as_ref()?;
    Some(match (chart_path, source.split_once('/')) {
        (Some(root), Some((_, rest))) => {
            let path = root.join(rest);
            let line = kind_line(&path, &object.kind);
            (path.to_string_lossy().replace('\\', "/"), line)
        }
        _ => (source.clone(), None),
    })
}

/// The first line of the template that declares `kind: <kind>`.
fn kind_line(template: &Path, kind: &str) -> Option<usize> {
    let text = std::fs::read_to_string(template).ok()?;
    text.lines()
        .position(|l| {
            l.trim_start()
                .strip_prefix("kind:")
                .is_some_and(|rest| rest.trim().trim_matches(['"', '\'']) == kind)
        })
        .map(|i| i + 1)
}

/// Stable across runs for the same problem on the same object, for code scanning's dedup.
pub(super) fn fingerprint(f: &Finding) -> String {
    let object = f.object.as_ref().map(|o| {
        format!(
            "{}/{}/{}",
            o.kind,
            o.namespace.as_deref().unwrap_or(""),
            o.name
        )
    });
    let key = format!(
        "{}|{}|{}|{}",
        f.rule,
        object.unwrap_or_default(),
        f.container.as_deref().unwrap_or(""),
        f.path.as_deref().unwrap_or("")
    );
    format!("{:x}", Sha256::digest(key.as_bytes()))
}
