//! conftest policies, as conftest evaluates them: in each namespace asked for (`main` by
//! default), the rules named `deny`, `violation` or `warn` (or with a `_suffix`) of each input;
//! a string result is a message, an object needs a string `msg`; `deny` and `violation` fail,
//! `warn` warns; `exception` rules naming a rule (without its prefix) waive it for the input.
//! Each object of the release is an input, as conftest takes each document of a multi-document
//! file, with `data.conftest.file` naming its template; with `combine`, the release is one
//! input, `[{path, contents}]`.

use regorus::unstable::{Rule as AstRule, RuleHead};
use regorus::{Engine, Value};
use serde_json::{Value as Json, json};

use crate::settings::{self, RegoVersion};
use crate::{Doc, Finding, Rule, Severity};

pub struct Conftest {
    engine: Engine,
    /// The policy files, for messages.
    label: String,
    namespaces: Vec<Namespace>,
    combine: bool,
    /// Whether a policy reads `data.conftest` (else it is not set for each input).
    reads_file: bool,
}

struct Namespace {
    name: String,
    /// `deny`, `violation` and `warn` rules, in order.
    rules: Vec<String>,
    /// Whether it has `exception` rules.
    exceptions: bool,
}

/// conftest's `failureRegex` and `warningRegex`.
fn is_failure(rule: &str) -> bool {
    ["deny", "violation"].iter().any(|p| prefixed(rule, p))
}

fn is_warning(rule: &str) -> bool {
    prefixed(rule, "warn")
}

/// `^<prefix>(_[a-zA-Z0-9]+)*$`.
fn prefixed(rule: &str, prefix: &str) -> bool {
    let Some(rest) = rule.strip_prefix(prefix) else {
        return false;
    };
    rest.is_empty()
        || rest.strip_prefix('_').is_some_and(|rest| {
            rest.split('_')
                .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric()))
        })
}

/// The name an `exception` rule uses for a rule: without `deny_`, `violation_`, `warn_`.
fn exception_name(rule: &str) -> &str {
    if matches!(rule, "deny" | "violation" | "warn") {
        return "";
    }
    ["violation_", "deny_", "warn_"]
        .iter()
        .fold(rule, |r, p| r.strip_prefix(p).unwrap_or(r))
}

impl Conftest {
    pub fn load(policies: &settings::Conftest) -> Result<Conftest, String> {
        let mut engine = Engine::new();
        engine.set_rego_v0(policies.version == RegoVersion::V0);
        for file in &policies.files {
            engine
                .add_policy(file.file.clone(), file.text.clone())
                .map_err(|e| format!("{}: {}", file.file, crate::shorten(&e.to_string())))?;
        }
        let label = policies
            .files
            .iter()
            .map(|f| f.file.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        // The rules of each package, from the parsed modules.
        let mut found: Vec<Namespace> = Vec::new();
        for module in engine.get_modules().iter() {
            let package = regorus::utils::get_path_string(&module.package.refr, Some("data"))
                .map_err(|e| format!("{label}: {e}"))?;
            let name = package.trim_start_matches("data.").to_owned();
            let index = match found.iter().position(|n| n.name == name) {
                Some(i) => i,
                None => {
                    found.push(Namespace {
                        name,
                        rules: Vec::new(),
                        exceptions: false,
                    });
                    found.len() - 1
                }
            };
            for rule in &module.policy {
                let refr = match rule.as_ref() {
                    AstRule::Spec { head, .. } => match head {
                        RuleHead::Compr { refr, .. } | RuleHead::Set { refr, .. } => refr,
                        RuleHead::Func { .. } => continue,
                    },
                    AstRule::Default { refr, .. } => refr,
                };
                let Ok(rule) = regorus::utils::get_path_string(refr, None) else {
                    continue;
                };
                let namespace = &mut found[index];
                if rule == "exception" {
                    namespace.exceptions = true;
                } else if (is_failure(&rule) || is_warning(&rule))
                    && !namespace.rules.contains(&rule)
                {
                    namespace.rules.push(rule);
                }
            }
        }
        let mut namespaces = Vec::new();
        for wanted in &policies.namespaces {
            let Some(i) = found.iter().position(|n| n.name == *wanted) else {
                return Err(format!(
                    "{label}: no policy is in namespace {wanted:?} (its packages: {})",
                    found
                        .iter()
                        .map(|n| n.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            };
            namespaces.push(found.swap_remove(i));
        }
        Ok(Conftest {
            engine,
            label,
            namespaces,
            combine: policies.combine,
            reads_file: policies.files.iter().any(|f| f.text.contains("conftest")),
        })
    }

    pub fn rules(&self) -> Vec<Rule> {
        let mut out = Vec::new();
        for ns in &self.namespaces {
            for rule in &ns.rules {
                out.push(Rule {
                    id: format!("{}.{rule}", ns.name),
                    summary: format!("conftest rule data.{}.{rule} ({})", ns.name, self.label),
                    severity: if is_warning(rule) {
                        Severity::Warning
                    } else {
                        Severity::Error
                    },
                });
            }
        }
        out
    }

    pub fn evaluate(
        &mut self,
        docs: &[Doc],
        wanted: &dyn Fn(&str) -> bool,
        findings: &mut Vec<Finding>,
    ) -> Result<(), String> {
        if self.combine {
            let input: Vec<Json> = docs
                .iter()
                .map(|d| json!({"path": d.source.as_deref().unwrap_or("-"), "contents": d.object}))
                .collect();
            return self.check(
                Value::from(Json::Array(input)),
                "Combined",
                None,
                wanted,
                findings,
            );
        }
        for doc in docs {
            let source = doc.source.as_deref().unwrap_or("-");
            let input = Value::from_json_str(&doc.text)
                .map_err(|e| format!("document {}: {e}", doc.index))?;
            self.check(input, source, Some(doc.index), wanted, findings)?;
        }
        Ok(())
    }

    /// One input through every rule of every namespace.
    fn check(
        &mut self,
        input: Value,
        path: &str,
        document: Option<u32>,
        wanted: &dyn Fn(&str) -> bool,
        findings: &mut Vec<Finding>,
    ) -> Result<(), String> {
        if self.reads_file {
            let (dir, name) = path.rsplit_once('/').unwrap_or((".", path));
            self.engine.clear_data();
            self.engine
                .add_data(Value::from(
                    json!({"conftest": {"file": {"name": name, "dir": dir}}}),
                ))
                .map_err(|e| format!("{}: {e}", self.label))?;
        }
        self.engine.set_input(input);
        for ns in &self.namespaces {
            let waived = if ns.exceptions {
                exceptions(&eval(
                    &mut self.engine,
                    &self.label,
                    &format!("data.{}.exception", ns.name),
                )?)
            } else {
                Vec::new()
            };
            for rule in &ns.rules {
                let id = format!("{}.{rule}", ns.name);
                if !wanted(&id) || waived.iter().any(|w| w == exception_name(rule)) {
                    continue;
                }
                let query = format!("data.{}.{rule}", ns.name);
                let result = eval(&mut self.engine, &self.label, &query)?;
                // conftest reads only collections; anything else is no result.
                let Json::Array(items) = result else {
                    continue;
                };
                for item in items {
                    let message = match item {
                        Json::String(s) => s,
                        Json::Object(mut o) => match o.remove("msg") {
                            Some(Json::String(s)) => s,
                            _ => {
                                return Err(format!(
                                    "{}: {query} gave an object without a string `msg`",
                                    self.label
                                ));
                            }
                        },
                        _ => continue,
                    };
                    findings.push(Finding {
                        rule: id.clone(),
                        severity: if is_warning(rule) {
                            Severity::Warning
                        } else {
                            Severity::Error
                        },
                        message,
                        document,
                    });
                }
            }
        }
        Ok(())
    }
}

/// A rule's value as JSON (sets as arrays); undefined as null.
pub(crate) fn eval(engine: &mut Engine, label: &str, query: &str) -> Result<Json, String> {
    let value = engine
        .eval_rule(query.to_owned())
        .map_err(|e| format!("{label}: {query}: {}", crate::shorten(&e.to_string())))?;
    if value == Value::Undefined {
        return Ok(Json::Null);
    }
    let text = value
        .to_json_str()
        .map_err(|e| format!("{label}: {query}: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("{label}: {query}: {e}"))
}

/// The rule names an `exception` rule gives: conftest asks `exception[_][_] == "<name>"`, so
/// only strings one level down count (`exception contains ["latest"]`).
fn exceptions(value: &Json) -> Vec<String> {
    let Json::Array(sets) = value else {
        return Vec::new();
    };
    sets.iter()
        .filter_map(Json::as_array)
        .flatten()
        .filter_map(|name| name.as_str().map(str::to_owned))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_names_follow_conftests_expressions() {
        for yes in ["deny", "deny_x", "deny_a_b1", "violation", "violation_2"] {
            assert!(is_failure(yes), "{yes}");
        }
        for no in ["denyx", "deny_", "deny__a", "deny_a-b", "allow", "warn"] {
            assert!(!is_failure(no), "{no}");
        }
        assert!(is_warning("warn_latest") && !is_warning("warning"));
        assert_eq!(exception_name("deny_latest"), "latest");
        assert_eq!(exception_name("deny"), "");
        let given = serde_json::json!([["latest"], "cm", [["nested"]], [7, "x"]]);
        assert_eq!(exceptions(&given), ["latest", "x"]);
    }
}
