//! Dapr resources: Components, Configurations, Resiliencies and Subscriptions, checked for
//! what Dapr silently ignores or fails on (reference/dapr.md §2-4). Secret values are never
//! quoted in messages.

use serde_json::Value;

use super::{Context, Hit, catalog};

/// Metadata names that hold secrets.
const SECRET_WORDS: &[&str] = &[
    "password",
    "secret",
    "token",
    "apikey",
    "accesskey",
    "connectionstring",
    "credential",
    "privatekey",
];

pub(super) fn check(ctx: &Context, hits: &mut Vec<Hit>) {
    for (index, doc, value) in ctx.objects().filter(|(_, d, _)| d.group() == "dapr.io") {
        match doc.kind() {
            "Component" => component(index, value, hits),
            "Configuration" => configuration(index, value, hits),
            "Resiliency" => resiliency(index, value, hits),
            "Subscription" => subscription(ctx, index, doc, value, hits),
            _ => {}
        }
    }
}

fn component(index: usize, value: &Value, hits: &mut Vec<Hit>) {
    let kind = value
        .pointer("/spec/type")
        .and_then(Value::as_str)
        .unwrap_or("");
    let redis = kind.ends_with(".redis");
    for (i, item) in value
        .pointer("/spec/metadata")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let name = item.get("name").and_then(Value::as_str).unwrap_or("");
        let at = format!("/spec/metadata/{i}");
        let inline = item
            .get("value")
            .filter(|v| !(v.is_null() || v.as_str() == Some("")));
        let lower = name.to_ascii_lowercase();
        if inline.is_some() && SECRET_WORDS.iter().any(|w| lower.contains(w)) {
            hits.push(
                Hit::new(
                    catalog::DAPR_SECRET_INLINE.id,
                    index,
                    format!("metadata {name} holds its secret inline"),
                )
                .at(format!("{at}/value")),
            );
        }
        let Some(inline) = inline else { continue };
        let integer = match inline {
            Value::Number(n) => n.is_i64() || n.is_u64(),
            Value::String(s) => s.parse::<i64>().is_ok(),
            _ => false,
        };
        if redis && matches!(name, "redeliverInterval" | "processingTimeout") && !integer {
            hits.push(
                Hit::new(
                    catalog::DAPR_COMPONENT_MILLISECONDS.id,
                    index,
                    format!("metadata {name} is {inline}, not bare milliseconds"),
                )
                .at(format!("{at}/value")),
            );
        }
        if redis && name == "maxRetryBackoff" && !integer {
            hits.push(
                Hit::new(
                    catalog::DAPR_MAX_RETRY_BACKOFF.id,
                    index,
                    format!("metadata maxRetryBackoff is {inline}, not integer nanoseconds; Component init fails"),
                )
                .at(format!("{at}/value")),
            );
        }
    }
}

fn configuration(index: usize, value: &Value, hits: &mut Vec<Hit>) {
    if let Some(mtls) = value.pointer("/spec/mtls") {
        let missing: Vec<&str> = ["enabled", "controlPlaneTrustDomain", "sentryAddress"]
            .into_iter()
            .filter(|k| mtls.get(*k).is_none_or(Value::is_null))
            .collect();
        if !missing.is_empty() {
            hits.push(
                Hit::new(
                    catalog::DAPR_CONFIGURATION_MTLS.id,
                    index,
                    format!(
                        "spec.mtls lacks {}, which the CRD requires",
                        missing.join(", ")
                    ),
                )
                .at("/spec/mtls".into()),
            );
        }
    }
    if let Some(rate) = value.pointer("/spec/tracing/samplingRate") {
        let problem = match rate {
            Value::String(s) if s.trim().parse::<f64>().is_ok() => None,
            Value::String(s) => Some(format!(
                "{s:?} is not a number; Dapr silently samples 0.0001"
            )),
            other => Some(format!(
                "{other} is not a string; the API server refuses it"
            )),
        };
        if let Some(problem) = problem {
            hits.push(
                Hit::new(
                    catalog::DAPR_SAMPLING_RATE.id,
                    index,
                    format!("tracing.samplingRate {problem}"),
                )
                .at("/spec/tracing/samplingRate".into()),
            );
        }
    }
}

fn resiliency(index: usize, value: &Value, hits: &mut Vec<Hit>) {
    let Some(retries) = value
        .pointer("/spec/policies/retries")
        .and_then(Value::as_object)
    else {
        return;
    };
    for (name, policy) in retries {
        if let Some(max) = policy
            .get("maxRetries")
            .filter(|m| !(m.is_i64() || m.is_u64()))
        {
            hits.push(
                Hit::new(
                    catalog::DAPR_RESILIENCY_MAX_RETRIES.id,
                    index,
                    format!("retry policy {name} has maxRetries {max}, not an integer"),
                )
                .at(format!("/spec/policies/retries/{name}/maxRetries")),
            );
        }
    }
}

/// A Subscription whose pub/sub gets a limited inbound retry policy needs a dead-letter
/// topic: when retries run out, only the DLQ takes the message off the loop.
fn subscription(
    ctx: &Context,
    index: usize,
    doc: &crate::Document,
    value: &Value,
    hits: &mut Vec<Hit>,
) {
    if value
        .pointer("/spec/deadLetterTopic")
        .and_then(Value::as_str)
        .is_some_and(|t| !t.is_empty())
    {
        return;
    }
    let Some(pubsub) = value.pointer("/spec/pubsubname").and_then(Value::as_str) else {
        return;
    };
    let limited = ctx.objects().find_map(|(_, d, r)| {
        if d.kind() != "Resiliency" || d.group() != "dapr.io" || d.namespace() != doc.namespace() {
            return None;
        }
        let retry = r
            .pointer(&format!("/spec/targets/components/{pubsub}/inbound/retry"))?
            .as_str()?;
        let max = r
            .pointer(&format!("/spec/policies/retries/{retry}/maxRetries"))?
            .as_i64()?;
        (max >= 0).then(|| (d.name().to_owned(), max))
    });
    if let Some((resiliency, max)) = limited {
        hits.push(
            Hit::new(
                catalog::DAPR_SUBSCRIPTION_DEAD_LETTER.id,
                index,
                format!(
                    "no deadLetterTopic: after the {max} retries Resiliency {resiliency} allows on {pubsub}, a failing message is redelivered forever"
                ),
            )
            .at("/spec".into()),
        );
    }
}
