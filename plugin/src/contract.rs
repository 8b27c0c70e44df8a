//! The chart's contract with vf-post: a `PostRenderContract` document that says which
//! workloads are Dapr apps, their ids, ports and health paths, which is the gateway, which
//! are backends, and the registry's pull secret. vf-post reads it and removes it from the
//! output; installed without vf-post, the unknown kind makes Helm fail before anything is
//! created. Schema and rationale: docs/contract.md.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::document::Document;
use crate::document::Meta;
use crate::error::{At, Error, Result};
use crate::stream::Stream;

/// `apiVersion` of the contract document.
pub const API_VERSION: &str = "vf-post.virtufin.io/v1alpha1";
/// `kind` of the contract document.
pub const KIND: &str = "PostRenderContract";

/// Whether a scanned document is the contract.
pub fn is_contract(meta: &Meta) -> bool {
    meta.kind == KIND && meta.api_version.starts_with("vf-post.virtufin.io/")
}

/// The contract's `spec`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Contract {
    /// The private registry and the secrets pods pull from it with.
    pub registry: Option<Registry>,
    /// Sidecar settings shared by every Dapr app.
    #[serde(default)]
    pub dapr: DaprDefaults,
    /// The generated services.json ConfigMap.
    pub services_json: Option<ServicesJson>,
    /// The platform's services.
    #[serde(default)]
    pub apps: Vec<App>,
    /// Namespace of the contract document (the release namespace), not part of `spec`.
    #[serde(skip)]
    pub namespace: Option<String>,
    /// Template the contract came from; generated documents are named after it.
    #[serde(skip)]
    pub source: Option<String>,
    /// Labels of the contract document, given to generated documents.
    #[serde(skip)]
    pub labels: serde_json::Map<String, serde_json::Value>,
    /// Where the contract document is, for messages.
    #[serde(skip)]
    pub at: At,
}

impl Contract {
    /// An error about the contract, pointing at its document.
    pub fn error(&self, message: &str) -> Error {
        Error::Contract {
            at: self.at.clone(),
            message: message.to_owned(),
        }
    }
}

/// A private registry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Registry {
    /// Registry host, as it appears at the start of image references.
    pub host: String,
    /// Secrets to list in `imagePullSecrets` of pods pulling from `host`.
    pub pull_secrets: Vec<String>,
}

/// Sidecar settings for every Dapr app.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DaprDefaults {
    /// Name of the Dapr Configuration the apps use (`dapr.io/config`).
    pub config: Option<String>,
    /// `dapr.io/log-level`.
    pub log_level: Option<String>,
    /// `dapr.io/enable-api-logging`.
    pub enable_api_logging: Option<bool>,
    /// `dapr.io/enable-metrics` and `dapr.io/metrics-port`.
    pub metrics: Option<Metrics>,
    /// The app health check Dapr runs.
    pub app_health: Option<AppHealth>,
    /// `dapr.io/sidecar-{cpu,memory}-{request,limit}`.
    pub sidecar_resources: Option<SidecarResources>,
    /// More `dapr.io/` annotations for every Dapr app, as they are.
    #[serde(default, deserialize_with = "null_is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// Sidecar metrics.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Metrics {
    /// Whether metrics are recorded.
    pub enabled: bool,
    /// Exporter port.
    pub port: Option<u16>,
}

/// Dapr's app health check timings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AppHealth {
    /// Seconds between checks.
    pub probe_interval_seconds: u32,
    /// Milliseconds one check may take; must stay below the interval.
    pub probe_timeout_milliseconds: u32,
    /// Failures before the app is unhealthy.
    pub threshold: u32,
}

/// Sidecar resource quantities.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SidecarResources {
    /// `dapr.io/sidecar-cpu-request`.
    pub cpu_request: Option<Quantity>,
    /// `dapr.io/sidecar-memory-request`.
    pub memory_request: Option<Quantity>,
    /// `dapr.io/sidecar-cpu-limit`.
    pub cpu_limit: Option<Quantity>,
    /// `dapr.io/sidecar-memory-limit`.
    pub memory_limit: Option<Quantity>,
}

/// A Kubernetes quantity, written as a number or a string in YAML.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Quantity {
    /// `"500m"`, `"128Mi"`.
    Text(String),
    /// `1`, `0.5`.
    Number(serde_json::Number),
}

impl std::fmt::Display for Quantity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Quantity::Text(s) => f.write_str(s),
            Quantity::Number(n) => write!(f, "{n}"),
        }
    }
}

/// The generated services.json ConfigMap.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ServicesJson {
    /// ConfigMap name.
    pub config_map: String,
    /// Data key holding the file.
    pub key: String,
    /// Cluster DNS domain for gRPC hosts.
    pub cluster_domain: String,
    /// Pub/sub Component name listed for every backend.
    pub pubsub: String,
    /// State store Component name listed for every backend.
    pub state_store: String,
}

/// What an app is to the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Role {
    /// Reads services.json.
    Gateway,
    /// Listed in services.json.
    Backend,
    /// Neither.
    Service,
}

/// One service of the platform.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct App {
    /// Service name (its key in the chart's values), as services.json lists it.
    pub name: String,
    /// Gateway, backend or neither.
    pub role: Role,
    /// The workload running it.
    pub workload: WorkloadRef,
    /// The app container's name.
    pub container: String,
    /// The Service exposing it.
    pub service: String,
    /// HTTP and gRPC ports.
    pub ports: Ports,
    /// Health endpoints.
    pub health: Health,
    /// Probe timings.
    #[serde(default)]
    pub probes: Probes,
    /// Dapr sidecar.
    pub dapr: AppDapr,
    /// Where the gateway reads services.json (gateways only).
    pub services_json_path: Option<String>,
}

/// A workload by kind and name.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadRef {
    /// `Deployment`, `StatefulSet` or `DaemonSet`.
    pub kind: String,
    /// `metadata.name`.
    pub name: String,
}

/// An app's ports.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ports {
    /// REST and health.
    pub http: u16,
    /// gRPC (h2c).
    pub grpc: u16,
}

/// Health endpoints on the HTTP port.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// Liveness probe path.
    pub liveness: String,
    /// Readiness probe path: fails while the app starts or recovers.
    pub readiness: String,
    /// Path Dapr's app health check calls.
    pub dapr: String,
}

/// Probe timings; absent probes are not added.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Probes {
    /// Liveness timings.
    pub liveness: Option<serde_json::Map<String, serde_json::Value>>,
    /// Readiness timings.
    pub readiness: Option<serde_json::Map<String, serde_json::Value>>,
    /// Startup timings (the probe is added only when given).
    pub startup: Option<serde_json::Map<String, serde_json::Value>>,
}

/// An app's Dapr sidecar.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AppDapr {
    /// Whether it runs one.
    pub enabled: bool,
    /// `dapr.io/app-id`.
    pub app_id: String,
    /// More `dapr.io/` annotations for this app; they win over every app's.
    #[serde(default, deserialize_with = "null_is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// Extra annotations are Dapr's alone, and never an app's identity, which its own `dapr`
/// gives: anything else would be written on the pod template behind the chart's back.
fn extra_annotations(
    at: &str,
    annotations: &BTreeMap<String, String>,
) -> std::result::Result<(), String> {
    for key in annotations.keys() {
        let name = key.strip_prefix(crate::dapr::PREFIX).unwrap_or("");
        let valid = !name.is_empty()
            && name.len() <= 63
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !name.starts_with('-')
            && !name.ends_with('-');
        if !valid {
            return Err(format!(
                "{at}: {key:?} is not a dapr.io/ annotation (dapr.io/ and lowercase letters, digits and '-')"
            ));
        }
        if crate::dapr::IDENTITY.contains(&key.as_str()) {
            return Err(format!(
                "{at}: {key} comes from each app's own dapr settings (enabled, appId), not from extra annotations"
            ));
        }
    }
    Ok(())
}

/// A map left `null` (`annotations:` with nothing under it) is an empty one.
fn null_is_empty<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<BTreeMap<String, String>, D::Error> {
    Ok(Option::<BTreeMap<String, String>>::deserialize(deserializer)?.unwrap_or_default())
}

/// Finds the contract, checks it, and leaves it out of the output.
pub fn take(stream: &mut Stream) -> Result<Option<Contract>> {
    let mut found: Option<Contract> = None;
    for doc in stream.documents_mut() {
        if !is_contract(&doc.meta) {
            continue;
        }
        if found.is_some() {
            return Err(contract_error(
                doc,
                "a release may hold one contract; this is the second",
            ));
        }
        let contract = read(doc)?;
        doc.remove();
        found = Some(contract);
    }
    Ok(found)
}

fn read(doc: &Document) -> Result<Contract> {
    if doc.api_version() != API_VERSION {
        return Err(contract_error(
            doc,
            &format!(
                "apiVersion {} is not supported; this vf-post reads {API_VERSION}",
                doc.api_version()
            ),
        ));
    }
    let value = doc.value().expect("the contract is always parsed");
    let spec = value.get("spec").cloned().unwrap_or_default();
    let mut contract: Contract =
        serde_json::from_value(spec).map_err(|e| contract_error(doc, &format!("spec: {e}")))?;
    contract.namespace = doc.namespace().map(str::to_owned);
    contract.source = doc.source.clone();
    contract.at = doc.at();
    if let Some(labels) = value
        .pointer("/metadata/labels")
        .and_then(|l| l.as_object())
    {
        contract.labels = labels.clone();
    }
    check(&contract).map_err(|message| contract_error(doc, &message))?;
    Ok(contract)
}

/// What Dapr or Kubernetes would reject later, often silently, is refused here.
fn check(contract: &Contract) -> std::result::Result<(), String> {
    extra_annotations("dapr.annotations", &contract.dapr.annotations)?;
    for app in &contract.apps {
        extra_annotations(
            &format!("app {}: dapr.annotations", app.name),
            &app.dapr.annotations,
        )?;
    }
    let mut ids = std::collections::BTreeSet::new();
    for app in &contract.apps {
        let at = format!("app {}", app.name);
        if app.dapr.enabled {
            crate::dapr::check_app_id(&app.dapr.app_id).map_err(|e| format!("{at}: {e}"))?;
            if !ids.insert(app.dapr.app_id.as_str()) {
                return Err(format!(
                    "{at}: Dapr app id {} is used twice",
                    app.dapr.app_id
                ));
            }
            if crate::dapr::RESERVED_PORTS.contains(&app.ports.http) {
                return Err(format!(
                    "{at}: HTTP port {} is the Dapr sidecar's own; daprd would exit",
                    app.ports.http
                ));
            }
        }
        for path in [
            &app.health.liveness,
            &app.health.readiness,
            &app.health.dapr,
        ] {
            if !path.starts_with('/') {
                return Err(format!("{at}: health path {path:?} must start with '/'"));
            }
        }
        if app.role == Role::Gateway && app.services_json_path.is_none() {
            return Err(format!("{at}: a gateway needs servicesJsonPath"));
        }
        if !crate::workload::is_long_running(&app.workload.kind) {
            return Err(format!(
                "{at}: workload kind {} is not a Deployment, StatefulSet or DaemonSet",
                app.workload.kind
            ));
        }
    }
    if let Some(dapr) = &contract.dapr.app_health
        && u64::from(dapr.probe_timeout_milliseconds)
            >= u64::from(dapr.probe_interval_seconds) * 1000
    {
        return Err(format!(
            "dapr.appHealth: probe timeout {} ms is not below the interval of {} s; daprd would exit",
            dapr.probe_timeout_milliseconds, dapr.probe_interval_seconds
        ));
    }
    Ok(())
}

fn contract_error(doc: &Document, message: &str) -> Error {
    Error::Contract {
        at: doc.at(),
        message: message.to_owned(),
    }
}
