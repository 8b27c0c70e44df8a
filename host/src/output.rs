//! Where vf-post's words go: stdout for manifests, stderr for people, and, because Helm 4
//! throws a post-renderer's stderr away, the terminal and a report file as well.

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;

/// Writes the post-rendered manifests. A reader that went away is not an error of ours.
pub fn write_stdout(bytes: &[u8]) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()
}

/// Whether `error` comes from writing to a closed pipe (`vf-post ... | head`).
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// Whether Helm 4 runs us as a plugin: it sets these for plugins only.
pub fn under_helm4_plugin() -> bool {
    std::env::var_os("HELM_PLUGIN_NAME").is_some()
}

/// The report file used when none is given and Helm 4 would hide stderr:
/// `$XDG_STATE_HOME/vf-post/last-report.txt`, else `~/.local/state/vf-post/last-report.txt`.
pub fn default_report_path() -> Option<PathBuf> {
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))?;
    Some(state.join("vf-post").join("last-report.txt"))
}

/// Shows a message a person must see: on stderr and, under Helm 4, on the terminal too.
pub fn fatal(message: &str) {
    let _ = writeln!(io::stderr(), "{message}");
    if under_helm4_plugin() {
        to_terminal(message);
        if let Some(path) = default_report_path() {
            let _ = write_file(&path, format!("{message}\n").as_bytes());
        }
    }
}

/// Writes to the controlling terminal, if there is one (not in CI, not in a container).
pub fn to_terminal(message: &str) {
    if io::stderr().is_terminal() && !under_helm4_plugin() {
        return; // stderr is already the terminal and reaches the person.
    }
    if let Ok(mut tty) = std::fs::OpenOptions::new().write(true).open("/dev/tty") {
        let _ = writeln!(tty, "{message}");
    }
}

/// Writes a file, creating its directory.
pub fn write_file(path: &std::path::Path, bytes: &[u8]) -> io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, bytes)
}
