//! `vf-post policy inspect MODULE`: what a module is, its whole WIT (every import and export,
//! read from the component's type without running it), and whether it loads under the sandbox
//! rules and why not. Exit 0 when it loads, 2 with the reason when it does not.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Result, anyhow};
use sha2::{Digest, Sha256};

use super::bindings::module::vf::policy::types::Severity;
use super::cache::Obtained;
use super::load::{self, Wit};
use super::sandbox::Bounds;
use crate::report::text::clean;

/// What `inspect` found: the text for stdout, and why the module does not load, if it does not.
pub struct Inspection {
    pub text: String,
    pub refusal: Option<anyhow::Error>,
}

pub fn inspect(path: &Path, bounds: Bounds) -> Result<Inspection> {
    let mut out = String::new();
    writeln!(out, "module:      {}", path.display())?;
    let bytes = std::fs::read(path)?;
    writeln!(out, "size:        {} bytes", bytes.len())?;
    writeln!(out, "sha256:      {:x}", Sha256::digest(&bytes))?;
    let wit = match Wit::of(&bytes) {
        Ok(wit) => wit,
        Err(e) => {
            return Ok(Inspection {
                text: out,
                refusal: Some(anyhow!("{} {e:#}", path.display())),
            });
        }
    };
    for (name, functions) in &wit.imports {
        let what = if *functions {
            "functions: refused"
        } else {
            "types only: allowed"
        };
        writeln!(out, "import:      {} ({what})", clean(name))?;
    }
    if wit.imports.is_empty() {
        writeln!(out, "imports:     nothing")?;
    }
    for name in &wit.exports {
        writeln!(out, "export:      {}", clean(name))?;
    }
    writeln!(out, "WIT:")?;
    for line in wit.text.lines() {
        writeln!(out, "  {}", clean(line))?;
    }
    let name = path
        .file_stem()
        .map_or_else(|| "module".into(), |s| s.to_string_lossy().into_owned());
    let loaded = match load::load(&name, path, None, bounds) {
        Ok(loaded) => loaded,
        Err(e) => {
            writeln!(out, "sandbox:     does not load")?;
            return Ok(Inspection {
                text: out,
                refusal: Some(e),
            });
        }
    };
    writeln!(
        out,
        "compiled:    {}\ncompiler:    {}",
        match &loaded.obtained {
            Obtained::Cached => "loaded from the cache (its MAC verified)".to_owned(),
            Obtained::Compiled => "compiled now, and cached".to_owned(),
            Obtained::Recompiled =>
                "compiled now (the cache entry did not verify), and cached".to_owned(),
            Obtained::Uncached(why) => format!("compiled now, not cached: {why}"),
        },
        loaded.compiler.as_str()
    )?;
    let m = &loaded.metadata;
    writeln!(out, "describes:   {} {}", clean(&m.name), clean(&m.version))?;
    let kinds = if m.kinds.is_empty() {
        "every kind".to_owned()
    } else {
        clean(&m.kinds.join(", "))
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
        writeln!(
            out,
            "  {:<30} {severity:<8} {}",
            rule.id,
            clean(&rule.summary)
        )?;
    }
    writeln!(
        out,
        "sandbox:     loads (imports no functions, exports {})",
        load::POLICY_EXPORT
    )?;
    Ok(Inspection {
        text: out,
        refusal: None,
    })
}
