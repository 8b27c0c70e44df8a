//! Where go-yaml v2's YAML 1.1 scanner reads a scalar unlike granit-parser's YAML 1.2 one:
//! refused, so that what vf-post reads is what Kubernetes reads (tests/differential finds
//! these, judged by Go).
//!
//! - In flow collections (`{...}`, `[...]`), `?` always starts a key for Go, and ends a plain
//!   scalar: `{?foo: bar}` is `{foo: bar}` there, `{"?foo": bar}` in YAML 1.2.
//! - In flow collections, Go keeps a `:` that no blank follows inside a plain scalar:
//!   `{a:, b: c}` has the key `a:` there, `a` in YAML 1.2; and a plain scalar starting with
//!   `:` is a value indicator there.
//! - In double-quoted scalars, Go knows fewer escapes (no `\/`) and refuses UTF-16 surrogates.
//! - Anchor and alias names are letters, digits, `-` and `_` for Go; `&a:b x` is the anchor
//!   `a` on the scalar `:b x` there, the anchor `a:b` on `x` in YAML 1.2.
//! - A flow mapping key's `:` must be on the key's line for Go.
//! - Go takes tabs for spaces in fewer places: not in indentation, not after `-`, `?` or a
//!   complex key's `:`, not in a block scalar's indentation (where YAML 1.2 often does). Go
//!   refuses those documents; vf-post refuses them too rather than pass what the cluster cannot
//!   read.

use granit_parser::{Options, Parser, ScalarStyle, ScanError, Span, StrInput};

use super::limits::MAX_DEPTH;
use super::scan::SyntaxError;

/// The parser, as close to go-yaml v2 as it is configured: anchor names reported (to check
/// them), keys at most 1024 characters ahead of their `:` (as libyaml).
pub fn parser(text: &str) -> Parser<'_, StrInput<'_>> {
    let mut options = Options::default();
    options.emit_anchor_events = true;
    options.simple_key_max_lookahead = 1024;
    options.flow_nesting_limit = MAX_DEPTH;
    options.block_nesting_limit = MAX_DEPTH;
    Parser::new_from_str_with_options(text, options)
}

/// The parser's error, placed, in vf-post's words where the parser's are vague.
pub fn syntax_error(error: ScanError) -> SyntaxError {
    let marker = error.marker();
    let info = error.info();
    SyntaxError {
        line: marker.line(),
        column: marker.col() + 1,
        message: if info.contains("recursion limit") {
            format!("nesting deeper than {MAX_DEPTH} levels")
        } else {
            info
        },
    }
}

/// An anchor's name, as go-yaml v2 scans it.
pub fn check_anchor(name: &str) -> Result<(), String> {
    check_name(name, "anchor")
}

/// An alias (`*name`, the text its event spans), as go-yaml v2 scans it.
fn check_alias(text: &str, span: &Span) -> Result<(), String> {
    let token = raw(text, span)?;
    check_name(token.strip_prefix('*').unwrap_or(token), "alias")
}

fn check_name(name: &str, what: &str) -> Result<(), String> {
    if name.is_empty()
        || name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Ok(());
    }
    Err(format!(
        "the {what} name `{}` holds characters Kubernetes does not read as part of a name (it \
         takes letters, digits, `-` and `_`); rename it",
        shown(name)
    ))
}

/// Where a scalar sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// In block context.
    Block,
    /// In a flow collection, not as a mapping key.
    Flow,
    /// A key of a flow mapping.
    FlowKey,
}

/// Checks one scalar event of `text`; `tabs` says whether the text holds a tab at all.
fn check_scalar(
    text: &str,
    tabs: bool,
    value: &str,
    style: ScalarStyle,
    span: &Span,
    place: Place,
) -> Result<(), String> {
    if place == Place::FlowKey {
        check_flow_key(text, span)?;
    }
    let one_line = span.start.line() == span.end.line();
    match style {
        ScalarStyle::Plain if place != Place::Block => check_flow_plain(text, value, span),
        ScalarStyle::Plain if !tabs || one_line => Ok(()),
        ScalarStyle::Plain => check_lines(raw(text, span)?, None),
        ScalarStyle::Literal | ScalarStyle::Folded if !tabs => Ok(()),
        ScalarStyle::Literal | ScalarStyle::Folded => {
            let raw = raw(text, span)?;
            // With the indentation left to detection, Go counts a tab opening the first line
            // as indentation; an indicator (`|2`) says where content starts.
            let start = span.start.byte_offset().unwrap_or_default();
            let header = text[..start]
                .rfind(['|', '>'])
                .map_or("", |h| &text[h..start]);
            let explicit = header
                .lines()
                .next()
                .is_some_and(|h| h.contains(|c: char| c.is_ascii_digit()));
            if text[start..].starts_with('\t') && !explicit {
                return Err(TAB.into());
            }
            check_lines(raw, Some(span.start.col()))?;
            check_after_block_scalar(text, value, span)
        }
        ScalarStyle::DoubleQuoted => check_escapes(raw(text, span)?),
        ScalarStyle::SingleQuoted => Ok(()),
    }
}

/// Go reads a flow mapping key only when its `:` follows on the same line.
fn check_flow_key(text: &str, span: &Span) -> Result<(), String> {
    if span.start.line() != span.end.line() {
        return Err("a flow mapping key over several lines: Kubernetes refuses it".into());
    }
    let end = span
        .end
        .byte_offset()
        .ok_or("the parser gave no byte offset for a scalar")?;
    match text[end..].trim_start_matches([' ', '\t']).chars().next() {
        Some('\n' | '\r' | '#') => Err(
            "a flow mapping key whose `:` is on a later line: Kubernetes refuses it; write `key: value` on one line"
                .into(),
        ),
        _ => Ok(()),
    }
}

/// Continuation lines of a block-context scalar: a tab where Go still counts indentation is
/// refused. `indent` is a block scalar's indentation; a plain scalar's continuation lines may
/// not start with tabs at all.
fn check_lines(raw: &str, indent: Option<usize>) -> Result<(), String> {
    if !raw.contains('\t') {
        return Ok(());
    }
    for line in raw.split('\n').skip(1) {
        let spaces = line.len() - line.trim_start_matches(' ').len();
        let tab_in_indentation = match indent {
            Some(indent) => spaces < indent && line[spaces..].starts_with('\t'),
            None => line[spaces..].starts_with('\t'),
        };
        if tab_in_indentation {
            return Err(TAB.into());
        }
    }
    Ok(())
}

/// The lines after a block scalar's content: Go's scanner reads the indentation of each
/// following blank line, and of the line that ends the scalar, as the scalar's, so a tab
/// before the scalar's indentation is refused there too (`found a tab character where an
/// indentation space is expected`); the parser ends the scalar's span before them. A scalar
/// with no content line leaves Go's indentation undetected, and then every such tab counts.
fn check_after_block_scalar(text: &str, value: &str, span: &Span) -> Result<(), String> {
    let end = span.end.byte_offset().unwrap_or(text.len()).min(text.len());
    let indent = if value.bytes().all(|b| b == b'\n') {
        usize::MAX
    } else {
        span.start.col()
    };
    let line_start = text[..end].rfind('\n').map_or(0, |p| p + 1);
    for line in text[line_start..].split('\n') {
        let spaces = line.len() - line.trim_start_matches(' ').len();
        let rest = &line[spaces..];
        if spaces < indent && rest.starts_with('\t') {
            return Err(TAB.into());
        }
        if !(rest.is_empty() || rest == "\r") {
            break;
        }
    }
    Ok(())
}

const TAB: &str = "a tab where Kubernetes expects indentation or spaces; use spaces";

/// A tag (the text from its `!`): Go reads a flow indicator right after it as part of the
/// tag, and then refuses the document.
fn check_tag(from_tag: &str) -> Result<(), String> {
    let token = from_tag
        .split([' ', '\t', '\n', '\r'])
        .next()
        .unwrap_or_default();
    // A verbatim tag (`!<tag:yaml.org,2002:str>`) may hold commas; what follows it may not.
    let after = match token.strip_prefix("!<") {
        Some(rest) => rest.split_once('>').map_or("", |(_, after)| after),
        None => token,
    };
    if after.contains([',', '[', ']', '{', '}']) {
        return Err(format!(
            "the tag `{}` runs into a flow indicator: Kubernetes refuses it; put a space after the tag",
            shown(token)
        ));
    }
    Ok(())
}

/// The checks of one chunk, event by event: each scalar, and what lies between the events
/// (indentation, indicators, comments, anchors, tags), where block context takes no tabs Go
/// does not take as spaces.
pub struct Checks<'t> {
    text: &'t str,
    /// Whether the chunk holds a tab at all: most do not, and need no tab checks.
    tabs: bool,
    end: usize,
}

impl<'t> Checks<'t> {
    /// Nothing of `text` checked yet.
    pub fn new(text: &'t str) -> Self {
        Checks {
            text,
            tabs: text.as_bytes().contains(&b'\t'),
            end: 0,
        }
    }

    /// The event at `span` is next: checks the text since the last one.
    pub fn next(&mut self, span: &Span, in_flow: bool) -> Result<(), String> {
        let (Some(start), Some(end)) = (span.start.byte_offset(), span.end.byte_offset()) else {
            return Err("the parser gave no byte offsets for an event".into());
        };
        if let Some(tag) = span.tag_start.and_then(|m| m.byte_offset()) {
            check_tag(&self.text[tag..])?;
        }
        if self.tabs && start > self.end && !in_flow {
            self.check_tabs(self.end, start)?;
        }
        self.end = self.end.max(end);
        Ok(())
    }

    /// Checks a scalar event (after [`Checks::next`] for it).
    pub fn scalar(
        &self,
        value: &str,
        style: ScalarStyle,
        span: &Span,
        place: Place,
    ) -> Result<(), String> {
        check_scalar(self.text, self.tabs, value, style, span, place)
    }

    /// Checks an alias event's name.
    pub fn alias(&self, span: &Span) -> Result<(), String> {
        check_alias(self.text, span)
    }

    fn check_tabs(&self, from: usize, to: usize) -> Result<(), String> {
        let gap = &self.text[from..to];
        for (i, _) in gap.match_indices('\t') {
            let at = from + i;
            let line_start = self.text[..at].rfind('\n').map_or(0, |p| p + 1);
            let local = &self.text[line_start.max(from)..at];
            if local.contains('#') || local.starts_with("---") || local.starts_with("...") {
                continue; // a comment, or a document marker's line
            }
            let before = local.trim_end_matches([' ', '\t']);
            let refuse = if before.is_empty() {
                // Nothing of this gap before it on the line: indentation, unless a token
                // (a scalar, say) ends the line's text before the gap.
                line_start >= from
            } else {
                before.ends_with('-')
                    || before.ends_with('?')
                    || (before.ends_with(':')
                        && self.text[line_start..at].trim_start().starts_with(':'))
            };
            if refuse {
                return Err(TAB.into());
            }
        }
        Ok(())
    }
}

fn check_flow_plain(text: &str, value: &str, span: &Span) -> Result<(), String> {
    if value.contains('?') {
        return Err(format!(
            "`{}` in a flow collection: Kubernetes reads `?` there as the start of a key; quote the scalar",
            shown(value)
        ));
    }
    if value.starts_with(':') {
        return Err(format!(
            "`{}` in a flow collection: Kubernetes reads a leading `:` there as a value indicator; quote the scalar",
            shown(value)
        ));
    }
    let end = span
        .end
        .byte_offset()
        .ok_or("the parser gave no byte offset for a scalar")?;
    let mut after = text[end..].chars();
    if after.next() == Some(':')
        && after
            .next()
            .is_some_and(|c| !matches!(c, ' ' | '\t' | '\n' | '\r'))
    {
        return Err(format!(
            "`{}:` in a flow collection: Kubernetes reads the `:` as part of the scalar when no space follows it; write `{}: ` or quote the scalar",
            shown(value),
            shown(value)
        ));
    }
    Ok(())
}

/// The escapes go-yaml v2 knows (`yaml_parser_scan_flow_scalar`), and no surrogates.
fn check_escapes(raw: &str) -> Result<(), String> {
    if !raw.contains('\\') {
        return Ok(());
    }
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            continue;
        }
        let Some(escape) = chars.next() else {
            return Ok(());
        };
        let digits = match escape {
            '0' | 'a' | 'b' | 't' | '\t' | 'n' | 'v' | 'f' | 'r' | 'e' | ' ' | '"' | '\''
            | '\\' | 'N' | '_' | 'L' | 'P' | '\n' | '\r' => continue,
            'x' => 2,
            'u' => 4,
            'U' => 8,
            other => {
                return Err(format!(
                    "the escape `\\{other}` in a double-quoted string is YAML 1.2 only; Kubernetes refuses it"
                ));
            }
        };
        let hex: String = chars.by_ref().take(digits).collect();
        let code = u32::from_str_radix(&hex, 16).ok();
        if code.is_none_or(|v| (0xD800..=0xDFFF).contains(&v) || v > 0x10_FFFF) {
            return Err(format!(
                "the escape `\\{escape}{hex}` in a double-quoted string is no Unicode character (a UTF-16 surrogate, say); Kubernetes refuses it"
            ));
        }
    }
    Ok(())
}

fn raw<'t>(text: &'t str, span: &Span) -> Result<&'t str, String> {
    match (span.start.byte_offset(), span.end.byte_offset()) {
        (Some(start), Some(end)) if start <= end && end <= text.len() => Ok(&text[start..end]),
        _ => Err("the parser gave no byte offsets for a scalar".into()),
    }
}

fn shown(value: &str) -> String {
    value.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use granit_parser::Event;

    use super::*;

    /// Every scalar of `text` checked as the scan and the tree builder check it.
    fn check(text: &str) -> Result<(), String> {
        let mut parser = parser(text);
        // (is a mapping, is flow, a key is next)
        let mut stack: Vec<(bool, bool, bool)> = Vec::new();
        let mut checks = Checks::new(text);
        while let Some(next) = parser.next_event() {
            let (event, span) = next.map_err(|e| e.info())?;
            let in_flow = stack.last().is_some_and(|f| f.1);
            checks.next(&span, in_flow)?;
            let place = match stack.last() {
                Some((true, true, true)) => Place::FlowKey,
                Some((_, true, _)) => Place::Flow,
                _ => Place::Block,
            };
            let advance = |stack: &mut Vec<(bool, bool, bool)>| {
                if let Some(top) = stack.last_mut().filter(|t| t.0) {
                    top.2 = !top.2;
                }
            };
            match event {
                Event::MappingStart(style, ..) | Event::SequenceStart(style, ..) => {
                    let is_map = matches!(event, Event::MappingStart(..));
                    stack.push((
                        is_map,
                        in_flow || style == granit_parser::StructureStyle::Flow,
                        true,
                    ));
                }
                Event::MappingEnd | Event::SequenceEnd => {
                    stack.pop();
                    advance(&mut stack);
                }
                Event::Scalar(value, style, ..) => {
                    checks.scalar(&value, style, &span, place)?;
                    advance(&mut stack);
                }
                Event::Anchor(_, name) => check_anchor(&name)?,
                Event::Alias(_) => {
                    checks.alias(&span)?;
                    advance(&mut stack);
                }
                _ => {}
            }
        }
        Ok(())
    }

    #[test]
    fn flow_forms_go_reads_otherwise_are_refused() {
        for text in [
            "a: {?foo: bar}\n",
            "a: [?x]\n",
            "a: {a:, b: c}\n",
            "a: [b?c]\n",
            "a: {x: :x}\n",
            "a: [a:]\n",
        ] {
            assert!(check(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn flow_forms_both_read_alike_pass() {
        for text in [
            "a: {b: c, d: [e, f]}\n",
            "a: [http://x.io/a/b]\n",
            "a: {url: http://x}\n",
            "a: [--addr=:8080]\n",
            "a: {\"k\":v}\n",
            "a: b?c\nd: ?e\n",
        ] {
            assert_eq!(check(text), Ok(()), "{text:?}");
        }
    }

    #[test]
    fn anchor_names_go_reads_otherwise_are_refused() {
        assert!(check("key: &an:chor value\n").is_err());
        assert!(check("a: &a.b 1\nb: *a.b\n").is_err());
        assert_eq!(check("a: &base-1_x {b: 1}\nc: *base-1_x\n"), Ok(()));
    }

    #[test]
    fn tabs_go_does_not_take_for_spaces_are_refused() {
        for text in [
            "- \tx\n",
            "-\tx\n",
            "\ta: b\n",
            "a:\n\t- b\n",
            "a: |\n  \tx\n",
            "a: |\n  x\n\ty\n",
            "a: x\n\ty\n",
            "? a\n:\tb\n",
            "a:\n  foo: |\n  \t\n  bar: 1\n",
            "k: |\n    line\n  \t\nj: x\n",
            "a:\n  k: |2\n  \t\n  j: x\n",
            "a:\n  k: >4\n\n  \t\n",
        ] {
            assert!(check(text).is_err(), "{text:?}");
        }
        for text in [
            "a:\tb\n",
            "a: b\t\n",
            "a: b\t# c\n",
            "a: [\tb]\n",
            "a: \t\tb\n",
            "a: b # \tc\n",
            "a:\t\n  b: c\n",
            "a: &x\tb\n",
            "a:   \t  b\n",
            "make: |\n  all:\n  \techo hi\n",
        ] {
            assert_eq!(check(text), Ok(()), "{text:?}");
        }
    }

    #[test]
    fn tags_run_into_flow_indicators_are_refused() {
        assert!(check("{ foo : !!str, !!str : bar }\n").is_err());
        assert_eq!(check("{ foo : !!str x, a: !!int 1 }\n"), Ok(()));
        assert_eq!(check("a: !<tag:yaml.org,2002:str> 3\n"), Ok(()));
    }

    #[test]
    fn flow_mapping_keys_go_refuses_are_refused() {
        assert!(check("{\"foo\"\n: bar}\n").is_err());
        assert!(check("- {multi\n  line: value}\n").is_err());
        assert_eq!(check("{foo: bar,\n baz: 1}\n"), Ok(()));
    }

    #[test]
    fn escapes_go_does_not_know_are_refused() {
        for text in [r#"a: "x\/y""#, r#"a: "\ud83d\ude00""#, r#"a: "\U00110000""#] {
            assert!(check(text).is_err(), "{text}");
        }
        for text in [
            r#"a: "\x41\u00e9\U0001F600\N\_\L\P\t\"\\ \0""#,
            "a: \"x\\\n  y\"\n",
        ] {
            assert_eq!(check(text), Ok(()), "{text}");
        }
    }
}
