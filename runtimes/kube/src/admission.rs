//! How vf-post presents each object of the release to admission policies, as the host's
//! configuration (`admission:`) says: a CREATE by this user, into these namespaces.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Admission {
    /// Where objects without `metadata.namespace` go (Helm's `--namespace`).
    pub namespace: String,
    /// Labels of namespaces the release does not create, by name.
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

#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct UserInfo {
    pub username: String,
    pub uid: String,
    pub groups: Vec<String>,
}
