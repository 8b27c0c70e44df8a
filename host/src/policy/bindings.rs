//! The only `bindgen!` calls: the policy module worlds and the engine component world, and
//! the conversions between their records and vf-post's own types.

/// A policy module: `vf:policy@0.1.0`, world `module`.
pub mod module {
    wasmtime::component::bindgen!({ path: "../wit/policy.wit", world: "module" });
}

/// What a policy module may export besides: `vf:policy/reads@0.1.0`, world
/// `module-with-reads`, sharing the `module` world's types.
pub mod module_with_reads {
    wasmtime::component::bindgen!({
        path: "../wit/policy.wit",
        world: "module-with-reads",
        with: { "vf:policy/types": super::module::vf::policy::types },
    });
}

/// The engine as a component: `vf:engine@0.1.0`, world `engine-component`. The documents it
/// gives are the `module` world's, so they go to modules as they are.
pub mod engine {
    wasmtime::component::bindgen!({
        path: ["../wit/policy.wit", "../wit/engine"],
        world: "vf:engine/engine-component",
        with: { "vf:policy/types": super::module::vf::policy::types },
    });
}

use module::vf::policy::types::{Document, Severity as WitSeverity};
use vf_plugin::Severity;
use vf_plugin::modules::DocView;

impl From<WitSeverity> for Severity {
    fn from(s: WitSeverity) -> Severity {
        match s {
            WitSeverity::Info => Severity::Info,
            WitSeverity::Warning => Severity::Warning,
            WitSeverity::Error => Severity::Error,
        }
    }
}

/// A document as the module's list gives it: `index` is its position in that list.
pub fn document(position: u32, view: DocView) -> Document {
    Document {
        index: position,
        source: view.source,
        api_version: view.api_version,
        kind: view.kind,
        name: view.name,
        namespace: view.namespace,
        labels: view.labels,
        annotations: view.annotations,
        object: view.object,
    }
}
