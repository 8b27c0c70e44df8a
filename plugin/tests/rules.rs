//! One case per built-in rule, in tests/rules/<rule-id>/: the rule fires on every object
//! named `bad-*` and stays quiet on its compliant `good-*` twins. findings.txt records the
//! rule's findings (`BLESS=1` rewrites it). The cases run through the engine as a render
//! does, passes included. A rule that guards what vf-post's own passes ensure (the pull
//! secret) can only fire after a mutating module undoes it: its case has a mutations.json,
//! `[{"name": <object>, "operations": [<RFC 6902>]}]`, applied as a module's patches. A rule
//! that is off by default is turned on by the case's config.yaml, and must stay quiet without.

mod support;

use std::fmt::Write as _;

use vf_plugin::modules::ModulePatch;
use vf_plugin::rules::catalog::{HOST_RULES, RULES, Rule};
use vf_plugin::{Changes, Config, Objects, prepare};

/// Each rule's case a test of its own, named after the rule (`<rule>` and
/// `<rule>: hidden behind line breaks`): `cargo test --test rules -- <rule>` runs one.
fn main() {
    let args = libtest_mimic::Arguments::from_args();
    let mut trials = Vec::new();
    for rule in RULES.iter().filter(|r| !HOST_RULES.contains(&r.id)) {
        trials.push(libtest_mimic::Trial::test(rule.id, move || {
            fires_on_bad_twins_and_stays_quiet_on_good_ones(rule).map_err(Into::into)
        }));
        trials.push(libtest_mimic::Trial::test(
            format!("{}: hidden behind line breaks", rule.id),
            move || {
                hidden_behind_yaml_1_1_line_breaks(rule)
                    .map(drop)
                    .map_err(Into::into)
            },
        ));
    }
    // Cases whose bad objects are written in flow style hide nothing; together they must.
    trials.push(libtest_mimic::Trial::test(
        "settings hidden behind line breaks: enough tried",
        || {
            let tried: usize = RULES
                .iter()
                .filter(|r| !HOST_RULES.contains(&r.id))
                .map(|r| hidden_behind_yaml_1_1_line_breaks(r).unwrap_or(0))
                .sum();
            if tried > 300 {
                Ok(())
            } else {
                Err(format!("only {tried} hidden settings tried").into())
            }
        },
    ));
    libtest_mimic::run(&args, trials).exit();
}

/// The case's release, mutated by its mutations.json if it has one, and validated.
fn run_case(
    rule: &Rule,
    dir: &std::path::Path,
    input: &[u8],
    config: &Config,
    changes: Changes,
) -> vf_plugin::Release {
    let mut release = prepare(input.to_vec(), config, &Objects::None, &[], changes).unwrap();
    if let Ok(text) = std::fs::read_to_string(dir.join("mutations.json")) {
        let wanted: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
        let patches: Vec<ModulePatch> = wanted
            .iter()
            .map(|m| {
                let name = m["name"].as_str().unwrap();
                let index = release
                    .stream
                    .documents()
                    .iter()
                    .position(|d| d.name() == name)
                    .unwrap_or_else(|| panic!("{}: no object {name}", rule.id));
                ModulePatch {
                    document: u32::try_from(index).unwrap(),
                    operations: m["operations"].to_string(),
                    policy: None,
                }
            })
            .collect();
        release.mutate("case", &patches).unwrap();
    }
    release.validate().unwrap();
    release
}

/// The rule fires on every `bad-*` object of its case and on no `good-*` one, and its findings
/// are findings.txt.
fn fires_on_bad_twins_and_stays_quiet_on_good_ones(rule: &Rule) -> Result<(), String> {
    let root = support::repo().join("tests/rules");
    let bless = std::env::var_os("BLESS").is_some();
    let mut failures = Vec::new();
    let dir = root.join(rule.id);
    let Ok(input) = std::fs::read(dir.join("input.yaml")) else {
        return Err(format!("{}: no case in tests/rules/{}", rule.id, rule.id));
    };
    let config: Config = std::fs::read_to_string(dir.join("config.yaml"))
        .map(|t| serde_saphyr::from_str(&t).unwrap())
        .unwrap_or_default();
    // Through the engine's own planning: a rule reading a kind vf-post does not parse
    // finds nothing here either.
    let release = run_case(rule, &dir, &input, &config, Changes::Untracked);
    // What a rule finds may not depend on what else vf-post parses: with every document
    // parsed (as --show-changes does), the same findings.
    let everything = run_case(rule, &dir, &input, &config, Changes::Tracked);
    let of_rule = |findings: &[vf_plugin::Finding]| -> Vec<String> {
        findings
            .iter()
            .filter(|f| f.rule == rule.id)
            .map(|f| format!("{f:?}"))
            .collect()
    };
    if of_rule(&everything.findings) != of_rule(&release.findings) {
        failures.push(format!(
            "{}: finds otherwise when every document is parsed: {:#?}",
            rule.id,
            of_rule(&everything.findings)
        ));
    }
    if !rule.on_by_default {
        let mut plain = prepare(
            input.clone(),
            &Config::default(),
            &Objects::None,
            &[],
            Changes::Untracked,
        )
        .unwrap();
        plain.validate().unwrap();
        if plain.findings.iter().any(|f| f.rule == rule.id) {
            failures.push(format!("{}: fires without being turned on", rule.id));
        }
    }
    let findings: Vec<_> = release
        .findings
        .iter()
        .filter(|f| f.rule == rule.id)
        .cloned()
        .collect();
    let names: Vec<&str> = release
        .stream
        .documents()
        .iter()
        .map(|d| d.name())
        .collect();
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
    verdict(&failures)
}

fn verdict(failures: &[String]) -> Result<(), String> {
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n"))
    }
}

/// Issue 12: a setting a rule denies, hidden from a YAML 1.2 reader behind a character go-yaml
/// reads as a line break (`# note<U+2028>    hostNetwork: true`), is refused or denied.
/// How many settings it hid.
fn hidden_behind_yaml_1_1_line_breaks(rule: &Rule) -> Result<usize, String> {
    let root = support::repo().join("tests/rules");
    let mut failures = Vec::new();
    let mut hidden = 0;
    let dir = root.join(rule.id);
    let input = std::fs::read_to_string(dir.join("input.yaml")).unwrap();
    let config: Config = std::fs::read_to_string(dir.join("config.yaml"))
        .map(|t| serde_saphyr::from_str(&t).unwrap())
        .unwrap_or_default();
    let lines: Vec<&str> = input.split_inclusive('\n').collect();
    // Every line of every bad document, each hidden behind each break in turn.
    let mut in_bad = false;
    for (i, line) in lines.iter().enumerate() {
        if line.starts_with("---") {
            in_bad = false;
        }
        if let Some(name) = line.trim().strip_prefix("name: ") {
            in_bad |= name.starts_with("bad-") && lines[i - 1].trim() == "metadata:";
        }
        let body = line.trim_end_matches('\n');
        if !in_bad || body.trim().is_empty() || body.trim_start().starts_with(['#', '-']) {
            continue;
        }
        for c in ['\u{85}', '\u{2028}', '\u{2029}'] {
            let indent = &body[..body.len() - body.trim_start().len()];
            let mut text: String = lines[..i].concat();
            text.push_str(&format!("{indent}# note{c}{body}\n"));
            text.push_str(&lines[i + 1..].concat());
            hidden += 1;
            match vf_plugin::render(text.into_bytes(), &config) {
                Err(e)
                    if e.to_string()
                        .contains("Kubernetes reads it as a line break") => {}
                Err(e) => failures.push(format!(
                    "{}: line {} {c:?}: refused for another reason: {e}",
                    rule.id,
                    i + 1
                )),
                Ok(r) if r.findings.iter().any(|f| f.rule == rule.id) => {}
                Ok(_) => failures.push(format!(
                    "{}: line {} hidden behind {c:?} passes",
                    rule.id,
                    i + 1
                )),
            }
        }
    }
    verdict(&failures).map(|()| hidden)
}
