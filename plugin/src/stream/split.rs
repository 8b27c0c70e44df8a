//! Bytes → chunks: cut Helm's stream at YAML document separators, keeping every byte.
//!
//! A chunk owns its `---` line, the comment lines after it (Helm 3's `# Source:` header) and
//! the document text, so a document nobody changes is written back exactly as it came.

use crate::error::{Error, Result};

/// One `---`-delimited piece of the input stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Byte range of everything this chunk owns in the input, separator line included.
    pub start: usize,
    /// End of the chunk's byte range (exclusive).
    pub end: usize,
    /// 1-based input line on which the chunk starts.
    pub line: usize,
    /// Bytes of the leading `---` line with its line break; 0 when the stream starts without one.
    pub separator_len: usize,
    /// Bytes of the comment and blank lines after the separator (the `# Source:` header).
    pub header_len: usize,
    /// Template named by a `# Source: <path>` header line (Helm 3 form).
    pub source_comment: Option<String>,
}

impl Chunk {
    /// The chunk's text.
    pub fn text<'a>(&self, input: &'a str) -> &'a str {
        &input[self.start..self.end]
    }

    /// The separator line and header comments, written again before a re-emitted body.
    pub fn preamble<'a>(&self, input: &'a str) -> &'a str {
        &input[self.start..self.start + self.separator_len + self.header_len]
    }
}

/// Splits `input` (BOM already removed) into chunks.
///
/// Separators are lines that start with `---` followed by nothing, whitespace or a comment,
/// as YAML defines them; a `---` inside an indented block scalar is not one. Content after
/// a `...` end marker in the same chunk is refused: Helm would silently drop it.
pub fn split(input: &str) -> Result<Vec<Chunk>> {
    let mut chunks = Vec::new();
    let mut open: Option<Open> = None;
    let mut line_no = 0usize;
    let mut pos = 0usize;
    while pos < input.len() {
        line_no += 1;
        let line_end = input[pos..].find('\n').map_or(input.len(), |i| pos + i + 1);
        let line = &input[pos..line_end];
        let kind = classify(line);
        if kind == Line::Separator || open.is_none() {
            if let Some(done) = open.take() {
                chunks.push(done.finish(input, pos));
            }
            if kind == Line::Separator && separator_has_content(line) {
                // Content on the separator line itself (`--- |`): the line is body, not preamble.
                let mut body = Open::new(pos, line_no, 0);
                body.end_header();
                open = Some(body);
                pos = line_end;
                continue;
            }
            let separator_len = if kind == Line::Separator {
                line.len()
            } else {
                0
            };
            open = Some(Open::new(pos, line_no, separator_len));
            if kind == Line::Separator {
                pos = line_end;
                continue;
            }
        }
        let chunk = open.as_mut().expect("a chunk is open");
        match kind {
            Line::Comment | Line::Blank if chunk.in_header => {
                chunk.header_len += line.len();
                if chunk.source.is_none() {
                    chunk.source = source_comment(line);
                }
            }
            Line::End => chunk.ended_at = Some(line_no),
            Line::Comment | Line::Blank => {}
            Line::Content | Line::Separator => {
                if let Some(end_line) = chunk.ended_at {
                    return Err(Error::ContentAfterEnd {
                        line: line_no,
                        end_line,
                    });
                }
                chunk.end_header();
            }
        }
        pos = line_end;
    }
    if let Some(done) = open.take() {
        chunks.push(done.finish(input, input.len()));
    }
    Ok(chunks)
}

/// A chunk being read.
struct Open {
    start: usize,
    line: usize,
    separator_len: usize,
    header_len: usize,
    in_header: bool,
    source: Option<String>,
    ended_at: Option<usize>,
}

impl Open {
    fn new(start: usize, line: usize, separator_len: usize) -> Self {
        Self {
            start,
            line,
            separator_len,
            header_len: 0,
            in_header: true,
            source: None,
            ended_at: None,
        }
    }

    fn end_header(&mut self) {
        self.in_header = false;
    }

    fn finish(self, input: &str, end: usize) -> Chunk {
        debug_assert!(self.start <= end && end <= input.len());
        Chunk {
            start: self.start,
            end,
            line: self.line,
            separator_len: self.separator_len,
            header_len: self.header_len,
            source_comment: self.source,
        }
    }
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Line {
    Separator,
    End,
    Comment,
    Blank,
    Content,
}

fn classify(line: &str) -> Line {
    let bare = line.trim_end_matches(['\n', '\r']);
    if is_marker(bare, "---") {
        Line::Separator
    } else if is_marker(bare, "...") {
        Line::End
    } else {
        let trimmed = bare.trim_start_matches([' ', '\t']);
        if trimmed.is_empty() {
            Line::Blank
        } else if trimmed.starts_with('#') {
            Line::Comment
        } else {
            Line::Content
        }
    }
}

/// `---` or `...` at column 0, followed by the end of the line or whitespace.
fn is_marker(line: &str, marker: &str) -> bool {
    line.strip_prefix(marker)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
}

fn separator_has_content(line: &str) -> bool {
    let rest = line.trim_end_matches(['\n', '\r'])[3..].trim_start_matches([' ', '\t']);
    !rest.is_empty() && !rest.starts_with('#')
}

/// The template path of a Helm 3 `# Source: <path>` line.
fn source_comment(line: &str) -> Option<String> {
    let path = line.trim().strip_prefix("# Source:")?.trim();
    (!path.is_empty()).then(|| path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(input: &str) -> Vec<&str> {
        split(input)
            .unwrap()
            .iter()
            .map(|c| c.text(input))
            .collect()
    }

    #[test]
    fn helm3_stream_keeps_every_byte_and_the_source_header() {
        let input = "---\n# Source: c/templates/a.yaml\nkind: A\n---\n# Source: c/templates/b.yaml\nkind: B\n";
        let chunks = split(input).unwrap();
        assert_eq!(texts(input).concat(), input);
        assert_eq!(chunks.len(), 2);
        assert_eq!(
            chunks[0].source_comment.as_deref(),
            Some("c/templates/a.yaml")
        );
        assert_eq!(
            chunks[1].preamble(input),
            "---\n# Source: c/templates/b.yaml\n"
        );
        assert_eq!(chunks[1].line, 4);
    }

    #[test]
    fn stream_without_leading_separator_and_without_final_newline() {
        let input = "kind: A\n---\nkind: B";
        assert_eq!(texts(input), ["kind: A\n", "---\nkind: B"]);
    }

    #[test]
    fn separators_with_spaces_comments_and_crlf() {
        let input = "--- # first\r\nkind: A\r\n---   \r\nkind: B\r\n---\t\nkind: C\n";
        assert_eq!(texts(input).len(), 3);
        assert_eq!(texts(input).concat(), input);
    }

    #[test]
    fn dashes_inside_a_block_scalar_or_longer_runs_do_not_split() {
        let input = "data:\n  x: |\n    ---\n    y\n----\nkind: A\n";
        assert_eq!(texts(input).len(), 1);
    }

    #[test]
    fn content_on_the_separator_line_ends_the_header() {
        let input = "--- |\n  text\n";
        let chunks = split(input).unwrap();
        assert_eq!((chunks[0].separator_len, chunks[0].header_len), (0, 0));
    }

    #[test]
    fn end_marker_followed_by_comments_is_fine_but_content_is_refused() {
        assert_eq!(texts("kind: A\n...\n# trailing\n---\nkind: B\n").len(), 2);
        let err = split("kind: A\n...\nkind: B\n").unwrap_err();
        assert!(matches!(
            err,
            Error::ContentAfterEnd {
                line: 3,
                end_line: 2
            }
        ));
    }

    #[test]
    fn empty_and_comment_only_documents_are_chunks() {
        let input = "---\n# Source: c/templates/empty.yaml\n---\n# only a comment\n---\nkind: A\n";
        assert_eq!(texts(input).len(), 3);
        assert_eq!(split("").unwrap(), []);
    }
}
