//! The scalar traps of ../shared/reference/yaml.md §3, kept as tests and judged by Go:
//! unquoted scalars must be read as go-yaml v2 reads them, and strings vf-post re-emits must
//! stay strings, keys included.

mod support;

use serde_json::Value;
use support::{GoPath, assert_same_docs, go_read};
use vf_plugin::{Config, Stream, render};

/// Unquoted values of yaml.md §3a (the non-finite floats are covered in stream.rs: Go cannot
/// put them in JSON either).
const UNQUOTED: &[&str] = &[
    "true",
    "True",
    "TRUE",
    "false",
    "yes",
    "Yes",
    "YES",
    "no",
    "No",
    "NO",
    "on",
    "On",
    "ON",
    "off",
    "Off",
    "OFF",
    "y",
    "Y",
    "n",
    "N",
    "1.0",
    "1.10",
    "0755",
    "0644",
    "010",
    "08",
    "0o17",
    "0x1F",
    "0b101",
    "1e3",
    "1E3",
    "1e-3",
    "+1",
    "-0",
    ".5",
    "1_000",
    "1:20",
    "~",
    "null",
    "Null",
    "NULL",
    "",
    "2024-01-01",
    "2024-01-01T10:00:00Z",
    "NaN",
    "inf",
    "1234567890123456789",
    "12345678901234567890",
    "123456789012345678901234567890",
    "=",
    "<<",
    "0.0.0.0",
    "500m",
    "unicode ✓ 日本語",
    "3.0.1",
    "-1",
    "0",
    "-9223372036854775808",
    "18446744073709551615",
];

/// Unquoted keys of yaml.md §3a (`<<` is a merge key and `null`/`~` keys have no JSON form:
/// Go rejects all three).
const UNQUOTED_KEYS: &[&str] = &[
    "123",
    "1.0",
    "true",
    "yes",
    "no",
    "on",
    "off",
    "y",
    "n",
    "0755",
    "0x1F",
    "1e3",
    "2024-01-01",
    "=",
    "-1",
];

/// Strings of yaml.md Appendix A and C: each must come back a string after re-emission.
const STRINGS: &[&str] = &[
    "true",
    "True",
    "TRUE",
    "false",
    "yes",
    "Yes",
    "YES",
    "no",
    "No",
    "NO",
    "on",
    "On",
    "ON",
    "off",
    "Off",
    "OFF",
    "y",
    "Y",
    "n",
    "N",
    "1.0",
    "1.10",
    "0755",
    "0644",
    "010",
    "08",
    "0o17",
    "0x1F",
    "0b101",
    "1e3",
    "1E3",
    "1e-3",
    "+1",
    "-0",
    ".5",
    "1_000",
    "1:20",
    "~",
    "null",
    "Null",
    "NULL",
    "",
    "2024-01-01",
    "2024-01-01T10:00:00Z",
    ".inf",
    "-.inf",
    ".nan",
    "NaN",
    "inf",
    "1234567890123456789",
    "12345678901234567890",
    "123456789012345678901234567890",
    "=",
    "<<",
    "0.0.0.0",
    "500m",
    "unicode ✓ 日本語",
    "3.0.1",
    " leading",
    "trailing ",
    "a: b",
    "- x",
    "-",
    "?",
    ":",
    "#x",
    "x #y",
    "@x",
    "`x",
    "!x",
    "&x",
    "*x",
    "%x",
    "|x",
    ">x",
    "'x",
    "\"x",
    "{x}",
    "[x]",
    ",x",
    "multi\nline\n",
    "multi\nline no newline",
    "tab\tx",
    "bell\u{7}",
    "nel\u{85}x",
    "ls\u{2028}x",
    "bom\u{feff}x",
    "😀 emoji",
    "x\r\ny",
    "back\\slash",
    "---",
    "...",
    "--- x",
    "null ",
    "0x",
    "Norway: NO",
    "Yes please",
    "a,b",
    "x # y",
    "  leading",
    "- item",
    "|pipe",
    ">gt",
    "{brace}",
    "[bracket]",
    "'single'",
    "\"double\"",
    "%pct",
    "&anchor",
    "*alias",
    "!tag",
    "@handle",
    "`tick",
    "#notacomment",
    "  ",
    "\n",
    "\t",
    // Multi-line shapes: emitted as literal blocks only where Go reads them back exactly.
    "\n\n",
    "a\n",
    "\na",
    " \n",
    "a\n\n",
    "a\n\n\n",
    "\n\na",
    "  a\nb",
    "a\n  b\n",
    " a\n",
    "a \nb",
    "a\n ",
    "\t\na",
    "a\n\tb\n",
    "a\r\nb\n",
    "# x\ny\n",
    "--- \nx\n",
    "a\n---\nb",
    "a\n...\n",
    "x: y\nz\n",
    "\u{85}a\nb",
    "a\u{2028}b\nc",
    "a\n   \nb",
    "a\n\t\nb",
    "server:\n  port: 80\n  tls: on\n",
    "#!/bin/sh\nset -eu\necho \"yes\"\n",
    "{\n  \"json\": true\n}",
    "trailing spaces  \nline\n",
    "a\n\n\nb\n\n",
    "é\n日本\n😀\n",
];

/// A Go-style double-quoted scalar, as Helm's `quote` writes it.
fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20
                || c == '\u{7f}'
                || c == '\u{85}'
                || c == '\u{2028}'
                || c == '\u{2029}'
                || c == '\u{feff}' =>
            {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn stream() -> String {
    let mut s = String::from(
        "---\n# Source: t/templates/unquoted.yaml\napiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: unquoted\nspec:\n",
    );
    for (i, v) in UNQUOTED.iter().enumerate() {
        s.push_str(&format!("  v{i}: {v}\n"));
    }
    s.push_str("  keys:\n");
    for k in UNQUOTED_KEYS {
        s.push_str(&format!("    {k}: v\n"));
    }
    s.push_str("  modes:\n    defaultMode: 0644\n    mode: 0755\n  list: [0644, yes, 1_000]\n");
    s.push_str("---\n# Source: t/templates/strings.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: strings\n  annotations:\n");
    for (i, v) in STRINGS.iter().enumerate() {
        s.push_str(&format!("    a{i}: {}\n", quoted(v)));
    }
    s.push_str("data:\n");
    for (i, v) in STRINGS.iter().enumerate() {
        s.push_str(&format!(
            "  {}: {}\n",
            quoted(&format!("{v}{i}")),
            quoted(v)
        ));
        s.push_str(&format!("  {}: v{i}\n", quoted(v)));
    }
    s
}

fn touch_all() -> Config {
    support::annotating("t", "on")
}

#[test]
fn unquoted_scalars_and_keys_are_read_as_go_reads_them() {
    let input = stream();
    let go = go_read(GoPath::Helm3, input.as_bytes());
    let ours: Vec<Value> = Stream::read_all(input.into_bytes())
        .unwrap()
        .documents()
        .iter()
        .map(|d| d.value().unwrap().clone())
        .collect();
    assert_same_docs("tricky scalars", &go, &ours);
}

#[test]
fn re_emitted_strings_stay_strings_for_go() {
    let input = stream();
    let mut expected = go_read(GoPath::Helm3, input.as_bytes());
    for doc in &mut expected {
        let metadata = doc["metadata"].as_object_mut().unwrap();
        metadata
            .entry("annotations")
            .or_insert_with(|| serde_json::json!({}))["t"] = "on".into();
    }
    let out = render(input.into_bytes(), &touch_all()).unwrap().output;
    assert_same_docs("Helm 3 path", &expected, &go_read(GoPath::Helm3, &out));
    assert_same_docs("Helm 4 path", &expected, &go_read(GoPath::Helm4, &out));
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("defaultMode: 420"),
        "0644 is re-emitted as the decimal Kubernetes read"
    );
}
