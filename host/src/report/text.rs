//! The text report: findings grouped by object, each with its rule, severity, container,
//! template, message and hint; a summary line last. ANSI colors only when asked.
//!
//! Every text that comes from the chart, the configuration or a policy module goes through
//! [`clean`]: it cannot color the terminal, move the cursor, break a line (so it can never
//! forge a `vf-post: passed` line), or hold a CI workflow command (`::add-mask::`,
//! `##[error]`, `##vso[...]`).

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
            let name = clean(section.input.as_deref().unwrap_or("<stdin>"));
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
                    let source = clean(o.source.as_deref().unwrap_or("no template"));
                    format!(
                        "{}  ({source}, document {})",
                        paint.wrap("1", &clean(&o.to_string())),
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
                    .map(|c| format!("container {}: ", clean(c)))
                    .unwrap_or_default();
                let severity = if f.exempted.is_some() {
                    paint.wrap("2", "exempt ")
                } else {
                    paint.severity(f.severity)
                };
                writeln!(
                    out,
                    "  {severity} {}  {container}{}",
                    paint.wrap("36", &clean(&f.rule)),
                    clean(&f.message)
                )
                .unwrap();
                let note = match &f.exempted {
                    Some(e) => {
                        format!("exempted by {}: {}", clean(&e.by()), clean(&e.reason))
                    }
                    None => format!("hint: {}", clean(&f.hint)),
                };
                writeln!(out, "          {note}").unwrap();
                if f.origin != "builtin" {
                    writeln!(out, "          from policy module {}", clean(&f.origin)).unwrap();
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
    changes(report, &paint, &mut out);
    let s = report.summary();
    let mut changes: Vec<(&str, usize)> = Vec::new();
    for applied in report.sections.iter().flat_map(|s| &s.applied) {
        match changes.iter_mut().find(|(p, _)| *p == applied.pass) {
            Some((_, n)) => *n += 1,
            None => changes.push((&applied.pass, 1)),
        }
    }
    if !changes.is_empty() {
        let list: Vec<String> = changes
            .iter()
            .map(|(p, n)| format!("{} {n}", clean(p)))
            .collect();
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

/// With `--show-changes`: one line per object and step, its first operations.
fn changes(report: &Report, paint: &Paint, out: &mut String) {
    const SHOWN: usize = 3;
    let several = report.sections.len() > 1;
    for section in &report.sections {
        let Some(changes) = &section.changes else {
            continue;
        };
        let input = match (&section.input, several) {
            (Some(name), true) => format!(" in {}", clean(name)),
            _ => String::new(),
        };
        writeln!(out, "{}", paint.wrap("1", &format!("changes{input}:"))).unwrap();
        if changes.is_empty() {
            writeln!(out, "  none").unwrap();
        }
        for change in changes {
            let operations: Vec<String> = change
                .patch
                .iter()
                .take(SHOWN)
                .map(|op| {
                    let field = |k: &str| op.get(k).and_then(|v| v.as_str()).unwrap_or("");
                    let path = match field("path") {
                        "" => "the object",
                        path => path,
                    };
                    format!("{} {}", field("op"), clean(path))
                })
                .collect();
            let more = match change.patch.len().saturating_sub(SHOWN) {
                0 => String::new(),
                n => format!(" and {n} more"),
            };
            writeln!(
                out,
                "  {:<18} {}: {}{more}",
                clean(&change.by),
                clean(&change.object.to_string()),
                operations.join(", ")
            )
            .unwrap();
        }
    }
}

/// `text` safe to print: control, line-breaking, bidirectional and invisible characters as
/// `\u{...}` escapes, `##` split, and a leading `::` escaped (CI runners read workflow commands
/// at the start of a line, after its blanks, and `##[` or `##vso[` anywhere).
pub fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let escape = c.is_control()
            || matches!(c, '\u{2028}' | '\u{2029}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}');
        if escape {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else if c == '#' && out.ends_with('#') {
            out.push_str("\\#");
        } else {
            out.push(c);
        }
    }
    if out.trim_start().starts_with("::") {
        out.insert(0, '\\');
    }
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::clean;

    #[test]
    fn nothing_a_chart_or_module_writes_can_paint_break_a_line_or_run_a_workflow_command() {
        for (text, shown) in [
            ("red \u{1b}[31mtext", "red \\u{1b}[31mtext"),
            ("title \u{1b}]0;pwned\u{7}", "title \\u{1b}]0;pwned\\u{7}"),
            ("ok\nvf-post: passed", "ok\\u{a}vf-post: passed"),
            ("::add-mask::secret", "\\::add-mask::secret"),
            ("  ::error file=x::y", "\\  ::error file=x::y"),
            (
                "note ##[error]x ##vso[task.setvariable]y",
                "note #\\#[error]x #\\#vso[task.setvariable]y",
            ),
            ("rtl \u{202e}gnp.exe", "rtl \\u{202e}gnp.exe"),
            ("line\u{2028}break", "line\\u{2028}break"),
            ("plain: a::b # c", "plain: a::b # c"),
        ] {
            assert_eq!(clean(text), shown, "{text:?}");
        }
    }
}
