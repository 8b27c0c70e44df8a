//! Compiled components, cached on disk. A cache entry is native code vf-post will run, and
//! whoever can write the cache directory (a CI cache restored from another branch, a shared
//! runner) could put any there. So vf-post runs an entry only when it can prove it wrote the
//! entry itself, for this exact module and this build: each entry carries an HMAC-SHA256 over
//! the module's hash, the build and the artifact, keyed by a secret kept outside the cache
//! (`$XDG_STATE_HOME/vf-post/cache.key`, mode 0600, created on first use). An entry that does
//! not verify is recompiled, never loaded. A cache directory, or a key, that others can write
//! or read is not used at all.

use std::fs::OpenOptions;
use std::io::{Read as _, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use hmac::{Hmac, Mac as _};
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use super::sandbox::{self, Compiler};
use crate::timings::phase;
pub use vf_plugin::config::Compiler as Choice;

const MAGIC: &[u8; 8] = b"VFPOSTC2";
const MAC_LEN: usize = 32;
const KEY_LEN: usize = 32;

/// How a component was obtained, for `policy inspect` and the benchmarks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Obtained {
    /// Loaded from a cache entry that verified.
    Cached,
    /// Compiled now (no cache entry yet), and cached.
    Compiled,
    /// Compiled now, because the cache entry did not verify (foreign, tampered, corrupt).
    Recompiled,
    /// Compiled now; the cache is not used, for the reason given.
    Uncached(String),
}

/// A cache vf-post may use: its directory, and the key that proves its entries.
pub struct Cache {
    dir: PathBuf,
    key: [u8; KEY_LEN],
}

/// The cache directory: `$XDG_CACHE_HOME/vf-post/components`, else `~/.cache/vf-post/components`.
pub fn default_dir() -> Option<PathBuf> {
    xdg("XDG_CACHE_HOME", ".cache").map(|d| d.join("vf-post").join("components"))
}

/// Where the cache key lives: `$XDG_STATE_HOME/vf-post/cache.key`, else
/// `~/.local/state/vf-post/cache.key`. Never inside the cache.
pub fn default_key() -> Option<PathBuf> {
    xdg("XDG_STATE_HOME", ".local/state").map(|d| d.join("vf-post").join("cache.key"))
}

fn xdg(variable: &str, fallback: &str) -> Option<PathBuf> {
    std::env::var_os(variable)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(fallback)))
}

/// The default cache, or why it is not used.
pub fn open_default() -> Result<Cache, String> {
    let dir = default_dir().ok_or("no HOME or XDG_CACHE_HOME")?;
    let key = default_key().ok_or("no HOME or XDG_STATE_HOME")?;
    Cache::open(&dir, &key)
}

impl Cache {
    /// Opens (creating them, private) the cache directory and its key; refuses either when
    /// someone else could change or read it.
    pub fn open(dir: &Path, key_path: &Path) -> Result<Cache, String> {
        let uid = current_uid()?;
        private_dir(dir)?;
        for (i, ancestor) in dir.ancestors().enumerate().take(3) {
            // The cache's own directories are ours alone; above them, a directory others can
            // write must be sticky (like /tmp), so nobody can swap ours out.
            safe_dir(ancestor, uid, i < 2)?;
        }
        let key_dir = key_path.parent().ok_or("the cache key has no directory")?;
        private_dir(key_dir)?;
        for (i, ancestor) in key_dir.ancestors().enumerate().take(2) {
            safe_dir(ancestor, uid, i == 0)?;
        }
        let key = read_or_make_key(key_path, uid)?;
        Ok(Cache {
            dir: dir.to_owned(),
            key,
        })
    }

    /// The MAC of an entry: over the module's hash, the build and the artifact.
    fn mac(&self, wasm_sha: &[u8], build: &str, artifact: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key");
        mac.update(MAGIC);
        mac.update(wasm_sha);
        mac.update(build.as_bytes());
        mac.update(artifact);
        mac
    }
}

/// Modules from this size on are compiled with Winch when the configuration leaves the choice
/// to vf-post: they are language runtimes (CPython 18 MB, StarlingMonkey 12 MB) that Cranelift
/// takes seconds to compile, where Winch takes a fraction of that. Our own runtimes (CEL, Rego,
/// the engine, 1 to 4 MB) and modules written in Rust stay below and get Cranelift's code.
pub const BASELINE_FROM_BYTES: usize = 8 << 20;

/// The component for `bytes`, from the cache when an entry verifies (a Cranelift entry first,
/// when the choice is vf-post's), else compiled by `compile` (under the sandbox's compile-time
/// limit) with the compiler `choice` names, and cached. Also says which compiler made it.
pub fn load(
    bytes: &[u8],
    cache: Result<&Cache, &str>,
    choice: Choice,
    compile: impl Fn(&'static Engine, &[u8]) -> Result<Component>,
) -> Result<(Component, Obtained, Compiler)> {
    let fresh = match choice {
        Choice::Cranelift => Compiler::Cranelift,
        Choice::Winch => Compiler::Winch,
        Choice::Auto if bytes.len() >= BASELINE_FROM_BYTES => Compiler::Winch,
        Choice::Auto => Compiler::Cranelift,
    };
    let candidates: &[Compiler] = match choice {
        Choice::Auto => &[Compiler::Cranelift, Compiler::Winch],
        _ => &[fresh],
    };
    let wasm_sha = phase("cache: hash the module", || Sha256::digest(bytes));
    let (cache, mut obtained) = match cache {
        Ok(cache) => (Some(cache), Obtained::Compiled),
        Err(why) => (None, Obtained::Uncached(why.to_owned())),
    };
    for &compiler in candidates.iter().filter(|_| cache.is_some()) {
        let cache = cache.expect("filtered");
        // An engine this machine cannot make serves no entry.
        let Ok(engine) = sandbox::engine_of(compiler) else {
            continue;
        };
        let (path, build) = entry(cache, &wasm_sha, engine, compiler);
        let Some(entry) = phase("cache: read an entry", || read_entry(&path, bytes.len())) else {
            continue;
        };
        let artifact = phase("cache: verify its MAC", || {
            verified(cache, &entry, &wasm_sha, &build)
        });
        if let Some(artifact) = artifact {
            // SAFETY: `artifact` is byte for byte what `Component::serialize` wrote in this
            // process's build, with this compiler, for exactly this module: the HMAC over the
            // module's hash, the build and the artifact, under a key only this user can read,
            // proves vf-post wrote it. wasmtime also rejects artifacts of another
            // configuration itself.
            #[allow(unsafe_code)]
            let loaded = phase("cache: load the native code", || unsafe {
                Component::deserialize(engine, artifact)
            });
            if let Ok(component) = loaded {
                return Ok((component, Obtained::Cached, compiler));
            }
        }
        // Foreign, tampered or corrupt: never run, and not papered over with another
        // compiler's entry either. The module is compiled again, and the report says why.
        obtained = Obtained::Recompiled;
        break;
    }
    let (component, compiler) = compile_with(fresh, choice, bytes, &compile)?;
    if let Some(cache) = cache {
        let engine = component.engine();
        let (path, build) = entry(cache, &wasm_sha, engine, compiler);
        // Best effort: a read-only cache only costs the next run a compile.
        let _ = store(cache, &path, &component, &wasm_sha, &build);
    }
    Ok((component, obtained, compiler))
}

/// Compiles with `fresh`. Winch does not compile every proposal Cranelift does (tail calls,
/// relaxed SIMD): when the choice was vf-post's, such a module gets Cranelift instead; when the
/// configuration asked for Winch, the error says so. A compilation that ran out of time is not
/// tried again.
fn compile_with(
    fresh: Compiler,
    choice: Choice,
    bytes: &[u8],
    compile: &impl Fn(&'static Engine, &[u8]) -> Result<Component>,
) -> Result<(Component, Compiler)> {
    let first = sandbox::engine_of(fresh).and_then(|engine| compile(engine, bytes));
    match first {
        Ok(component) => Ok((component, fresh)),
        Err(e) if fresh == Compiler::Winch && e.downcast_ref::<TimedOut>().is_none() => {
            if choice == Choice::Auto {
                let engine = sandbox::engine()?;
                Ok((compile(engine, bytes)?, Compiler::Cranelift))
            } else {
                Err(e.context(
                    "Winch (sandbox.compiler: winch) cannot compile it; Cranelift may (sandbox.compiler: cranelift)",
                ))
            }
        }
        Err(e) => Err(e),
    }
}

/// A compilation that ran past `sandbox.compileTimeoutMs`.
#[derive(Debug)]
pub struct TimedOut(pub String);

impl std::fmt::Display for TimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TimedOut {}

/// A cache entry's bytes, if it is a regular file of plausible size: a link, a FIFO or a
/// device planted at its name is not followed, waited on or read without end. An artifact is
/// a few times its module's size; far more is not ours.
fn read_entry(path: &Path, module_len: usize) -> Option<Vec<u8>> {
    let limit = module_len.saturating_mul(16).saturating_add(16 << 20) as u64;
    let mut file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() || meta.len() > limit {
        return None;
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    (&mut file).take(limit + 1).read_to_end(&mut bytes).ok()?;
    (bytes.len() as u64 <= limit).then_some(bytes)
}

/// Where the entry of a module compiled by `compiler` lives, and the build it is proved for.
fn entry(cache: &Cache, wasm_sha: &[u8], engine: &Engine, compiler: Compiler) -> (PathBuf, String) {
    let build = build_id(engine, compiler);
    let module: String = wasm_sha.iter().map(|b| format!("{b:02x}")).collect();
    let path = cache.dir.join(format!(
        "{module}-{:x}.cwasm",
        Sha256::digest(build.as_bytes())
    ));
    (path, build)
}

/// The build an artifact belongs to: vf-post's version, the compiler and wasmtime's
/// compatibility hash.
fn build_id(engine: &Engine, compiler: Compiler) -> String {
    use std::hash::{Hash as _, Hasher as _};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    format!(
        "vf-post {} {} {:016x}",
        env!("CARGO_PKG_VERSION"),
        compiler.as_str(),
        hasher.finish()
    )
}

fn verified<'e>(cache: &Cache, entry: &'e [u8], wasm_sha: &[u8], build: &str) -> Option<&'e [u8]> {
    let rest = entry.strip_prefix(MAGIC)?;
    let (mac, artifact) = rest.split_at_checked(MAC_LEN)?;
    // Constant time: a forger learns nothing from how long the comparison takes.
    cache
        .mac(wasm_sha, build, artifact)
        .verify_slice(mac)
        .ok()?;
    Some(artifact)
}

fn store(
    cache: &Cache,
    path: &Path,
    component: &Component,
    wasm_sha: &[u8],
    build: &str,
) -> Result<()> {
    let artifact = component.serialize().map_err(|e| anyhow::anyhow!("{e}"))?;
    let mac = cache
        .mac(wasm_sha, build, &artifact)
        .finalize()
        .into_bytes();
    let tmp = cache.dir.join(format!(
        ".{}.{}",
        std::process::id(),
        path.file_name().unwrap_or_default().to_string_lossy()
    ));
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(MAGIC)?;
    file.write_all(&mac)?;
    file.write_all(&artifact)?;
    drop(file);
    std::fs::rename(&tmp, path)?;
    Ok(())
}

fn current_uid() -> Result<u32, String> {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .map_err(|e| format!("cannot tell who runs vf-post (/proc/self: {e})"))
}

/// Creates `dir` (and its parents) if missing, new directories private to the user.
fn private_dir(dir: &Path) -> Result<(), String> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))
}

fn safe_dir(dir: &Path, uid: u32, own: bool) -> Result<(), String> {
    let meta = std::fs::symlink_metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mode = meta.mode();
    let writable_by_others = mode & 0o022 != 0;
    let sticky = mode & 0o1000 != 0;
    let refused = if own {
        meta.uid() != uid || writable_by_others || !meta.is_dir()
    } else {
        (meta.uid() != uid && meta.uid() != 0) || (writable_by_others && !sticky)
    };
    if refused {
        return Err(format!(
            "{} is not private to this user (owner {}, mode {:o}): others could plant code there",
            dir.display(),
            meta.uid(),
            mode & 0o7777
        ));
    }
    Ok(())
}

/// The cache key: read when it exists and is the user's alone; else made from the system's
/// random source.
fn read_or_make_key(path: &Path, uid: u32) -> Result<[u8; KEY_LEN], String> {
    let shown = path.display();
    // Checked without following links, opened, and the open file checked to be the same one:
    // what is checked is what is read.
    match std::fs::symlink_metadata(path) {
        Ok(link) => {
            let mut file = std::fs::File::open(path).map_err(|e| format!("{shown}: {e}"))?;
            let meta = file.metadata().map_err(|e| format!("{shown}: {e}"))?;
            let same = link.is_file() && (link.dev(), link.ino()) == (meta.dev(), meta.ino());
            if !same || meta.uid() != uid || meta.mode() & 0o077 != 0 {
                return Err(format!(
                    "the cache key {shown} is not the user's alone (owner {}, mode {:o}); remove it to make a new one",
                    meta.uid(),
                    meta.mode() & 0o7777
                ));
            }
            let mut bytes = Vec::with_capacity(KEY_LEN);
            file.read_to_end(&mut bytes)
                .map_err(|e| format!("{shown}: {e}"))?;
            <[u8; KEY_LEN]>::try_from(bytes.as_slice()).map_err(|_| {
                format!("the cache key {shown} is not {KEY_LEN} bytes; remove it to make a new one")
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = [0u8; KEY_LEN];
            std::fs::File::open("/dev/urandom")
                .and_then(|mut f| f.read_exact(&mut key))
                .map_err(|e| format!("no random source for a cache key (/dev/urandom: {e})"))?;
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| format!("cannot create the cache key {shown}: {e}"))?;
            file.write_all(&key)
                .map_err(|e| format!("cannot write the cache key {shown}: {e}"))?;
            Ok(key)
        }
        Err(e) => Err(format!("cannot read the cache key {shown}: {e}")),
    }
}

/// Compiles a component: the error says it is not a valid component.
pub fn compile(engine: &Engine, bytes: &[u8]) -> Result<Component> {
    Component::new(engine, bytes)
        .map_err(|e| anyhow::anyhow!("{e:#}"))
        .context("not a valid WebAssembly component")
}
