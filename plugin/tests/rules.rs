//! One case per built-in rule, in tests/rules/<rule-id>/: the rule fires on every object
//! named `bad-*` and stays quiet on its compliant `good-*` twins. findings.txt records the
//! rule's findings (`BLESS=1` rewrites it). Rules run alone here: no transforms.

mod support;

use std::fmt::Write as _;

use vf_plugin::rules::catalog::RULES;
use vf_plugin::{Config, Stream, contract, rules};

#[test]
fn every_rule_fires_on_bad_twins_and_stays_quiet_on_good_ones() {
    let root = support::repo().join("tests/rules");
    let bless = std::env::var_os("BLESS").is_some();
    let mut failures = Vec::new();
    for rule in RULES {
        let dir = root.join(rule.id);
        let Ok(input) = std::fs::read(dir.join("input.yaml")) else {
            failures.push(format!("{}: no case in tests/rules/{}", rule.id, rule.id));
            continue;
        };
        let config: Config = std::fs::read_to_string(dir.join("config.yaml"))
            .map(|t| serde_saphyr::from_str(&t).unwrap())
            .unwrap_or_default();
        let mut stream = Stream::read_all(input).unwrap();
        let contract = contract::take(&mut stream).unwrap();
        let findings: Vec<_> = rules::check(stream.documents(), contract.as_ref(), &config, &[])
            .into_iter()
            .filter(|f| f.rule == rule.id)
            .collect();
        let names: Vec<&str> = stream.documents().iter().map(|d| d.name()).collect();
        for name in names.iter().filter(|n| n.starts_with("bad-")) {
            if !findings
                .iter()
                .any(|f| f.object.as_ref().is_some_and(|o| o.name == *name))
            {
                failures.push(format!("{}: does not fire on {name}", rule.id));
            }
        }
        for f in &findings {
            let name = f.object.as_ref().map_or("", |o| o.name.as_str());
            if name.starts_with("good-") {
                failures.push(format!("{}: fires on {name}: {}", rule.id, f.message));
            }
            if f.message.contains("hunter2") {
                failures.push(format!("{}: quotes a secret value", rule.id));
            }
        }
        let mut text = String::new();
        for f in &findings {
            let object = f.object.as_ref().map_or_else(
                || "release".to_owned(),
                |o| format!("{}/{}", o.kind, o.name),
            );
            let container = f
                .container
                .as_ref()
                .map(|c| format!(" [{c}]"))
                .unwrap_or_default();
            let path = f.path.as_deref().unwrap_or("-");
            writeln!(
                text,
                "{} {object}{container} {path}: {}",
                f.severity.as_str(),
                f.message
            )
            .unwrap();
        }
        let expected_path = dir.join("findings.txt");
        if bless {
            std::fs::write(&expected_path, &text).unwrap();
        } else if std::fs::read_to_string(&expected_path).unwrap_or_default() != text {
            failures.push(format!(
                "{}: findings.txt differs (BLESS=1 rewrites it); actual:\n{text}",
                rule.id
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
