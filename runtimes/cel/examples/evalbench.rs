//! Times the runtime natively on a settings file and a JSON array of objects (a development
//! aid for profiling): `evalbench settings.json docs.json`.
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let settings = std::fs::read_to_string(&args[1]).unwrap();
    let docs: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&args[2]).unwrap()).unwrap();
    let functions = vf_cel::functions();
    let t = std::time::Instant::now();
    let (settings, set) = vf_cel::load(&settings, &functions).unwrap();
    eprintln!("load: {:?}", t.elapsed());
    let docs: Vec<vf_cel::Doc> = docs
        .into_iter()
        .enumerate()
        .map(|(index, object)| {
            let kind = object["kind"].as_str().unwrap_or_default().to_owned();
            vf_cel::Doc::read(
                index as u32,
                &kind,
                &object.to_string(),
                &set,
                settings.phase,
            )
            .unwrap()
        })
        .collect();
    for _ in 0..3 {
        let t = std::time::Instant::now();
        let verdict = vf_cel::evaluate::evaluate(&functions, &set, &settings, &docs);
        eprintln!(
            "evaluate {} docs: {:?}, {} findings",
            docs.len(),
            t.elapsed(),
            verdict.findings.len()
        );
    }
}
