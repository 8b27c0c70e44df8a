//! Bytes → chunks: cut Helm's stream at YAML document separators, keeping every byte.
//!
//! A chunk owns its `---` line, the comment lines after it (Helm 3's `# Source:` header) and
//! the document text, so a document nobody changes is written back exactly as it came.

/// Why the stream cannot be cut into documents, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitError {
    /// 0-based index of the chunk the problem is in.
    pub chunk: usize,
    /// Byte offset where that chunk starts.
    pub chunk_start: usize,
    /// Byte offset where the offending line starts.
    pub offset: usize,
    /// The chunk's `# Source:` template, if its header named one.
    pub source: Option<String>,
    /// 1-based line in the input.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

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
/// Separators are lines that start with `---` followed by nothing, or by spaces and maybe a
/// comment: where YAML and Kubernetes' document reader (which cuts at every line starting
/// with `---`) agree. Any other line starting with `---` is refused, as Kubernetes refuses
/// it. Content after a `...` end marker in the same chunk is refused: Go would silently drop it.
pub fn split(input: &str) -> Result<Vec<Chunk>, SplitError> {
    let mut chunks = Vec::new();
    let mut open: Option<Open> = None;
    let mut line_no = 0usize;
    let mut pos = 0usize;
    while pos < input.len() {
        line_no += 1;
        let line_end = input[pos..].find('\n').map_or(input.len(), |i| pos + i + 1);
        let line = &input[pos..line_end];
        let kind = classify(line);
        let refuse = |chunk: usize,
                      chunk_start: usize,
                      source: Option<String>,
                      column: usize,
                      message: String| SplitError {
            chunk,
            chunk_start,
            offset: pos,
            source,
            line: line_no,
            column,
            message,
        };
        if let Line::Odd(message) = kind {
            // Kubernetes cuts here: the line belongs to the next document.
            let chunk = chunks.len() + usize::from(open.is_some());
            return Err(refuse(chunk, pos, None, 1, message));
        }
        if kind == Line::Separator || open.is_none() {
            if let Some(done) = open.take() {
                chunks.push(done.finish(input, pos));
            }
            let separator = kind == Line::Separator;
            open = Some(Open::new(
                pos,
                line_no,
                if separator { line.len() } else { 0 },
            ));
            if separator {
                pos = line_end;
                continue;
            }
        }
        let chunk = open.as_mut().expect("a chunk is open");
        let after_end = |column: usize, message: String| {
            refuse(
                chunks.len(),
                chunk.start,
                chunk.source.clone(),
                column,
                message,
            )
        };
        match kind {
            Line::Comment | Line::Blank if chunk.in_header => {
                chunk.header_len += line.len();
                if chunk.source.is_none() {
                    chunk.source = source_comment(line);
                }
            }
            Line::Comment | Line::Blank => {}
            Line::End { content: true } => {
                return Err(after_end(
                    4,
                    "content after the document end marker `...` on the same line: Kubernetes \
                     would drop it silently"
                        .into(),
                ));
            }
            _ if chunk.ended_at.is_some() => {
                let end_line = chunk.ended_at.unwrap_or_default();
                return Err(after_end(
                    1,
                    format!(
                        "content after the document end marker `...` on line {end_line}: \
                         Kubernetes would drop it silently (start a new document with `---`)"
                    ),
                ));
            }
            Line::End { content: false } if chunk.in_header => {
                return Err(after_end(
                    1,
                    "a document end marker `...` before any content: Kubernetes refuses it".into(),
                ));
            }
            Line::End { content: false } => chunk.ended_at = Some(line_no),
            Line::Content | Line::Separator | Line::Odd(_) => chunk.end_header(),
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

#[derive(Debug, PartialEq, Eq, Clone)]
enum Line {
    Separator,
    /// `...`; `content` when something other than a comment follows it on the line.
    End {
        content: bool,
    },
    Comment,
    Blank,
    Content,
    /// A line starting with `---` that YAML and Kubernetes would read differently.
    Odd(String),
}

fn classify(line: &str) -> Line {
    let bare = line.trim_end_matches(['\n', '\r']);
    if let Some(rest) = bare.strip_prefix("---") {
        let after = rest.trim_start_matches([' ', '\t']);
        let spaced = after.len() < rest.len();
        if after.is_empty() || (spaced && after.starts_with('#')) {
            Line::Separator
        } else {
            Line::Odd(format!(
                "`{}`: a line starting with `---` must be a document separator (`---`, then \
                 only spaces or a space and a comment); Kubernetes cuts documents at every such \
                 line and refuses anything else on it",
                bare.chars().take(40).collect::<String>()
            ))
        }
    } else if is_marker(bare, "...") {
        let after = bare[3..].trim_start_matches([' ', '\t']);
        Line::End {
            content: !after.is_empty() && !after.starts_with('#'),
        }
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
    fn dashes_inside_an_indented_block_scalar_do_not_split() {
        let input = "data:\n  x: |\n    ---\n    y\nkind: A\n";
        assert_eq!(texts(input).len(), 1);
    }

    #[test]
    fn lines_starting_with_dashes_that_are_no_separator_are_refused() {
        for line in [
            "--- |",
            "--- text",
            "----",
            "---x",
            "---#c",
            "--- {a: 1}",
            "---\u{a0}",
        ] {
            let input = format!("kind: A\n{line}\n  text\n");
            let err = split(&input).unwrap_err();
            assert_eq!((err.chunk, err.line, err.column), (1, 2, 1), "{line}");
            assert!(
                err.message.contains("document separator"),
                "{}",
                err.message
            );
        }
        assert_eq!(texts("--- # c\nkind: A\n---\t\nkind: B\n").len(), 2);
    }

    #[test]
    fn end_marker_followed_by_comments_is_fine_but_content_is_refused() {
        assert_eq!(texts("kind: A\n...\n# trailing\n---\nkind: B\n").len(), 2);
        let err = split("---\nkind: A\n...\nkind: B\n").unwrap_err();
        assert_eq!((err.chunk, err.chunk_start, err.line), (0, 0, 4));
        assert!(err.message.contains("on line 3"), "{}", err.message);
        let err = split("kind: A\n... kind: B\n").unwrap_err();
        assert_eq!((err.line, err.column), (2, 4));
    }

    #[test]
    fn empty_and_comment_only_documents_are_chunks() {
        let input = "---\n# Source: c/templates/empty.yaml\n---\n# only a comment\n---\nkind: A\n";
        assert_eq!(texts(input).len(), 3);
        assert_eq!(split("").unwrap(), []);
    }
}
