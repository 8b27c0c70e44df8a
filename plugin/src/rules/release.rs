//! Release-wide rules: disruption budgets, services.json against what is deployed, objects
//! the API server would refuse, and the exemption annotations themselves.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{Context, EXEMPT_PREFIX, Hit, catalog};
use crate::dapr::APP_ID;

pub(super) fn check(ctx: &Context, hits: &mut Vec<Hit>) {
    identity(ctx, hits);
    disruption_budgets(ctx, hits);
    spreading(ctx, hits);
    autoscaled_replicas(ctx, hits);
    default_deny(ctx, hits);
    services_json(ctx, hits);
}

fn identity(ctx: &Context, hits: &mut Vec<Hit>) {
    for (index, doc) in ctx.docs.iter().enumerate().filter(|(_, d)| !d.is_removed()) {
        let missing: Vec<&str> = [
            ("apiVersion", doc.api_version()),
            ("kind", doc.kind()),
            ("metadata.name", doc.name()),
        ]
        .into_iter()
        .filter(|(_, v)| v.is_empty())
        .map(|(k, _)| k)
        .collect();
        if !missing.is_empty() {
            hits.push(Hit::new(
                catalog::OBJECT_IDENTITY.id,
                index,
                format!("has no {}; the API server refuses it", missing.join(", ")),
            ));
        }
    }
}

fn disruption_budgets(ctx: &Context, hits: &mut Vec<Hit>) {
    let budgets: Vec<(&crate::Document, &Value)> = ctx
        .objects()
        .filter(|(_, d, _)| d.kind() == "PodDisruptionBudget")
        .map(|(_, d, v)| (d, v))
        .collect();
    for (pod, replicas) in replicated(ctx) {
        let labels = pod.template.labels();
        let covered = budgets.iter().any(|(budget, spec)| {
            ctx.namespace_of(budget) == ctx.namespace_of(pod.doc)
                && match spec
                    .pointer("/spec/selector/matchLabels")
                    .and_then(Value::as_object)
                {
                    Some(want) if !want.is_empty() => want
                        .iter()
                        .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v)),
                    // matchExpressions only: not evaluated here, so not held against the chart.
                    _ => spec.pointer("/spec/selector/matchExpressions").is_some(),
                }
        });
        if !covered {
            hits.push(
                Hit::new(
                    catalog::PDB_FOR_REPLICAS.id,
                    pod.index,
                    format!("{replicas} replicas and no PodDisruptionBudget selects its pods"),
                )
                .at("/spec/replicas".into()),
            );
        }
    }
}

/// The Deployments and StatefulSets of the release with more than one replica.
fn replicated<'a>(ctx: &'a Context<'a>) -> impl Iterator<Item = (super::Pod<'a>, i64)> + 'a {
    ctx.pods()
        .filter(|p| matches!(p.doc.kind(), "Deployment" | "StatefulSet"))
        .filter_map(|pod| {
            let value = ctx.docs[pod.index].value().expect("pods are parsed");
            let replicas = value
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            (replicas > 1).then_some((pod, replicas))
        })
}

/// Replicas on one node or in one zone go down together: a replicated workload spreads its
/// pods, by topology spread constraints or pod anti-affinity.
fn spreading(ctx: &Context, hits: &mut Vec<Hit>) {
    for (pod, replicas) in replicated(ctx) {
        let non_empty = |v: Option<&Value>| {
            v.is_some_and(|v| {
                v.as_array().is_some_and(|a| !a.is_empty())
                    || v.as_object().is_some_and(|o| !o.is_empty())
            })
        };
        let spreads = non_empty(pod.template.spec.get("topologySpreadConstraints"))
            || non_empty(pod.template.spec.pointer("/affinity/podAntiAffinity"));
        if !spreads {
            hits.push(
                Hit::new(
                    catalog::SPREAD_FOR_REPLICAS.id,
                    pod.index,
                    format!(
                        "{replicas} replicas and nothing spreads its pods: one node or zone going down takes every replica"
                    ),
                )
                .at(pod.template.spec_pointer("topologySpreadConstraints")),
            );
        }
    }
}

/// A workload an autoscaler scales does not set `spec.replicas`: every upgrade would reset
/// what the autoscaler chose (a classic Helm pitfall: the release scales down under load).
fn autoscaled_replicas(ctx: &Context, hits: &mut Vec<Hit>) {
    let targets: Vec<(&str, &str, &str, &str)> = ctx
        .objects()
        .filter(|(_, d, _)| d.kind() == "HorizontalPodAutoscaler")
        .filter_map(|(_, d, v)| {
            let target = v.pointer("/spec/scaleTargetRef")?;
            Some((
                ctx.namespace_of(d),
                target.get("kind")?.as_str()?,
                target.get("name")?.as_str()?,
                d.name(),
            ))
        })
        .collect();
    // The workloads it declares it reads (`Reads::Pods`): another kind an autoscaler scales
    // (an Argo Rollout, say) is parsed only when something else needs it, and a finding must
    // not depend on that.
    for (index, doc, value) in ctx.objects() {
        if !crate::workload::has_pods(doc.kind()) || value.pointer("/spec/replicas").is_none() {
            continue;
        }
        let scaler = targets.iter().find(|(namespace, kind, name, _)| {
            *namespace == ctx.namespace_of(doc) && *kind == doc.kind() && *name == doc.name()
        });
        if let Some((_, _, _, hpa)) = scaler {
            hits.push(
                Hit::new(
                    catalog::REPLICAS_WITH_AUTOSCALER.id,
                    index,
                    format!(
                        "sets replicas, and HorizontalPodAutoscaler {hpa} scales it: every upgrade resets the replicas the autoscaler chose"
                    ),
                )
                .at("/spec/replicas".into()),
            );
        }
    }
}

/// Every pod of the release is selected by a default-deny ingress NetworkPolicy of the release
/// in its namespace, and no policy of the release opens it to every source again. Other
/// releases' policies are not seen, so the rule is off unless configured. Hooks are left out:
/// a hook policy is deleted when its hook ends, and hook pods run before the release's
/// policies exist on a first install (and, under Helm 4's `separate` strategy, arrive without
/// them).
fn default_deny(ctx: &Context, hits: &mut Vec<Hit>) {
    if !ctx.may_run(&catalog::NETWORK_DEFAULT_DENY) {
        return;
    }
    let mut denying = Vec::new();
    let mut opening = Vec::new();
    for (_, doc, value) in ctx.objects() {
        if doc.kind() != "NetworkPolicy"
            || doc.api_version() != "networking.k8s.io/v1"
            || doc.is_hook()
        {
            continue;
        }
        let Some(policy) = IngressPolicy::read(value) else {
            continue;
        };
        let entry = (ctx.namespace_of(doc), policy.selector, doc.name());
        if policy.opens_to_all {
            opening.push(entry);
        } else if policy.denies_all {
            denying.push(entry);
        }
    }
    for pod in ctx.pods() {
        if pod.doc.is_hook() || pod.doc.kind() == "PodTemplate" {
            continue;
        }
        let labels: BTreeMap<String, String> = pod
            .template
            .labels()
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
            .collect();
        let namespace = ctx.namespace_of(pod.doc);
        let selecting = |policies: &[(&str, vf_kube::LabelSelector, &str)]| {
            policies
                .iter()
                .find(|(ns, selector, _)| *ns == namespace && vf_kube::selects(selector, &labels))
                .map(|(_, _, name)| name.to_string())
        };
        let message = if pod.template.spec.get("hostNetwork") == Some(&Value::Bool(true)) {
            Some("runs on the host network, where NetworkPolicies do not reliably apply".to_owned())
        } else if let Some(open) = selecting(&opening) {
            Some(format!(
                "NetworkPolicy {open} admits every source on every port to its pods, which undoes any default deny"
            ))
        } else if selecting(&denying).is_none() {
            Some("no default-deny NetworkPolicy of the release selects its pods: unless one from outside the release does, any pod in the cluster can reach them".to_owned())
        } else {
            None
        };
        if let Some(message) = message {
            hits.push(
                Hit::new(catalog::NETWORK_DEFAULT_DENY.id, pod.index, message)
                    .at(pod.template.metadata_pointer("labels")),
            );
        }
    }
}

/// What a NetworkPolicy does to ingress, as the API server reads it.
struct IngressPolicy {
    /// The pods it selects. A selector the API server would refuse: the policy is not read.
    selector: vf_kube::LabelSelector,
    /// It applies to ingress and allows nothing: ingress to its pods is denied.
    denies_all: bool,
    /// One of its rules admits every source on every port.
    opens_to_all: bool,
}

impl IngressPolicy {
    fn read(policy: &Value) -> Option<IngressPolicy> {
        let empty = serde_json::Map::new();
        let spec = match policy.get("spec") {
            None | Some(Value::Null) => &empty,
            Some(spec) => spec.as_object()?,
        };
        let present = |key: &str| spec.get(key).filter(|v| !v.is_null());
        let ingress: &[Value] = match present("ingress") {
            None => &[],
            Some(rules) => rules.as_array()?,
        };
        // An absent or empty policyTypes is defaulted to Ingress (plus Egress with egress rules).
        let types = present("policyTypes").map(Value::as_array);
        let applies_to_ingress = match types {
            None => true,
            Some(None) => return None,
            Some(Some(types)) => {
                types.is_empty() || types.iter().any(|t| t.as_str() == Some("Ingress"))
            }
        };
        let selector = match present("podSelector") {
            None => vf_kube::LabelSelector::default(),
            Some(selector) => {
                // `matchLabels: null` is the same as leaving it out.
                let mut selector = selector.as_object()?.clone();
                selector.retain(|_, v| !v.is_null());
                serde_json::from_value(Value::Object(selector)).ok()?
            }
        };
        vf_kube::check_selector(&selector).ok()?;
        let every_port = |rule: &Value| {
            rule.get("ports")
                .is_none_or(|p| p.is_null() || p.as_array().is_some_and(Vec::is_empty))
        };
        let every_source = |rule: &Value| match rule.get("from") {
            None | Some(Value::Null) => true,
            Some(Value::Array(peers)) => peers.is_empty() || peers.iter().any(peer_is_everyone),
            Some(_) => false,
        };
        Some(IngressPolicy {
            selector,
            denies_all: applies_to_ingress && ingress.is_empty(),
            opens_to_all: applies_to_ingress
                && ingress.iter().any(|r| every_port(r) && every_source(r)),
        })
    }
}

/// A peer admitting every pod of every namespace, or every address.
fn peer_is_everyone(peer: &Value) -> bool {
    let empty_selector = |key: &str| {
        peer.get(key).is_some_and(|s| {
            s.as_object().is_some_and(|o| {
                o.values().all(|v| {
                    v.is_null()
                        || v.as_object().is_some_and(|m| m.is_empty())
                        || v.as_array().is_some_and(|a| a.is_empty())
                })
            })
        })
    };
    let all_pods = empty_selector("namespaceSelector")
        && peer
            .get("podSelector")
            .is_none_or(|_| empty_selector("podSelector"));
    let all_addresses = peer
        .pointer("/ipBlock/cidr")
        .and_then(Value::as_str)
        .is_some_and(|cidr| matches!(cidr, "0.0.0.0/0" | "::/0"))
        && peer
            .pointer("/ipBlock/except")
            .is_none_or(|e| e.as_array().is_none_or(Vec::is_empty));
    all_pods || all_addresses
}

/// Every services.json in the release lists only backends that are deployed here.
fn services_json(ctx: &Context, hits: &mut Vec<Hit>) {
    let services: BTreeSet<(Option<&str>, &str)> = ctx
        .objects()
        .filter(|(_, d, _)| d.kind() == "Service")
        .map(|(_, d, _)| (d.namespace(), d.name()))
        .collect();
    let app_ids: BTreeSet<&str> = ctx
        .pods()
        .filter_map(|p| p.template.annotation(APP_ID).and_then(Value::as_str))
        .collect();
    for (index, doc, value) in ctx.objects().filter(|(_, d, _)| d.kind() == "ConfigMap") {
        let Some(text) = value.pointer("/data/services.json").and_then(Value::as_str) else {
            continue;
        };
        let hit = |message: String| {
            Hit::new(catalog::SERVICES_JSON_BACKENDS.id, index, message)
                .at("/data/services.json".into())
        };
        let parsed: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                hits.push(hit(format!("services.json is not valid JSON: {e}")));
                continue;
            }
        };
        for entry in parsed
            .get("services")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = entry.get("name").and_then(Value::as_str).unwrap_or("?");
            if let Some(host) = entry.pointer("/grpc/host").and_then(Value::as_str) {
                let mut labels = host.split('.');
                let service = labels.next().unwrap_or("");
                let namespace = labels.next().or(doc.namespace());
                let found = services.iter().any(|(ns, n)| {
                    *n == service && (namespace.is_none() || ns.is_none() || *ns == namespace)
                });
                if !found {
                    hits.push(hit(format!(
                        "backend {name} points at {host}, but the release has no Service {service}"
                    )));
                }
            }
            if let Some(id) = entry.get("daprAppId").and_then(Value::as_str)
                && !app_ids.contains(id)
            {
                hits.push(hit(format!(
                    "backend {name} names Dapr app {id}, which no workload in the release runs"
                )));
            }
        }
    }
}

/// Exemption annotations need a reason and a rule that exists (built in, or declared by a
/// policy module in `module_rules`).
pub(crate) fn check_exemptions(ctx: &Context, module_rules: &[String], hits: &mut Vec<Hit>) {
    // Every document, parsed or not (`Reads::Scan`): the scan keeps the text annotations,
    // and a parsed document also shows one whose value is not text.
    for (index, doc) in ctx.docs.iter().enumerate().filter(|(_, d)| !d.is_removed()) {
        let annotations: Vec<(&str, Option<&str>)> = match doc.value() {
            Some(value) => value
                .pointer("/metadata/annotations")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect(),
            None => doc
                .annotations()
                .iter()
                .map(|(k, v)| (k.as_str(), Some(v.as_str())))
                .collect(),
        };
        for (key, reason) in annotations {
            let Some(name) = key.strip_prefix(EXEMPT_PREFIX) else {
                continue;
            };
            // `<rule>` or `<rule>.<container>`; a policy's rule id may hold dots itself.
            let known = |rule: &str| {
                catalog::find(rule).is_some() || module_rules.iter().any(|r| r == rule)
            };
            let names_a_rule =
                known(name) || name.match_indices('.').any(|(at, _)| known(&name[..at]));
            let pointer = format!(
                "/metadata/annotations/{}",
                key.replace('~', "~0").replace('/', "~1")
            );
            if !names_a_rule {
                let rule = name.split('.').next().unwrap_or(name);
                hits.push(
                    Hit::new(
                        catalog::EXEMPTION_REASON.id,
                        index,
                        format!("{key} names no known rule {rule:?}"),
                    )
                    .at(pointer.clone()),
                );
            }
            if reason.is_none_or(|r| r.trim().is_empty()) {
                hits.push(
                    Hit::new(
                        catalog::EXEMPTION_REASON.id,
                        index,
                        format!("{key} gives no reason, so it exempts nothing"),
                    )
                    .at(pointer),
                );
            }
        }
    }
}
