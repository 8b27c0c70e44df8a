//! `serde_json::Value` → YAML text that Go reads back as the same value.
//!
//! serde-saphyr quotes every string YAML 1.1 would read as something else (`"yes"`, `"0644"`,
//! `"1_000"`) and never writes a `%YAML` directive, which go-yaml rejects. Two of its block
//! styles are not safe for Go, so this module chooses the style of each string itself:
//! - long lines are never folded (`>`): folding is exact in YAML, fragile in practice, and
//!   Helm 4 does not fold either;
//! - a multi-line string is a literal block (`|`) only in the shapes every Go path reads back
//!   exactly; otherwise it is double-quoted with escapes. go-yaml refuses a block whose first
//!   line starts with a tab, and Helm 4's yaml.v3 round trip loses a block of empty lines.

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Value;

/// Emits one document body (no `---`), ending with a newline.
pub fn emit(value: &Value) -> String {
    let mut options = serde_saphyr::SerializerOptions::default();
    options.prefer_block_scalars = false;
    let safe = GoSafe {
        value,
        last: last_leaf(value),
    };
    // Serializing a `serde_json::Value` cannot fail: its keys are strings, its numbers finite.
    let mut text = serde_saphyr::to_string_with_options(&safe, options)
        .expect("a JSON value always serializes");
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

/// A value whose strings pick a style Go reads back exactly. `last` is the document's last
/// scalar: Helm's manifest splitting trims every document, which would take a block scalar's
/// final line break with it, so there a string ending in one is double-quoted.
struct GoSafe<'a> {
    value: &'a Value,
    last: Option<&'a Value>,
}

impl Serialize for GoSafe<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let child = |value| GoSafe {
            value,
            last: self.last,
        };
        let is_last = self.last.is_some_and(|l| std::ptr::eq(l, self.value));
        match self.value {
            Value::Null => serializer.serialize_unit(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Number(n) => n.serialize(serializer),
            Value::String(s) if is_block_safe(s) && !(is_last && s.ends_with('\n')) => {
                serde_saphyr::LitStr(s).serialize(serializer)
            }
            Value::String(s) => serializer.serialize_str(s),
            Value::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&child(item))?;
                }
                seq.end()
            }
            Value::Object(map) => {
                let mut out = serializer.serialize_map(Some(map.len()))?;
                for (key, value) in map {
                    out.serialize_entry(key, &child(value))?;
                }
                out.end()
            }
        }
    }
}

/// The scalar written last: the last entry's value, all the way down.
fn last_leaf(value: &Value) -> Option<&Value> {
    match value {
        Value::Object(map) => map.values().next_back().and_then(last_leaf),
        Value::Array(items) => items.last().and_then(last_leaf),
        scalar => Some(scalar),
    }
}

/// Whether a literal block scalar holds `s` exactly for go-yaml v2 and yaml.v3 alike:
/// several lines, a first line that starts with content, no whitespace-only lines, no line
/// breaks other than `\n` (a block normalizes them) and no other control characters.
fn is_block_safe(s: &str) -> bool {
    if !s.contains('\n') || s.starts_with([' ', '\t', '\n']) {
        return false;
    }
    let printable = s.chars().all(|c| {
        c == '\n'
            || c == '\t'
            || !(c.is_control() || matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}' | '\u{feff}'))
    });
    printable
        && s.trim_end_matches('\n')
            .split('\n')
            .all(|line| line.is_empty() || !line.trim_start_matches([' ', '\t']).is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_style_only_for_shapes_go_reads_back() {
        assert!(is_block_safe("line\nline\n"));
        assert!(is_block_safe("server:\n  port: 80\n\n"));
        assert!(!is_block_safe("one line"));
        assert!(!is_block_safe("\n"));
        assert!(!is_block_safe("\t\na"));
        assert!(!is_block_safe(" leading\nx"));
        assert!(!is_block_safe("a\n   \nb"));
        assert!(!is_block_safe("a\r\nb"));
        assert!(!is_block_safe("a\u{85}\nb"));
    }

    #[test]
    fn a_block_scalar_never_ends_a_document_that_helm_trims() {
        let text = emit(&serde_json::json!({"a": "x\ny\n", "b": {"c": ["p\nq\n"]}}));
        assert!(text.contains("a: |\n  x\n  y\n"), "{text}");
        assert!(text.ends_with("- \"p\\nq\\n\"\n"), "{text}");
    }

    #[test]
    fn long_lines_are_not_folded_and_no_directive_is_written() {
        let long = "word ".repeat(100);
        let text = emit(&serde_json::json!({"k": long, "m": "a\nb\n", "z": 1}));
        assert!(!text.contains('>'), "{text}");
        assert!(text.contains("m: |\n  a\n  b\n"), "{text}");
        assert!(!text.contains("%YAML"));
    }
}
