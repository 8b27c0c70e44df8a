//! How deep an expression nests, judged from its tokens before it is parsed. The parser, the
//! checks and the interpreter all recurse over the expression's tree, so a policy file could
//! overflow the sandbox's stack with `1 + 1 + ... + 1` or `a.a.a...a`: the parser's own limit
//! counts brackets only. cel-go (Kubernetes) refuses such expressions too, at a recursion depth
//! of 250 per grammar rule; vf-post refuses at 250 all together, with a message saying why.

/// The deepest an expression may nest: brackets, plus the left-nested operations (`+`, `==`,
/// `.`, `[]`) of every open bracket. Real policies stay under 30.
pub const MAX_DEPTH: usize = 250;

/// Refuses an expression nesting deeper than [`MAX_DEPTH`].
pub fn check(source: &str) -> Result<(), String> {
    // Per open bracket, the operations chained at that level so far; `&&`, `||`, `?`, `:`
    // and `,` start a new operand (the parser reads those without nesting).
    let mut levels: Vec<usize> = vec![0];
    let mut deepest = 0;
    let bytes = source.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let next = bytes.get(i + 1).copied();
        match c {
            b'"' | b'\'' => {
                i = skip_string(bytes, i);
                continue;
            }
            b'/' if next == Some(b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'(' | b'[' | b'{' => {
                if c == b'[' {
                    *levels.last_mut().unwrap() += 1;
                }
                levels.push(0);
            }
            b')' | b']' | b'}' if levels.len() > 1 => {
                levels.pop();
            }
            b'&' | b'|' if next == Some(c) => {
                *levels.last_mut().unwrap() = 0;
                i += 2;
                continue;
            }
            b'?' | b':' | b',' => *levels.last_mut().unwrap() = 0,
            b'+' | b'-' | b'*' | b'/' | b'%' | b'.' | b'<' | b'>' => {
                *levels.last_mut().unwrap() += 1;
            }
            b'=' | b'!' if next == Some(b'=') => {
                *levels.last_mut().unwrap() += 1;
                i += 2;
                continue;
            }
            b'i' if next == Some(b'n') && is_word_alone(bytes, i, 2) => {
                *levels.last_mut().unwrap() += 1;
            }
            _ => {}
        }
        let depth = levels.len() + levels.iter().sum::<usize>();
        deepest = deepest.max(depth);
        if deepest > MAX_DEPTH {
            return Err(format!(
                "nests more than {MAX_DEPTH} operations deep (at byte {i}: brackets, or a long chain of `+`, `==`, `.` or `[]`); split it with variables"
            ));
        }
        i += 1;
    }
    Ok(())
}

/// The index after the string literal starting at `start` (a quote). A raw string (prefix
/// `r`, `rb`, `br`) has no escapes: reading `r"\"` as an escaped quote would hide what
/// follows it from the count.
fn skip_string(bytes: &[u8], start: usize) -> usize {
    let quote = bytes[start];
    let triple = bytes.get(start + 1) == Some(&quote) && bytes.get(start + 2) == Some(&quote);
    let raw = is_raw_prefix(bytes, start);
    let mut i = start + if triple { 3 } else { 1 };
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if !raw => i += 2,
            q if q == quote && !triple => return i + 1,
            q if q == quote
                && bytes.get(i + 1) == Some(&quote)
                && bytes.get(i + 2) == Some(&quote) =>
            {
                return i + 3;
            }
            b'\n' if !triple => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// Whether the letters right before the quote at `quote` make a raw string prefix.
fn is_raw_prefix(bytes: &[u8], quote: usize) -> bool {
    let mut start = quote;
    while start > 0 && quote - start < 2 && b"rRbB".contains(&bytes[start - 1]) {
        start -= 1;
    }
    let prefix = &bytes[start..quote];
    prefix.iter().any(|b| b.eq_ignore_ascii_case(&b'r'))
        && is_word_alone(bytes, start, quote - start)
}

/// Whether the `len` bytes at `at` are a word of their own, not part of an identifier.
fn is_word_alone(bytes: &[u8], at: usize, len: usize) -> bool {
    let ident = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_';
    let before = at > 0 && ident(&bytes[at - 1]);
    let after = bytes.get(at + len).is_some_and(ident);
    !before && !after
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_chains_and_deep_brackets_are_refused_and_policies_pass() {
        let deep = [
            format!("1{} == 1", " + 1".repeat(300)),
            format!("has(object.{}b)", "a.".repeat(300)),
            format!("{{}}{} == 1", "['a']".repeat(300)),
            format!("{}{} == 1", "[".repeat(300), "]".repeat(300)),
            format!(
                "{}1{} == 1",
                "(".repeat(100),
                " + 1".repeat(200) + &")".repeat(100)
            ),
            format!("true{}", " == true".repeat(300)),
            // A raw string ends at its quote, backslash or not.
            format!("r\"\\\" != ''{}", " + 1".repeat(300)),
            format!("size(R'\\'){}", " + 1".repeat(300)),
        ];
        for e in &deep {
            assert!(check(e).unwrap_err().contains("more than 250"), "{e}");
        }
        let fine = [
            format!("true{}", " && object.spec.replicas > 1".repeat(2000)),
            format!("[{}]", "1 + 1, ".repeat(2000)),
            "object.spec.template.spec.containers.all(c, c.image.startsWith('harbor.virtufin.io/') && !c.image.endsWith(':latest'))".to_owned(),
            // Operators inside strings and comments do not count.
            format!("'{}' != ''", "+.[(".repeat(500)),
            format!("r\"{}\" != '' // {}", "\\".repeat(3) + &"+".repeat(400), "+".repeat(400)),
            format!("'''{}''' != ''", "'\n+".repeat(400)),
        ];
        for e in &fine {
            assert_eq!(check(e), Ok(()), "{e}");
        }
    }
}
