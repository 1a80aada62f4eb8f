package compliance

import (
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"strconv"
	"testing"
)

// TestCatalogueHasEveryRule parses rule.go and checks that every Rule
// constant declared there is in the catalogue, once, with text.
func TestCatalogueHasEveryRule(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "rule.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var declared []Rule
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Rule" {
				continue
			}
			for _, v := range vs.Values {
				lit, ok := v.(*ast.BasicLit)
				if !ok {
					t.Fatalf("rule constant %v is not a string literal", v)
				}
				s, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				declared = append(declared, Rule(s))
			}
		}
	}
	if len(declared) < 13 {
		t.Fatalf("found only %d rule constants in rule.go", len(declared))
	}
	cat := Catalogue()
	var ids []Rule
	for _, info := range cat {
		ids = append(ids, info.ID)
		if info.Summary == "" || info.Fix == "" {
			t.Errorf("rule %s has no summary or fix text", info.ID)
		}
		if _, ok := info.ID.Info(); !ok {
			t.Errorf("Info(%s) not found", info.ID)
		}
	}
	if !slices.Equal(ids, declared) {
		t.Errorf("catalogue ids %v\nwant rule.go's constants in order %v", ids, declared)
	}
	if _, ok := Rule("no-such-rule").Info(); ok {
		t.Error("Info found an unknown rule")
	}
}
