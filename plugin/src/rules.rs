//! Built-in rules over the post-rendered release. Each group of rules is a file; each rule
//! reports hits, and [`settle`] turns hits into findings: configuration (global, then the
//! object's team), the catalog's hint, and exemption annotations.

pub mod catalog;
mod dapr_resources;
mod dapr_workloads;
mod images;
mod release;
mod workloads;

use serde_json::Value;

use crate::config::{Config, RuleSetting, Team};
use crate::contract::Contract;
use crate::document::Document;
use crate::document::Meta;
use crate::finding::{Exemption, Finding, ObjectRef, Severity, WaivedBy};
use crate::workload::PodTemplate;

/// Annotation prefix of exemptions: `exempt.vf-post.virtufin.io/<rule>[.<container>]: "<reason>"`,
/// after kube-linter's `ignore-check.kube-linter.io/<check>`.
pub const EXEMPT_PREFIX: &str = "exempt.vf-post.virtufin.io/";

/// What a rule saw, before configuration and exemptions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// Rule id.
    pub rule: String,
    /// Index into the stream's documents; `None` for release-wide hits.
    pub doc: Option<usize>,
    /// The container, for per-container rules.
    pub container: Option<String>,
    /// JSON pointer into the object.
    pub path: Option<String>,
    /// What is wrong.
    pub message: String,
    /// Severity given by a policy module (built-in rules take the catalog's).
    pub severity: Option<Severity>,
    /// Hint given by a policy module.
    pub hint: Option<String>,
}

impl Hit {
    /// A rule's hit on document `doc`: every built-in rule judges an object.
    fn new(rule: &str, doc: usize, message: String) -> Self {
        Hit {
            rule: rule.to_owned(),
            doc: Some(doc),
            container: None,
            path: None,
            message,
            severity: None,
            hint: None,
        }
    }

    fn at(mut self, path: String) -> Self {
        self.path = Some(path);
        self
    }

    fn container(mut self, name: &str) -> Self {
        self.container = Some(name.to_owned());
        self
    }
}

/// Whether some rule needs a document parsed (what each reads is in its declaration), or
/// redaction does: it masks every Secret's values in every report.
pub fn wants(meta: &Meta) -> bool {
    meta.kind == "Secret"
        || catalog::RULES
            .iter()
            .flat_map(|rule| rule.reads)
            .any(|reads| reads.parses(meta))
}

/// Runs every built-in rule and settles the hits.
pub fn check(
    docs: &[Document],
    contract: Option<&Contract>,
    config: &Config,
    module_rules: &[String],
) -> Vec<Finding> {
    let ctx = Context {
        docs,
        config,
        contract,
    };
    let mut hits = Vec::new();
    images::check(&ctx, &mut hits);
    workloads::check(&ctx, &mut hits);
    dapr_workloads::check(&ctx, &mut hits);
    dapr_resources::check(&ctx, &mut hits);
    release::check(&ctx, &mut hits);
    release::check_exemptions(&ctx, module_rules, &mut hits);
    settle(hits, docs, config, "builtin")
}

/// What rules look at.
pub(crate) struct Context<'a> {
    pub docs: &'a [Document],
    pub config: &'a Config,
    pub contract: Option<&'a Contract>,
}

/// A pod template in the release, with the object it is in.
pub(crate) struct Pod<'a> {
    pub index: usize,
    pub doc: &'a Document,
    pub template: PodTemplate<'a>,
}

impl<'a> Context<'a> {
    /// Parsed objects that reach the cluster, with their index.
    pub fn objects(&self) -> impl Iterator<Item = (usize, &'a Document, &'a Value)> {
        self.docs
            .iter()
            .enumerate()
            .filter(|(_, d)| !d.is_removed())
            .filter_map(|(i, d)| d.value().map(|v| (i, d, v)))
    }

    /// Every pod spec of the release.
    pub fn pods(&self) -> impl Iterator<Item = Pod<'a>> {
        self.objects().filter_map(|(index, doc, value)| {
            Some(Pod {
                index,
                doc,
                template: PodTemplate::of(doc.kind(), value)?,
            })
        })
    }

    /// The namespace an object lands in: its own, else the release's (`admission.namespace`),
    /// so that a chart setting the namespace on some objects only still pairs them up.
    pub fn namespace_of(&self, doc: &'a Document) -> &'a str {
        doc.namespace().unwrap_or(&self.config.admission.namespace)
    }

    /// Whether `rule` can find anything in this run: on by default, or turned on by the
    /// configuration or a team. A rule that is off everywhere is not worth its work.
    pub fn may_run(&self, rule: &catalog::Rule) -> bool {
        let on = |setting: Option<&RuleSetting>| setting.and_then(|s| s.enabled) == Some(true);
        rule.on_by_default
            || on(self.config.rules.get(rule.id))
            || self.config.teams.iter().any(|t| on(t.rules.get(rule.id)))
    }

    /// The team an object belongs to.
    pub fn team(&self, doc: &Document) -> Option<&'a Team> {
        team_of(self.config, doc)
    }
}

/// The team an object belongs to: the first whose namespaces or labels match (the labels the
/// chart gave it, whatever a policy module changed).
pub fn team_of<'c>(config: &'c Config, doc: &Document) -> Option<&'c Team> {
    // An object without a namespace lands where Helm installs the release, which the
    // configuration names (`admission.namespace`): leaving the namespace out of a chart must
    // not leave its objects out of their team's policies.
    let namespace = doc.namespace().unwrap_or(&config.admission.namespace);
    config.teams.iter().find(|team| {
        let by_namespace = team.namespaces.iter().any(|t| t == namespace);
        let by_labels = !team.labels.is_empty()
            && team
                .labels
                .iter()
                .all(|(k, v)| doc.authored_label(k) == Some(v.as_str()));
        by_namespace || by_labels
    })
}

/// Turns hits into findings: drops rules that are off (configured so, or off by default and
/// not turned on), applies severities (team over global
/// over default) and marks exempted findings with their reason.
pub fn settle(hits: Vec<Hit>, docs: &[Document], config: &Config, origin: &str) -> Vec<Finding> {
    let mut findings = Vec::with_capacity(hits.len());
    for hit in hits {
        let doc = hit.doc.map(|i| &docs[i]);
        let setting = effective_setting(config, doc, &hit.rule);
        let entry = catalog::find(&hit.rule);
        if !setting
            .enabled
            .unwrap_or(entry.is_none_or(|r| r.on_by_default))
        {
            continue;
        }
        let severity = setting
            .severity
            .or(hit.severity)
            .or(entry.map(|r| r.severity))
            .unwrap_or(Severity::Error);
        let hint = hit
            .hint
            .or_else(|| entry.map(|r| r.hint.to_owned()))
            .unwrap_or_default();
        let exempted = doc.and_then(|d| exemption(d, &hit.rule, hit.container.as_deref()));
        findings.push(Finding {
            rule: hit.rule,
            severity,
            message: hit.message,
            hint,
            object: doc.map(ObjectRef::from),
            container: hit.container,
            path: hit.path,
            origin: origin.to_owned(),
            exempted,
            introduced_by: Vec::new(),
        });
    }
    findings
}

fn effective_setting(config: &Config, doc: Option<&Document>, rule: &str) -> RuleSetting {
    let global = config.rules.get(rule).cloned().unwrap_or_default();
    let team = doc
        .and_then(|d| team_of(config, d))
        .and_then(|t| t.rules.get(rule));
    match team {
        Some(t) => RuleSetting {
            enabled: t.enabled.or(global.enabled),
            severity: t.severity.or(global.severity),
        },
        None => global,
    }
}

/// An exemption annotation with a reason, for the rule on the object or on the container. Only
/// the chart's own annotations exempt: a policy module cannot waive what it brings about.
fn exemption(doc: &Document, rule: &str, container: Option<&str>) -> Option<Exemption> {
    let mut keys = vec![format!("{EXEMPT_PREFIX}{rule}")];
    if let Some(container) = container {
        keys.push(format!("{EXEMPT_PREFIX}{rule}.{container}"));
    }
    keys.into_iter().find_map(|key| {
        let reason = doc.authored_annotation(&key)?.trim();
        (!reason.is_empty()).then(|| Exemption {
            by: WaivedBy::Annotation(key.clone()),
            reason: reason.to_owned(),
        })
    })
}
