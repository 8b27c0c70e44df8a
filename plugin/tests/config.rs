//! vf-post's configuration crosses to the engine component (`--engine wasm`) as JSON: what
//! the host read must read back the same inside, or the two engines judge different
//! releases. Found by an attack: an exception without a selector crossed as `null`, which
//! the configuration rightly refuses, so `--engine wasm` refused every such exception.

mod support;

use vf_plugin::Config;

/// Every optional setting both left out and given.
const BROAD: &str = r#"
transforms: {commonAnnotations: {example.com/a: "1"}}
rules:
  container-requests: {enabled: false}
  image-tag-pinned: {severity: warning}
  pdb-for-replicas: {}
registries: {allowed: [registry.example.com]}
teams:
  - name: payments
    namespaces: [payments]
    labels: {team: payments}
    rules: {run-as-non-root: {severity: info}}
    registries: {allowed: [payments.example.com]}
    modules: [{path: team.wasm, sha256: "00", settings: {ratio: 0.39109838263280283}}]
    policies: [{path: team.yaml, sha256: "00"}]
  - name: bare
modules:
  - {name: labels, path: a.wasm, sha256: "00", settings: {labels: [team]}, mutate: true, readSecrets: true}
  - {path: b.wasm, sha256: "00"}
policies:
  - {path: a.yaml}
  - {path: b.rego, sha256: "00", rego: {namespaces: [main, lib], combine: true, version: v0}}
admission:
  namespace: virtufin
  namespaceLabels: {virtufin: {env: prod}}
  userInfo: {username: ci, groups: [deployers]}
sandbox: {timeoutMs: 500, compiler: winch, celCostPerExpression: 10}
exceptions:
  - {rule: container-requests, reason: r, owner: o, expires: "2099-01-01"}
  - {rule: container-requests, kind: Job, reason: r, owner: o, expires: "2099-01-01"}
  - {rule: container-requests, name: a, reason: r, owner: o, expires: "2099-01-01"}
  - {rule: container-requests, namespace: n, reason: r, owner: o, expires: "2099-01-01"}
  - {rule: container-requests, container: c, reason: r, owner: o, expires: "2099-01-01"}
  - {rule: x, kind: Job, name: a, namespace: n, container: c, reason: r, owner: o, expires: "2099-01-01"}
"#;

#[test]
fn every_configuration_crosses_to_the_engine_component_unchanged() {
    let mut texts = vec![("broad".to_owned(), BROAD.to_owned())];
    let repo = support::repo();
    for dir in ["tests/golden", "tests/rules", "tests/cel", "policies"] {
        for case in std::fs::read_dir(repo.join(dir)).unwrap() {
            let case = case.unwrap().path();
            for name in ["config.yaml", "vf-post.yaml"] {
                if let Ok(text) = std::fs::read_to_string(case.join(name)) {
                    texts.push((case.join(name).display().to_string(), text));
                }
            }
        }
    }
    assert!(texts.len() > 40, "{} configurations", texts.len());
    let mut crossed = 0;
    for (name, text) in texts {
        // Hostile cases whose configuration vf-post refuses never reach the engine.
        let Ok(config) = serde_saphyr::from_str::<Config>(&text) else {
            continue;
        };
        let json = serde_json::to_string(&config).unwrap();
        let back: Config = serde_json::from_str(&json)
            .unwrap_or_else(|e| panic!("{name}: the engine component cannot read {json}: {e}"));
        assert_eq!(back, config, "{name}: changed on the way");
        crossed += 1;
    }
    assert!(crossed > 40, "only {crossed} configurations read");
}
