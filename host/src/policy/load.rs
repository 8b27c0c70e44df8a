//! Loading a policy module: the pinned bytes, compiled or taken from the cache, refused if it
//! imports anything or speaks another vf:policy version; then described, and its settings
//! checked by the module itself, each in a fresh sandboxed store.

use std::path::Path;

use anyhow::{Context as _, Result, anyhow, bail};
use sha2::{Digest, Sha256};
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store};

use super::bindings::module::vf::policy::types::{Metadata, RuleInfo};
use super::bindings::module::{Module, ModulePre};
use super::cache::{self, Obtained};
use super::sandbox::{self, Bounds, Limits};

/// The interface a policy module must export.
pub const POLICY_EXPORT: &str = "vf:policy/policy@0.1.0";

/// A module that loaded under the sandbox rules.
pub struct Loaded {
    pub pre: ModulePre<Limits>,
    pub metadata: Metadata,
    pub obtained: Obtained,
    pub sha256: String,
    pub exports: Vec<String>,
}

/// A module configured for a run.
pub struct PolicyModule {
    /// Name in reports: the configured name, else the module's own.
    pub name: String,
    /// The team whose objects it sees; `None` for every object.
    pub team: Option<String>,
    /// Whether its patches are applied.
    pub mutate: bool,
    /// Its settings, as JSON text.
    pub settings: String,
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
        call(&self.name, &self.loaded.pre, self.bounds, f)
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
    let engine = sandbox::engine()?;
    let mut store = sandbox::store(engine, bounds);
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

/// Loads the module at `path`; `pin` is its expected SHA-256 (hex).
pub fn load(name: &str, path: &Path, pin: Option<&str>, bounds: Bounds) -> Result<Loaded> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("policy module {name}: cannot read {}", path.display()))?;
    let sha256 = format!("{:x}", Sha256::digest(&bytes));
    if let Some(pin) = pin
        && !pin.eq_ignore_ascii_case(&sha256)
    {
        bail!(
            "policy module {name}: {} has sha256 {sha256}, but the configuration pins {pin}; refusing it",
            path.display()
        );
    }
    let engine = sandbox::engine()?;
    let (component, obtained) = cache::load(engine, &bytes, cache::default_dir().as_deref())
        .with_context(|| format!("policy module {name} ({}); a core module needs `vf-post policy componentize` first", path.display()))?;
    check_imports(engine, &component).map_err(|e| anyhow!("policy module {name}: {e}"))?;
    let exports = exports(engine, &component);
    if !exports.iter().any(|e| e == POLICY_EXPORT) {
        let other = exports.iter().find(|e| e.starts_with("vf:policy/policy@"));
        bail!(match other {
            Some(found) => format!(
                "policy module {name} exports {found}; this vf-post speaks {POLICY_EXPORT} (rebuild it against wit/policy.wit)"
            ),
            None => format!(
                "policy module {name} does not export {POLICY_EXPORT} (it exports {})",
                list(&exports)
            ),
        });
    }
    let linker = Linker::<Limits>::new(engine);
    let pre = linker
        .instantiate_pre(&component)
        .and_then(ModulePre::new)
        .map_err(|e| anyhow!("policy module {name} does not fit the vf:policy world: {e:#}"))?;
    let metadata = call(name, &pre, bounds, |module, store| {
        module.vf_policy_policy().call_describe(store)
    })?;
    check_rules(&metadata).map_err(|e| anyhow!("policy module {name}: {e}"))?;
    Ok(Loaded {
        pre,
        metadata,
        obtained,
        sha256,
        exports,
    })
}

/// Checks the module's settings with the module itself.
pub fn validate_settings(module: &PolicyModule) -> Result<()> {
    module
        .call(|m, store| {
            m.vf_policy_policy()
                .call_validate_settings(store, &module.settings)
        })?
        .map_err(|e| {
            anyhow!(
                "policy module {} refuses its settings: {}",
                module.name,
                error_text(e)
            )
        })
}

/// The module's error, in words.
pub fn error_text(error: super::bindings::module::vf::policy::types::Error) -> String {
    use super::bindings::module::vf::policy::types::Error as E;
    match error {
        E::InvalidSettings(m) => format!("invalid settings: {m}"),
        E::Failed(m) => format!("failed: {m}"),
    }
}

/// Policy modules import nothing. The one exception is an instance of types only (wit-bindgen
/// imports `vf:policy/types` that way): it gives the module no function to call.
fn check_imports(engine: &Engine, component: &Component) -> Result<()> {
    let ty = component.component_type();
    for (name, item) in ty.imports(engine) {
        let types_only = match &item.ty {
            ComponentItem::ComponentInstance(instance) => instance
                .exports(engine)
                .all(|(_, export)| matches!(export.ty, ComponentItem::Type(_))),
            _ => false,
        };
        if !types_only {
            bail!("imports {name}; policy modules may import nothing (no WASI, no host functions)");
        }
    }
    Ok(())
}

fn exports(engine: &Engine, component: &Component) -> Vec<String> {
    component
        .component_type()
        .exports(engine)
        .map(|(name, _)| name.to_owned())
        .collect()
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "nothing".into()
    } else {
        names.join(", ")
    }
}

/// Rule ids are kebab-case, unique, and do not shadow a built-in rule.
fn check_rules(metadata: &Metadata) -> Result<()> {
    let mut seen = std::collections::BTreeSet::new();
    for rule in &metadata.rules {
        let kebab = !rule.id.is_empty()
            && rule
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !kebab {
            bail!("rule id {:?} is not kebab-case", rule.id);
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
