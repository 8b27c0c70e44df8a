//! Per-team policies: WebAssembly components run in the sandbox, and Kubernetes admission
//! policies in CEL run by vf-post's own CEL component in the same sandbox (cel.rs), and Rego
//! policies (conftest, Gatekeeper) by its Rego component (rego.rs).

pub mod bindings;
pub mod cache;
pub mod cel;
pub mod componentize;
pub mod evaluate;
pub mod files;
pub mod gatekeeper_cel;
pub mod inspect;
pub mod load;
pub mod rego;
pub mod sandbox;

/// A component vf-post ships (the engine, the CEL and Rego runtimes), by file name: beside
/// the vf-post binary, where scripts/build-wasm and scripts/install put it. Never from the
/// environment: a component chosen there would judge every release in vf-post's name.
pub fn shipped_component(file: &str) -> anyhow::Result<std::path::PathBuf> {
    use anyhow::Context as _;
    let exe = std::env::current_exe().context("cannot locate the vf-post binary")?;
    let path = exe.with_file_name(file);
    anyhow::ensure!(
        path.is_file(),
        "{} is missing: scripts/build-wasm builds it beside vf-post, scripts/install installs it",
        path.display()
    );
    Ok(path)
}

/// The sandbox bounds the configuration asks for.
pub fn bounds(sandbox: &vf_plugin::config::Sandbox) -> sandbox::Bounds {
    let mib = |n: u64| usize::try_from(n.saturating_mul(1024 * 1024)).unwrap_or(usize::MAX);
    sandbox::Bounds {
        timeout: Some(std::time::Duration::from_millis(sandbox.timeout_ms)),
        memory_bytes: mib(sandbox.memory_mib),
        module_bytes: mib(sandbox.max_module_mib),
        compile_timeout: std::time::Duration::from_millis(sandbox.compile_timeout_ms),
        compiler: sandbox.compiler,
        max_findings: sandbox.max_findings,
        max_patches: sandbox.max_patch_operations,
    }
}

/// Loads the configured modules: every-object modules first, then each team's, in the
/// order given, then the admission policies'; paths are relative to `base` (the
/// configuration file's directory).
pub fn modules(
    config: &vf_plugin::Config,
    base: &std::path::Path,
) -> anyhow::Result<Vec<load::PolicyModule>> {
    let bounds = bounds(&config.sandbox);
    let wanted = config.modules.iter().map(|m| (None, m)).chain(
        config
            .teams
            .iter()
            .flat_map(|t| t.modules.iter().map(move |m| (Some(t.name.clone()), m))),
    );
    let mut loaded = Vec::new();
    for (team, module) in wanted {
        let path = base.join(&module.path);
        let name = module.name.clone().unwrap_or_else(|| {
            path.file_stem()
                .map_or_else(|| module.path.clone(), |s| s.to_string_lossy().into_owned())
        });
        let settings = match &module.settings {
            serde_json::Value::Null => "{}".to_owned(),
            other => other.to_string(),
        };
        let module_loaded = load::load(&name, &path, Some(&module.sha256), bounds)?;
        let policy = load::PolicyModule {
            label: load::label(&name, &path, &module_loaded),
            loaded: module_loaded,
            name,
            team,
            mutate: module.mutate,
            validates: true,
            reinvoke: None,
            policies: Vec::new(),
            read_secrets: module.read_secrets,
            settings,
            reads: vf_plugin::modules::Reads::Whole,
            bounds,
        };
        loaded.push(load::check_settings(policy)?);
    }
    // Each policy file is read once, for both runtimes.
    let scopes = files::read_scopes(config, base)?;
    loaded.extend(cel::modules(config, &scopes, bounds)?);
    loaded.extend(rego::modules(config, &scopes, bounds)?);
    unique_rules(&loaded)?;
    Ok(loaded)
}

/// A rule id names one rule: exemptions, severities and reports could not tell two apart.
/// The same module configured twice (for two teams, or with other settings) declares the same
/// rules, which is fine; two admission policies of one name are not.
fn unique_rules(modules: &[load::PolicyModule]) -> anyhow::Result<()> {
    let mut owner: std::collections::BTreeMap<&str, &load::PolicyModule> = Default::default();
    for module in modules {
        for rule in &module.loaded.metadata.rules {
            match owner.insert(rule.id.as_str(), module) {
                // Admission policies are rules of their own, whichever module runs them.
                Some(other)
                    if other.loaded.sha256 != module.loaded.sha256
                        || !module.policies.is_empty() =>
                {
                    anyhow::bail!(
                        "policy modules {} and {} both declare rule {}; rule ids must be unique (prefix them, e.g. `payments-{}`)",
                        other.name,
                        module.name,
                        rule.id,
                        rule.id
                    )
                }
                _ => {}
            }
        }
    }
    Ok(())
}
