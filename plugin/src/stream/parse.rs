//! Chunk → `serde_json::Value`, read the way Kubernetes' Go YAML reads it (keys: value.rs).
//!
//! serde-saphyr with `legacy_octal_numbers` and last-wins duplicate keys is the one reader that
//! agrees with go-yaml v2 (`0644` is 420, `yes` is true, a repeated key keeps its last value);
//! see ../shared/reference/yaml.md and tests/fidelity.rs.

use serde_json::Value;

use super::limits::{MAX_ALIAS_REPLAY, MAX_DEPTH, MAX_EVENTS, MAX_NODES};
use super::scan::SyntaxError;
use super::value::GoValue;

fn options() -> serde_saphyr::Options {
    let mut alias_limits = serde_saphyr::options::AliasLimits::default();
    alias_limits.max_total_replayed_events = MAX_ALIAS_REPLAY;
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_documents: 2,
            max_nodes: MAX_NODES,
            max_events: MAX_EVENTS,
            max_depth: MAX_DEPTH,
        },
        alias_limits: alias_limits,
        legacy_octal_numbers: true,
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::LastWins,
    }
}

/// Parses one chunk; `None` when it holds no document (empty, comments only, `null`).
pub fn parse(text: &str) -> Result<Option<Value>, SyntaxError> {
    let mut docs: Vec<GoValue> =
        serde_saphyr::from_multiple_with_options(text, options()).map_err(syntax_error)?;
    match docs.len() {
        0 => Ok(None),
        1 => Ok(docs.pop().map(|GoValue(v)| v)),
        _ => Err(SyntaxError {
            line: 1,
            column: 1,
            message: "more than one document without a `---` separator".into(),
        }),
    }
}

/// serde-saphyr's message without its source snippet: one line, as the CLI prints errors.
fn syntax_error(error: serde_saphyr::Error) -> SyntaxError {
    let (line, column) = error
        .location()
        .map_or((1, 1), |at| (at.line() as usize, at.column() as usize));
    let text = error.to_string();
    let first = text.lines().next().unwrap_or_default();
    let message = first
        .strip_prefix("error: ")
        .unwrap_or(first)
        .split_once(": ")
        .filter(|(prefix, _)| prefix.starts_with("line "))
        .map_or(first, |(_, rest)| rest);
    SyntaxError {
        line,
        column,
        message: message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_values_as_kubernetes_does() {
        let value =
            parse("a: 0644\nb: yes\nc: '0644'\nd: 1_000\ne: 18446744073709551615\nf: 1\nf: 2\n")
                .unwrap()
                .unwrap();
        assert_eq!(
            value,
            json!({"a": 420, "b": true, "c": "0644", "d": 1000, "e": 18446744073709551615u64, "f": 2})
        );
    }

    #[test]
    fn alias_bomb_is_stopped_by_the_budget() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let prev = format!("*a{}", i - 1);
            text.push_str(&format!("a{i}: &a{i} [{}]\n", vec![prev; 10].join(", ")));
        }
        assert!(text.len() < 2_000);
        let err = parse(&text).unwrap_err();
        assert!(
            err.message.contains("alias") || err.message.contains("budget"),
            "{}",
            err.message
        );
    }

    #[test]
    fn deep_nesting_is_refused_by_the_budget() {
        let block: String = (0..300).map(|i| format!("{}a:\n", " ".repeat(i))).collect();
        let err = parse(&block).unwrap_err();
        assert!(err.message.contains("depth"), "{}", err.message);
    }

    #[test]
    fn errors_are_one_line_with_position() {
        let err = parse("a: [1, 2\n").unwrap_err();
        assert_eq!(err.line, 1);
        assert!(!err.message.contains('\n'));
        assert!(err.message.contains("bracket"), "{}", err.message);
    }
}
