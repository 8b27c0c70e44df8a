// The require-labels policy module (policies/require-labels) in JavaScript: every object
// carries the labels and annotations a team requires. Built into a component by
// componentize-js (scripts/build-wasm), with every WASI feature disabled (the sandbox grants
// none), so `console.log` goes nowhere:
//
//   componentize-js --wit wit/policy.wit --world-name module \
//     --disable stdio random clocks http fetch-event -o require-labels-js.wasm app.js
//
// Settings: {"labels": ["team"], "annotations": ["cost-center"]}. WIT in JavaScript: records
// are objects with camelCase fields, enums and variant tags strings, options `undefined`, a
// `result` error is thrown as `{tag, val}`.

function settingsOf(text) {
  let settings;
  try {
    settings = JSON.parse(text);
  } catch (e) {
    throw { tag: "invalid-settings", val: String(e.message) };
  }
  const keys = settings && typeof settings === "object" && !Array.isArray(settings) ? Object.keys(settings) : null;
  if (!keys || keys.some((k) => k !== "labels" && k !== "annotations")) {
    throw { tag: "invalid-settings", val: "settings are {labels: [...], annotations: [...]}" };
  }
  const labels = settings.labels ?? [];
  const annotations = settings.annotations ?? [];
  if (![...labels, ...annotations].every((k) => typeof k === "string")) {
    throw { tag: "invalid-settings", val: "labels and annotations are lists of strings" };
  }
  if (labels.length === 0 && annotations.length === 0) {
    throw { tag: "invalid-settings", val: "give at least one label or annotation to require" };
  }
  return { labels, annotations };
}

export const policy = {
  describe() {
    return {
      name: "require-labels",
      version: "0.1.0",
      rules: [
        {
          id: "team-required-labels",
          summary: "objects carry the labels the team requires",
          hint: "add the labels to the object's metadata.labels",
          severity: "error",
        },
        {
          id: "team-required-annotations",
          summary: "objects carry the annotations the team requires (cost-center, ...)",
          hint: "add the annotations to the object's metadata.annotations",
          severity: "error",
        },
      ],
      kinds: [],
      needsObject: false,
    };
  },

  validateSettings(settings) {
    settingsOf(settings);
  },

  evaluate(documents, settings) {
    const { labels, annotations } = settingsOf(settings);
    const findings = [];
    for (const doc of documents) {
      for (const [rule, wanted, present, path] of [
        ["team-required-labels", labels, doc.labels, "/metadata/labels"],
        ["team-required-annotations", annotations, doc.annotations, "/metadata/annotations"],
      ]) {
        const have = new Set(present.filter(([, v]) => v !== "").map(([k]) => k));
        const missing = wanted.filter((k) => !have.has(k));
        if (missing.length > 0) {
          findings.push({
            rule,
            severity: undefined,
            message: "lacks " + missing.join(", "),
            document: doc.index,
            container: undefined,
            path,
          });
        }
      }
    }
    return { findings, patches: [] };
  },
};
