//! The `aliasing/boundary` family: go-yaml's "document contains excessive aliasing" guard,
//! found exactly. For random webs of anchors (lists, maps, `<<` merges of one alias or of a
//! list, aliases as keys, inline maps merged after aliases), Go itself is bisected to the
//! number of aliases where it starts refusing; vf-post's scan and tree builder must refuse
//! there and accept one alias fewer. The builder runs without vf-post's own alias budget,
//! which is stricter and would otherwise answer first.

use vf_plugin::stream::{build, limits::AliasBudget, scan};

use crate::inputs::Case;
use crate::judge::Judge;
use crate::rng::Rng;

/// A web of anchors, ending in `top`, the anchor `big: [...]` repeats.
struct Web {
    head: String,
}

fn web(rng: &mut Rng) -> Web {
    let mut head =
        String::from("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: aliasing\nx:\n");
    let fill = *rng.pick(&[0, 5, 50, 500]);
    head.push_str(&format!("  fill: [{}]\n", vec!["0"; fill].join(", ")));
    head.push_str("  base: &m0 {a: 1, b: 2}\n  s0: &s0 x\n");
    // (name, is a mapping)
    let mut anchors: Vec<(String, bool)> = vec![("m0".into(), true), ("s0".into(), false)];
    for i in 0..4 + rng.below(6) {
        let k = 2 + rng.below(4);
        let recent = &anchors[anchors.len().saturating_sub(3)..];
        let refs: Vec<String> = (0..k).map(|_| format!("*{}", rng.pick(recent).0)).collect();
        let maps: Vec<&(String, bool)> = anchors.iter().filter(|a| a.1).collect();
        let maps = &maps[maps.len().saturating_sub(3)..];
        let map_ref = |rng: &mut Rng| format!("*{}", rng.pick(maps).0);
        let name = format!("a{i}");
        match rng.below(6) {
            0 => {
                head.push_str(&format!("  l{i}: &{name} [{}]\n", refs.join(", ")));
                anchors.push((name, false));
            }
            1 => {
                let pairs: Vec<String> = refs
                    .iter()
                    .enumerate()
                    .map(|(j, r)| format!("k{j}: {r}"))
                    .collect();
                head.push_str(&format!("  m{i}: &{name} {{{}}}\n", pairs.join(", ")));
                anchors.push((name, true));
            }
            2 => {
                let items: Vec<String> = (0..k).map(|_| map_ref(rng)).collect();
                head.push_str(&format!(
                    "  g{i}: &{name}\n    <<: &q{i} [{}]\n    z: 1\n",
                    items.join(", ")
                ));
                anchors.push((name, true));
                anchors.push((format!("q{i}"), false));
            }
            3 => {
                let inline: Vec<String> = (0..rng.below(300)).map(|j| format!("p{j}: 0")).collect();
                head.push_str(&format!(
                    "  o{i}: &{name}\n    <<: [{{{}}}, {}]\n",
                    inline.join(", "),
                    map_ref(rng)
                ));
                anchors.push((name, true));
            }
            4 => {
                head.push_str(&format!(
                    "  k{i}: &{name}\n    *s0 : 1\n    w: {}\n",
                    refs[0]
                ));
                anchors.push((name, true));
            }
            _ => {
                head.push_str(&format!(
                    "  h{i}: &{name}\n    <<: {}\n    y{i}: 2\n",
                    map_ref(rng)
                ));
                anchors.push((name, true));
            }
        }
    }
    // The anchor to repeat: at least 121 nodes, so that Go's 99% can be reached.
    let recent = &anchors[anchors.len().saturating_sub(3)..];
    let refs: Vec<String> = (0..60)
        .map(|_| format!("*{}", rng.pick(recent).0))
        .collect();
    head.push_str(&format!("  top: &top [{}]\n", refs.join(", ")));
    Web { head }
}

impl Web {
    fn with(&self, aliases: usize) -> String {
        let items = vec!["*top"; aliases].join(", ");
        format!("{}  big: [{items}]\n", self.head)
    }
}

fn excessive(message: &str) -> bool {
    message.contains("excessive aliasing")
}

fn go_refuses(judge: &mut Judge, text: &str) -> bool {
    judge
        .read(text.as_bytes())
        .k8s
        .error
        .as_deref()
        .is_some_and(excessive)
}

/// Whether vf-post's scan and builder refuse `text` as excessive aliasing, or a description
/// of how they differ from each other.
fn ours_refuses(text: &str) -> Result<bool, String> {
    let scanned = scan::scan(text)
        .err()
        .is_some_and(|e| excessive(&e.message));
    let unbounded = AliasBudget::for_input(1 << 40);
    let built = build::build_within(text, &unbounded)
        .err()
        .is_some_and(|e| excessive(&e.message));
    if scanned == built {
        Ok(scanned)
    } else {
        Err(format!(
            "the scan refuses: {scanned}, the builder refuses: {built}"
        ))
    }
}

/// How one web went, when vf-post matched Go.
pub enum Outcome {
    /// Go's boundary was found, and vf-post refuses exactly from there.
    Matched,
    /// Go refuses the anchors alone (and so does vf-post).
    RefusedWithoutAliases,
    /// Go accepts even 2,048 aliases of the last anchor: too few nodes per alias.
    NoBoundary,
}

/// One web, bisected: how it went, or the input vf-post reads unlike Go.
pub fn check(rng: &mut Rng, judge: &mut Judge) -> Result<Outcome, (Case, String)> {
    let web = web(rng);
    let lo = 0;
    if go_refuses(judge, &web.with(lo)) {
        return match ours_refuses(&web.with(lo)) {
            Ok(true) => Ok(Outcome::RefusedWithoutAliases),
            Ok(false) => Err(failure(
                &web,
                lo,
                "Go refuses the anchors alone, vf-post accepts them".into(),
            )),
            Err(differ) => Err(failure(&web, lo, differ)),
        };
    }
    let mut hi = 1;
    while !go_refuses(judge, &web.with(hi)) {
        hi *= 2;
        if hi > 1 << 11 {
            return Ok(Outcome::NoBoundary);
        }
    }
    let mut lo = lo;
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if go_refuses(judge, &web.with(mid)) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    for (aliases, go) in [(lo, false), (hi, true)] {
        let text = web.with(aliases);
        let detail = match ours_refuses(&text) {
            Ok(ours) if ours == go => continue,
            Ok(ours) => format!(
                "Go {} {aliases} aliases as excessive aliasing, vf-post {}",
                if go { "refuses" } else { "accepts" },
                if ours { "refuses" } else { "accepts" }
            ),
            Err(differ) => differ,
        };
        return Err(failure(&web, aliases, detail));
    }
    Ok(Outcome::Matched)
}

fn failure(web: &Web, aliases: usize, detail: String) -> (Case, String) {
    let case = Case {
        family: "aliasing/boundary",
        name: format!("{aliases} aliases of *top"),
        input: web.with(aliases).into_bytes(),
    };
    (case, detail)
}
