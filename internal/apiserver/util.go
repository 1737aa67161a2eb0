package apiserver

import (
	"encoding/json"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

func fieldErrorList(path string, value any, msg string) field.ErrorList {
	return field.ErrorList{field.Invalid(field.NewPath(path), value, msg)}
}

func andName(sel fields.Selector, name string) fields.Selector {
	return fields.AndSelectors(sel, fields.OneTermEqualSelector("metadata.name", name))
}
