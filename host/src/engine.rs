//! The engine behind one run: compiled into vf-post, or the same engine as a WebAssembly
//! component in the sandbox (`--engine wasm`). Policy modules and reports work with either
//! through [`OpenRelease`].

use anyhow::Result;
use vf_plugin::changes::Change;
use vf_plugin::modules::{DocView, ModuleHit, ModulePatch, Reads};
use vf_plugin::transform::Applied;
use vf_plugin::{Changes, Config, Objects};

use crate::cli::EngineChoice;

/// What a run reports.
pub struct RunRecord {
    pub objects: usize,
    pub applied: Vec<Applied>,
    pub findings: Vec<vf_plugin::Finding>,
    /// Each step's patch of each object, when tracked.
    pub changes: Option<Vec<Change>>,
}

/// A release between reading and writing, in admission order: mutations, then validation.
pub trait OpenRelease {
    /// Documents a policy module sees.
    fn views(
        &mut self,
        kinds: &[String],
        team: Option<&str>,
        reads: &Reads,
        with_secrets: bool,
    ) -> Result<Vec<DocView>>;
    /// Applies a mutating module's patches.
    fn mutate(&mut self, origin: &str, patches: &[ModulePatch]) -> Result<()>;
    /// Checks and reports a module's patches without applying them.
    fn propose(&mut self, origin: &str, patches: &[ModulePatch], why: &str) -> Result<()>;
    /// After the last mutation: derived values and the built-in rules on the final documents.
    fn validate(&mut self) -> Result<()>;
    /// Adds a module's findings.
    fn settle(&mut self, origin: &str, hits: Vec<ModuleHit>) -> Result<()>;
    /// Objects, changes and findings so far.
    fn record(&mut self) -> Result<RunRecord>;
    /// Writes the post-rendered stream.
    fn finish(self: Box<Self>) -> Result<Vec<u8>>;
}

/// Reads, transforms and checks `input` with the chosen engine. `objects`: what policy modules
/// read as whole objects; `module_rules`: the rule ids they declare; `changes`: whether
/// each step's patches are kept for the report.
pub fn open(
    input: Vec<u8>,
    config: &Config,
    engine: EngineChoice,
    objects: &Objects,
    module_rules: &[String],
    changes: Changes,
) -> Result<Box<dyn OpenRelease>> {
    Ok(match engine {
        EngineChoice::Native => Box::new(vf_plugin::prepare(
            input,
            config,
            objects,
            module_rules,
            changes,
        )?),
        EngineChoice::Wasm => Box::new(wasm::WasmRelease::open(
            input,
            config,
            objects,
            module_rules,
            changes,
        )?),
    })
}

impl OpenRelease for vf_plugin::Release {
    fn views(
        &mut self,
        kinds: &[String],
        team: Option<&str>,
        reads: &Reads,
        with_secrets: bool,
    ) -> Result<Vec<DocView>> {
        Ok(vf_plugin::Release::views(
            self,
            kinds,
            team,
            reads,
            with_secrets,
        ))
    }

    fn mutate(&mut self, origin: &str, patches: &[ModulePatch]) -> Result<()> {
        Ok(vf_plugin::Release::mutate(self, origin, patches)?)
    }

    fn propose(&mut self, origin: &str, patches: &[ModulePatch], why: &str) -> Result<()> {
        Ok(vf_plugin::Release::propose(self, origin, patches, why)?)
    }

    fn validate(&mut self) -> Result<()> {
        Ok(vf_plugin::Release::validate(self)?)
    }

    fn settle(&mut self, origin: &str, hits: Vec<ModuleHit>) -> Result<()> {
        Ok(vf_plugin::Release::settle(self, origin, hits)?)
    }

    fn record(&mut self) -> Result<RunRecord> {
        Ok(RunRecord {
            objects: self.objects(),
            applied: self.applied.clone(),
            findings: self.findings.clone(),
            changes: self.changes(),
        })
    }

    fn finish(self: Box<Self>) -> Result<Vec<u8>> {
        Ok(self.stream.into_output())
    }
}

mod wasm {
    //! The engine component: each call crosses the sandbox as the records of wit/engine,
    //! converted here to and from the engine's own types.

    use anyhow::{Context as _, Result, anyhow};
    use vf_plugin::changes::Change;
    use vf_plugin::finding::{ExceptionRef, Exemption, Finding, IntroducedBy, ObjectRef, WaivedBy};
    use vf_plugin::modules::{Parts, Step};
    use vf_plugin::move_fields;
    use vf_plugin::transform::Applied;
    use wasmtime::Store;
    use wasmtime::component::{Linker, ResourceAny};

    use super::{DocView, ModuleHit, ModulePatch, Reads, RunRecord};
    use crate::policy::bindings::engine::EngineComponent;
    use crate::policy::bindings::engine::exports::vf::engine::engine as wit;
    use crate::policy::bindings::engine::vf::policy::reads::{Parts as WitParts, Step as WitStep};
    use crate::policy::bindings::module::vf::policy::types::{Document, Severity};
    use crate::policy::cache;
    use crate::policy::sandbox::{self, Bounds, Limits};
    use crate::timings::phase;

    /// Our own engine is trusted with time, not with memory beyond what wasm32 can address.
    const BOUNDS: Bounds = Bounds {
        timeout: None,
        memory_bytes: 4 << 30,
        module_bytes: 64 << 20,
        compile_timeout: std::time::Duration::from_secs(600),
        compiler: cache::Choice::Cranelift,
        max_findings: usize::MAX,
        max_patches: usize::MAX,
    };

    pub struct WasmRelease {
        store: Store<Limits>,
        instance: EngineComponent,
        release: ResourceAny,
    }

    fn refused(error: wit::Error) -> anyhow::Error {
        match error {
            wit::Error::Refused(message) => anyhow!(message),
        }
    }

    impl WasmRelease {
        pub fn open(
            input: Vec<u8>,
            config: &vf_plugin::Config,
            objects: &vf_plugin::Objects,
            module_rules: &[String],
            changes: vf_plugin::Changes,
        ) -> Result<Self> {
            let path = crate::policy::shipped_component("vf-post-engine.wasm")?;
            let bytes =
                std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            let engine = sandbox::engine()?;
            let (component, ..) = phase("engine component: load", || {
                cache::load(
                    &bytes,
                    cache::open_default().as_ref().map_err(String::as_str),
                    cache::Choice::Cranelift,
                    cache::compile,
                )
            })
            .with_context(|| format!("the engine component {}", path.display()))?;
            let mut store = sandbox::store(engine, BOUNDS);
            let instance = phase("engine component: instantiate", || {
                EngineComponent::instantiate(&mut store, &component, &Linker::new(engine))
            })
            .map_err(|e| anyhow!("cannot start the engine component: {e:#}"))?;
            // The configuration crosses as JSON: the host has read and checked it already.
            let config = serde_json::to_string(config)?;
            let objects = match objects {
                vf_plugin::Objects::None => wit::Objects::None,
                vf_plugin::Objects::All => wit::Objects::All,
                vf_plugin::Objects::Kinds(kinds) => wit::Objects::Kinds(kinds.clone()),
            };
            let release = instance
                .vf_engine_engine()
                .release()
                .call_open(
                    &mut store,
                    &input,
                    &config,
                    &objects,
                    module_rules,
                    changes == vf_plugin::Changes::Tracked,
                )
                .map_err(|e| {
                    anyhow!(
                        "the engine component {}",
                        sandbox::explain(&e, &store, BOUNDS)
                    )
                })?
                .map_err(refused)?;
            Ok(WasmRelease {
                store,
                instance,
                release,
            })
        }

        fn guest<T>(
            &mut self,
            f: impl FnOnce(&EngineComponent, &mut Store<Limits>, ResourceAny) -> wasmtime::Result<T>,
        ) -> Result<T> {
            f(&self.instance, &mut self.store, self.release).map_err(|e| {
                anyhow!(
                    "the engine component {}",
                    sandbox::explain(&e, &self.store, BOUNDS)
                )
            })
        }
    }

    impl super::OpenRelease for WasmRelease {
        fn views(
            &mut self,
            kinds: &[String],
            team: Option<&str>,
            reads: &Reads,
            with_secrets: bool,
        ) -> Result<Vec<DocView>> {
            let reads = match reads {
                Reads::Identity => wit::Reads::Identity,
                Reads::Whole => wit::Reads::Whole,
                Reads::Parts(Parts { paths, whole_kinds }) => wit::Reads::Parts(WitParts {
                    paths: paths
                        .iter()
                        .map(|path| path.iter().map(step).collect())
                        .collect(),
                    whole_kinds: whole_kinds.clone(),
                }),
            };
            let documents = self.guest(|i, s, r| {
                i.vf_engine_engine().release().call_documents(
                    s,
                    r,
                    kinds,
                    team,
                    &reads,
                    with_secrets,
                )
            })?;
            Ok(documents.into_iter().map(view).collect())
        }

        fn mutate(&mut self, origin: &str, patches: &[ModulePatch]) -> Result<()> {
            let patches: Vec<wit::ModulePatch> = patches.iter().cloned().map(patch).collect();
            self.guest(|i, s, r| {
                i.vf_engine_engine()
                    .release()
                    .call_mutate(s, r, origin, &patches)
            })?
            .map_err(refused)
        }

        fn propose(&mut self, origin: &str, patches: &[ModulePatch], why: &str) -> Result<()> {
            let patches: Vec<wit::ModulePatch> = patches.iter().cloned().map(patch).collect();
            self.guest(|i, s, r| {
                i.vf_engine_engine()
                    .release()
                    .call_propose(s, r, origin, &patches, why)
            })?
            .map_err(refused)
        }

        fn validate(&mut self) -> Result<()> {
            self.guest(|i, s, r| i.vf_engine_engine().release().call_validate(s, r))?
                .map_err(refused)
        }

        fn settle(&mut self, origin: &str, hits: Vec<ModuleHit>) -> Result<()> {
            let hits: Vec<wit::ModuleHit> = hits.into_iter().map(hit).collect();
            self.guest(|i, s, r| {
                i.vf_engine_engine()
                    .release()
                    .call_settle(s, r, origin, &hits)
            })?
            .map_err(refused)
        }

        fn record(&mut self) -> Result<RunRecord> {
            let report = self.guest(|i, s, r| i.vf_engine_engine().release().call_report(s, r))?;
            Ok(RunRecord {
                objects: report.objects as usize,
                applied: report.applied.into_iter().map(applied).collect(),
                findings: report
                    .findings
                    .into_iter()
                    .map(finding)
                    .collect::<Result<_>>()?,
                changes: report
                    .changes
                    .map(|changes| changes.into_iter().map(change).collect::<Result<_>>())
                    .transpose()?,
            })
        }

        fn finish(mut self: Box<Self>) -> Result<Vec<u8>> {
            self.guest(|i, s, r| i.vf_engine_engine().release().call_finish(s, r))
        }
    }

    fn step(step: &Step) -> WitStep {
        match step {
            Step::Field(name) => WitStep::Field(name.clone()),
            Step::Items => WitStep::Items,
        }
    }

    fn view(document: Document) -> DocView {
        move_fields!(document, Document => DocView {
            index, source, api_version, kind, name, namespace, labels, annotations, object,
        })
    }

    fn patch(patch: ModulePatch) -> wit::ModulePatch {
        move_fields!(patch, ModulePatch => wit::ModulePatch { document, operations, policy })
    }

    fn hit(hit: ModuleHit) -> wit::ModuleHit {
        move_fields!(hit, ModuleHit => wit::ModuleHit {
            rule,
            severity: match severity {
                vf_plugin::Severity::Info => Severity::Info,
                vf_plugin::Severity::Warning => Severity::Warning,
                vf_plugin::Severity::Error => Severity::Error,
            },
            message, hint, document, container, path,
        })
    }

    fn object_ref(object: wit::ObjectRef) -> ObjectRef {
        move_fields!(object, wit::ObjectRef => ObjectRef {
            kind, name, namespace, source, document: document as usize,
        })
    }

    /// A JSON array of RFC 6902 operations, as the engine wrote it.
    fn parse_operations(json: &str) -> Result<Vec<serde_json::Value>> {
        serde_json::from_str(json)
            .context("the engine component gave operations that are not a JSON array")
    }

    fn finding(finding: wit::Finding) -> Result<Finding> {
        let introduced = |by: Vec<wit::IntroducedBy>| -> Result<Vec<IntroducedBy>> {
            by.into_iter()
                .map(|by| {
                    Ok(move_fields!(by, wit::IntroducedBy => IntroducedBy {
                        module, operations: parse_operations(&operations)?,
                    }))
                })
                .collect()
        };
        Ok(move_fields!(finding, wit::Finding => Finding {
            rule,
            severity: severity.into(),
            message,
            hint,
            object: object.map(object_ref),
            container,
            path,
            origin,
            exempted: exempted.map(|exempted| move_fields!(exempted, wit::Exemption => Exemption {
                by: match by {
                    wit::WaivedBy::Annotation(key) => WaivedBy::Annotation(key),
                    wit::WaivedBy::Exception(exception) => WaivedBy::Exception(move_fields!(
                        exception, wit::ExceptionRef => ExceptionRef {
                            index: index as usize, owner, expires,
                        }
                    )),
                },
                reason,
            })),
            introduced_by: introduced(introduced_by)?,
        }))
    }

    fn applied(applied: wit::Applied) -> Applied {
        move_fields!(applied, wit::Applied => Applied { pass, object, source, change })
    }

    fn change(change: wit::Change) -> Result<Change> {
        Ok(move_fields!(change, wit::Change => Change {
            object: object_ref(object), by, patch: parse_operations(&patch)?, masked,
        }))
    }
}
