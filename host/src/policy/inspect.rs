//! `vf-post policy inspect MODULE`: what a module is, and whether it loads under the
//! sandbox rules. Exit 0 when it does, 2 with the reason when it does not.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;

use super::bindings::module::vf::policy::types::Severity;
use super::cache::Obtained;
use super::load::{self, POLICY_EXPORT};
use super::sandbox::Bounds;

pub fn inspect(path: &Path, bounds: Bounds) -> Result<String> {
    let name = path
        .file_stem()
        .map_or_else(|| "module".into(), |s| s.to_string_lossy().into_owned());
    let loaded = load::load(&name, path, None, bounds)?;
    let m = &loaded.metadata;
    let mut out = String::new();
    writeln!(out, "module:      {}", path.display())?;
    writeln!(out, "sha256:      {}", loaded.sha256)?;
    writeln!(
        out,
        "compiled:    {}",
        match loaded.obtained {
            Obtained::Cached => "loaded from the cache",
            Obtained::Compiled => "compiled now, and cached",
            Obtained::Recompiled => "compiled now (the cache entry did not verify), and cached",
        }
    )?;
    writeln!(out, "WIT package: vf:policy@0.1.0 (supported)")?;
    writeln!(out, "exports:     {}", loaded.exports.join(", "))?;
    writeln!(out, "imports:     no functions")?;
    writeln!(out, "describes:   {} {}", m.name, m.version)?;
    let kinds = if m.kinds.is_empty() {
        "every kind".to_owned()
    } else {
        m.kinds.join(", ")
    };
    writeln!(
        out,
        "reads:       {kinds}; {}",
        if m.needs_object {
            "whole objects"
        } else {
            "identity, labels, annotations"
        }
    )?;
    writeln!(out, "rules:")?;
    for rule in &m.rules {
        let severity = match rule.severity {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        writeln!(out, "  {:<30} {severity:<8} {}", rule.id, rule.summary)?;
    }
    writeln!(
        out,
        "sandbox:     loads (imports nothing, exports {POLICY_EXPORT})"
    )?;
    Ok(out)
}
