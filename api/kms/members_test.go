package kms

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/openami/openami/rules/param"
)

// paramFieldArgs are the helpers of rules/param and which of their
// arguments name fields.
var paramFieldArgs = map[string][]int{
	"OneOf": {0}, "Invalid": {0}, "TooLong": {0}, "Missing": {0}, "MissingFor": {0}, "Breaks": {0}, "Empty": {0},
	"NotWith": {0}, "MissingEither": {0, 1}, "Requires": {0, 1}, "Exclusive": {0, 1},
}

// kmsForwards are the functions of rules/kms that take a field's name as
// a parameter called field, at that index, and pass it on to rules/param.
// A param helper given a field that is not a literal anywhere else fails
// the test: the table could not be checked against it.
var kmsForwards = map[string]int{
	"parseKeyRef": 1, "principalAccountOf": 0, "grantOfToken": 1, "checkAlgorithm": 0,
	"encryptWith": 2, "decryptWith": 2, "UsableKey": 2,
}

// kmsFields returns the field names rules/kms reports through rules/param,
// by reading its source, and where each is used.
func kmsFields(t *testing.T) map[string]string {
	t.Helper()
	dir := filepath.Join("..", "..", "rules", "kms")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]string{}
	fset := token.NewFileSet()
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			_, forwards := kmsForwards[fn.Name.Name]
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				c, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				var name string
				var args []int
				switch fun := c.Fun.(type) {
				case *ast.Ident:
					name = fun.Name
				case *ast.SelectorExpr:
					name = fun.Sel.Name
					if pkg, ok := fun.X.(*ast.Ident); ok && pkg.Name == "param" {
						args = paramFieldArgs[name]
						name = ""
					}
				}
				if i, ok := kmsForwards[name]; ok {
					args = []int{i}
				}
				for _, i := range args {
					at := fset.Position(c.Pos()).String()
					switch a := c.Args[i].(type) {
					case *ast.BasicLit:
						s, _ := strconv.Unquote(a.Value)
						fields[s] = at
					case *ast.Ident:
						if !forwards || a.Name != "field" {
							t.Errorf("%s: a field named by %s, not a literal, outside the functions kmsForwards lists", at, a.Name)
						}
					default:
						t.Errorf("%s: a field named by an expression, not a literal", at)
					}
				}
				return true
			})
		}
	}
	return fields
}

// TestMemberNamesMatchTheRules fails when rules/kms reports a field that
// memberNames does not know (KMS's sentence would show the rules' name),
// or when memberNames keeps a field the rules no longer report.
func TestMemberNamesMatchTheRules(t *testing.T) {
	fields := kmsFields(t)
	if len(fields) < 10 {
		t.Fatalf("found only %d fields in rules/kms: is the source where the test looks?", len(fields))
	}
	for f, at := range fields {
		if _, ok := memberNames[f]; !ok {
			t.Errorf("%s: rules/kms reports field %q, which memberNames does not map to a KMS member", at, f)
		}
	}
	for f := range memberNames {
		if _, ok := fields[f]; !ok {
			t.Errorf("memberNames maps %q, which no rule of KMS reports", f)
		}
	}
}

// TestEveryMemberNameRenders: each field the table knows comes out under
// its KMS name, lowered as KMS's validation sentences lower it.
func TestEveryMemberNameRenders(t *testing.T) {
	for field, name := range memberNames {
		at := "'" + strings.ToLower(name[:1]) + name[1:] + "'"
		if e := toException(param.Missing(field)); e.Msg != "1 validation error detected: Value null at "+at+" failed to satisfy constraint: Member must not be null" {
			t.Errorf("Missing(%s) = %q", field, e.Msg)
		}
		if e := toException(param.Breaks(field, "v", "must be %s", "so")); e.Type != "ValidationException" ||
			e.Msg != "1 validation error detected: Value 'v' at "+at+" failed to satisfy constraint: Member must be so" {
			t.Errorf("Breaks(%s) = %s %q", field, e.Type, e.Msg)
		}
		if e := toException(param.Empty(field, "must be long")); e.Msg != "1 validation error detected: Value at "+at+" failed to satisfy constraint: Member must be long" {
			t.Errorf("Empty(%s) = %q", field, e.Msg)
		}
	}
}
