//! JUnit XML, as CI systems show test results: one test suite per input, one test case per
//! object and rule with findings (several containers' findings in one case), a failure for an
//! error, warnings and info in the case's output (visible, not failing), waived findings
//! skipped with their reason. An input without findings is one passing case. Everything from
//! the chart is escaped, and characters XML 1.0 cannot hold are replaced.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use vf_plugin::{Finding, Severity};

use super::sarif::message;
use super::{Report, Section};

pub fn render(report: &Report) -> String {
    let suites: Vec<Suite> = report.sections.iter().map(Suite::of).collect();
    let total = |f: &dyn Fn(&Suite) -> usize| suites.iter().map(f).sum::<usize>();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"vf-post\" tests=\"{}\" failures=\"{}\" skipped=\"{}\">",
        total(&|s| s.cases.len()),
        total(&|s| s.failures()),
        total(&|s| s.skipped()),
    );
    for suite in &suites {
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" skipped=\"{}\">",
            escape(&suite.name),
            suite.cases.len(),
            suite.failures(),
            suite.skipped(),
        );
        for case in &suite.cases {
            case.write(&mut out);
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

struct Suite<'a> {
    name: String,
    cases: Vec<Case<'a>>,
}

/// One object and rule: its findings.
struct Case<'a> {
    object: String,
    rule: String,
    file: Option<String>,
    findings: Vec<&'a Finding>,
}

impl<'a> Suite<'a> {
    fn of(section: &'a Section) -> Suite<'a> {
        let mut cases: BTreeMap<(usize, String, String), Case<'a>> = BTreeMap::new();
        for f in &section.findings {
            let (position, object, file) = match &f.object {
                Some(o) => (o.document, o.to_string(), o.source.clone()),
                None => (0, "release".to_owned(), None),
            };
            cases
                .entry((position, object.clone(), f.rule.clone()))
                .or_insert_with(|| Case {
                    object,
                    rule: f.rule.clone(),
                    file,
                    findings: Vec::new(),
                })
                .findings
                .push(f);
        }
        let mut cases: Vec<Case<'a>> = cases.into_values().collect();
        if cases.is_empty() {
            cases.push(Case {
                object: "release".into(),
                rule: "all rules".into(),
                file: None,
                findings: Vec::new(),
            });
        }
        Suite {
            name: section.input.clone().unwrap_or_else(|| "stdin".into()),
            cases,
        }
    }

    fn failures(&self) -> usize {
        self.cases.iter().filter(|c| c.failing().is_some()).count()
    }

    fn skipped(&self) -> usize {
        self.cases.iter().filter(|c| c.waived()).count()
    }
}

impl Case<'_> {
    /// The first error that counts.
    fn failing(&self) -> Option<&Finding> {
        self.findings
            .iter()
            .copied()
            .find(|f| f.severity == Severity::Error && f.exempted.is_none())
    }

    /// Every finding waived.
    fn waived(&self) -> bool {
        !self.findings.is_empty() && self.findings.iter().all(|f| f.exempted.is_some())
    }

    fn write(&self, out: &mut String) {
        let file = self
            .file
            .as_ref()
            .map(|f| format!(" file=\"{}\"", escape(f)))
            .unwrap_or_default();
        let _ = write!(
            out,
            "    <testcase classname=\"{}\" name=\"{}\"{file}",
            escape(&self.object),
            escape(&self.rule)
        );
        if self.findings.is_empty() {
            out.push_str("/>\n");
            return;
        }
        out.push_str(">\n");
        if let Some(f) = self.failing() {
            let _ = writeln!(
                out,
                "      <failure type=\"{}\" message=\"{}\">{}</failure>",
                escape(&f.rule),
                escape(&f.message),
                escape(&message(f))
            );
        } else if self.waived() {
            let reasons: Vec<&str> = self
                .findings
                .iter()
                .filter_map(|f| f.exempted.as_ref().map(|e| e.reason.as_str()))
                .collect();
            let _ = writeln!(
                out,
                "      <skipped message=\"waived: {}\"/>",
                escape(&reasons.join("; "))
            );
        }
        // Every finding of the case, the failing one too, as people read the output.
        let lines: Vec<String> = self
            .findings
            .iter()
            .map(|f| {
                let waived = f
                    .exempted
                    .as_ref()
                    .map(|e| format!(" (waived: {})", e.reason))
                    .unwrap_or_default();
                format!("{}: {}{waived}", f.severity.as_str(), message(f))
            })
            .collect();
        let _ = writeln!(
            out,
            "      <system-out>{}</system-out>",
            escape(&lines.join("\n"))
        );
        out.push_str("    </testcase>\n");
    }
}

/// Text as XML character data or an attribute value: markup escaped, and what XML 1.0 cannot
/// hold at all (most control characters, lone surrogates cannot occur in a `str`) replaced by
/// U+FFFD.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\t' => out.push_str("&#9;"),
            '\r' => out.push_str("&#13;"),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn what_xml_cannot_hold_is_replaced_and_markup_escaped() {
        assert_eq!(
            escape("a<b>&\"'\u{0}\u{1b}[31m\u{FFFF}\n"),
            "a&lt;b&gt;&amp;&quot;&apos;\u{FFFD}\u{FFFD}[31m\u{FFFD}&#10;"
        );
        assert_eq!(escape("]]>"), "]]&gt;");
    }
}
