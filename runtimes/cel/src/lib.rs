//! vf-post's CEL runtime: Kubernetes ValidatingAdmissionPolicies and
//! MutatingAdmissionPolicies, with their bindings and parameters, evaluated offline against
//! a release. It is a policy component like any other (wit/policy.wit): the host runs it in
//! the sandbox, which bounds its memory and time; CEL's own cost budget bounds each
//! expression (third_party/cel/src/budget.rs).
//!
//! bytes (settings, documents) → policies (policy.rs, expression.rs) → matching (matching.rs)
//! → evaluation (evaluate.rs; jsonpatch.rs, smd.rs) → findings and patches (the
//! patch of a mutation by vf-jsondiff, the diff vf-post's engine uses too).
//! reads.rs tells the host which parts of the objects the policies read.

pub mod api;
pub mod depth;
pub mod evaluate;
pub mod expression;
pub mod jsonpatch;
pub mod matching;
pub mod policy;
pub mod reads;
pub mod settings;
pub mod smd;
pub mod value;

use kube_cel::KubeCelExt as _;
use kube_cel::cel::Context;

pub use evaluate::Doc;
pub use policy::{PolicySet, Severity};
pub use settings::Settings;

/// The functions of Kubernetes' CEL environment: CEL's standard ones and Kubernetes'
/// libraries.
pub fn functions() -> Context<'static> {
    let mut ctx = Context::default();
    ctx.register_all();
    // `dyn(x)` only tells cel-go's type checker to stop checking; its value is `x`.
    ctx.add_function("dyn", dyn_value);
    // Kubernetes' libraries replace `string` (for IPs and CIDRs) with one that writes a
    // double as Rust does (`0.00001`); cel-go writes Go's `%g` (`1e-05`), as CEL's own does.
    ctx.wrap_function("string", |kubernetes| {
        Box::new(move |ftx: &mut kube_cel::cel::FunctionContext| {
            let target = match (&ftx.this, ftx.args) {
                (Some(this), _) => this.clone(),
                (None, [only]) => ftx.resolve(only.clone())?,
                _ => return kubernetes(ftx),
            };
            let mut call =
                kube_cel::cel::FunctionContext::new(ftx.name, Some(target), ftx.ptx, &[]);
            if matches!(call.this, Some(kube_cel::cel::Value::Float(_))) {
                let target = call.this.clone().expect("just set");
                return kube_cel::cel::functions::string(
                    &call,
                    kube_cel::cel::extractors::This(target),
                );
            }
            kubernetes(&mut call)
        })
    });
    ctx
}

/// `dyn(x)`: `x`.
fn dyn_value(
    _: &kube_cel::cel::FunctionContext,
    value: kube_cel::cel::Value,
) -> kube_cel::cel::ResolveResult {
    Ok(value)
}

/// Reads settings JSON and compiles its policies.
pub fn load(settings: &str, functions: &Context<'_>) -> Result<(Settings, PolicySet), String> {
    let mut settings: Settings = from_host_json(settings).map_err(|e| format!("settings: {e}"))?;
    if let Some(only) = settings.only.clone() {
        // The host isolates policies: compile them, their bindings and the parameters alone.
        settings
            .sources
            .retain(|s| only.iter().any(|name| policy::concerns(&s.object, name)));
    }
    let set = PolicySet::compile(&settings.sources, functions)?;
    Ok((settings, set))
}

/// Reads JSON the host wrote. The host reads objects 200 levels deep at most (as Go's YAML
/// reader of Kubernetes would read them deeper, refusing is the host's call, not this
/// parser's default of 128).
pub fn from_host_json<T: serde::de::DeserializeOwned>(json: &str) -> serde_json::Result<T> {
    let mut de = serde_json::Deserializer::from_str(json);
    de.disable_recursion_limit();
    let value = T::deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

#[cfg(target_arch = "wasm32")]
mod component;
