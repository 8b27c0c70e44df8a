//! The tree builder (stream/build.rs) against the reference reader, serde-saphyr with the
//! options of reference/yaml.md (stream/parse.rs): the same value or the same refusal, on
//! every corpus document, the scalar traps and generated documents. Go judges both
//! elsewhere (fidelity.rs, scalars.rs, stream.rs).

mod support;

use vf_plugin::stream::{build::build, parse::parse, split::split};

fn agree(label: &str, text: &str) -> Result<(), String> {
    match (build(text), parse(text)) {
        (Ok(a), Ok(b)) if a == b => Ok(()),
        (Err(_), Err(_)) => Ok(()),
        (a, b) => Err(format!(
            "{label}: builder and serde-saphyr disagree\n--- text\n{}\n--- builder\n{:?}\n--- serde-saphyr\n{:?}",
            &text[..text.len().min(600)],
            a.map(|v| v.map(|v| v.to_string().chars().take(300).collect::<String>())),
            b.map(|v| v.map(|v| v.to_string().chars().take(300).collect::<String>())),
        )),
    }
}

#[test]
fn corpus_documents_read_the_same() {
    let mut failures = Vec::new();
    for file in support::corpus() {
        let text = std::fs::read_to_string(&file).unwrap();
        for (i, chunk) in split(&text).unwrap().iter().enumerate() {
            if let Err(e) = agree(&format!("{} chunk {i}", file.display()), chunk.text(&text)) {
                failures.push(e);
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn edge_cases_read_the_same() {
    let cases = [
        "a: 0644\nb: yes\nc: '0644'\nd: 1_000\ne: 18446744073709551615\nf: 1\nf: 2\n",
        "base: &b {p: 1}\nd:\n  <<: *b\n  q: 2\n",
        "a: &x {p: 1}\nb: *x\nc: [*x, *x]\n",
        "list: &l [1, 2]\nm:\n  <<: [{a: 1}, {a: 2, b: 3}]\n",
        "? {kind: X}\n: 1\n",
        "a: !!str 123\nb: !!int '0x1F'\nc: !!float 3\ne: !!binary aGVsbG8=\n",
        "a: .inf\n",
        "a: !!int abc\n",
        "a: |\n  text\n  more\nb: >\n  folded\n  text\n",
        "yes: 1\nno: 2\n1.0: 3\n0755: 4\n0x1F: 5\n1e3: 6\n2024-01-01: 7\n",
        "null: 1\n",
        "--- just a string\n",
        "",
        "# only a comment\n",
        "~\n",
        "- 1\n- two\n",
        "a: [1, 2\n",
        "a: b\n  c: d: e\n",
        "a: *nope\n",
        "a: 123456789012345678901234567890\nb: -9223372036854775808\nc: 9223372036854775808\n",
        "a: 1e999\nb: 08\nc: 0o17\nd: -0b101\ne: +.inf\n",
        "t1: 2001-12-14t21:59:43.10Z\nt2: 2001-12-14 21:59:43.10\nt3: 2002-12-14\n",
        "k: \"\\u00e9\\t\\n\"\nl: 'it''s'\n",
        "anchor_key: &k key\n*k : value\n",
    ];
    let failures: Vec<String> = cases
        .iter()
        .enumerate()
        .filter_map(|(i, c)| agree(&format!("case {i}"), c).err())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Where serde-saphyr departs from Go, the builder follows Go.
#[test]
fn where_serde_saphyr_departs_from_go_the_builder_follows_go() {
    // A non-core tag: Go keeps the text as a string; serde-saphyr types it (`true`).
    let text = "kind: T\nd: !custom yes\nf: ! 12\n";
    let go = support::go_read(support::GoPath::Helm3, text.as_bytes());
    let ours = build(text).unwrap().unwrap();
    assert!(
        support::same(&go[0], &ours),
        "{text}: Go {} builder {ours}",
        go[0]
    );
    assert_ne!(
        parse(text).unwrap().unwrap(),
        ours,
        "serde-saphyr now agrees: move the case to edge_cases"
    );
}

/// Documents made of random pieces of YAML: both readers must agree on every one.
#[test]
fn generated_documents_read_the_same() {
    const SCALARS: &[&str] = &[
        "yes",
        "no",
        "on",
        "Off",
        "y",
        "N",
        "~",
        "null",
        "0644",
        "08",
        "0x1F",
        "0o17",
        "0b11",
        "1_000",
        "1e3",
        ".5",
        "-0",
        "+1",
        "1:20",
        "2024-01-01",
        "'quoted'",
        "\"dq\\t\"",
        "text",
        "a b",
        "500m",
        "12345678901234567890",
        "-1.5e-3",
        "=",
        "<<x",
        "!!str 5",
        "!!int \"7\"",
        "&a1 anchored",
        "*a1",
        "|\n    block\n",
        ">-\n    fold\n",
        "[1, yes, ~]",
        "{k: v, n: 0755}",
        "\"\"",
        "''",
        "0.0.0.0",
    ];
    let mut seed: u64 = 0x5eed;
    let mut next = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let mut failures = Vec::new();
    for doc in 0..3000 {
        let mut text = String::from("kind: T\n");
        for field in 0..(1 + next(6)) {
            let key = match next(5) {
                0 => SCALARS[next(20)].to_owned(),
                _ => format!("f{field}"),
            };
            match next(3) {
                0 => text.push_str(&format!("{key}: {}\n", SCALARS[next(SCALARS.len())])),
                1 => text.push_str(&format!(
                    "{key}:\n  - {}\n  - {}\n",
                    SCALARS[next(SCALARS.len())],
                    SCALARS[next(SCALARS.len())]
                )),
                _ => text.push_str(&format!(
                    "{key}:\n  a: {}\n  <<: {{m: {}}}\n",
                    SCALARS[next(SCALARS.len())],
                    SCALARS[next(28)]
                )),
            }
        }
        if let Err(e) = agree(&format!("generated {doc}"), &text) {
            failures.push(e);
        }
        if failures.len() > 5 {
            break;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
