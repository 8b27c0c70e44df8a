//! What vf-post knows about Dapr's sidecar injector (reference/dapr.md §1): every `dapr.io/`
//! annotation key it writes or checks, spelled here once, with how daprd reads its value.

/// Prefix of every injector annotation.
pub const PREFIX: &str = "dapr.io/";
/// `dapr.io/enabled`: since Dapr 1.18 only `"true"` injects.
pub const ENABLED: &str = "dapr.io/enabled";
/// `dapr.io/app-id`.
pub const APP_ID: &str = "dapr.io/app-id";
/// `dapr.io/app-port`.
pub const APP_PORT: &str = "dapr.io/app-port";
/// `dapr.io/app-protocol`.
pub const APP_PROTOCOL: &str = "dapr.io/app-protocol";
/// `dapr.io/config`.
pub const CONFIG: &str = "dapr.io/config";
/// `dapr.io/log-level`.
pub const LOG_LEVEL: &str = "dapr.io/log-level";
/// `dapr.io/enable-api-logging`.
pub const ENABLE_API_LOGGING: &str = "dapr.io/enable-api-logging";
/// `dapr.io/enable-metrics`: `"false"` omits the flag, and daprd's default is on.
pub const ENABLE_METRICS: &str = "dapr.io/enable-metrics";
/// `dapr.io/metrics-port`.
pub const METRICS_PORT: &str = "dapr.io/metrics-port";
/// `dapr.io/enable-app-health-check`.
pub const ENABLE_APP_HEALTH_CHECK: &str = "dapr.io/enable-app-health-check";
/// `dapr.io/app-health-check-path`.
pub const APP_HEALTH_CHECK_PATH: &str = "dapr.io/app-health-check-path";
/// `dapr.io/app-health-probe-interval` (seconds).
pub const PROBE_INTERVAL: &str = "dapr.io/app-health-probe-interval";
/// `dapr.io/app-health-probe-timeout` (milliseconds).
pub const PROBE_TIMEOUT: &str = "dapr.io/app-health-probe-timeout";
/// `dapr.io/app-health-threshold`.
pub const HEALTH_THRESHOLD: &str = "dapr.io/app-health-threshold";
/// `dapr.io/sidecar-cpu-request`.
pub const SIDECAR_CPU_REQUEST: &str = "dapr.io/sidecar-cpu-request";
/// `dapr.io/sidecar-memory-request`.
pub const SIDECAR_MEMORY_REQUEST: &str = "dapr.io/sidecar-memory-request";
/// `dapr.io/sidecar-cpu-limit`.
pub const SIDECAR_CPU_LIMIT: &str = "dapr.io/sidecar-cpu-limit";
/// `dapr.io/sidecar-memory-limit`.
pub const SIDECAR_MEMORY_LIMIT: &str = "dapr.io/sidecar-memory-limit";

/// How the injector and daprd read an annotation's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    /// Any text.
    Text,
    /// An int32.
    Integer,
    /// `true` or `false` (Dapr reads anything else as false).
    Boolean,
    /// A Kubernetes quantity.
    Quantity,
    /// A Go duration (`10s`, `1m30s`).
    Duration,
    /// One of these words.
    OneOf(&'static [&'static str]),
    /// A comma-separated list of these words.
    ListOf(&'static [&'static str]),
}

/// A `dapr.io/` annotation key, the form of its value, and what Dapr does with a value of
/// another form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Annotation {
    /// `dapr.io/<name>`.
    pub key: &'static str,
    /// How its value is read.
    pub value: ValueType,
    /// What happens to a value that does not read (for the finding).
    pub if_bad: &'static str,
}

const EXITS: &str = "daprd exits";
const IGNORED: &str = "the injector ignores it";

const fn annotation(key: &'static str, value: ValueType, if_bad: &'static str) -> Annotation {
    Annotation { key, value, if_bad }
}

const fn text(key: &'static str) -> Annotation {
    annotation(key, ValueType::Text, "")
}

const fn int(key: &'static str) -> Annotation {
    annotation(key, ValueType::Integer, IGNORED)
}

const fn boolean(key: &'static str) -> Annotation {
    annotation(key, ValueType::Boolean, "Dapr reads as false")
}

const fn resource(key: &'static str) -> Annotation {
    annotation(
        key,
        ValueType::Quantity,
        "the injector drops all sidecar resources",
    )
}

/// `dapr.io/sidecar-image`: the image of the injected daprd container, which the image rules
/// judge like any container's.
pub const SIDECAR_IMAGE: &str = "dapr.io/sidecar-image";
/// Accepted `dapr.io/disable-init-endpoints` values.
pub const INIT_ENDPOINTS: &[&str] = &["config", "subscribe"];

/// Accepted `dapr.io/app-protocol` values.
pub const PROTOCOLS: &[&str] = &["http", "https", "grpc", "grpcs", "h2c"];
/// Accepted `dapr.io/log-level` values.
pub const LOG_LEVELS: &[&str] = &["debug", "info", "warn", "error", "fatal"];

/// Every annotation whose value vf-post checks or writes. A key not listed is passed through
/// and checked only for being text.
pub const ANNOTATIONS: &[Annotation] = &[
    text(ENABLED),
    text(APP_ID),
    text(APP_PORT),
    annotation(APP_PROTOCOL, ValueType::OneOf(PROTOCOLS), EXITS),
    text(CONFIG),
    annotation(LOG_LEVEL, ValueType::OneOf(LOG_LEVELS), EXITS),
    boolean(ENABLE_API_LOGGING),
    boolean(ENABLE_METRICS),
    int(METRICS_PORT),
    boolean(ENABLE_APP_HEALTH_CHECK),
    text(APP_HEALTH_CHECK_PATH),
    int(PROBE_INTERVAL),
    int(PROBE_TIMEOUT),
    int(HEALTH_THRESHOLD),
    resource(SIDECAR_CPU_REQUEST),
    resource(SIDECAR_MEMORY_REQUEST),
    resource(SIDECAR_CPU_LIMIT),
    resource(SIDECAR_MEMORY_LIMIT),
    int("dapr.io/grpc-port"),
    int("dapr.io/internal-grpc-port"),
    int("dapr.io/graceful-shutdown-seconds"),
    int("dapr.io/sidecar-liveness-probe-delay-seconds"),
    int("dapr.io/sidecar-liveness-probe-timeout-seconds"),
    int("dapr.io/sidecar-liveness-probe-period-seconds"),
    int("dapr.io/sidecar-liveness-probe-threshold"),
    int("dapr.io/sidecar-readiness-probe-delay-seconds"),
    int("dapr.io/sidecar-readiness-probe-timeout-seconds"),
    int("dapr.io/sidecar-readiness-probe-period-seconds"),
    int("dapr.io/sidecar-readiness-probe-threshold"),
    boolean("dapr.io/log-as-json"),
    annotation("dapr.io/max-body-size", ValueType::Quantity, EXITS),
    annotation("dapr.io/read-buffer-size", ValueType::Quantity, EXITS),
    annotation(
        "dapr.io/block-shutdown-duration",
        ValueType::Duration,
        EXITS,
    ),
    annotation(
        "dapr.io/disable-init-endpoints",
        ValueType::ListOf(INIT_ENDPOINTS),
        EXITS,
    ),
    text(SIDECAR_IMAGE),
];

/// What vf-post knows of `key`, if anything.
pub fn annotation_of(key: &str) -> Option<&'static Annotation> {
    ANNOTATIONS.iter().find(|a| a.key == key)
}

/// Keys a chart's extra annotations may not set: they come from each app's own `dapr`
/// (enabled, app id), so an extra annotation could not contradict them.
pub const IDENTITY: [&str; 2] = [ENABLED, APP_ID];

/// Ports daprd binds itself: an app-port equal to one makes it exit.
pub const RESERVED_PORTS: [u16; 2] = [3500, 50001];
/// Checks an app id as Dapr does: `<id>-dapr` must be an RFC 1123 label.
pub fn check_app_id(id: &str) -> Result<(), String> {
    let valid_chars = id
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if id.is_empty() {
        return Err("the Dapr app id is empty".into());
    }
    if !valid_chars || id.starts_with('-') || id.ends_with('-') {
        return Err(format!(
            "Dapr app id {id:?} must be lowercase letters, digits and '-', starting and ending with a letter or digit"
        ));
    }
    if id.len() > 58 {
        return Err(format!(
            "Dapr app id {id:?} has {} characters; at most 58 fit (`<id>-dapr` is a DNS label)",
            id.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_app_id;

    #[test]
    fn app_ids_follow_dapr_rules() {
        assert!(check_app_id("workmanager").is_ok());
        assert!(check_app_id(&"a".repeat(58)).is_ok());
        assert!(check_app_id(&"a".repeat(59)).is_err());
        for bad in ["", "Work", "a_b", "-a", "a-", "a.b"] {
            assert!(check_app_id(bad).is_err(), "{bad}");
        }
    }
}
