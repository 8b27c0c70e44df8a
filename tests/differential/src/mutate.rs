//! Mutations of real manifests: the edits that found the classes of issue 12, and the ones
//! next to them. Each works on lines, so most mutants stay close to valid YAML.

use crate::rng::Rng;

/// Characters where readers disagree: YAML 1.1 line breaks, BOM, controls, odd spaces.
pub const ODD: &[&str] = &[
    "\u{85}",
    "\u{2028}",
    "\u{2029}",
    "\u{feff}",
    "\t",
    "\r",
    "\r\n",
    "\0",
    "\u{7f}",
    "\u{1b}",
    "\u{a0}",
    "\u{fffe}",
    "\u{1F600}",
    "\u{0b}",
    "\u{0c}",
    "\u{9c}",
    "\u{200b}",
    "\u{3000}",
];

/// Scalars, keys and flow forms where YAML 1.1 and 1.2, or Go and Rust, part ways.
pub const TRAPS: &[&str] = &[
    ".5_0",
    "1e39",
    "-1e39",
    "1_0",
    "0x_1F",
    "0b1_0",
    "1__0",
    "._5",
    ".5e1_0",
    "0o1_7",
    "+.5",
    "-.5_5",
    "1e+39",
    ".5_",
    "0_.5",
    "1_000.5",
    "1.5e1_0",
    "0x1p-2",
    "0x1.8p1",
    "+0x10",
    "-0x10",
    "0X10",
    "0B11",
    "0O17",
    "-0o17",
    "0x8000000000000000",
    "-0x8000000000000000",
    ".nan",
    ".inf",
    "-.inf",
    "NaN",
    "Infinity",
    "!!timestamp 2001-12-14",
    "!!timestamp 2001-12-14t21:59:43.10-05:00",
    "!!timestamp '2002-12-14'",
    "!!binary aGk=",
    "!!binary /w==",
    "!!float 1",
    "!!float '1e39'",
    "!!int 0x10",
    "!!int '1_0'",
    "!!str 1",
    "!!bool yes",
    "!!bool 'y'",
    "!!null ''",
    "!!merge <<",
    "!foo bar",
    "!!map {a: 1}",
    "!!seq [1]",
    "!!omap [a: 1]",
    "!!set {a}",
    "!<tag:yaml.org,2002:int> 3",
    "!<tag:yaml.org,2002:str> 3",
    "&a 1",
    "*a",
    "{?foo: bar}",
    "[?x]",
    "{a:, b: c}",
    "{? a}",
    "[a: b]",
    "[? a: b]",
    "{a: [b, {c: d}]}",
    "{a: 1, a: 2}",
    "[a, b, ]",
    "{a: b, }",
    "{\"a\":b}",
    "{a:b}",
    "[a:b]",
    "{:a}",
    "{a: }",
    "|\n    x",
    "|+\n    x\n\n",
    "|-\n    x",
    ">\n    a\n    b",
    ">+\n    a\n\n",
    "|2\n     x",
    "|\n\n    x",
    "\"a\\\n    b\"",
    "\"\\x85\"",
    "\"\\u2028\"",
    "\"\\N\\_\\L\\P\"",
    "'it''s'",
    "\"\\e\\a\\0\"",
    "\"\\x7f\"",
    "\"\\U0001F600\"",
    "\"\\ud83d\\ude00\"",
    "\"a\n\n    b\"",
    "'a\n    b'",
    "- - a",
    "? a\n    : b",
    "~",
    "null",
    "yes",
    "NO",
    "y",
    "0644",
    "08",
    "09.5",
    "0x1F",
    "1:20",
    "190:20:30",
    "2024-01-01",
    "2024-1-1",
    "2024-01-01 10:00:00",
    "<<",
    "=",
    "---",
    "...",
    "-",
    "#x",
    "a #b",
    "a#b",
    "\"\"",
    "''",
    "12345678901234567890",
    "-9223372036854775809",
    "9223372036854775807",
    "1e999",
    "0.0",
    "-0",
    "-0.0",
    "1.",
    ".",
    "+",
    "0x",
    "0b",
    "0o",
    "_1",
    "1_",
    "%x",
    "@x",
    "`x",
    "a: b",
    "a:b",
    "- x",
    " lead",
    "trail ",
    "\"\\t\"",
];

/// Mapping keys that collide, overflow or have no JSON form.
pub const KEY_TRAPS: &[&str] = &[
    "1e39",
    ".nan",
    ".inf",
    "1",
    "\"1\"",
    "1.0",
    "0x1",
    "true",
    "yes",
    "\"true\"",
    "~",
    "null",
    "18446744073709551615",
    "9223372036854775808",
    "-0",
    "0.0",
    "<<",
    "? [a]",
    "? {a: b}",
    "!!str 1",
    "!!int '1'",
    "!!binary aGk=",
    "&k key",
    "*k",
    "\"a\\x85b\"",
];

/// Lines that look like document markers to some reader.
pub const MARKERS: &[&str] = &[
    "---",
    "----",
    "---x",
    "--- |",
    "--- >",
    "--- #c",
    "---#c",
    "---\t",
    "--- ",
    "...",
    "... x",
    "...#c",
    "--- {a: 1}",
    "--- !!map",
    "%YAML 1.1",
    "%YAML 1.2",
    "%TAG ! tag:x,2000:",
    "--- \u{a0}",
    "---\u{85}",
];

/// Applies `count` random mutations to `text`; `splice` gives snippets from elsewhere.
pub fn mutate(text: &str, count: usize, rng: &mut Rng, splice: &[String]) -> Vec<u8> {
    let mut lines: Vec<String> = text.split_inclusive('\n').map(str::to_owned).collect();
    if lines.is_empty() {
        lines.push(String::new());
    }
    let mut raw_flip = false;
    for _ in 0..count {
        let i = rng.below(lines.len());
        match rng.below(17) {
            0 => {
                if lines.len() > 1 {
                    lines.remove(i);
                }
            }
            1 => {
                let line = lines[i].clone();
                lines.insert(i, line);
            }
            2 => {
                let j = rng.below(lines.len());
                lines.swap(i, j);
            }
            3 => indent(&mut lines[i], rng),
            4 => {
                let odd = *rng.pick(ODD);
                insert_at(&mut lines[i], odd, rng);
            }
            5 => {
                let trap = *rng.pick(TRAPS);
                set_value(&mut lines[i], trap, rng);
            }
            6 => {
                let key = *rng.pick(KEY_TRAPS);
                set_key(&mut lines[i], key);
            }
            7 => anchor(&mut lines, rng),
            8 => long_line(&mut lines[i], rng),
            9 => deep(&mut lines[i], rng),
            10 => raw_flip = true,
            11 => {
                let marker = *rng.pick(MARKERS);
                lines.insert(i, format!("{marker}\n"));
            }
            12 => {
                for line in &mut lines {
                    if let Some(body) = line.strip_suffix('\n')
                        && !body.ends_with('\r')
                    {
                        *line = format!("{body}\r\n");
                    }
                }
            }
            13 => {
                let at = if rng.one_in(2) { 0 } else { i };
                lines[at].insert(0, '\u{feff}');
            }
            14 if !splice.is_empty() => {
                let snippet = rng.pick(splice).clone();
                set_value(&mut lines[i], &snippet, rng);
            }
            15 => {
                // The attack of issue 12: a line break only YAML 1.1 sees joins two lines.
                if let Some(body) = lines[i].strip_suffix('\n') {
                    let odd = *rng.pick(&["\u{85}", "\u{2028}", "\u{2029}", "\r"]);
                    lines[i] = format!("{body}{odd}");
                }
            }
            _ => {
                if let Some(last) = lines.last_mut()
                    && let Some(body) = last.strip_suffix('\n')
                {
                    *last = body.to_owned();
                }
            }
        }
    }
    let mut bytes = lines.concat().into_bytes();
    if raw_flip && !bytes.is_empty() {
        let at = rng.below(bytes.len());
        bytes[at] = (rng.next() & 0xff) as u8;
    }
    bytes
}

fn indent(line: &mut String, rng: &mut Rng) {
    let body = line.trim_start_matches(' ').to_owned();
    let width = line.len() - body.len();
    let new = match rng.below(5) {
        0 => width + 1,
        1 => width + 2,
        2 => width.saturating_sub(1),
        3 => width.saturating_sub(2),
        _ => {
            *line = format!("{}\t{body}", " ".repeat(width.saturating_sub(2)));
            return;
        }
    };
    *line = format!("{}{body}", " ".repeat(new));
}

fn insert_at(line: &mut String, what: &str, rng: &mut Rng) {
    let places: Vec<usize> = (0..=line.len())
        .filter(|&i| line.is_char_boundary(i))
        .collect();
    let at = match rng.below(4) {
        0 => 0,
        1 => line.trim_end_matches(['\n', '\r']).len(),
        2 => line.find(": ").map_or(0, |i| i + 2),
        _ => *rng.pick(&places),
    };
    line.insert_str(at, what);
}

/// `key: old` becomes `key: new`, continuation lines indented below the key.
fn set_value(line: &mut String, value: &str, rng: &mut Rng) {
    let body = line.trim_end_matches('\n');
    let indent = body.len() - body.trim_start_matches([' ', '-']).len();
    let head = match body.find(": ") {
        Some(i) => &body[..i + 2],
        None if body.trim_start().starts_with("- ") => &body[..indent],
        None => return,
    };
    let pad = " ".repeat(indent + if rng.one_in(3) { 1 } else { 2 });
    let value = value.replace('\n', &format!("\n{pad}"));
    *line = format!("{head}{value}\n");
}

fn set_key(line: &mut String, key: &str) {
    let body = line.trim_end_matches('\n');
    let indent = body.len() - body.trim_start().len();
    if let Some(i) = body.find(": ") {
        *line = format!("{}{key}{}\n", &body[..indent], &body[i..]);
    }
}

/// An anchor on one value and an alias (or a merge) of it further down.
fn anchor(lines: &mut [String], rng: &mut Rng) {
    let with_value: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].contains(": ") || lines[i].trim_end().ends_with(':'))
        .collect();
    if with_value.len() < 2 {
        return;
    }
    let a = with_value[rng.below(with_value.len() - 1)];
    let b = with_value[rng.below(with_value.len())];
    let name = format!("a{}", rng.below(3));
    if let Some(i) = lines[a].find(": ") {
        lines[a].insert_str(i + 2, &format!("&{name} "));
    } else {
        let body = lines[a].trim_end().to_owned();
        lines[a] = format!("{body} &{name}\n");
    }
    let body = lines[b].trim_end_matches('\n').to_owned();
    let indent = body.len() - body.trim_start().len();
    lines[b] = if rng.one_in(3) {
        format!("{}<<: *{name}\n", " ".repeat(indent))
    } else {
        match body.find(": ") {
            Some(i) => format!("{}*{name}\n", &body[..i + 2]),
            None => format!("{body} *{name}\n"),
        }
    };
}

fn long_line(line: &mut String, rng: &mut Rng) {
    let times = 1 << (10 + rng.below(8));
    let value = "x".repeat(times);
    let body = line.trim_end_matches('\n');
    *line = match body.find(": ") {
        Some(i) => format!("{}{value}\n", &body[..i + 2]),
        None => format!("{body}{value}\n"),
    };
}

fn deep(line: &mut String, rng: &mut Rng) {
    let depth = 1 + rng.below(400);
    let value = if rng.one_in(2) {
        format!("{}{}", "[".repeat(depth), "]".repeat(depth))
    } else {
        format!("{}1{}", "{a: ".repeat(depth), "}".repeat(depth))
    };
    let body = line.trim_end_matches('\n');
    if let Some(i) = body.find(": ") {
        *line = format!("{}{value}\n", &body[..i + 2]);
    }
}
