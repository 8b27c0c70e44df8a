//! Dapr on workloads: what the sidecar injector and daprd do with the annotations, checked
//! before they silently ignore a value or crash-loop (reference/dapr.md §1).

use std::collections::BTreeMap;

use serde_json::Value;

use super::{Context, Hit, Pod, catalog};
use crate::dapr::{
    self, APP_ID, APP_PORT, CONFIG, ENABLED, PREFIX, PROBE_INTERVAL, PROBE_TIMEOUT, RESERVED_PORTS,
    ValueType,
};

pub(super) fn check(ctx: &Context, hits: &mut Vec<Hit>) {
    let mut app_ids: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for pod in ctx.pods() {
        misplaced(ctx, &pod, hits);
        let Some(enabled) = pod.template.annotation(ENABLED) else {
            continue;
        };
        let hit = |rule: &str, key: &str, message: String| {
            Hit::new(rule, pod.index, message).at(pod.template.annotation_pointer(key))
        };
        let on = match enabled.as_str() {
            Some(v) if v.eq_ignore_ascii_case("true") => true,
            Some(v) if v.eq_ignore_ascii_case("false") => false,
            other => {
                let shown = other.map_or_else(|| enabled.to_string(), |v| format!("{v:?}"));
                hits.push(hit(
                    catalog::DAPR_ENABLED_VALUE.id,
                    ENABLED,
                    format!("dapr.io/enabled is {shown}: since Dapr 1.18 only \"true\" injects the sidecar"),
                ));
                false
            }
        };
        if !on {
            continue;
        }
        match pod.template.annotation(APP_ID).and_then(Value::as_str) {
            None => hits.push(hit(
                catalog::DAPR_APP_ID.id,
                APP_ID,
                "has no dapr.io/app-id; the injector refuses pods without one".into(),
            )),
            Some(id) => match dapr::check_app_id(id) {
                Ok(()) => app_ids.entry(id.to_owned()).or_default().push(pod.index),
                Err(why) => hits.push(hit(catalog::DAPR_APP_ID.id, APP_ID, why)),
            },
        }
        if let Some(port) = pod.template.annotation(APP_PORT) {
            match port.as_str().map(str::parse::<u16>) {
                Some(Ok(0)) => hits.push(hit(catalog::DAPR_APP_PORT.id, APP_PORT, "dapr.io/app-port is 0".into())),
                Some(Ok(p)) if RESERVED_PORTS.contains(&p) => hits.push(hit(
                    catalog::DAPR_APP_PORT.id,
                    APP_PORT,
                    format!("dapr.io/app-port {p} is daprd's own port; daprd exits"),
                )),
                Some(Ok(_)) => {}
                _ => hits.push(hit(
                    catalog::DAPR_APP_PORT.id,
                    APP_PORT,
                    format!("dapr.io/app-port is {port}, not a quoted port number; the injector ignores it"),
                )),
            }
        }
        values(&pod, &hit, hits);
        configuration(ctx, &pod, &hit, hits);
        probe_timing(&pod, &hit, hits);
    }
    for (id, docs) in app_ids.iter().filter(|(_, d)| d.len() > 1) {
        for &doc in &docs[1..] {
            hits.push(Hit::new(
                catalog::DAPR_APP_ID_UNIQUE.id,
                doc,
                format!(
                    "Dapr app id {id} is also used by {}",
                    ctx.docs[docs[0]].name()
                ),
            ));
        }
    }
}

/// dapr.io annotations on the workload's own metadata, where the injector never looks.
fn misplaced(ctx: &Context, pod: &Pod, hits: &mut Vec<Hit>) {
    if pod.doc.kind() == "Pod" {
        return;
    }
    let Some(annotations) = ctx.docs[pod.index]
        .value()
        .and_then(|v| v.pointer("/metadata/annotations"))
        .and_then(Value::as_object)
    else {
        return;
    };
    let keys: Vec<&str> = annotations
        .keys()
        .filter(|k| k.starts_with(PREFIX))
        .map(String::as_str)
        .collect();
    if !keys.is_empty() {
        hits.push(
            Hit::new(
                catalog::DAPR_ANNOTATIONS_ON_POD_TEMPLATE.id,
                pod.index,
                format!(
                    "{} on the {} itself; the injector reads only the pod template",
                    keys.join(", "),
                    pod.doc.kind()
                ),
            )
            .at("/metadata/annotations".into()),
        );
    }
}

fn values(pod: &Pod, hit: &impl Fn(&str, &str, String) -> Hit, hits: &mut Vec<Hit>) {
    let Some(annotations) = pod.template.annotations() else {
        return;
    };
    for (key, value) in annotations.iter().filter(|(k, _)| k.starts_with(PREFIX)) {
        let Some(text) = value.as_str() else {
            hits.push(hit(
                catalog::DAPR_ANNOTATION_VALUES.id,
                key,
                format!("{key} is {value}, not a string"),
            ));
            continue;
        };
        let Some(known) = dapr::annotation_of(key) else {
            continue;
        };
        let if_bad = known.if_bad;
        let problem = match known.value {
            ValueType::OneOf(words) if !words.contains(&text) => {
                Some(format!("is {text:?}; daprd accepts {}", words.join(", ")))
            }
            ValueType::ListOf(words) if !text.split(',').all(|w| words.contains(&w.trim())) => {
                Some(format!(
                    "is {text:?}; daprd accepts a comma-separated list of {}",
                    words.join(", ")
                ))
            }
            ValueType::Integer if text.parse::<i32>().is_err() => {
                Some(format!("is {text:?}, not an integer; {if_bad}"))
            }
            ValueType::Boolean if !is_boolean(text) => Some(format!("is {text:?}, which {if_bad}")),
            ValueType::Quantity if !is_quantity(text) => {
                Some(format!("is {text:?}, not a quantity; {if_bad}"))
            }
            ValueType::Duration if !is_duration(text) => Some(format!(
                "is {text:?}, not a duration (such as 10s or 1m30s); {if_bad}"
            )),
            _ => None,
        };
        if let Some(problem) = problem {
            hits.push(hit(
                catalog::DAPR_ANNOTATION_VALUES.id,
                key,
                format!("{key} {problem}"),
            ));
        }
    }
}

fn configuration(
    ctx: &Context,
    pod: &Pod,
    hit: &impl Fn(&str, &str, String) -> Hit,
    hits: &mut Vec<Hit>,
) {
    let Some(name) = pod.template.annotation(CONFIG).and_then(Value::as_str) else {
        return;
    };
    let namespace = pod.doc.namespace();
    let found = ctx.objects().any(|(_, d, _)| {
        d.kind() == "Configuration"
            && d.group() == "dapr.io"
            && d.name() == name
            && (namespace.is_none() || d.namespace().is_none() || d.namespace() == namespace)
    });
    if !found {
        hits.push(hit(
            catalog::DAPR_CONFIG_EXISTS.id,
            CONFIG,
            format!("dapr.io/config names Configuration {name}, which is not in the release; daprd exits"),
        ));
    }
}

fn probe_timing(pod: &Pod, hit: &impl Fn(&str, &str, String) -> Hit, hits: &mut Vec<Hit>) {
    let read = |key: &str, default: i64| {
        pod.template
            .annotation(key)
            .and_then(Value::as_str)
            .map_or(Some(default), |v| v.parse::<i64>().ok())
    };
    if pod.template.annotation(PROBE_TIMEOUT).is_none()
        && pod.template.annotation(PROBE_INTERVAL).is_none()
    {
        return;
    }
    if let (Some(timeout), Some(interval)) = (read(PROBE_TIMEOUT, 500), read(PROBE_INTERVAL, 5))
        && timeout >= interval * 1000
    {
        hits.push(hit(
            catalog::DAPR_HEALTH_PROBE_TIMEOUT.id,
            PROBE_TIMEOUT,
            format!("app health probe timeout {timeout} ms is not below the interval of {interval} s; daprd exits"),
        ));
    }
}

/// Values `kitstrings.IsTruthy` reads as true, and the usual spellings of false.
/// A Go `time.ParseDuration` value: `0`, or numbers each followed by a unit.
fn is_duration(text: &str) -> bool {
    let text = text.strip_prefix(['-', '+']).unwrap_or(text);
    if text == "0" {
        return true;
    }
    let mut rest = text;
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = &rest[..digits];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return false;
        }
        rest = &rest[digits..];
        let Some(unit) = ["ns", "us", "µs", "μs", "ms", "s", "m", "h"]
            .into_iter()
            .find(|u| rest.starts_with(u) && !(*u == "m" && rest.starts_with("ms")))
        else {
            return false;
        };
        rest = &rest[unit.len()..];
    }
    true
}

fn is_boolean(text: &str) -> bool {
    matches!(
        text.to_ascii_lowercase().as_str(),
        "1" | "t" | "true" | "y" | "yes" | "on" | "0" | "f" | "false" | "n" | "no" | "off"
    )
}

/// A Kubernetes quantity: a decimal number with an optional suffix.
fn is_quantity(text: &str) -> bool {
    let number_end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(number_end);
    number.parse::<f64>().is_ok()
        && matches!(
            suffix,
            "" | "m" | "k" | "M" | "G" | "T" | "P" | "E" | "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei"
        )
}
