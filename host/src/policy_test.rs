//! vf-post's own test format, for every kind of policy: built-in rules, policy modules,
//! admission policies (CEL) and Rego. A `PolicyTest` (vf-post.virtufin.io/v1alpha1) names a
//! configuration and cases: input manifests (as Helm renders them), the findings expected per
//! object and rule, and, for mutations, the expected post-rendered output. Each case runs
//! exactly as `vf-post lint` and a render run it: passes, mutating policies, rules, policies,
//! the configuration's exceptions.
//!
//! ```yaml
//! apiVersion: vf-post.virtufin.io/v1alpha1
//! kind: PolicyTest
//! config: vf-post.yaml              # relative to this file
//! cases:
//!   - name: unpinned image is denied
//!     input: cases/latest.yaml
//!     rules: [image-tag-pinned]      # compare findings of these rules (default: those expected)
//!     findings:
//!       - {rule: image-tag-pinned, kind: Deployment, name: web, severity: error, message: "latest"}
//!     output: cases/latest.out.yaml  # optional: the post-rendered objects, in order
//! ```

use std::path::Path;

use anyhow::{Context as _, Result, anyhow, bail};
use serde::Deserialize;
use serde_json::Value;
use vf_plugin::{Finding, Severity};

use crate::suite::{CaseResult, Outcome, read_objects};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PolicyTest {
    // Checked by the caller.
    #[serde(rename = "apiVersion")]
    _api_version: serde::de::IgnoredAny,
    #[serde(rename = "kind")]
    _kind: serde::de::IgnoredAny,
    #[serde(default, rename = "metadata")]
    _metadata: Option<serde::de::IgnoredAny>,
    /// The configuration, relative to the test file; the defaults when none.
    #[serde(default)]
    config: Option<String>,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Case {
    name: String,
    input: String,
    /// The rules whose findings are compared; by default those the expectations name, or
    /// every rule when none is expected.
    #[serde(default)]
    rules: Vec<String>,
    #[serde(default)]
    findings: Vec<Expected>,
    #[serde(default)]
    output: Option<String>,
    #[serde(default)]
    skip: bool,
}

/// A finding expected: each given field must match; `message` is a regular expression.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Expected {
    rule: String,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    container: Option<String>,
    #[serde(default)]
    severity: Option<Severity>,
    #[serde(default)]
    message: Option<String>,
}

pub const API_VERSION: &str = "vf-post.virtufin.io/v1alpha1";

/// Runs every case of the `PolicyTest` at `path` (already read: `object`).
pub fn run(path: &Path, object: &Value) -> Result<Vec<CaseResult>> {
    let shown = path.display().to_string();
    let test: PolicyTest =
        serde_json::from_value(object.clone()).map_err(|e| anyhow!("{shown}: {e}"))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let options = crate::cli::Options {
        shared: crate::cli::Shared {
            config: test.config.as_ref().map(|c| dir.join(c)),
            ..Default::default()
        },
        ..Default::default()
    };
    let result = |case: &Case, outcome| CaseResult {
        suite: shown.clone(),
        test: String::new(),
        case: case.name.clone(),
        outcome,
    };
    let (config, modules) = match crate::run::configure(&options) {
        Ok(loaded) => loaded,
        Err(e) => {
            return Ok(test
                .cases
                .iter()
                .map(|c| result(c, Outcome::Failed(format!("{e:#}"))))
                .collect());
        }
    };
    let mut results = Vec::new();
    for case in &test.cases {
        let outcome = if case.skip {
            Outcome::Skipped("skipped by the test".into())
        } else {
            run_case(dir, case, &config, &modules, &options)
                .unwrap_or_else(|e| Outcome::Failed(format!("{e:#}")))
        };
        results.push(result(case, outcome));
    }
    Ok(results)
}

fn run_case(
    dir: &Path,
    case: &Case,
    config: &vf_plugin::Config,
    modules: &[crate::policy::load::PolicyModule],
    options: &crate::cli::Options,
) -> Result<Outcome> {
    let input = std::fs::read(dir.join(&case.input))
        .with_context(|| format!("cannot read {}", case.input))?;
    let (section, release) = crate::run::process(input, None, config, modules, options)?;
    let mut report = crate::report::Report {
        sections: vec![section],
        ..Default::default()
    };
    crate::exceptions::apply(&mut report, config, crate::exceptions::Date::today());
    let compared: Vec<&str> = if !case.rules.is_empty() {
        case.rules.iter().map(String::as_str).collect()
    } else {
        case.findings.iter().map(|f| f.rule.as_str()).collect()
    };
    let mut actual: Vec<&Finding> = report.sections[0]
        .findings
        .iter()
        .filter(|f| f.exempted.is_none())
        .filter(|f| compared.is_empty() || compared.contains(&f.rule.as_str()))
        .collect();
    for expected in &case.findings {
        let pattern = match &expected.message {
            Some(p) => Some(regex::Regex::new(p).map_err(|e| anyhow!("message {p:?}: {e}"))?),
            None => None,
        };
        let found = actual.iter().position(|f| {
            let object = f.object.as_ref();
            let is = |want: &Option<String>, have: Option<&str>| {
                want.as_deref().is_none_or(|w| have == Some(w))
            };
            f.rule == expected.rule
                && is(&expected.kind, object.map(|o| o.kind.as_str()))
                && is(&expected.name, object.map(|o| o.name.as_str()))
                && is(
                    &expected.namespace,
                    object.and_then(|o| o.namespace.as_deref()),
                )
                && is(&expected.container, f.container.as_deref())
                && expected.severity.is_none_or(|s| s == f.severity)
                && pattern.as_ref().is_none_or(|p| p.is_match(&f.message))
        });
        match found {
            Some(i) => {
                actual.remove(i);
            }
            None => {
                return Ok(Outcome::Failed(format!(
                    "no finding of {}{} as expected; found {}",
                    expected.rule,
                    describe(expected),
                    list(&report.sections[0].findings, &compared)
                )));
            }
        }
    }
    if let Some(extra) = actual.first() {
        return Ok(Outcome::Failed(format!(
            "an unexpected finding of {} on {}: {}",
            extra.rule,
            extra
                .object
                .as_ref()
                .map_or("the release".into(), |o| o.to_string()),
            extra.message
        )));
    }
    if let Some(output) = &case.output {
        let written = release.finish()?;
        let expected = read_objects(&dir.join(output))?;
        let tmp = vf_plugin::Stream::read_all(written)?;
        let actual: Vec<&Value> = tmp.documents().iter().filter_map(|d| d.value()).collect();
        if actual.len() != expected.len() {
            bail!(
                "{} objects written, {} expected in {output}",
                actual.len(),
                expected.len()
            );
        }
        if let Some(i) = (0..actual.len()).find(|&i| *actual[i] != expected[i]) {
            let patch = vf_plugin::changes::diff(&expected[i], actual[i]);
            return Ok(Outcome::Failed(format!(
                "object {} of the output differs from {output}: {}",
                i + 1,
                serde_json::to_string(&patch).unwrap_or_default()
            )));
        }
    }
    Ok(Outcome::Passed)
}

fn describe(e: &Expected) -> String {
    let mut out = String::new();
    if e.kind.is_some() || e.name.is_some() {
        out.push_str(&format!(
            " on {} {}",
            e.kind.as_deref().unwrap_or("*"),
            e.name.as_deref().unwrap_or("*")
        ));
    }
    if let Some(c) = &e.container {
        out.push_str(&format!(" container {c}"));
    }
    if let Some(m) = &e.message {
        out.push_str(&format!(" matching {m:?}"));
    }
    out
}

fn list(findings: &[Finding], compared: &[&str]) -> String {
    let shown: Vec<String> = findings
        .iter()
        .filter(|f| compared.is_empty() || compared.contains(&f.rule.as_str()))
        .map(|f| {
            format!(
                "{} on {}: {}",
                f.rule,
                f.object
                    .as_ref()
                    .map_or("the release".into(), |o| o.to_string()),
                f.message
            )
        })
        .collect();
    if shown.is_empty() {
        "none".into()
    } else {
        shown.join("; ")
    }
}
