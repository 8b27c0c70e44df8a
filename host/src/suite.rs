//! `vf-post test`: policy test suites, in gator's `Suite` format (test.gatekeeper.sh/v1alpha1),
//! so the Gatekeeper library's suites run unmodified, and in vf-post's own (policy_test.rs). Each test names a ConstraintTemplate and
//! a constraint; each case an object to review (or an AdmissionReview), the inventory
//! (`data.inventory`) and assertions on the violations: how many (`yes`, `no` or a number) of
//! those whose message matches a regular expression. Cases run in vf-post's Rego runtime, in
//! the sandbox, reviewed as gator reviews them.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, anyhow, bail};
use serde::Deserialize;
use serde_json::{Value, json};
use vf_plugin::modules::DocView;

use crate::policy::bindings::{document, module::vf::policy::types::Verdict};
use crate::policy::files::Source;
use crate::policy::load::error_text;
use crate::policy::rego::{self, Policies};

/// How one case ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    Failed(String),
    Skipped(String),
}

/// One case's result.
#[derive(Debug)]
pub struct CaseResult {
    pub suite: String,
    pub test: String,
    pub case: String,
    pub outcome: Outcome,
}

#[derive(Deserialize)]
struct Suite {
    #[serde(default)]
    tests: Vec<Test>,
    #[serde(default)]
    skip: bool,
}

#[derive(Deserialize)]
struct Test {
    name: String,
    #[serde(default)]
    template: String,
    #[serde(default)]
    constraint: String,
    #[serde(default)]
    expansion: String,
    #[serde(default)]
    cases: Vec<Case>,
    #[serde(default)]
    invalid: bool,
    #[serde(default)]
    skip: bool,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    #[serde(default)]
    object: String,
    #[serde(default)]
    inventory: Vec<String>,
    #[serde(default)]
    assertions: Vec<Assertion>,
    #[serde(default)]
    skip: bool,
}

#[derive(Deserialize)]
struct Assertion {
    /// A count, or `yes` (at least one) or `no` (none); `yes` when left out.
    #[serde(default)]
    violations: Option<Value>,
    /// A regular expression the violation's message must match.
    #[serde(default)]
    message: Option<String>,
}

/// The suites under `paths` (files, or directories searched for `Suite` files).
pub fn find(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            let before = out.len();
            walk(path, &mut out)?;
            // A run that tests nothing must not pass (a CI job pointed at the wrong path).
            if out.len() == before {
                bail!("{}: no Suite or PolicyTest files in it", path.display());
            }
        } else {
            out.push(path.clone());
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    // Directories are followed as they are, not through symbolic links (a loop would repeat
    // every suite under it).
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for path in entries {
        let link = path
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink());
        if path.is_dir() && !link {
            walk(&path, out)?;
        } else if path.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            // Bounded, regular files only; a file that cannot be read is named, not skipped.
            let bytes = crate::policy::files::read_bounded(&path)?;
            let has = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
            if has(b"kind: Suite") || has(b"kind: PolicyTest") {
                out.push(path);
            }
        }
    }
    Ok(())
}

/// Runs every case of the suite at `path`.
pub fn run(path: &Path, config: &vf_plugin::Config) -> Result<Vec<CaseResult>> {
    let shown = path.display().to_string();
    let objects = read_objects(path)?;
    let [suite] = objects.as_slice() else {
        bail!("{shown}: a suite file holds one Suite or PolicyTest");
    };
    if suite.get("apiVersion").and_then(Value::as_str) == Some(crate::policy_test::API_VERSION)
        && suite.get("kind").and_then(Value::as_str) == Some("PolicyTest")
    {
        return crate::policy_test::run(path, suite);
    }
    let is_suite = suite.get("kind").and_then(Value::as_str) == Some("Suite")
        && suite.get("apiVersion").and_then(Value::as_str) == Some("test.gatekeeper.sh/v1alpha1");
    if !is_suite {
        bail!(
            "{shown}: neither a Suite of test.gatekeeper.sh/v1alpha1 nor a PolicyTest of {}",
            crate::policy_test::API_VERSION
        );
    }
    let suite: Suite =
        serde_json::from_value(suite.clone()).map_err(|e| anyhow!("{shown}: {e}"))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let bounds = crate::policy::bounds(&config.sandbox);
    let runtime = rego::runtime("rego-test", "the Rego runtime (vf-post test)", bounds)?;
    let mut results = Vec::new();
    for test in &suite.tests {
        let result = |case: &str, outcome: Outcome| CaseResult {
            suite: shown.clone(),
            test: test.name.clone(),
            case: case.to_owned(),
            outcome,
        };
        let skipped = if suite.skip || test.skip {
            Some("skipped by the suite".to_owned())
        } else if !test.expansion.is_empty() {
            Some("expansion (ExpansionTemplate) is not supported by vf-post".to_owned())
        } else if test.invalid {
            Some(
                "vf-post does not check constraint parameters against the template's schema"
                    .to_owned(),
            )
        } else {
            None
        };
        if let Some(why) = skipped {
            for case in &test.cases {
                results.push(result(&case.name, Outcome::Skipped(why.clone())));
            }
            if test.cases.is_empty() {
                results.push(result("", Outcome::Skipped(why)));
            }
            continue;
        }
        let policies = match load_test(dir, test) {
            Ok(p) => p,
            Err(e) => {
                for case in &test.cases {
                    results.push(result(&case.name, Outcome::Failed(format!("{e:#}"))));
                }
                continue;
            }
        };
        let constraint = policies.constraints[0]
            .object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        for case in &test.cases {
            let outcome = if case.skip {
                Outcome::Skipped("skipped by the suite".into())
            } else {
                match run_case(dir, case, &policies, &runtime, &constraint) {
                    Ok(outcome) => outcome,
                    Err(e) => Outcome::Failed(format!("{e:#}")),
                }
            };
            results.push(result(&case.name, outcome));
        }
    }
    Ok(results)
}

fn load_test(dir: &Path, test: &Test) -> Result<Policies> {
    if test.template.is_empty() || test.constraint.is_empty() {
        bail!("a test names a template and a constraint");
    }
    let one = |file: &str| -> Result<Source> {
        let objects = read_objects(&dir.join(file))?;
        let [object] = objects.as_slice() else {
            bail!("{file} holds {} objects, not one", objects.len());
        };
        Ok(Source {
            file: file.to_owned(),
            object: object.clone(),
        })
    };
    let template = one(&test.template)?;
    crate::policy::gatekeeper_cel::refuse_in_tests(&template.object)?;
    Ok(Policies {
        conftest: Vec::new(),
        templates: vec![template],
        constraints: vec![one(&test.constraint)?],
    })
}

fn run_case(
    dir: &Path,
    case: &Case,
    policies: &Policies,
    runtime: &crate::policy::load::PolicyModule,
    constraint: &str,
) -> Result<Outcome> {
    if case.object.is_empty() {
        bail!("the case names no object");
    }
    if case.assertions.is_empty() {
        bail!("the case has no assertions");
    }
    let objects = read_objects(&dir.join(&case.object))?;
    let [object] = objects.as_slice() else {
        bail!("{} holds {} objects, not one", case.object, objects.len());
    };
    let named = |k: &str| {
        object
            .get(k)
            .and_then(Value::as_str)
            .is_some_and(|v| !v.is_empty())
    };
    if !named("apiVersion") || !named("kind") {
        bail!(
            "{} is not a Kubernetes object: it has no apiVersion or kind",
            case.object
        );
    }
    let mut inventory = Vec::new();
    for file in &case.inventory {
        inventory.extend(read_objects(&dir.join(file))?);
    }
    // An AdmissionReview brings its request; the object under review is the request's
    // object, or on a DELETE the old one.
    let is_review = object.get("kind").and_then(Value::as_str) == Some("AdmissionReview")
        && object
            .get("apiVersion")
            .and_then(Value::as_str)
            .is_some_and(|a| a.starts_with("admission.k8s.io/"));
    let (reviewed, request) = if is_review {
        let request = object
            .get("request")
            .cloned()
            .ok_or_else(|| anyhow!("{}: an AdmissionReview without a request", case.object))?;
        let reviewed = ["object", "oldObject"]
            .iter()
            .find_map(|k| request.get(*k).filter(|v| v.is_object()).cloned())
            .ok_or_else(|| anyhow!("{}: the request has no object", case.object))?;
        (reviewed, Some(request))
    } else {
        (object.clone(), None)
    };
    let settings = policies.settings(
        "validate",
        json!({}),
        json!({"review": "gator", "inventory": inventory, "request": request}),
    );
    let text = |p: &str| {
        reviewed
            .pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let view = DocView {
        index: 0,
        source: Some(case.object.clone()),
        api_version: text("/apiVersion"),
        kind: text("/kind"),
        name: text("/metadata/name"),
        namespace: Some(text("/metadata/namespace")).filter(|n| !n.is_empty()),
        labels: Vec::new(),
        annotations: Vec::new(),
        object: reviewed.to_string(),
    };
    let documents = [document(0, view)];
    let verdict: Verdict = runtime
        .call(|m, store| {
            m.vf_policy_policy()
                .call_evaluate(store, &documents, &settings)
        })?
        .map_err(|e| anyhow!("{}", error_text(e)))?;
    let messages: Vec<&str> = verdict
        .findings
        .iter()
        .filter(|f| f.rule == constraint)
        .map(|f| f.message.as_str())
        .collect();
    for assertion in &case.assertions {
        if let Err(why) = check(assertion, &messages) {
            return Ok(Outcome::Failed(format!("{why}; got messages {messages:?}")));
        }
    }
    Ok(Outcome::Passed)
}

/// gator's assertion: of the violations whose message matches, how many there must be.
fn check(assertion: &Assertion, messages: &[&str]) -> Result<(), String> {
    let pattern = match &assertion.message {
        Some(p) => Some(regex::Regex::new(p).map_err(|e| format!("message {p:?}: {e}"))?),
        None => None,
    };
    let matching = messages
        .iter()
        .filter(|m| pattern.as_ref().is_none_or(|p| p.is_match(m)))
        .count();
    let containing = assertion
        .message
        .as_ref()
        .map(|m| format!(" containing {m:?}"))
        .unwrap_or_default();
    // `yes` and `no` unquoted are booleans to a YAML 1.1 reader (Kubernetes' and vf-post's);
    // gator reads them as the words they are written as.
    let violations = match assertion.violations.as_ref() {
        None | Some(Value::Bool(true)) => &json!("yes"),
        Some(Value::Bool(false)) => &json!("no"),
        Some(other) => other,
    };
    match violations {
        Value::String(s) if s == "yes" => (matching > 0)
            .then_some(())
            .ok_or_else(|| format!("got 0 violations{containing} but want at least 1")),
        Value::String(s) if s == "no" => (matching == 0)
            .then_some(())
            .ok_or_else(|| format!("got {matching} violations{containing} but want none")),
        Value::Number(n) if n.as_u64().is_some() => {
            let want = n.as_u64().unwrap_or_default() as usize;
            (matching == want).then_some(()).ok_or_else(|| {
                format!("got {matching} violations{containing} but want exactly {want}")
            })
        }
        other => Err(format!(
            "assertion.violations is {other}, not a nonnegative integer, \"yes\" or \"no\""
        )),
    }
}

/// The objects of a YAML file, read as Kubernetes reads them.
pub(crate) fn read_objects(path: &Path) -> Result<Vec<Value>> {
    let bytes = crate::policy::files::read_bounded(path)?;
    let stream =
        vf_plugin::Stream::read_all(bytes).map_err(|e| anyhow!("{}: {}", path.display(), e))?;
    Ok(stream
        .documents()
        .iter()
        .filter_map(|d| d.value().cloned())
        .collect())
}

/// The results for people: one line per case that did not pass, and a count.
pub fn text(results: &[CaseResult]) -> String {
    let clean = crate::report::text::clean;
    let mut out = String::new();
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for r in results {
        let name = match r.test.as_str() {
            "" => format!("{} {}", clean(&r.suite), clean(&r.case)),
            test => format!("{} {}/{}", clean(&r.suite), clean(test), clean(&r.case)),
        };
        match &r.outcome {
            Outcome::Passed => passed += 1,
            Outcome::Failed(why) => {
                failed += 1;
                let _ = writeln!(out, "FAIL {name}: {}", clean(why));
            }
            Outcome::Skipped(why) => {
                skipped += 1;
                let _ = writeln!(out, "skip {name}: {}", clean(why));
            }
        }
    }
    let _ = writeln!(
        out,
        "vf-post test: {} ({passed} passed, {failed} failed, {skipped} skipped)",
        if failed == 0 { "passed" } else { "failed" }
    );
    out
}

/// The results as JUnit XML: a test suite per suite file, a test case per case.
pub fn junit(results: &[CaseResult]) -> String {
    use crate::report::junit::escape;
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"vf-post test\">\n",
    );
    let mut suites: Vec<&str> = results.iter().map(|r| r.suite.as_str()).collect();
    suites.dedup();
    for suite in suites {
        let cases: Vec<&CaseResult> = results.iter().filter(|r| r.suite == suite).collect();
        let failures = cases
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Failed(_)))
            .count();
        let skipped = cases
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Skipped(_)))
            .count();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" skipped=\"{skipped}\">",
            escape(suite),
            cases.len()
        );
        for r in cases {
            let _ = write!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\"",
                escape(&r.test),
                escape(&r.case)
            );
            match &r.outcome {
                Outcome::Passed => out.push_str("/>\n"),
                Outcome::Failed(why) => {
                    let _ = writeln!(
                        out,
                        ">\n      <failure message=\"{}\"/>\n    </testcase>",
                        escape(why)
                    );
                }
                Outcome::Skipped(why) => {
                    let _ = writeln!(
                        out,
                        ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                        escape(why)
                    );
                }
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}
