//! Characters Kubernetes' Go YAML reads unlike vf-post's reader, or refuses: refused up front,
//! with the reason.
//!
//! go-yaml v2 is YAML 1.1: U+0085, U+2028 and U+2029 break lines there, so text vf-post reads
//! as one comment or one scalar holds, for Kubernetes, a key of its own (`# note<U+2028>
//! hostNetwork: true`). A carriage return without a line feed breaks a line for YAML but not
//! for Kubernetes' document reader, which can hide a document after it. go-yaml skips a byte
//! order mark that starts a line and keeps it elsewhere, and refuses control characters. None
//! of these occur in manifests a person means to write, so vf-post refuses them instead of
//! reading them one way while Kubernetes reads them another.

/// A character refused, by byte offset into the text checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// Byte offset of the character.
    pub offset: usize,
    /// Why, naming the character.
    pub why: String,
}

/// Checks `text` (one chunk; a byte order mark starting the stream is removed before).
pub fn check(text: &str) -> Result<(), Refused> {
    let bytes = text.as_bytes();
    // Most blocks are printable ASCII, tabs and line feeds: one branch-free pass over each
    // (which the compiler vectorizes), and a closer look only where something else occurs.
    const BLOCK: usize = 64;
    for (n, block) in bytes.chunks(BLOCK).enumerate() {
        if block.iter().fold(false, |any, &b| any | suspicious(b)) {
            let mut from = n * BLOCK;
            while !text.is_char_boundary(from) {
                from -= 1;
            }
            closer_look(text, from, n * BLOCK + block.len())?;
        }
    }
    Ok(())
}

/// Bytes that are not printable ASCII, a tab or a line feed.
fn suspicious(b: u8) -> bool {
    (b < 0x20 && b != b'\n' && b != b'\t') | (b >= 0x7f)
}

fn closer_look(text: &str, from: usize, to: usize) -> Result<(), Refused> {
    for (i, c) in text[from..].char_indices() {
        let offset = from + i;
        if offset >= to {
            break;
        }
        let why = match c {
            '\r' if text.as_bytes().get(offset + 1) == Some(&b'\n') => continue,
            '\r' => "a carriage return without a line feed: YAML reads it as a line break, \
                     Kubernetes' document reader does not"
                .to_owned(),
            '\u{85}' | '\u{2028}' | '\u{2029}' => format!(
                "{} ({}): Kubernetes reads it as a line break",
                code(c),
                match c {
                    '\u{85}' => "next line",
                    '\u{2028}' => "line separator",
                    _ => "paragraph separator",
                }
            ),
            '\u{feff}' => format!(
                "{} (byte order mark) inside the stream: Kubernetes skips it at the start of a line \
                 and keeps it elsewhere; only the stream may start with one",
                code(c)
            ),
            '\t' | '\n' => continue,
            c if c < ' '
                || ('\u{7f}'..='\u{9f}').contains(&c)
                || c == '\u{fffe}'
                || c == '\u{ffff}' =>
            {
                format!(
                    "control character {}: Kubernetes refuses it (write it escaped in a double-quoted string)",
                    code(c)
                )
            }
            _ => continue,
        };
        return Err(Refused { offset, why });
    }
    Ok(())
}

fn code(c: char) -> String {
    format!("U+{:04X}", u32::from(c))
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
pub fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_text_tabs_and_crlf_pass() {
        let long = "a: b\tc # ✓ 日本語 😀\r\n".repeat(100);
        assert_eq!(check(&long), Ok(()));
    }

    #[test]
    fn yaml_1_1_line_breaks_are_refused_with_their_place() {
        for c in ['\u{85}', '\u{2028}', '\u{2029}'] {
            let text = format!(
                "{}spec:\n  # note{c}  hostNetwork: true\n",
                "x: y\n".repeat(20)
            );
            let err = check(&text).unwrap_err();
            assert_eq!(position(&text, err.offset), (22, 9), "{c:?}");
            assert!(
                err.why.contains("Kubernetes reads it as a line break"),
                "{}",
                err.why
            );
        }
    }

    #[test]
    fn lone_carriage_returns_controls_and_inner_byte_order_marks_are_refused() {
        for (text, what) in [
            ("a: 1\r---\rb: 2\n", "carriage return"),
            ("a: \u{1}\n", "U+0001"),
            ("a: \u{7f}\n", "U+007F"),
            ("a: \u{9c}\n", "U+009C"),
            ("a: \u{fffe}\n", "U+FFFE"),
            ("a: 1\n\u{feff}b: 2\n", "byte order mark"),
        ] {
            let err = check(text).unwrap_err();
            assert!(err.why.contains(what), "{text:?}: {}", err.why);
        }
    }

    #[test]
    fn a_character_across_a_block_boundary_is_found() {
        let text = format!("{}\u{2028}", "a".repeat(63));
        assert_eq!(check(&text).unwrap_err().offset, 63);
        let text = format!("{}é\u{2028}", "a".repeat(63));
        assert_eq!(check(&text).unwrap_err().offset, 65);
    }
}
