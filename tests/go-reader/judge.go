package main

// The differential fuzzer's judge (tests/differential): how Kubernetes tools read a stream,
// along every path that matters, for many streams in one process.
//
//	go-reader serve   # frames in: 4-byte big-endian length, then the stream
//	                  # lines out: one JSON verdict per frame, in order
//
// A verdict names each path's reading: the documents as JSON (the text Kubernetes decodes,
// numbers exactly as Go writes them), or the error that path stops with.
//   - "k8s":   apimachinery's YAMLReader split (no trimming), then sigs.k8s.io/yaml
//              (go-yaml v2): what kubectl and Helm's kube client apply.
//   - "helm":  Helm's releaseutil.SplitManifests (trims every document), then sigs.k8s.io/yaml:
//              what `helm template --show-only` and Helm 3's manifest sorting read.
//   - "helm4": Helm 4's kyaml split and yaml.v3 round trip first, then as "k8s".

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"sigs.k8s.io/yaml"
)

type reading struct {
	Docs  []json.RawMessage `json:"docs"`
	Error string            `json:"error,omitempty"`
}

type verdict struct {
	K8s   reading `json:"k8s"`
	Helm  reading `json:"helm"`
	Helm4 reading `json:"helm4"`
}

func serve() {
	in := bufio.NewReaderSize(os.Stdin, 1<<20)
	out := bufio.NewWriterSize(os.Stdout, 1<<20)
	enc := json.NewEncoder(out)
	for {
		var n uint32
		if err := binary.Read(in, binary.BigEndian, &n); err != nil {
			if err == io.EOF {
				return
			}
			fail(err)
		}
		stream := make([]byte, n)
		if _, err := io.ReadFull(in, stream); err != nil {
			fail(err)
		}
		v := verdict{
			K8s:  read(func() ([][]byte, error) { return splitLikeAPIMachinery(stream) }),
			Helm: read(func() ([][]byte, error) { return splitManifests(string(stream)), nil }),
			Helm4: read(func() ([][]byte, error) {
				round, err := helm4RoundTrip(string(stream))
				if err != nil {
					return nil, err
				}
				return splitLikeAPIMachinery(round)
			}),
		}
		if err := enc.Encode(v); err != nil {
			fail(err)
		}
		if err := out.Flush(); err != nil {
			fail(err)
		}
	}
}

// read splits, then converts each document as sigs.k8s.io/yaml does; a panic anywhere is
// that path's error, never the judge's end.
func read(split func() ([][]byte, error)) (r reading) {
	defer func() {
		if p := recover(); p != nil {
			r = reading{Error: fmt.Sprintf("panic: %v", p)}
		}
	}()
	docs, err := split()
	if err != nil {
		return reading{Error: err.Error()}
	}
	r.Docs = []json.RawMessage{}
	for _, doc := range docs {
		js, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return reading{Error: err.Error()}
		}
		if string(js) == "null" {
			continue
		}
		if depth(js) > maxDepth {
			return reading{Error: fmt.Sprintf("judge: nested deeper than %d levels, more than the fuzzer's JSON reader takes", maxDepth)}
		}
		r.Docs = append(r.Docs, js)
	}
	return r
}

// splitManifests is Helm's releaseutil.SplitManifests (v3 and v4 alike): the stream trimmed,
// cut at every `---` that starts a line (whatever follows it), each piece trimmed.
var manifestSeparator = regexp.MustCompile("(?:^|\\s*\n)---\\s*")

func splitManifests(bigFile string) [][]byte {
	var docs [][]byte
	for _, d := range manifestSeparator.Split(strings.TrimSpace(bigFile), -1) {
		if d == "" {
			continue
		}
		docs = append(docs, []byte(strings.TrimSpace(d)))
	}
	return docs
}

// maxDepth stays below serde_json's recursion limit (128), which reads the verdicts.
const maxDepth = 120

// depth is the deepest nesting of arrays and objects in a JSON text.
func depth(js []byte) int {
	deepest, level, inString, escaped := 0, 0, false, false
	for _, c := range js {
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case inString:
		case c == '[' || c == '{':
			level++
			if level > deepest {
				deepest = level
			}
		case c == ']' || c == '}':
			level--
		}
	}
	return deepest
}
