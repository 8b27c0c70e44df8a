//! Loading a policy module. Cheapest checks first, and nothing compiled that could be refused
//! without compiling: its size, its pin, then its WIT (decoded from the component's type, not
//! its code: every import and export), then compilation under a time limit (or the verified
//! cache), then `describe` and the module's own check of its settings, each in a fresh
//! sandboxed store. Every error names the module by its configured name and path, and, once
//! known, by the name it declares.

use std::path::Path;
use std::sync::mpsc;

use anyhow::{Result, anyhow, bail};
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store};
use wit_component::{DecodedWasm, WitPrinter};

use super::bindings::module::vf::policy::types::{Metadata, RuleInfo};
use super::bindings::module::{Module, ModulePre};
use super::bindings::module_with_reads::exports::vf::policy::reads::{
    GuestIndices as ReadsIndices, Step as WitStep,
};
use super::cache::{self, Obtained};
use super::sandbox::{self, Bounds, Compiler, Limits};
use vf_plugin::modules::{Parts, Reads, Step};

/// The interface a policy module must export.
pub const POLICY_EXPORT: &str = "vf:policy/policy@0.1.0";

/// The interface a policy module may export to say what it reads of each object.
pub const READS_EXPORT: &str = "vf:policy/reads@0.1.0";

/// The most paths, and fields in a path, the host takes from a module's `reads`.
const MAX_PATHS: usize = 10_000;
const MAX_PATH_FIELDS: usize = 256;

/// A module that loaded under the sandbox rules.
pub struct Loaded {
    pub pre: ModulePre<Limits>,
    /// Its `reads` export, if it has one.
    pub reads: Option<ReadsIndices>,
    pub metadata: Metadata,
    pub obtained: Obtained,
    /// The compiler that made its code.
    pub compiler: Compiler,
    pub sha256: String,
}

/// A module configured for a run.
pub struct PolicyModule {
    /// Name in reports: the configured name, else the module's own.
    pub name: String,
    /// How errors name it: its name, path and the name it declares.
    pub label: String,
    /// The team whose objects it sees; `None` for every object.
    pub team: Option<String>,
    /// Whether its patches are applied (it runs in the mutation phase).
    pub mutate: bool,
    /// Whether it judges the final documents (the validation phase). A mutating admission
    /// policy does not: it only mutates.
    pub validates: bool,
    /// Settings for a second invocation after later modules mutated the documents
    /// (Kubernetes' `reinvocationPolicy: IfNeeded`), if it asks for one.
    pub reinvoke: Option<String>,
    /// For the CEL runtime: the policies it runs (name, and how to name it), to tell which one
    /// exhausted the sandbox.
    pub policies: Vec<(String, String)>,
    /// Whether it sees Secret values.
    pub read_secrets: bool,
    /// Its settings, as JSON text.
    pub settings: String,
    /// What it reads of each object with its settings: set by [`check_settings`].
    pub reads: Reads,
    pub bounds: Bounds,
    pub loaded: Loaded,
}

impl PolicyModule {
    /// Runs `f` on a fresh instance in a fresh store; a trap, a timeout or the memory cap
    /// becomes an error naming the module.
    pub fn call<T>(
        &self,
        f: impl FnOnce(&Module, &mut Store<Limits>) -> wasmtime::Result<T>,
    ) -> Result<T> {
        call(&self.label, &self.loaded.pre, self.bounds, f)
    }

    /// The declared rule `id`.
    pub fn rule(&self, id: &str) -> Option<&RuleInfo> {
        self.loaded.metadata.rules.iter().find(|r| r.id == id)
    }
}

fn call<T>(
    name: &str,
    pre: &ModulePre<Limits>,
    bounds: Bounds,
    f: impl FnOnce(&Module, &mut Store<Limits>) -> wasmtime::Result<T>,
) -> Result<T> {
    let mut store = sandbox::store(pre.instance_pre().engine(), bounds);
    let result = pre
        .instantiate(&mut store)
        .and_then(|module| f(&module, &mut store));
    result.map_err(|e| {
        anyhow!(
            "policy module {name} {}",
            sandbox::explain(&e, &store, bounds)
        )
    })
}

/// A component's interface, read from its type without compiling it.
pub struct Wit {
    /// Every import: its name and whether it brings functions (types only are harmless).
    pub imports: Vec<(String, bool)>,
    /// Every export.
    pub exports: Vec<String>,
    /// The whole of it, as WIT text.
    pub text: String,
}

impl Wit {
    /// Reads the WIT of a component's bytes (it is decoded and validated, not compiled).
    pub fn of(bytes: &[u8]) -> Result<Wit> {
        // The binary's version field: 1 for a core module, 0x0d (layer 1) for a component.
        if bytes.get(4..8) == Some(&[1, 0, 0, 0]) {
            bail!(
                "is a core WebAssembly module, not a component; make it one with `vf-post policy componentize` first"
            );
        }
        let decoded = wit_component::decode(bytes).map_err(|e| {
            anyhow!("is not a WebAssembly component ({e:#}); a core module needs `vf-post policy componentize` first")
        })?;
        let DecodedWasm::Component(resolve, world) = &decoded else {
            bail!("is a WIT package, not a component");
        };
        let item_name = |key: &wit_parser::WorldKey| resolve.name_world_key(key);
        let world = &resolve.worlds[*world];
        let imports = world
            .imports
            .iter()
            .map(|(key, item)| {
                let functions = match item {
                    wit_parser::WorldItem::Interface { id, .. } => {
                        !resolve.interfaces[*id].functions.is_empty()
                    }
                    wit_parser::WorldItem::Function(_) => true,
                    wit_parser::WorldItem::Type { .. } => false,
                };
                (item_name(key), functions)
            })
            .collect();
        let exports = world.exports.keys().map(item_name).collect();
        let mut printer = WitPrinter::default();
        let main = decoded.package();
        let nested: Vec<_> = resolve
            .packages
            .iter()
            .map(|(id, _)| id)
            .filter(|id| *id != main)
            .collect();
        printer
            .print(resolve, main, &nested)
            .map_err(|e| anyhow!("its WIT cannot be printed: {e:#}"))?;
        Ok(Wit {
            imports,
            exports,
            text: printer.output.into(),
        })
    }

    /// Why the sandbox refuses it, if it does: functions imported (every one named), or not
    /// the vf:policy export.
    pub fn refusal(&self) -> Option<String> {
        let imported: Vec<&str> = self
            .imports
            .iter()
            .filter(|(_, functions)| *functions)
            .map(|(name, _)| name.as_str())
            .collect();
        if !imported.is_empty() {
            return Some(format!(
                "imports {}; policy modules may import nothing (no WASI, no host functions)",
                imported.join(", ")
            ));
        }
        if self.exports.iter().any(|e| e == POLICY_EXPORT) {
            return None;
        }
        Some(
            match self
                .exports
                .iter()
                .find(|e| e.starts_with("vf:policy/policy@"))
            {
                Some(found) => format!(
                    "exports {found}; this vf-post speaks {POLICY_EXPORT} (rebuild it against wit/policy.wit)"
                ),
                None => format!(
                    "does not export {POLICY_EXPORT} (it exports {})",
                    if self.exports.is_empty() {
                        "nothing".to_owned()
                    } else {
                        self.exports.join(", ")
                    }
                ),
            },
        )
    }
}

/// How errors name a loaded module: what the configuration calls it, its path, and what it
/// calls itself.
pub fn label(name: &str, path: &Path, loaded: &Loaded) -> String {
    format!(
        "{name} ({}, declared {})",
        path.display(),
        crate::report::text::clean(&loaded.metadata.name)
    )
}

/// Loads the module at `path`; `pin` is its expected SHA-256 (hex). `name` is what the
/// configuration calls it.
pub fn load(name: &str, path: &Path, pin: Option<&str>, bounds: Bounds) -> Result<Loaded> {
    let label = format!("policy module {name} ({})", path.display());
    let size = std::fs::metadata(path)
        .map_err(|e| anyhow!("{label}: cannot read it: {e}"))?
        .len();
    if size > bounds.module_bytes as u64 {
        bail!(
            "{label} is {} MiB, more than the {} MiB allowed (sandbox.maxModuleMib)",
            size.div_ceil(1 << 20),
            bounds.module_bytes >> 20
        );
    }
    let bytes = std::fs::read(path).map_err(|e| anyhow!("{label}: cannot read it: {e}"))?;
    let sha256 = format!("{:x}", Sha256::digest(&bytes));
    if let Some(pin) = pin
        && !pin.eq_ignore_ascii_case(&sha256)
    {
        bail!("{label} has sha256 {sha256}, but the configuration pins {pin}; refusing it");
    }
    let wit = Wit::of(&bytes).map_err(|e| anyhow!("{label} {e:#}"))?;
    if let Some(why) = wit.refusal() {
        bail!("{label} {why}");
    }
    let cache = cache::open_default();
    let (component, obtained, compiler) = cache::load(
        &bytes,
        cache.as_ref().map_err(String::as_str),
        bounds.compiler,
        |engine, b| compile_within(engine, b, bounds),
    )
    .map_err(|e| anyhow!("{label}: {e:#}"))?;
    let linker = Linker::<Limits>::new(component.engine());
    let pre = linker
        .instantiate_pre(&component)
        .and_then(ModulePre::new)
        .map_err(|e| anyhow!("{label} does not fit the vf:policy world: {e:#}"))?;
    let reads =
        match wit.exports.iter().any(|e| e == READS_EXPORT) {
            true => Some(ReadsIndices::new(pre.instance_pre()).map_err(|e| {
                anyhow!("{label} exports {READS_EXPORT} unlike wit/policy.wit: {e:#}")
            })?),
            false => None,
        };
    let metadata = call(
        &format!("{name} ({})", path.display()),
        &pre,
        bounds,
        |module, store| module.vf_policy_policy().call_describe(store),
    )?;
    check_rules(&metadata)
        .map_err(|e| anyhow!("{label}, which declares itself {}: {e}", metadata.name))?;
    Ok(Loaded {
        pre,
        reads,
        metadata,
        obtained,
        compiler,
        sha256,
    })
}

/// Compiles on a thread of its own, waiting at most the compile-time limit. A compilation
/// that overruns is left behind: the run ends with the error.
fn compile_within(engine: &Engine, bytes: &[u8], bounds: Bounds) -> Result<Component> {
    let (done, result) = mpsc::channel();
    let (engine, bytes) = (engine.clone(), bytes.to_vec());
    std::thread::Builder::new()
        .name("vf-post-compile".into())
        .spawn(move || {
            let _ = done.send(cache::compile(&engine, &bytes));
        })?;
    result
        .recv_timeout(bounds.compile_timeout)
        .unwrap_or_else(|_| {
            Err(anyhow::Error::new(cache::TimedOut(format!(
                "took longer than {} s to compile (sandbox.compileTimeoutMs)",
                bounds.compile_timeout.as_secs_f64()
            ))))
        })
}

/// [`check_settings`] for vf-post's own runtimes, whose settings are policy files: a refusal
/// reads as what is wrong with the files.
pub fn check_policy_files(module: PolicyModule) -> Result<PolicyModule> {
    check_settings(module).map_err(|e| {
        anyhow!(
            "{}",
            e.to_string()
                .replace("refuses its settings: invalid settings: ", "cannot load ")
        )
    })
}

/// Checks the module's settings with the module itself, and learns what it reads of each
/// object with them.
pub fn check_settings(mut module: PolicyModule) -> Result<PolicyModule> {
    let refused = |e| {
        anyhow!(
            "policy module {} refuses its settings: {}",
            module.label,
            error_text(e)
        )
    };
    module
        .call(|m, store| {
            m.vf_policy_policy()
                .call_validate_settings(store, &module.settings)
        })?
        .map_err(refused)?;
    module.reads = match (&module.loaded.reads, module.loaded.metadata.needs_object) {
        (_, false) => Reads::Identity,
        (None, true) => Reads::Whole,
        (Some(indices), true) => {
            let pre = module.loaded.pre.instance_pre();
            let mut store = sandbox::store(pre.engine(), module.bounds);
            let parts = module
                .loaded
                .pre
                .instance_pre()
                .instantiate(&mut store)
                .and_then(|instance| indices.load(&mut store, &instance))
                .and_then(|reads| reads.call_reads(&mut store, &module.settings))
                .map_err(|e| {
                    anyhow!(
                        "policy module {} {}",
                        module.label,
                        sandbox::explain(&e, &store, module.bounds)
                    )
                })?
                .map_err(refused)?;
            match parts {
                None => Reads::Whole,
                Some(p) => Reads::Parts(
                    checked_parts(p.paths, p.whole_kinds)
                        .map_err(|e| anyhow!("policy module {} {e}", module.label))?,
                ),
            }
        }
    };
    Ok(module)
}

/// A module's `reads`, within the host's bounds.
fn checked_parts(paths: Vec<Vec<WitStep>>, whole_kinds: Vec<String>) -> Result<Parts> {
    if paths.len() > MAX_PATHS {
        bail!(
            "reads {} paths of each object, more than the {MAX_PATHS} allowed",
            paths.len()
        );
    }
    if let Some(long) = paths.iter().find(|p| p.len() > MAX_PATH_FIELDS) {
        bail!(
            "reads a path of {} fields, more than the {MAX_PATH_FIELDS} allowed",
            long.len()
        );
    }
    if whole_kinds.len() > MAX_PATHS {
        bail!(
            "reads {} kinds whole, more than the {MAX_PATHS} allowed",
            whole_kinds.len()
        );
    }
    let paths = paths
        .into_iter()
        .map(|path| {
            path.into_iter()
                .map(|step| match step {
                    WitStep::Field(name) => Step::Field(name),
                    WitStep::Items => Step::Items,
                })
                .collect()
        })
        .collect();
    Ok(Parts { paths, whole_kinds })
}

/// The module's error, in words.
pub fn error_text(error: super::bindings::module::vf::policy::types::Error) -> String {
    use super::bindings::module::vf::policy::types::Error as E;
    match error {
        E::InvalidSettings(m) => format!("invalid settings: {m}"),
        E::Failed(m) => format!("failed: {m}"),
    }
}

/// Rule ids are kebab-case, at most 64 characters, unique, and do not shadow a built-in rule.
fn check_rules(metadata: &Metadata) -> Result<()> {
    let mut seen = std::collections::BTreeSet::new();
    for rule in &metadata.rules {
        let kebab = !rule.id.is_empty()
            && rule.id.len() <= 64
            && rule
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !kebab {
            bail!(
                "rule id {:?} is not kebab-case of at most 64 characters",
                rule.id
            );
        }
        if vf_plugin::rules::catalog::find(&rule.id).is_some() {
            bail!("rule id {} is a built-in rule's", rule.id);
        }
        if !seen.insert(rule.id.as_str()) {
            bail!("rule id {} is declared twice", rule.id);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A module saying it reads more paths, or longer ones, than the host takes is refused
    /// with the number; `items` steps come through.
    #[test]
    fn what_a_module_reads_is_bounded() {
        let path = |n: usize| vec![WitStep::Field("a".into()); n];
        let err = checked_parts(vec![path(1); MAX_PATHS + 1], Vec::new()).unwrap_err();
        assert!(err.to_string().contains("10001 paths"), "{err}");
        let err = checked_parts(vec![path(MAX_PATH_FIELDS + 1)], Vec::new()).unwrap_err();
        assert!(err.to_string().contains("257 fields"), "{err}");
        let err = checked_parts(Vec::new(), vec![String::new(); MAX_PATHS + 1]).unwrap_err();
        assert!(err.to_string().contains("kinds whole"), "{err}");
        let ok = checked_parts(
            vec![vec![WitStep::Field("spec".into()), WitStep::Items]],
            vec!["Namespace".into()],
        )
        .unwrap();
        assert_eq!(ok.paths, [vec![Step::Field("spec".into()), Step::Items]]);
    }
}
