//! The engine as a WebAssembly component (wit/engine): what `vf-post --engine wasm` runs.
//! Only glue: every call goes to the same code the native engine runs.

use std::cell::RefCell;

use serde_json::json;

use crate::modules::{ModuleHit, ModulePatch, Reads};
use crate::{Config, Release};

wit_bindgen::generate!({ path: "../wit/engine", world: "engine-component" });

use exports::vf::engine::engine::{Error, Guest, GuestRelease, Release as Handle};

struct Exports;

impl Guest for Exports {
    type Release = Open;
}

/// A release between `open` and `finish`.
struct Open(RefCell<Option<Release>>);

fn refused(error: impl std::fmt::Display) -> Error {
    Error::Refused(error.to_string())
}

impl Open {
    fn with<T>(&self, f: impl FnOnce(&mut Release) -> T) -> T {
        f(self
            .0
            .borrow_mut()
            .as_mut()
            .expect("the release is open until finish"))
    }
}

impl GuestRelease for Open {
    fn open(
        input: Vec<u8>,
        config: String,
        objects: Option<Vec<String>>,
        module_rules: Vec<String>,
        track_changes: bool,
    ) -> Result<Handle, Error> {
        let config: Config = serde_json::from_str(&config).map_err(refused)?;
        let objects = match objects {
            None => crate::Objects::None,
            Some(kinds) if kinds.is_empty() => crate::Objects::All,
            Some(kinds) => crate::Objects::Kinds(kinds),
        };
        let changes = if track_changes {
            crate::Changes::Tracked
        } else {
            crate::Changes::Untracked
        };
        let release =
            crate::prepare(input, &config, &objects, &module_rules, changes).map_err(refused)?;
        Ok(Handle::new(Open(RefCell::new(Some(release)))))
    }

    fn report(&self) -> String {
        self.with(|r| {
            json!({
                "objects": r.objects(),
                "applied": r.applied,
                "findings": r.findings,
                "changes": r.changes(),
            })
            .to_string()
        })
    }

    fn documents(
        &self,
        kinds: Vec<String>,
        team: Option<String>,
        reads: String,
        with_secrets: bool,
    ) -> Result<String, Error> {
        let reads: Reads = serde_json::from_str(&reads).map_err(refused)?;
        self.with(|r| {
            let views = r.views(&kinds, team.as_deref(), &reads, with_secrets);
            Ok(serde_json::to_string(&views).expect("views serialize"))
        })
    }

    fn mutate(&self, origin: String, patches: String) -> Result<(), Error> {
        let patches: Vec<ModulePatch> = serde_json::from_str(&patches).map_err(refused)?;
        self.with(|r| r.mutate(&origin, &patches)).map_err(refused)
    }

    fn propose(&self, origin: String, patches: String, why: String) -> Result<(), Error> {
        let patches: Vec<ModulePatch> = serde_json::from_str(&patches).map_err(refused)?;
        self.with(|r| r.propose(&origin, &patches, &why))
            .map_err(refused)
    }

    fn validate(&self) -> Result<(), Error> {
        self.with(Release::validate).map_err(refused)
    }

    fn settle(&self, origin: String, hits: String) -> Result<(), Error> {
        let hits: Vec<ModuleHit> = serde_json::from_str(&hits).map_err(refused)?;
        self.with(|r| r.settle(&origin, hits)).map_err(refused)
    }

    fn finish(&self) -> Vec<u8> {
        let release = self.0.borrow_mut().take().expect("finish is called once");
        release.stream.into_output()
    }
}

export!(Exports);
