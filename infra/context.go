package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// LoadContext returns the context for an app run directly (`go run ./infra`,
// as `make synth` does) rather than by the CDK CLI: the "context" of
// dir/cdk.json and dir/cdk.context.json (feature flags included), then
// `-c key=value` / `--context key=value` arguments. When the CLI runs the
// app it passes all of that in CDK_CONTEXT_JSON, which the App reads
// itself; LoadContext then returns only the arguments' values.
func LoadContext(dir string, args []string, cliContext bool) (map[string]any, error) {
	ctx := map[string]any{}
	if !cliContext {
		for _, name := range []string{"cdk.json", "cdk.context.json"} {
			if err := mergeContextFile(ctx, filepath.Join(dir, name), name == "cdk.json"); err != nil {
				return nil, err
			}
		}
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		var kv string
		switch {
		case a == "-c" || a == "--context":
			if i+1 >= len(args) {
				return nil, fmt.Errorf("argument %s: want key=value after it", a)
			}
			i++
			kv = args[i]
		case strings.HasPrefix(a, "--context="):
			kv = strings.TrimPrefix(a, "--context=")
		case strings.HasPrefix(a, "-c="):
			kv = strings.TrimPrefix(a, "-c=")
		default:
			return nil, fmt.Errorf("unknown argument %q (usage: go run ./infra [-c key=value ...])", a)
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("context argument %q: want key=value", kv)
		}
		ctx[k] = v
	}
	return ctx, nil
}

// mergeContextFile adds the file's context to ctx. cdk.json keeps context
// under "context"; cdk.context.json is the context object itself.
func mergeContextFile(ctx map[string]any, path string, nested bool) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read context: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("parse %s: %w", path, err)
	}
	if nested {
		c, ok := m["context"].(map[string]any)
		if !ok {
			if _, present := m["context"]; present {
				return fmt.Errorf("parse %s: \"context\" is not an object", path)
			}
			return nil
		}
		m = c
	}
	for k, v := range m {
		ctx[k] = v
	}
	return nil
}
