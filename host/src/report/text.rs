//! The text report: findings grouped by object, each with its rule, severity, container,
//! template, message and hint; a summary line last. ANSI colors only when asked.

use std::fmt::Write as _;

use vf_plugin::{Finding, Severity};

use super::Report;

struct Paint(bool);

impl Paint {
    fn wrap(&self, code: &str, text: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
    fn severity(&self, s: Severity) -> String {
        let text = format!("{:<7}", s.as_str());
        match s {
            Severity::Error => self.wrap("1;31", &text),
            Severity::Warning => self.wrap("33", &text),
            Severity::Info => self.wrap("34", &text),
        }
    }
}

pub fn render(report: &Report, color: bool) -> String {
    let paint = Paint(color);
    let mut out = String::new();
    let several = report.sections.len() > 1;
    for section in &report.sections {
        if several {
            let name = section.input.as_deref().unwrap_or("<stdin>");
            writeln!(out, "{}", paint.wrap("1", &format!("== {name}"))).unwrap();
        }
        let mut groups: Vec<(Option<&vf_plugin::finding::ObjectRef>, Vec<&Finding>)> = Vec::new();
        for finding in &section.findings {
            match groups
                .iter_mut()
                .find(|(o, _)| *o == finding.object.as_ref())
            {
                Some((_, list)) => list.push(finding),
                None => groups.push((finding.object.as_ref(), vec![finding])),
            }
        }
        groups.sort_by_key(|(o, _)| o.map_or(usize::MAX, |o| o.document));
        for (object, findings) in groups {
            let title = match object {
                Some(o) => {
                    let source = o.source.as_deref().unwrap_or("no template");
                    format!(
                        "{}  ({source}, document {})",
                        paint.wrap("1", &o.to_string()),
                        o.document
                    )
                }
                None => paint.wrap("1", "release"),
            };
            writeln!(out, "{title}").unwrap();
            for f in findings {
                let container = f
                    .container
                    .as_ref()
                    .map(|c| format!("container {c}: "))
                    .unwrap_or_default();
                let severity = if f.exempted.is_some() {
                    paint.wrap("2", "exempt ")
                } else {
                    paint.severity(f.severity)
                };
                writeln!(
                    out,
                    "  {severity} {}  {container}{}",
                    paint.wrap("36", &f.rule),
                    f.message
                )
                .unwrap();
                let note = match &f.exempted {
                    Some(e) => format!("exempted by {}: {}", e.annotation, e.reason),
                    None => format!("hint: {}", f.hint),
                };
                writeln!(out, "          {note}").unwrap();
                if f.origin != "builtin" {
                    writeln!(out, "          from policy module {}", f.origin).unwrap();
                }
                for by in &f.introduced_by {
                    let operations = serde_json::to_string(&by.operations).unwrap_or_default();
                    let shown: String = operations.chars().take(200).collect();
                    let more = if shown.len() < operations.len() {
                        "…"
                    } else {
                        ""
                    };
                    writeln!(
                        out,
                        "          introduced by policy module {}: {shown}{more}",
                        by.module
                    )
                    .unwrap();
                }
            }
        }
    }
    let s = report.summary();
    let mut changes: Vec<(&str, usize)> = Vec::new();
    for applied in report.sections.iter().flat_map(|s| &s.applied) {
        match changes.iter_mut().find(|(p, _)| *p == applied.pass) {
            Some((_, n)) => *n += 1,
            None => changes.push((&applied.pass, 1)),
        }
    }
    if !changes.is_empty() {
        let list: Vec<String> = changes.iter().map(|(p, n)| format!("{p} {n}")).collect();
        writeln!(out, "applied: {}", list.join(", ")).unwrap();
    }
    let verdict = match report.outcome() {
        "denied" => paint.wrap("1;31", "denied"),
        "audit" => paint.wrap("1;33", "audit only"),
        _ => paint.wrap("1;32", "passed"),
    };
    writeln!(
        out,
        "vf-post: {verdict}: {} error{}, {} warning{}, {} info in {} object{}{}",
        s.errors,
        plural(s.errors),
        s.warnings,
        plural(s.warnings),
        s.infos,
        s.objects,
        plural(s.objects),
        if s.exempted > 0 {
            format!(" ({} exempted)", s.exempted)
        } else {
            String::new()
        },
    )
    .unwrap();
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
