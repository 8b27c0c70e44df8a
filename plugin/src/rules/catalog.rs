//! Every built-in rule: stable id, default severity, what it checks, how to fix it.

use crate::document::Meta;
use crate::finding::Severity;

/// A built-in rule's description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// Stable kebab-case id, used in configuration, exemptions and reports.
    pub id: &'static str,
    /// Severity unless configured otherwise.
    pub severity: Severity,
    /// What it checks, in one line.
    pub summary: &'static str,
    /// How to fix a finding.
    pub hint: &'static str,
    /// The documents it reads: vf-post parses those (and those a pass, a module or redaction
    /// needs besides). A rule reading what it does not declare would find more when more is
    /// parsed: its case in tests/rules runs both ways and must find the same.
    pub reads: &'static [Reads],
    /// Whether it runs unless configured otherwise. Rules that judge what a release cannot
    /// show on its own (objects other releases bring) are off until a configuration turns
    /// them on (`rules: {<id>: {enabled: true}}`).
    pub on_by_default: bool,
}

const fn rule(
    id: &'static str,
    severity: Severity,
    summary: &'static str,
    hint: &'static str,
) -> Rule {
    Rule {
        id,
        severity,
        summary,
        hint,
        reads: &[],
        on_by_default: true,
    }
}

/// What a rule reads of a release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reads {
    /// Workloads with a pod template, and Pods.
    Pods,
    /// Dapr's own resources (`dapr.io/` API group).
    DaprResources,
    /// Objects of one kind.
    Kind(&'static str),
    /// What the scan of every document gives (apiVersion, kind, name, annotations): nothing
    /// parsed.
    Scan,
}

impl Reads {
    /// Whether a document must be parsed for it.
    pub fn parses(self, meta: &Meta) -> bool {
        match self {
            Pods => crate::workload::has_pods(&meta.kind),
            DaprResources => meta.api_version.starts_with(DAPR_GROUP),
            Kind(kind) => meta.kind == kind,
            Scan => false,
        }
    }
}

/// The API group of Dapr's resources.
const DAPR_GROUP: &str = "dapr.io/";

impl Rule {
    /// The rule, reading `reads`.
    const fn reading(self, reads: &'static [Reads]) -> Rule {
        Rule { reads, ..self }
    }
}

/// A rule that runs only when the configuration turns it on.
const fn off_by_default(rule: Rule) -> Rule {
    Rule {
        on_by_default: false,
        ..rule
    }
}

use Reads::{DaprResources, Kind, Pods, Scan};
use Severity::{Error, Warning};

/// The catalog, in the order `vf-post rules` lists it.
pub const RULES: &[Rule] = &[
    IMAGE_TAG_PINNED,
    IMAGE_REGISTRY_ALLOWED,
    IMAGE_PULL_SECRET,
    CONTAINER_REQUESTS,
    CONTAINER_LIMITS,
    CONTAINER_PROBES,
    RUN_AS_NON_ROOT,
    NO_PRIVILEGE_ESCALATION,
    NOT_PRIVILEGED,
    NO_HOST_PATH,
    NO_HOST_NETWORK,
    DAPR_APP_ID,
    DAPR_APP_ID_UNIQUE,
    DAPR_ANNOTATIONS_ON_POD_TEMPLATE,
    DAPR_ENABLED_VALUE,
    DAPR_APP_PORT,
    DAPR_ANNOTATION_VALUES,
    DAPR_CONFIG_EXISTS,
    DAPR_HEALTH_PROBE_TIMEOUT,
    DAPR_SECRET_INLINE,
    DAPR_COMPONENT_MILLISECONDS,
    DAPR_MAX_RETRY_BACKOFF,
    DAPR_CONFIGURATION_MTLS,
    DAPR_SAMPLING_RATE,
    DAPR_RESILIENCY_MAX_RETRIES,
    DAPR_SUBSCRIPTION_DEAD_LETTER,
    PDB_FOR_REPLICAS,
    REPLICAS_WITH_AUTOSCALER,
    SPREAD_FOR_REPLICAS,
    NETWORK_DEFAULT_DENY,
    SERVICES_JSON_BACKENDS,
    OBJECT_IDENTITY,
    EXEMPTION_REASON,
    EXCEPTION_EXPIRED_RULE,
    EXCEPTION_UNUSED_RULE,
];

// Images.
/// Rule `image-tag-pinned`.
pub const IMAGE_TAG_PINNED: Rule = rule(
    "image-tag-pinned",
    Error,
    "images name a version: no `latest`, no missing tag (a digest is fine)",
    "pin a release tag or a digest: `repo:1.4.2` or `repo@sha256:...`",
)
.reading(&[Pods]);

/// Rule `image-registry-allowed`.
pub const IMAGE_REGISTRY_ALLOWED: Rule = rule(
    "image-registry-allowed",
    Error,
    "images come from an allowed registry (the chart's registry and `registries.allowed`)",
    "pull the image through an allowed registry, or add its registry to `registries.allowed`",
)
.reading(&[Pods]);

/// Rule `image-pull-secret`.
pub const IMAGE_PULL_SECRET: Rule = rule(
    "image-pull-secret",
    Error,
    "pods pulling from the private registry list its pull secret",
    "add the registry's secret to `imagePullSecrets` (vf-post does this for charts with a contract)",
)
.reading(&[Pods]);

// Workloads.
/// Rule `container-requests`.
pub const CONTAINER_REQUESTS: Rule = rule(
    "container-requests",
    Error,
    "containers and init containers request CPU and memory (the scheduler and quotas count both)",
    "set `resources.requests.cpu` and `resources.requests.memory`",
)
.reading(&[Pods]);

/// Rule `container-limits`.
pub const CONTAINER_LIMITS: Rule = rule(
    "container-limits",
    Warning,
    "containers and init containers limit memory and CPU",
    "set `resources.limits.memory` (and `cpu` where throttling is acceptable)",
)
.reading(&[Pods]);

/// Rule `container-probes`.
pub const CONTAINER_PROBES: Rule = rule(
    "container-probes",
    Error,
    "containers of long-running workloads have liveness and readiness probes",
    "add `livenessProbe` and `readinessProbe`, or declare the app in the vf-post contract",
)
.reading(&[Pods]);

/// Rule `run-as-non-root`.
pub const RUN_AS_NON_ROOT: Rule = rule(
    "run-as-non-root",
    Error,
    "containers run as a non-root user",
    "set `securityContext.runAsNonRoot: true` (pod or container) or a non-zero `runAsUser`",
)
.reading(&[Pods]);

/// Rule `no-privilege-escalation`.
pub const NO_PRIVILEGE_ESCALATION: Rule = rule(
    "no-privilege-escalation",
    Error,
    "containers set `allowPrivilegeEscalation: false`",
    "set `securityContext.allowPrivilegeEscalation: false` on the container",
)
.reading(&[Pods]);

/// Rule `not-privileged`.
pub const NOT_PRIVILEGED: Rule = rule(
    "not-privileged",
    Error,
    "containers are not privileged",
    "remove `securityContext.privileged: true`; grant only the capabilities needed",
)
.reading(&[Pods]);

/// Rule `no-host-path`.
pub const NO_HOST_PATH: Rule = rule(
    "no-host-path",
    Error,
    "pods mount no hostPath volumes",
    "use a PersistentVolumeClaim, a ConfigMap or an emptyDir instead of `hostPath`",
)
.reading(&[Pods]);

/// Rule `no-host-network`.
pub const NO_HOST_NETWORK: Rule = rule(
    "no-host-network",
    Error,
    "pods do not share the node's network namespace",
    "remove `hostNetwork: true`; expose ports through a Service",
)
.reading(&[Pods]);

// Dapr on workloads.
/// Rule `dapr-app-id`.
pub const DAPR_APP_ID: Rule = rule(
    "dapr-app-id",
    Error,
    "Dapr apps have a valid app id: lowercase alphanumerics and '-', at most 58 characters",
    "set `dapr.io/app-id` on the pod template to a DNS-label-like id of at most 58 characters",
)
.reading(&[Pods]);

/// Rule `dapr-app-id-unique`.
pub const DAPR_APP_ID_UNIQUE: Rule = rule(
    "dapr-app-id-unique",
    Error,
    "each Dapr app id is used by one workload in the release",
    "give every workload its own `dapr.io/app-id`",
)
.reading(&[Pods]);

/// Rule `dapr-annotations-on-pod-template`.
pub const DAPR_ANNOTATIONS_ON_POD_TEMPLATE: Rule = rule(
    "dapr-annotations-on-pod-template",
    Error,
    "dapr.io annotations sit on the pod template, where the injector reads them",
    "move the `dapr.io/*` annotations to `spec.template.metadata.annotations`",
)
.reading(&[Pods]);

/// Rule `dapr-enabled-value`.
pub const DAPR_ENABLED_VALUE: Rule = rule(
    "dapr-enabled-value",
    Error,
    "`dapr.io/enabled` is exactly \"true\" (or \"false\"): Dapr 1.18 ignores \"yes\" and \"1\"",
    "write `dapr.io/enabled: \"true\"`",
)
.reading(&[Pods]);

/// Rule `dapr-app-port`.
pub const DAPR_APP_PORT: Rule = rule(
    "dapr-app-port",
    Error,
    "`dapr.io/app-port` is a port number other than daprd's own 3500 and 50001",
    "set `dapr.io/app-port` to the app's HTTP port, as a quoted number",
)
.reading(&[Pods]);

/// Rule `dapr-annotation-values`.
pub const DAPR_ANNOTATION_VALUES: Rule = rule(
    "dapr-annotation-values",
    Error,
    "dapr.io values daprd checks are valid (protocol, log level, numbers, quantities)",
    "use a value the Dapr docs list; invalid ones are ignored or make daprd exit",
)
.reading(&[Pods]);

/// Rule `dapr-config-exists`.
pub const DAPR_CONFIG_EXISTS: Rule = rule(
    "dapr-config-exists",
    Error,
    "`dapr.io/config` names a Configuration in the release",
    "render the Configuration in this release, or fix the name (daprd exits when it is missing)",
)
.reading(&[Pods, DaprResources]);

/// Rule `dapr-health-probe-timeout`.
pub const DAPR_HEALTH_PROBE_TIMEOUT: Rule = rule(
    "dapr-health-probe-timeout",
    Error,
    "Dapr's app health probe timeout (ms) is below its interval (s)",
    "lower `dapr.io/app-health-probe-timeout` below 1000 × `dapr.io/app-health-probe-interval`",
)
.reading(&[Pods]);

// Dapr resources.
/// Rule `dapr-secret-inline`.
pub const DAPR_SECRET_INLINE: Rule = rule(
    "dapr-secret-inline",
    Error,
    "Component secrets come through secretKeyRef, never inline",
    "store the value in a Secret and use `secretKeyRef: {name, key}` with `auth.secretStore`",
)
.reading(&[DaprResources]);

/// Rule `dapr-component-milliseconds`.
pub const DAPR_COMPONENT_MILLISECONDS: Rule = rule(
    "dapr-component-milliseconds",
    Error,
    "redeliverInterval and processingTimeout are plain integers (milliseconds)",
    "write milliseconds as a bare number: \"15000\", not \"15s\" (which Dapr ignores)",
)
.reading(&[DaprResources]);

/// Rule `dapr-max-retry-backoff`.
pub const DAPR_MAX_RETRY_BACKOFF: Rule = rule(
    "dapr-max-retry-backoff",
    Error,
    "maxRetryBackoff is an integer (nanoseconds), not a duration",
    "remove `maxRetryBackoff` or give integer nanoseconds; \"2s\" fails Component init",
)
.reading(&[DaprResources]);

/// Rule `dapr-configuration-mtls`.
pub const DAPR_CONFIGURATION_MTLS: Rule = rule(
    "dapr-configuration-mtls",
    Error,
    "Configuration mtls has enabled, controlPlaneTrustDomain and sentryAddress",
    "add `controlPlaneTrustDomain: cluster.local` and `sentryAddress: dapr-sentry.<ns>.svc.cluster.local:443`",
)
.reading(&[DaprResources]);

/// Rule `dapr-sampling-rate`.
pub const DAPR_SAMPLING_RATE: Rule = rule(
    "dapr-sampling-rate",
    Error,
    "Configuration tracing.samplingRate is a string holding a number",
    "quote it: `samplingRate: \"1\"`; an unparseable rate silently becomes 0.0001",
)
.reading(&[DaprResources]);

/// Rule `dapr-resiliency-max-retries`.
pub const DAPR_RESILIENCY_MAX_RETRIES: Rule = rule(
    "dapr-resiliency-max-retries",
    Error,
    "Resiliency retry policies give maxRetries as an integer",
    "write `maxRetries: 3` (an integer; -1 retries forever)",
)
.reading(&[DaprResources]);

/// Rule `dapr-subscription-dead-letter`.
pub const DAPR_SUBSCRIPTION_DEAD_LETTER: Rule = rule(
    "dapr-subscription-dead-letter",
    Error,
    "Subscriptions on a pub/sub with limited redelivery have a deadLetterTopic",
    "set `spec.deadLetterTopic`, or a message that fails every retry is redelivered forever",
)
.reading(&[DaprResources]);

// Release-wide.
/// Rule `pdb-for-replicas`.
pub const PDB_FOR_REPLICAS: Rule = rule(
    "pdb-for-replicas",
    Warning,
    "workloads with more than one replica have a PodDisruptionBudget",
    "add a PodDisruptionBudget selecting the pods, so node drains keep the service up",
)
.reading(&[Pods, Kind("PodDisruptionBudget")]);

/// Rule `replicas-with-autoscaler`.
pub const REPLICAS_WITH_AUTOSCALER: Rule = rule(
    "replicas-with-autoscaler",
    Error,
    "a workload a HorizontalPodAutoscaler scales leaves `spec.replicas` out",
    "remove `spec.replicas` from the workload: the autoscaler sets it, and an upgrade would reset it",
)
.reading(&[Pods, Kind("HorizontalPodAutoscaler")]);

/// Rule `spread-for-replicas`.
pub const SPREAD_FOR_REPLICAS: Rule = rule(
    "spread-for-replicas",
    Warning,
    "workloads with more than one replica spread their pods across nodes or zones",
    "add `topologySpreadConstraints` (or pod anti-affinity) selecting the pods, e.g. over `kubernetes.io/hostname` and `topology.kubernetes.io/zone`",
)
.reading(&[Pods]);

/// Rule `network-default-deny`.
pub const NETWORK_DEFAULT_DENY: Rule = off_by_default(rule(
    "network-default-deny",
    Warning,
    "pods are selected by a default-deny ingress NetworkPolicy of the release in their namespace (off unless enabled: a policy another release brings is not seen)",
    "add a NetworkPolicy with `policyTypes: [Ingress]`, no `ingress` rules and a `podSelector` matching the pods, then allow what must reach them (the chart: `networkPolicy.enabled`)",
))
.reading(&[Pods, Kind("NetworkPolicy")]);

/// Rule `services-json-backends`.
pub const SERVICES_JSON_BACKENDS: Rule = rule(
    "services-json-backends",
    Error,
    "services.json lists only backends whose Service and Dapr app are in the release",
    "remove the entry, or deploy the backend it names",
)
.reading(&[Pods, Kind("Service"), Kind("ConfigMap")]);

/// Rule `object-identity`.
pub const OBJECT_IDENTITY: Rule = rule(
    "object-identity",
    Error,
    "every document is a Kubernetes object: apiVersion, kind and metadata.name",
    "fix the template: Helm renders it, but the API server refuses it",
)
.reading(&[Scan]);

/// Rule `exemption-reason`.
pub const EXEMPTION_REASON: Rule = rule(
    "exemption-reason",
    Error,
    "every exemption annotation gives a reason and names a known rule",
    "write `exempt.vf-post.virtufin.io/<rule>[.<container>]: \"<why>\"`",
)
.reading(&[Scan]);

/// Rule `EXCEPTION_EXPIRED`.
pub const EXCEPTION_EXPIRED_RULE: Rule = rule(
    EXCEPTION_EXPIRED,
    Error,
    "no exception of the configuration is past its `expires` date (it no longer waives)",
    "fix what it waived, or renew it with its owner: a new `expires`, and the reason still true",
);

/// Rule `EXCEPTION_UNUSED`.
pub const EXCEPTION_UNUSED_RULE: Rule = rule(
    EXCEPTION_UNUSED,
    Warning,
    "every exception of the configuration waives some finding",
    "remove the exception: what it waived is fixed, or its rule, kind, name, namespace or container do not match",
);

/// Rules on the configuration's `exceptions:`, which the host checks, since it has the clock
/// and sees every input of a run (host/src/exceptions.rs, whose tests are their cases).
pub const HOST_RULES: &[&str] = &[EXCEPTION_EXPIRED, EXCEPTION_UNUSED];
/// An exception past its end date.
pub const EXCEPTION_EXPIRED: &str = "exception-expired";
/// An exception that waived nothing.
pub const EXCEPTION_UNUSED: &str = "exception-unused";

/// The catalog entry for `id`.
pub fn find(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}
