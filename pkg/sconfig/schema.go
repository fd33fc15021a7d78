package sconfig

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
)

// ValidateSchema checks every fc3 resource's resolved props against the fc3 component's
// JSON schema (draft-07, devsapp/fc3 src/schema.json), as `s deploy` does before calling
// the API. Templates are resolved with the process environment and AccountID
// core.DefaultAccountID; use ValidateSchemaWith to choose them.
func ValidateSchema(path string, schemaPath string) error {
	env := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	return ValidateSchemaWith(path, schemaPath, env, map[string]string{"AccountID": core.DefaultAccountID})
}

// ValidateSchemaWith is ValidateSchema with explicit template inputs. Each violation is
// reported at its field, e.g. `resources.cleanup.props.memorySize: 100 is not multipleOf 64`.
func ValidateSchemaWith(path, schemaPath string, env, config map[string]string) error {
	sch, err := compileSchema(schemaPath)
	if err != nil {
		return err
	}
	doc, err := readDocument(path, env, config)
	if err != nil {
		return fmt.Errorf("validate %s: %w", path, err)
	}
	resources, _ := doc.root["resources"].(map[string]any)
	var errs []error
	for _, key := range doc.resources {
		res, _ := resources[key].(map[string]any)
		if res["component"] != "fc3" {
			continue
		}
		base := "resources." + key + ".props"
		err := sch.Validate(res["props"])
		var ve *jsonschema.ValidationError
		switch {
		case err == nil:
		case errors.As(err, &ve):
			errs = append(errs, leafErrors(base, res["props"], ve)...)
		default:
			errs = append(errs, fmt.Errorf("%s: %w", base, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("validate %s against %s: %w", path, schemaPath, joinUnique(errs))
	}
	return nil
}

func compileSchema(schemaPath string) (*jsonschema.Schema, error) {
	f, err := os.Open(schemaPath)
	if err != nil {
		return nil, fmt.Errorf("open fc3 schema: %w", err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		return nil, fmt.Errorf("parse fc3 schema %s: %w", schemaPath, err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7)
	const url = "file:///fc3-schema.json"
	if err := c.AddResource(url, doc); err != nil {
		return nil, fmt.Errorf("load fc3 schema %s: %w", schemaPath, err)
	}
	sch, err := c.Compile(url)
	if err != nil {
		return nil, fmt.Errorf("compile fc3 schema %s: %w", schemaPath, err)
	}
	return sch, nil
}

var printer = message.NewPrinter(language.English)

// leafErrors flattens a validation error tree into one error per failing keyword, at the
// instance path (base + location), quoting the offending value when it is a scalar (the
// library's enum message does not). Under anyOf every branch's reasons are listed.
func leafErrors(base string, props any, ve *jsonschema.ValidationError) []error {
	if len(ve.Causes) == 0 {
		p := base
		v := props
		for _, tok := range ve.InstanceLocation {
			if isIndex(tok) {
				p += "[" + tok + "]"
				if arr, ok := v.([]any); ok {
					if i, _ := strconv.Atoi(tok); i < len(arr) {
						v = arr[i]
					}
				}
			} else {
				p += "." + tok
				m, _ := v.(map[string]any)
				v = m[tok]
			}
		}
		msg := ve.ErrorKind.LocalizedString(printer)
		switch v.(type) {
		case string, bool, int, float64:
			if !strings.Contains(msg, "got ") {
				msg += fmt.Sprintf(" (got %s)", kindOf(v))
			}
		}
		return []error{fmt.Errorf("%s: %s", p, msg)}
	}
	var out []error
	for _, c := range ve.Causes {
		out = append(out, leafErrors(base, props, c)...)
	}
	return out
}

func isIndex(tok string) bool {
	if tok == "" {
		return false
	}
	for _, c := range tok {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
