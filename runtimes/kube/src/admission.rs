//! How vf-post presents each object of the release to admission policies, as the host's
//! configuration (`admission:`) says: a CREATE by this user, into these namespaces.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `admission:` of vf-post's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Admission {
    /// The namespace objects without `metadata.namespace` are installed into (Helm's
    /// `--namespace`).
    pub namespace: String,
    /// Labels of namespaces the release does not create, by name (for namespace selectors
    /// and `namespaceObject`).
    pub namespace_labels: BTreeMap<String, BTreeMap<String, String>>,
    /// `request.userInfo`.
    pub user_info: UserInfo,
}

impl Default for Admission {
    fn default() -> Self {
        Admission {
            namespace: "default".into(),
            namespace_labels: BTreeMap::new(),
            user_info: UserInfo::default(),
        }
    }
}

/// Who installs the release, as admission policies see it: `request.userInfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct UserInfo {
    /// `request.userInfo.username`.
    pub username: String,
    /// `request.userInfo.uid`.
    pub uid: String,
    /// `request.userInfo.groups`.
    pub groups: Vec<String>,
}
