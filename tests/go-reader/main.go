// go-reader reads a Helm post-renderer's output the way Kubernetes does, so Rust tests can
// check vf-post's output against Go's YAML rather than against Rust's own reading.
//
//	go-reader helm3 < stream   # apimachinery's YAMLReader split, then sigs.k8s.io/yaml (go-yaml v2)
//	go-reader helm4 < stream   # Helm 4 first: kyaml's split, yaml.v3 node round trip; then as helm3
//
// Prints one JSON document per line (null documents skipped, as Kubernetes skips them), or
// "error: ..." on stderr with exit status 1.
//
// Built from Debian's packages: GO111MODULE=off GOPATH=/usr/share/gocode go build.
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	yamlv3 "gopkg.in/yaml.v3"
	"sigs.k8s.io/yaml"
)

func main() {
	if len(os.Args) == 2 && os.Args[1] == "serve" {
		serve()
		return
	}
	if len(os.Args) != 2 || (os.Args[1] != "helm3" && os.Args[1] != "helm4") {
		fail(fmt.Errorf("usage: go-reader helm3|helm4 < stream, or go-reader serve (judge.go)"))
	}
	input, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail(err)
	}
	if os.Args[1] == "helm4" {
		if input, err = helm4RoundTrip(string(input)); err != nil {
			fail(err)
		}
	}
	docs, err := splitLikeAPIMachinery(input)
	if err != nil {
		fail(err)
	}
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for _, doc := range docs {
		js, err := yaml.YAMLToJSON(doc)
		if err != nil {
			fail(err)
		}
		if string(js) == "null" {
			continue
		}
		out.Write(js)
		out.WriteString("\n")
	}
}

// splitLikeAPIMachinery is k8s.io/apimachinery/pkg/util/yaml's YAMLReader (as of 2026-07): a
// LineReader that strips each line's "\n" or "\r\n" and writes "\n" back, and a line starting
// with "---" ends a document; anything but spaces or a comment after it is an error.
func splitLikeAPIMachinery(input []byte) ([][]byte, error) {
	var docs [][]byte
	reader := bufio.NewReader(bytes.NewReader(input))
	readLine := func() ([]byte, error) {
		var buffer bytes.Buffer
		isPrefix, err := true, error(nil)
		var line []byte
		for isPrefix && err == nil {
			line, isPrefix, err = reader.ReadLine()
			buffer.Write(line)
		}
		buffer.WriteByte('\n')
		return buffer.Bytes(), err
	}
	for {
		var buffer bytes.Buffer
		var doc []byte
		for {
			line, err := readLine()
			if err != nil && err != io.EOF {
				return nil, err
			}
			if bytes.HasPrefix(line, []byte("---")) {
				trimmed := strings.TrimSpace(string(line[3:]))
				if len(trimmed) > 0 && trimmed[0] != '#' {
					return nil, fmt.Errorf("invalid Yaml document separator: %s", trimmed)
				}
				if buffer.Len() != 0 {
					doc = buffer.Bytes()
					break
				}
				if err == io.EOF {
					return docs, nil
				}
			}
			if err == io.EOF {
				if buffer.Len() != 0 {
					docs = append(docs, buffer.Bytes())
				}
				return docs, nil
			}
			buffer.Write(line)
		}
		docs = append(docs, doc)
	}
}

// helm4RoundTrip mirrors Helm 4's splitAndDeannotate: kyaml's splitDocuments, a yaml.v3 node
// decode of each piece (first document only, as kyaml does) and a re-encode.
func helm4RoundTrip(s string) ([]byte, error) {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	separators := regexp.MustCompile(`\n---.*\n`).FindAllStringIndex(s, -1)
	var pieces []string
	prev := 0
	for _, loc := range separators {
		after := strings.TrimSpace(s[loc[0]+4 : loc[1]])
		if len(after) > 0 && after[0] != '#' {
			return nil, fmt.Errorf("invalid document separator: %s", strings.TrimSpace(s[loc[0]:loc[1]]))
		}
		pieces = append(pieces, s[prev:loc[0]])
		prev = loc[1]
	}
	pieces = append(pieces, s[prev:])
	var out bytes.Buffer
	for i, piece := range pieces {
		if i != len(pieces)-1 {
			piece += "\n"
		}
		var node yamlv3.Node
		err := yamlv3.NewDecoder(strings.NewReader(piece)).Decode(&node)
		if err == io.EOF {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("MalformedYAMLError: %v in piece %d", err, i)
		}
		if len(node.Content) == 0 || node.Content[0].Tag == "!!null" {
			continue
		}
		var buf bytes.Buffer
		enc := yamlv3.NewEncoder(&buf)
		enc.SetIndent(2)
		if err := enc.Encode(&node); err != nil {
			return nil, err
		}
		out.WriteString("---\n")
		out.Write(buf.Bytes())
	}
	return out.Bytes(), nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "error:", err)
	os.Exit(1)
}
