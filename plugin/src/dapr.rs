//! What vf-post knows about Dapr's sidecar injector (reference/dapr.md §1): annotation keys
//! and the values daprd rejects, often by exiting or, worse, by ignoring them.

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
/// `dapr.io/app-health-probe-interval` (seconds).
pub const PROBE_INTERVAL: &str = "dapr.io/app-health-probe-interval";
/// `dapr.io/app-health-probe-timeout` (milliseconds).
pub const PROBE_TIMEOUT: &str = "dapr.io/app-health-probe-timeout";

/// Ports daprd binds itself: an app-port equal to one makes it exit.
pub const RESERVED_PORTS: [u16; 2] = [3500, 50001];
/// Accepted `dapr.io/app-protocol` values.
pub const PROTOCOLS: [&str; 5] = ["http", "https", "grpc", "grpcs", "h2c"];
/// Accepted `dapr.io/log-level` values.
pub const LOG_LEVELS: [&str; 5] = ["debug", "info", "warn", "error", "fatal"];
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
