// Command render renders a Helm 3 chart as `helm template` does, for checks where no helm binary
// exists. It uses Go's text/template with sprig (Debian golang-github-masterminds-sprig-dev), the
// functions Helm adds (include, tpl, required, toYaml, fromYaml, toJson, fromJson, fromJsonArray,
// lookup, and no env/expandenv), values parsed as Helm parses them (YAML through JSON, so numbers
// are float64), Helm's value merging (-f files over values.yaml, maps merged, a null deletes a key),
// missingkey=zero with "<no value>" removed, and one "# Source:" document per non-empty template.
//
// It does not do: --set, subcharts and dependencies, .Files beyond Get, lookup against a cluster
// (it returns an empty map, as `helm template` does), schema validation (done by validate.mjs
// against values.schema.json with the merged values written by -values-out), hooks, and kind
// ordering of the output.
//
// Usage: render -chart DIR [-f values.yaml]... [-name release] [-namespace ns] [-values-out FILE] [-notes-out FILE]
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"gopkg.in/yaml.v3"
)

type valueFiles []string

func (v *valueFiles) String() string     { return strings.Join(*v, ",") }
func (v *valueFiles) Set(s string) error { *v = append(*v, s); return nil }

func main() {
	var files valueFiles
	chartDir := flag.String("chart", "", "chart directory")
	release := flag.String("name", "release-name", "release name")
	namespace := flag.String("namespace", "default", "release namespace")
	valuesOut := flag.String("values-out", "", "write the merged values here, as JSON")
	notesOut := flag.String("notes-out", "", "write the rendered NOTES.txt here")
	flag.Var(&files, "f", "values file (repeatable; later ones win)")
	flag.Parse()
	if err := run(*chartDir, *release, *namespace, files, *valuesOut, *notesOut); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}

func run(chartDir, release, namespace string, files []string, valuesOut, notesOut string) error {
	chart, err := readYAML(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		return err
	}
	chartMap, ok := chart.(map[string]interface{})
	if !ok || chartMap["name"] == nil {
		return fmt.Errorf("Chart.yaml: no name")
	}
	values, err := readYAML(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		return err
	}
	merged, _ := values.(map[string]interface{})
	if merged == nil {
		merged = map[string]interface{}{}
	}
	for _, file := range files {
		override, err := readYAML(file)
		if err != nil {
			return err
		}
		if m, ok := override.(map[string]interface{}); ok {
			merged = mergeValues(merged, m)
		} else if override != nil {
			return fmt.Errorf("%s: values must be a map", file)
		}
	}
	if valuesOut != "" {
		data, _ := json.MarshalIndent(merged, "", "  ")
		if err := os.WriteFile(valuesOut, data, 0o644); err != nil {
			return err
		}
	}

	name := chartMap["name"].(string)
	top := map[string]interface{}{
		"Values":  merged,
		"Release": map[string]interface{}{"Name": release, "Namespace": namespace, "Service": "Helm", "IsInstall": true, "IsUpgrade": false, "Revision": 1},
		"Chart":   chartObject(chartMap),
		"Capabilities": map[string]interface{}{
			"KubeVersion": map[string]interface{}{"Version": "v1.31.0", "Major": "1", "Minor": "31", "GitVersion": "v1.31.0"},
			"HelmVersion": map[string]interface{}{"Version": "v3.16.0"},
		},
		"Files": files_{dir: chartDir},
	}

	root := template.New("gotpl").Option("missingkey=zero")
	funcs := sprig.TxtFuncMap()
	delete(funcs, "env")
	delete(funcs, "expandenv")
	includedNames := map[string]int{}
	funcs["include"] = func(name string, data interface{}) (string, error) {
		if includedNames[name] > 1000 {
			return "", fmt.Errorf("rendering template has a nested reference name: %s", name)
		}
		includedNames[name]++
		defer func() { includedNames[name]-- }()
		var out bytes.Buffer
		if err := root.ExecuteTemplate(&out, name, data); err != nil {
			return "", err
		}
		return out.String(), nil
	}
	funcs["tpl"] = func(text string, data interface{}) (string, error) {
		clone, err := root.Clone()
		if err != nil {
			return "", err
		}
		t, err := clone.New("tpl").Parse(text)
		if err != nil {
			return "", err
		}
		var out bytes.Buffer
		err = t.Execute(&out, data)
		return strings.ReplaceAll(out.String(), "<no value>", ""), err
	}
	funcs["required"] = func(message string, value interface{}) (interface{}, error) {
		if value == nil {
			return nil, fmt.Errorf("%s", message)
		}
		if s, ok := value.(string); ok && s == "" {
			return nil, fmt.Errorf("%s", message)
		}
		return value, nil
	}
	funcs["toYaml"] = func(v interface{}) string {
		var out bytes.Buffer
		encoder := yaml.NewEncoder(&out)
		encoder.SetIndent(2)
		if err := encoder.Encode(jsonRoundTrip(v)); err != nil {
			return ""
		}
		return strings.TrimSuffix(out.String(), "\n")
	}
	funcs["fromYaml"] = func(s string) map[string]interface{} {
		var v map[string]interface{}
		if err := yaml.Unmarshal([]byte(s), &v); err != nil {
			return map[string]interface{}{"Error": err.Error()}
		}
		return jsonRoundTrip(v).(map[string]interface{})
	}
	funcs["toJson"] = func(v interface{}) string { data, _ := json.Marshal(v); return string(data) }
	funcs["fromJson"] = func(s string) map[string]interface{} {
		var v map[string]interface{}
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			return map[string]interface{}{"Error": err.Error()}
		}
		return v
	}
	funcs["fromJsonArray"] = func(s string) []interface{} {
		var v []interface{}
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			return []interface{}{err.Error()}
		}
		return v
	}
	funcs["lookup"] = func(apiVersion, kind, namespace, name string) (map[string]interface{}, error) {
		return map[string]interface{}{}, nil
	}
	root.Funcs(funcs)

	templatesDir := filepath.Join(chartDir, "templates")
	entries, err := os.ReadDir(templatesDir)
	if err != nil {
		return err
	}
	var names []string
	for _, entry := range entries {
		if entry.IsDir() {
			continue
		}
		text, err := os.ReadFile(filepath.Join(templatesDir, entry.Name()))
		if err != nil {
			return err
		}
		templateName := path.Join(name, "templates", entry.Name())
		if _, err := root.New(templateName).Parse(string(text)); err != nil {
			return err
		}
		names = append(names, templateName)
	}
	sort.Strings(names)

	var output strings.Builder
	for _, templateName := range names {
		base := path.Base(templateName)
		if strings.HasPrefix(base, "_") {
			continue
		}
		scope := map[string]interface{}{}
		for k, v := range top {
			scope[k] = v
		}
		scope["Template"] = map[string]interface{}{"Name": templateName, "BasePath": path.Join(name, "templates")}
		var out bytes.Buffer
		if err := root.ExecuteTemplate(&out, templateName, scope); err != nil {
			return err
		}
		rendered := strings.ReplaceAll(out.String(), "<no value>", "")
		if base == "NOTES.txt" {
			if notesOut != "" {
				if err := os.WriteFile(notesOut, []byte(rendered), 0o644); err != nil {
					return err
				}
			}
			continue
		}
		if strings.TrimSpace(rendered) == "" {
			continue
		}
		fmt.Fprintf(&output, "---\n# Source: %s\n%s\n", templateName, strings.TrimRight(rendered, "\n"))
	}
	_, err = os.Stdout.WriteString(output.String())
	return err
}

// readYAML parses a YAML file as Helm does: through JSON, so numbers become float64.
func readYAML(file string) (interface{}, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var v interface{}
	if err := yaml.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return jsonRoundTrip(v), nil
}

func jsonRoundTrip(v interface{}) interface{} {
	data, err := json.Marshal(normalize(v))
	if err != nil {
		return v
	}
	var out interface{}
	if err := json.Unmarshal(data, &out); err != nil {
		return v
	}
	return out
}

// normalize turns map[interface{}]interface{} (never produced by yaml.v3 for string keys, kept for safety) into string-keyed maps.
func normalize(v interface{}) interface{} {
	switch t := v.(type) {
	case map[interface{}]interface{}:
		m := map[string]interface{}{}
		for k, val := range t {
			m[fmt.Sprint(k)] = normalize(val)
		}
		return m
	case map[string]interface{}:
		for k, val := range t {
			t[k] = normalize(val)
		}
		return t
	case []interface{}:
		for i, val := range t {
			t[i] = normalize(val)
		}
		return t
	}
	return v
}

// mergeValues merges src over dst as Helm merges -f files: maps recursively, anything else
// replaced, a null value deleting the key.
func mergeValues(dst, src map[string]interface{}) map[string]interface{} {
	for key, value := range src {
		if value == nil {
			delete(dst, key)
			continue
		}
		if srcMap, ok := value.(map[string]interface{}); ok {
			if dstMap, ok := dst[key].(map[string]interface{}); ok {
				dst[key] = mergeValues(dstMap, srcMap)
				continue
			}
		}
		dst[key] = value
	}
	return dst
}

// chartObject gives .Chart the field names Helm's chart.Metadata has (Name, Version, AppVersion, ...).
func chartObject(chart map[string]interface{}) map[string]interface{} {
	out := map[string]interface{}{}
	for key, value := range chart {
		out[strings.ToUpper(key[:1])+key[1:]] = value
	}
	return out
}

// files_ is a minimal .Files: Get reads a file of the chart.
type files_ struct{ dir string }

func (f files_) Get(name string) string {
	data, err := os.ReadFile(filepath.Join(f.dir, name))
	if err != nil {
		return ""
	}
	return string(data)
}
