//! The differential fuzzer of issue 12: vf-post's reading and writing of YAML against
//! Kubernetes' own Go readers (tests/go-reader), on the YAML test suite, the traps, the
//! regressions found so far and mutants of the real corpus.
//!
//!   vf-differential [--seed N] [--seconds S] [--save DIR]
//!
//! Every family but the mutants runs whole (`aliasing/boundary`: 48 webs of anchors from the
//! seed); mutants run until `--seconds` is spent. Prints
//! the count of each outcome class per family; exits 1 if any input failed (a disagreement
//! with Go, a panic, a hang, an error without a place), saving each such input to `--save`.

mod aliasing;
mod check;
mod inputs;
mod judge;
mod mutate;
mod ours;
mod rng;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use check::Class;
use inputs::Case;

/// Webs of anchors whose excessive-aliasing boundary is found per run.
const ALIASING_WEBS: usize = 48;

/// Longer than any input of the fuzzer takes (a few ms): past it, the engine hangs.
const HANG: Duration = Duration::from_secs(30);

struct Options {
    seed: u64,
    seconds: u64,
    save: PathBuf,
}

fn main() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let options = match parse_args(&repo) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("vf-differential: {e}");
            std::process::exit(2);
        }
    };
    match run(&repo, &options) {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("vf-differential: {e}");
            std::process::exit(2);
        }
    }
}

fn parse_args(repo: &Path) -> Result<Options, String> {
    let mut options = Options {
        seed: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_secs()),
        seconds: 60,
        save: repo.join("target/differential/found"),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--seed" => options.seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--seconds" => {
                options.seconds = value()?.parse().map_err(|e| format!("--seconds: {e}"))?;
            }
            "--save" => options.save = PathBuf::from(value()?),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(options)
}

fn run(repo: &Path, options: &Options) -> Result<bool, String> {
    let shared =
        std::env::var_os("VF_SHARED").map_or_else(|| repo.join("../shared"), PathBuf::from);
    let mut judge = judge::Judge::start(&repo.join("target/go-reader"))?;
    let suite = inputs::load_suite(&repo.join("target/yaml-test-suite.json"))?;
    let corpus = inputs::Corpus::load(&shared.join("corpus"))?;
    let splice: Vec<String> = suite
        .iter()
        .map(|c| c.yaml.clone())
        .filter(|y| y.len() < 400)
        .collect();
    println!(
        "vf-differential: seed {} ({} s of corpus mutants); replay with --seed {}",
        options.seed, options.seconds, options.seed
    );
    quiet_panics();
    let worker = Worker::start();
    let mut tally = Tally::default();
    let fixed = inputs::regressions(&repo.join("tests/differential/regressions"))
        .into_iter()
        .chain(inputs::traps())
        .chain(inputs::suite(&suite));
    for case in fixed {
        judge_case(&case, &worker, &mut judge, &mut tally, &options.save)?;
    }
    let mut rng = rng::Rng::new(options.seed);
    for _ in 0..ALIASING_WEBS {
        let outcome = aliasing::check(&mut rng, &mut judge);
        tally.aliasing(outcome, &options.save)?;
    }
    let deadline = Instant::now() + Duration::from_secs(options.seconds);
    let mut n = 0;
    while Instant::now() < deadline {
        n += 1;
        let case = corpus.mutant(&mut rng, &splice, n);
        judge_case(&case, &worker, &mut judge, &mut tally, &options.save)?;
    }
    tally.print();
    Ok(tally.failures == 0)
}

fn judge_case(
    case: &Case,
    worker: &Worker,
    judge: &mut judge::Judge,
    tally: &mut Tally,
    save: &Path,
) -> Result<(), String> {
    let Some(ours) = worker.run(case.input.clone()) else {
        let path = keep(save, case, "HANG", "the engine ran longer than 30 s")?;
        return Err(format!(
            "{} {}: the engine hangs (input saved to {})",
            case.family,
            case.name,
            path.display()
        ));
    };
    let judged = check::check(&case.input, &ours, judge);
    if judged.class.is_failure() {
        let path = keep(save, case, &judged.class.label(), &judged.detail)?;
        if tally.failures < 20 {
            println!(
                "{} | {} | {}\n  saved to {}\n  {}",
                case.family,
                case.name,
                judged.class.label(),
                path.display(),
                judged.detail.replace('\n', "\n  ")
            );
        }
        tally.failures += 1;
    }
    tally.add(case.family, &judged);
    Ok(())
}

/// Saves a failing input (and why) for replay; it becomes a regression case once fixed.
fn keep(dir: &Path, case: &Case, class: &str, detail: &str) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let n = std::fs::read_dir(dir).map(Iterator::count).unwrap_or(0);
    let path = dir.join(format!("{n:05}.yaml"));
    std::fs::write(&path, &case.input).map_err(|e| e.to_string())?;
    let why = format!("{} | {} | {class}\n{detail}\n", case.family, case.name);
    std::fs::write(path.with_extension("txt"), why).map_err(|e| e.to_string())?;
    Ok(path)
}

#[derive(Default)]
struct Tally {
    by_family: BTreeMap<&'static str, BTreeMap<String, usize>>,
    helm_split_differs: BTreeMap<&'static str, usize>,
    failures: usize,
}

impl Tally {
    fn add(&mut self, family: &'static str, judged: &check::Judged) {
        let classes = self.by_family.entry(family).or_default();
        *classes.entry(judged.class.label()).or_default() += 1;
        if judged.helm_split_differs {
            *self.helm_split_differs.entry(family).or_default() += 1;
        }
    }

    fn aliasing(
        &mut self,
        outcome: Result<aliasing::Outcome, (Case, String)>,
        save: &Path,
    ) -> Result<(), String> {
        let label = match outcome {
            Ok(aliasing::Outcome::Matched) => "boundary found and matched".to_owned(),
            Ok(aliasing::Outcome::RefusedWithoutAliases) => {
                "refused by both without aliases".to_owned()
            }
            Ok(aliasing::Outcome::NoBoundary) => "no boundary within reach".to_owned(),
            Err((case, detail)) => {
                let label = "FAILURE excessive aliasing read unlike Go".to_owned();
                let path = keep(save, &case, &label, &detail)?;
                println!(
                    "{} | {} | {label}\n  saved to {}\n  {detail}",
                    case.family,
                    case.name,
                    path.display()
                );
                self.failures += 1;
                label
            }
        };
        let classes = self.by_family.entry("aliasing/boundary").or_default();
        *classes.entry(label).or_default() += 1;
        Ok(())
    }

    fn print(&self) {
        println!("\n{:<18} {:>7}  outcome classes", "family", "inputs");
        for (family, classes) in &self.by_family {
            let total: usize = classes.values().sum();
            // The reading families in a fixed order of classes; the aliasing one as counted.
            let parts: Vec<String> = if family.starts_with("aliasing") {
                classes.iter().map(|(k, v)| format!("{k} {v}")).collect()
            } else {
                [
                    Class::Agree,
                    Class::RefusedBoth,
                    Class::RefusedOurs,
                    Class::Unknown,
                ]
                .iter()
                .map(|c| format!("{} {}", c.label(), classes.get(&c.label()).unwrap_or(&0)))
                .chain(
                    classes
                        .iter()
                        .filter(|(k, _)| k.starts_with("FAILURE"))
                        .map(|(k, v)| format!("{k} {v}")),
                )
                .collect()
            };
            println!("{family:<18} {total:>7}  {}", parts.join(", "));
        }
        let differs: usize = self.helm_split_differs.values().sum();
        println!(
            "(inputs Helm's SplitManifests reads unlike apimachinery: {differs}; informational)"
        );
        println!("failures: {}", self.failures);
    }
}

/// Runs the engine on its own thread, so a hang is noticed instead of stopping the fuzzer.
struct Worker {
    inputs: mpsc::Sender<Vec<u8>>,
    outputs: mpsc::Receiver<ours::Ours>,
}

impl Worker {
    fn start() -> Worker {
        let (inputs, rx) = mpsc::channel::<Vec<u8>>();
        let (tx, outputs) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name(ENGINE_THREAD.into())
            .spawn(move || {
                for input in rx {
                    if tx.send(ours::run(&input)).is_err() {
                        return;
                    }
                }
            });
        spawned.expect("a thread for the engine");
        Worker { inputs, outputs }
    }

    fn run(&self, input: Vec<u8>) -> Option<ours::Ours> {
        self.inputs.send(input).ok()?;
        self.outputs.recv_timeout(HANG).ok()
    }
}

const ENGINE_THREAD: &str = "engine";

/// The engine's panics are caught and counted (their default message would drown the
/// report); the fuzzer's own are shown.
fn quiet_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().name() != Some(ENGINE_THREAD) {
            default(info);
        }
    }));
}
