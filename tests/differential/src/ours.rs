//! vf-post's side: how the engine reads a stream, and what it writes with nothing to change
//! and with an annotation added to every object. A panic is caught and reported, never fatal.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

use serde_json::Value;
use vf_plugin::{Config, Plan, Stream, render};

/// The annotation the changed run adds; "yes" is the classic trap (Go reads it as a boolean
/// unless it is quoted).
pub const TOUCH: (&str, &str) = ("vf-post.virtufin.io/fuzz", "yes");

/// What rules and policy modules know of an object without its tree.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Meta {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub namespace: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

impl Meta {
    /// As Kubernetes reads it from the object: string fields only.
    pub fn of(value: &Value) -> Meta {
        let text = |p: &str| value.pointer(p).and_then(Value::as_str).map(str::to_owned);
        let pairs = |p: &str| {
            value
                .pointer(p)
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        };
        Meta {
            api_version: text("/apiVersion").unwrap_or_default(),
            kind: text("/kind").unwrap_or_default(),
            name: text("/metadata/name").unwrap_or_default(),
            namespace: text("/metadata/namespace"),
            labels: pairs("/metadata/labels"),
            annotations: pairs("/metadata/annotations"),
        }
    }

    fn of_document(doc: &vf_plugin::Document) -> Meta {
        Meta {
            api_version: doc.api_version().to_owned(),
            kind: doc.kind().to_owned(),
            name: doc.name().to_owned(),
            namespace: doc.namespace().map(str::to_owned),
            labels: doc.labels().iter().cloned().collect(),
            annotations: doc.annotations().iter().cloned().collect(),
        }
    }
}

/// A result, an error message, or a panic message.
pub type Run<T> = Result<T, Failure>;

#[derive(Debug, Clone)]
pub enum Failure {
    Refused(String),
    Panicked(String),
}

#[derive(Debug)]
pub struct Ours {
    /// Every document parsed into a tree (List items expanded).
    pub read: Run<Vec<Value>>,
    /// Every document as reading knows it without a tree (the scan).
    pub metas: Run<Vec<Meta>>,
    /// The output when nothing is to change.
    pub passthrough: Run<Vec<u8>>,
    /// The output when every object gets [`TOUCH`].
    pub changed: Run<Vec<u8>>,
}

pub fn run(input: &[u8]) -> Ours {
    let read = guard(|| {
        let stream = Stream::read_all(input.to_vec()).map_err(|e| e.to_string())?;
        Ok(stream
            .documents()
            .iter()
            .map(|d| d.value().cloned().unwrap_or(Value::Null))
            .collect())
    });
    let metas = guard(|| {
        let plan = Plan {
            keep: &|_, _| false,
            is_contract: vf_plugin::contract::is_contract,
            local: None,
        };
        let stream = Stream::read(input.to_vec(), &plan).map_err(|e| e.to_string())?;
        Ok(stream.documents().iter().map(Meta::of_document).collect())
    });
    let passthrough = guard(|| {
        render(input.to_vec(), &Config::default())
            .map(|r| r.output)
            .map_err(|e| e.to_string())
    });
    let changed = guard(|| {
        let mut config = Config::default();
        config
            .transforms
            .common_annotations
            .insert(TOUCH.0.into(), TOUCH.1.into());
        render(input.to_vec(), &config)
            .map(|r| r.output)
            .map_err(|e| e.to_string())
    });
    Ours {
        read,
        metas,
        passthrough,
        changed,
    }
}

fn guard<T>(f: impl FnOnce() -> Result<T, String>) -> Run<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(message)) => Err(Failure::Refused(message)),
        Err(payload) => Err(Failure::Panicked(
            payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "a panic".into()),
        )),
    }
}
