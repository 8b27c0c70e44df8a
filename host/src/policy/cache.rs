//! Compiled components, cached on disk by content hash and engine build. A cache entry is
//! the precompiled artifact behind a header with its own SHA-256: an entry that does not
//! check out (truncated, corrupt, from another build) is recompiled, never loaded.

use std::hash::{Hash as _, Hasher as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

const MAGIC: &[u8; 8] = b"VFPOSTC1";

/// How a component was obtained, for `policy inspect` and the benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Obtained {
    /// Loaded from a verified cache entry.
    Cached,
    /// Compiled now (no cache entry, or no cache directory).
    Compiled,
    /// Compiled now, because the cache entry did not verify.
    Recompiled,
}

/// The cache directory: `$XDG_CACHE_HOME/vf-post/components`, else `~/.cache/vf-post/components`.
pub fn default_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .map(|d| d.join("vf-post").join("components"))
}

/// The component for `bytes`, from the cache when a verified entry exists.
pub fn load(engine: &Engine, bytes: &[u8], dir: Option<&Path>) -> Result<(Component, Obtained)> {
    let Some(dir) = dir else {
        return Ok((compile(engine, bytes)?, Obtained::Compiled));
    };
    let path = dir.join(format!("{}.cwasm", key(engine, bytes)));
    let mut obtained = Obtained::Compiled;
    if let Ok(entry) = std::fs::read(&path) {
        match verified(&entry) {
            Some(artifact) => {
                // SAFETY: `artifact` is byte for byte what `Component::serialize` wrote for
                // this content hash with an engine of this build (both are in the file name),
                // as its SHA-256 in the header proves; wasmtime rejects artifacts of another
                // configuration itself. Anything else is recompiled instead.
                #[allow(unsafe_code)]
                let loaded = unsafe { Component::deserialize(engine, artifact) };
                if let Ok(component) = loaded {
                    return Ok((component, Obtained::Cached));
                }
                obtained = Obtained::Recompiled;
            }
            None => obtained = Obtained::Recompiled,
        }
    }
    let component = compile(engine, bytes)?;
    // Best effort: a read-only cache only costs the next run a compile.
    let _ = store(&path, &component);
    Ok((component, obtained))
}

fn compile(engine: &Engine, bytes: &[u8]) -> Result<Component> {
    Component::new(engine, bytes)
        .map_err(|e| anyhow::anyhow!("{e:#}"))
        .context("not a valid WebAssembly component")
}

/// Content hash and engine build, as a file name.
fn key(engine: &Engine, bytes: &[u8]) -> String {
    let mut build = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut build);
    format!("{:x}-{:016x}", Sha256::digest(bytes), build.finish())
}

fn verified(entry: &[u8]) -> Option<&[u8]> {
    let rest = entry.strip_prefix(MAGIC)?;
    let (sum, artifact) = rest.split_at_checked(32)?;
    (Sha256::digest(artifact).as_slice() == sum).then_some(artifact)
}

fn store(path: &Path, component: &Component) -> Result<()> {
    let artifact = component.serialize().map_err(|e| anyhow::anyhow!("{e}"))?;
    let dir = path.parent().expect("cache entries live in a directory");
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.{}",
        std::process::id(),
        path.file_name().unwrap().to_string_lossy()
    ));
    let mut entry = Vec::with_capacity(artifact.len() + 40);
    entry.extend_from_slice(MAGIC);
    entry.extend_from_slice(&Sha256::digest(&artifact));
    entry.extend_from_slice(&artifact);
    std::fs::write(&tmp, entry)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}
