//! What the host hands the runtime with every call (JSON): the phase, the policy files'
//! objects, how the admission request looks, and the cost budgets.

use serde::Deserialize;
use serde_json::Value as Json;
pub use vf_kube::Admission;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Settings {
    pub phase: Phase,
    /// Every object of the policy files, in order: policies, bindings and parameters.
    pub sources: Vec<Source>,
    #[serde(default)]
    pub admission: Admission,
    #[serde(default)]
    pub cost: Cost,
    /// Evaluate these policies only (the host finds which policy exhausted the sandbox).
    #[serde(default)]
    pub only: Option<Vec<String>>,
}

/// Which part of admission the call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// ValidatingAdmissionPolicies judge the final objects.
    Validate,
    /// MutatingAdmissionPolicies change the objects.
    Mutate,
    /// Once more, the MutatingAdmissionPolicies with `reinvocationPolicy: IfNeeded`, after
    /// later mutations changed the objects.
    Reinvoke,
}

/// One object of a policy file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// The file, for messages.
    pub file: String,
    pub object: Json,
}

/// Cost budgets in the units of `cel::budget`, as Kubernetes bounds CEL: per expression, and
/// per policy evaluation of one object.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Cost {
    pub per_expression: u64,
    pub per_evaluation: u64,
}

impl Default for Cost {
    /// Kubernetes' `PerCallLimit` and `RuntimeCELCostBudget`.
    fn default() -> Self {
        Cost {
            per_expression: 1_000_000,
            per_evaluation: 10_000_000,
        }
    }
}
