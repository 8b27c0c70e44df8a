//! Every built-in rule: stable id, default severity, what it checks, how to fix it.

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
        on_by_default: true,
    }
}

/// A rule that runs only when the configuration turns it on.
const fn off_by_default(rule: Rule) -> Rule {
    Rule {
        on_by_default: false,
        ..rule
    }
}

use Severity::{Error, Warning};

/// The catalog, in the order `vf-post rules` lists it.
pub const RULES: &[Rule] = &[
    // Images.
    rule(
        "image-tag-pinned",
        Error,
        "images name a version: no `latest`, no missing tag (a digest is fine)",
        "pin a release tag or a digest: `repo:1.4.2` or `repo@sha256:...`",
    ),
    rule(
        "image-registry-allowed",
        Error,
        "images come from an allowed registry (the chart's registry and `registries.allowed`)",
        "pull the image through an allowed registry, or add its registry to `registries.allowed`",
    ),
    rule(
        "image-pull-secret",
        Error,
        "pods pulling from the private registry list its pull secret",
        "add the registry's secret to `imagePullSecrets` (vf-post does this for charts with a contract)",
    ),
    // Workloads.
    rule(
        "container-requests",
        Error,
        "containers and init containers request CPU and memory (the scheduler and quotas count both)",
        "set `resources.requests.cpu` and `resources.requests.memory`",
    ),
    rule(
        "container-limits",
        Warning,
        "containers and init containers limit memory and CPU",
        "set `resources.limits.memory` (and `cpu` where throttling is acceptable)",
    ),
    rule(
        "container-probes",
        Error,
        "containers of long-running workloads have liveness and readiness probes",
        "add `livenessProbe` and `readinessProbe`, or declare the app in the vf-post contract",
    ),
    rule(
        "run-as-non-root",
        Error,
        "containers run as a non-root user",
        "set `securityContext.runAsNonRoot: true` (pod or container) or a non-zero `runAsUser`",
    ),
    rule(
        "no-privilege-escalation",
        Error,
        "containers set `allowPrivilegeEscalation: false`",
        "set `securityContext.allowPrivilegeEscalation: false` on the container",
    ),
    rule(
        "not-privileged",
        Error,
        "containers are not privileged",
        "remove `securityContext.privileged: true`; grant only the capabilities needed",
    ),
    rule(
        "no-host-path",
        Error,
        "pods mount no hostPath volumes",
        "use a PersistentVolumeClaim, a ConfigMap or an emptyDir instead of `hostPath`",
    ),
    rule(
        "no-host-network",
        Error,
        "pods do not share the node's network namespace",
        "remove `hostNetwork: true`; expose ports through a Service",
    ),
    // Dapr on workloads.
    rule(
        "dapr-app-id",
        Error,
        "Dapr apps have a valid app id: lowercase alphanumerics and '-', at most 58 characters",
        "set `dapr.io/app-id` on the pod template to a DNS-label-like id of at most 58 characters",
    ),
    rule(
        "dapr-app-id-unique",
        Error,
        "each Dapr app id is used by one workload in the release",
        "give every workload its own `dapr.io/app-id`",
    ),
    rule(
        "dapr-annotations-on-pod-template",
        Error,
        "dapr.io annotations sit on the pod template, where the injector reads them",
        "move the `dapr.io/*` annotations to `spec.template.metadata.annotations`",
    ),
    rule(
        "dapr-enabled-value",
        Error,
        "`dapr.io/enabled` is exactly \"true\" (or \"false\"): Dapr 1.18 ignores \"yes\" and \"1\"",
        "write `dapr.io/enabled: \"true\"`",
    ),
    rule(
        "dapr-app-port",
        Error,
        "`dapr.io/app-port` is a port number other than daprd's own 3500 and 50001",
        "set `dapr.io/app-port` to the app's HTTP port, as a quoted number",
    ),
    rule(
        "dapr-annotation-values",
        Error,
        "dapr.io values daprd checks are valid (protocol, log level, numbers, quantities)",
        "use a value the Dapr docs list; invalid ones are ignored or make daprd exit",
    ),
    rule(
        "dapr-config-exists",
        Error,
        "`dapr.io/config` names a Configuration in the release",
        "render the Configuration in this release, or fix the name (daprd exits when it is missing)",
    ),
    rule(
        "dapr-health-probe-timeout",
        Error,
        "Dapr's app health probe timeout (ms) is below its interval (s)",
        "lower `dapr.io/app-health-probe-timeout` below 1000 × `dapr.io/app-health-probe-interval`",
    ),
    // Dapr resources.
    rule(
        "dapr-secret-inline",
        Error,
        "Component secrets come through secretKeyRef, never inline",
        "store the value in a Secret and use `secretKeyRef: {name, key}` with `auth.secretStore`",
    ),
    rule(
        "dapr-component-milliseconds",
        Error,
        "redeliverInterval and processingTimeout are plain integers (milliseconds)",
        "write milliseconds as a bare number: \"15000\", not \"15s\" (which Dapr ignores)",
    ),
    rule(
        "dapr-max-retry-backoff",
        Error,
        "maxRetryBackoff is an integer (nanoseconds), not a duration",
        "remove `maxRetryBackoff` or give integer nanoseconds; \"2s\" fails Component init",
    ),
    rule(
        "dapr-configuration-mtls",
        Error,
        "Configuration mtls has enabled, controlPlaneTrustDomain and sentryAddress",
        "add `controlPlaneTrustDomain: cluster.local` and `sentryAddress: dapr-sentry.<ns>.svc.cluster.local:443`",
    ),
    rule(
        "dapr-sampling-rate",
        Error,
        "Configuration tracing.samplingRate is a string holding a number",
        "quote it: `samplingRate: \"1\"`; an unparseable rate silently becomes 0.0001",
    ),
    rule(
        "dapr-resiliency-max-retries",
        Error,
        "Resiliency retry policies give maxRetries as an integer",
        "write `maxRetries: 3` (an integer; -1 retries forever)",
    ),
    rule(
        "dapr-subscription-dead-letter",
        Error,
        "Subscriptions on a pub/sub with limited redelivery have a deadLetterTopic",
        "set `spec.deadLetterTopic`, or a message that fails every retry is redelivered forever",
    ),
    // Release-wide.
    rule(
        "pdb-for-replicas",
        Warning,
        "workloads with more than one replica have a PodDisruptionBudget",
        "add a PodDisruptionBudget selecting the pods, so node drains keep the service up",
    ),
    rule(
        "replicas-with-autoscaler",
        Error,
        "a workload a HorizontalPodAutoscaler scales leaves `spec.replicas` out",
        "remove `spec.replicas` from the workload: the autoscaler sets it, and an upgrade would reset it",
    ),
    rule(
        "spread-for-replicas",
        Warning,
        "workloads with more than one replica spread their pods across nodes or zones",
        "add `topologySpreadConstraints` (or pod anti-affinity) selecting the pods, e.g. over `kubernetes.io/hostname` and `topology.kubernetes.io/zone`",
    ),
    off_by_default(rule(
        "network-default-deny",
        Warning,
        "pods are selected by a default-deny ingress NetworkPolicy of the release in their namespace (off unless enabled: a policy another release brings is not seen)",
        "add a NetworkPolicy with `policyTypes: [Ingress]`, no `ingress` rules and a `podSelector` matching the pods, then allow what must reach them (the chart: `networkPolicy.enabled`)",
    )),
    rule(
        "services-json-backends",
        Error,
        "services.json lists only backends whose Service and Dapr app are in the release",
        "remove the entry, or deploy the backend it names",
    ),
    rule(
        "object-identity",
        Error,
        "every document is a Kubernetes object: apiVersion, kind and metadata.name",
        "fix the template: Helm renders it, but the API server refuses it",
    ),
    rule(
        "exemption-reason",
        Error,
        "every exemption annotation gives a reason and names a known rule",
        "write `exempt.vf-post.virtufin.io/<rule>[.<container>]: \"<why>\"`",
    ),
    rule(
        EXCEPTION_EXPIRED,
        Error,
        "no exception of the configuration is past its `expires` date (it no longer waives)",
        "fix what it waived, or renew it with its owner: a new `expires`, and the reason still true",
    ),
    rule(
        EXCEPTION_UNUSED,
        Warning,
        "every exception of the configuration waives some finding",
        "remove the exception: what it waived is fixed, or its rule, kind, name, namespace or container do not match",
    ),
];

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
