//! The judge: tests/go-reader in `serve` mode, one long-lived Go process reading every input
//! along Kubernetes' paths (see tests/go-reader/judge.go).

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde::Deserialize;
use serde_json::Value;

/// One path's reading: the documents, or the error the path stops with.
#[derive(Debug, Clone, Deserialize)]
pub struct Reading {
    pub docs: Option<Vec<Value>>,
    #[serde(default)]
    pub error: Option<String>,
}

impl Reading {
    /// Whether the judge could not show this path's reading (too deep for its JSON reader):
    /// nothing can be compared.
    pub fn unknown(&self) -> bool {
        self.error
            .as_deref()
            .is_some_and(|e| e.starts_with("judge:"))
    }

    /// The documents when the path read the stream.
    pub fn ok(&self) -> Option<&[Value]> {
        match (&self.error, &self.docs) {
            (None, Some(docs)) => Some(docs),
            _ => None,
        }
    }
}

/// How Go reads one stream.
#[derive(Debug, Clone, Deserialize)]
pub struct Verdict {
    /// apimachinery's split and sigs.k8s.io/yaml: what the cluster applies.
    pub k8s: Reading,
    /// Helm's SplitManifests (every document trimmed), then sigs.k8s.io/yaml.
    pub helm: Reading,
    /// Helm 4's kyaml split and yaml.v3 round trip, then as `k8s`.
    pub helm4: Reading,
}

pub struct Judge {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Judge {
    pub fn start(reader: &Path) -> Result<Judge, String> {
        let mut child = Command::new(reader)
            .arg("serve")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| {
                format!(
                    "cannot start {} (scripts/setup builds it): {e}",
                    reader.display()
                )
            })?;
        let stdin = child.stdin.take().expect("piped");
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        Ok(Judge {
            child,
            stdin,
            stdout,
        })
    }

    pub fn read(&mut self, stream: &[u8]) -> Verdict {
        let len = u32::try_from(stream.len()).expect("inputs stay under 4 GiB");
        self.stdin
            .write_all(&len.to_be_bytes())
            .expect("judge alive");
        self.stdin.write_all(stream).expect("judge alive");
        self.stdin.flush().expect("judge alive");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("judge alive");
        serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("the judge answered something unreadable ({e}): {line}"))
    }
}

impl Drop for Judge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
