package envvars

import (
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Expand replaces $(NAME) references in s with vars[NAME] as the kubelet does for
// command, args and env values: an unknown NAME stays literally `$(NAME)`, `$$` becomes
// `$`, and a `$` that starts neither form is kept.
func Expand(s string, vars map[string]string) string {
	return expand(s, mappingFor(vars))
}

// ExpandAll applies Expand to every element of ss; it returns nil for an empty ss, as
// the kubelet leaves an empty command or args unset.
func ExpandAll(ss []string, vars map[string]string) []string {
	if len(ss) == 0 {
		return nil
	}
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = Expand(s, vars)
	}
	return out
}

// ExpandStrict expands s like Expand but fails when a referenced variable is unknown or
// empty, listing the missing names sorted; it is the kubelet's subPathExpr expansion.
// The error text is the kubelet's: "missing value for A, B".
func ExpandStrict(s string, vars map[string]string) (string, error) {
	var missing []string
	out := expand(s, func(name string) string {
		v, ok := vars[name]
		if !ok || v == "" {
			if !slices.Contains(missing, name) {
				missing = append(missing, name)
			}
		}
		return v
	})
	if len(missing) > 0 {
		slices.Sort(missing)
		return "", &MissingError{Names: missing}
	}
	return out, nil
}

// MissingError is returned by ExpandStrict.
type MissingError struct {
	Names []string // sorted
}

func (e *MissingError) Error() string { return "missing value for " + strings.Join(e.Names, ", ") }

// Map turns a resolved environment into the name → value map Expand takes.
func Map(env []*runtimeapi.KeyValue) map[string]string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		m[kv.Key] = string(kv.Value)
	}
	return m
}

// StaticMap is the map of the container's literal env values (valueFrom entries map to
// ""); the kubelet expands exec probe and lifecycle hook commands against it only.
func StaticMap(env []corev1.EnvVar) map[string]string {
	m := make(map[string]string, len(env))
	for _, e := range env {
		m[e.Name] = e.Value
	}
	return m
}

// mappingFor returns a lookup over the contexts in order; an unknown name maps back to
// its literal reference.
func mappingFor(contexts ...map[string]string) func(string) string {
	return func(name string) string {
		for _, vars := range contexts {
			if v, ok := vars[name]; ok {
				return v
			}
		}
		return "$(" + name + ")"
	}
}

// expand is the kubelet's third_party/forked/golang/expansion.Expand.
func expand(input string, mapping func(string) string) string {
	var buf strings.Builder
	checkpoint := 0
	for cursor := 0; cursor < len(input); cursor++ {
		if input[cursor] != '$' || cursor+1 >= len(input) {
			continue
		}
		buf.WriteString(input[checkpoint:cursor])
		read, isVar, advance := readVariableName(input[cursor+1:])
		if isVar {
			buf.WriteString(mapping(read))
		} else {
			buf.WriteString(read)
		}
		cursor += advance
		checkpoint = cursor + 1
	}
	return buf.String() + input[checkpoint:]
}

// readVariableName reads what follows a '$': the text to emit (or the variable name),
// whether it is a variable, and how many bytes were consumed.
func readVariableName(input string) (string, bool, int) {
	switch input[0] {
	case '$':
		return "$", false, 1
	case '(':
		for i := 1; i < len(input); i++ {
			if input[i] == ')' {
				return input[1:i], true, i + 1
			}
		}
		return "$(", false, 1
	default:
		return "$" + input[0:1], false, 1
	}
}
