// helm-render renders a Helm chart's templates the way `helm template` does, for tests/deploy
// on machines without helm (Debian has no helm package). It is Helm's engine reduced to what
// the peerpods chart needs: Go's text/template with the sprig function library (as Helm) plus
// Helm's toYaml and required, values from the chart's values.yaml deep-merged with -f files and
// --set-string key.path=value, .Release and .Chart. Files whose name starts with "_" are not
// rendered, empty documents are dropped, and a missing value is an error (helm lint --strict).
//
// usage: helm-render -chart DIR [-namespace NS] [-f values.yaml]... [-set-string a.b=c]...
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"gopkg.in/yaml.v3"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func readYAML(path string) (map[string]interface{}, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]interface{}{}
	if err := yaml.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

// merge copies src over dst, recursing into maps present in both (Helm's coalescing of -f files).
func merge(dst, src map[string]interface{}) {
	for k, v := range src {
		sm, sok := v.(map[string]interface{})
		dm, dok := dst[k].(map[string]interface{})
		if sok && dok {
			merge(dm, sm)
		} else {
			dst[k] = v
		}
	}
}

func setString(values map[string]interface{}, assignment string) error {
	key, value, ok := strings.Cut(assignment, "=")
	if !ok {
		return fmt.Errorf("-set-string %q: expected key.path=value", assignment)
	}
	parts := strings.Split(key, ".")
	node := values
	for _, p := range parts[:len(parts)-1] {
		next, ok := node[p].(map[string]interface{})
		if !ok {
			next = map[string]interface{}{}
			node[p] = next
		}
		node = next
	}
	node[parts[len(parts)-1]] = value
	return nil
}

func toYAML(v interface{}) string {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return ""
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

var separator = regexp.MustCompile(`(?m)^---\s*$`)

func main() {
	chart := flag.String("chart", "", "chart directory")
	namespace := flag.String("namespace", "default", "release namespace")
	name := flag.String("name", "peerpods", "release name")
	var files, sets listFlag
	flag.Var(&files, "f", "values file (repeatable)")
	flag.Var(&sets, "set-string", "key.path=value (repeatable)")
	flag.Parse()
	if err := run(*chart, *namespace, *name, files, sets); err != nil {
		fmt.Fprintln(os.Stderr, "helm-render:", err)
		os.Exit(1)
	}
}

func run(chart, namespace, name string, files, sets []string) error {
	meta, err := readYAML(filepath.Join(chart, "Chart.yaml"))
	if err != nil {
		return err
	}
	values, err := readYAML(filepath.Join(chart, "values.yaml"))
	if err != nil {
		return err
	}
	for _, f := range files {
		extra, err := readYAML(f)
		if err != nil {
			return err
		}
		merge(values, extra)
	}
	for _, s := range sets {
		if err := setString(values, s); err != nil {
			return err
		}
	}
	top := map[string]interface{}{
		"Values":  values,
		"Release": map[string]interface{}{"Name": name, "Namespace": namespace, "Service": "Helm", "IsInstall": true},
		"Chart": map[string]interface{}{"Name": meta["name"], "Version": meta["version"],
			"AppVersion": meta["appVersion"]},
	}
	funcs := sprig.TxtFuncMap()
	delete(funcs, "env")
	delete(funcs, "expandenv")
	funcs["toYaml"] = toYAML
	// Helm's own: stops the rendering with the message.
	funcs["fail"] = func(msg string) (string, error) { return "", fmt.Errorf("%s", msg) }
	funcs["required"] = func(msg string, v interface{}) (interface{}, error) {
		if v == nil || v == "" {
			return nil, fmt.Errorf("%s", msg)
		}
		return v, nil
	}
	paths, err := filepath.Glob(filepath.Join(chart, "templates", "*.yaml"))
	if err != nil {
		return err
	}
	sort.Strings(paths)
	for _, path := range paths {
		base := filepath.Base(path)
		if strings.HasPrefix(base, "_") {
			continue
		}
		text, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		tpl, err := template.New(base).Funcs(funcs).Option("missingkey=error").Parse(string(text))
		if err != nil {
			return err
		}
		var out bytes.Buffer
		if err := tpl.Execute(&out, top); err != nil {
			return err
		}
		for _, doc := range separator.Split(out.String(), -1) {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			fmt.Printf("---\n# Source: %s/templates/%s\n%s\n", meta["name"], base, strings.Trim(doc, "\n"))
		}
	}
	return nil
}

func stripComments(doc string) string {
	var kept []string
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			kept = append(kept, line)
		}
	}
	return strings.Join(kept, "\n")
}
