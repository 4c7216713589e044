package openami_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// owners says which subsystem of the rules layer owns the records of each
// role of metadata.Tx: only it reads or writes them through tx; the
// others ask it through its exported methods that take their caller's
// metadata.Tx (its uses.go), and a subsystem asks one above it through a
// Config hook (ebs.Config.ImagesUsing). Settings and tags are shared: each
// subsystem keeps its own settings, and tags belong to every resource.
var owners = map[string]string{
	"Accounts":          "rules/identity",
	"KeyPairs":          "rules/identity",
	"Certificates":      "rules/identity",
	"Buckets":           "rules/objects",
	"Objects":           "rules/objects",
	"Keys":              "rules/kms",
	"Grants":            "rules/kms",
	"Snapshots":         "rules/ebs",
	"Volumes":           "rules/ebs",
	"Chunks":            "rules/ebs",
	"Nodes":             "rules/ebs",
	"Images":            "rules/images",
	"Instances":         "rules/instances",
	"Networks":          "rules/network",
	"LaunchTemplates":   "rules/templates",
	"Parameters":        "rules/parameters",
	"BundleTasks":       "rules/instances",
	"AutoScalingGroups": "rules/autoscaling",
	"ImportTasks":       "rules/imports",
	"ExportTasks":       "rules/exports",
	"Leases":            "metadata/lease", // no rules package: work is fenced through the context
	"Hosts":             "rules/instances",
	"Settings":          "", // shared
	"Tags":              "", // shared
}

// belowRules are the owners of records that no rules package touches:
// the leases of background work (metadata/lease runs work under them,
// and the store fences it through the context).
var belowRules = []string{"metadata/lease"}

// TestRecordOwners fails on every call tx.Role() (or x.tx.Role()) in the
// non-test files of a rules package whose role another subsystem owns,
// naming the file and line, and on every role of metadata.Tx that owners
// does not place. It reads the syntax, not the types: a transaction is
// called tx throughout the rules, by convention.
func TestRecordOwners(t *testing.T) {
	fset := token.NewFileSet()
	meta, err := parser.ParseFile(fset, filepath.Join("metadata", "metadata.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var roles []string
	ast.Inspect(meta, func(n ast.Node) bool {
		ts, ok := n.(*ast.TypeSpec)
		if !ok || ts.Name.Name != "Tx" {
			return true
		}
		for _, m := range ts.Type.(*ast.InterfaceType).Methods.List {
			for _, name := range m.Names {
				roles = append(roles, name.Name)
			}
		}
		return false
	})
	if len(roles) == 0 {
		t.Fatal("metadata/metadata.go declares no Tx roles")
	}
	for _, role := range roles {
		if _, ok := owners[role]; !ok {
			t.Errorf("metadata.Tx's role %s has no owner: place it in records_test.go (owners)", role)
		}
	}
	for role, owner := range owners {
		if !slices.Contains(roles, role) {
			t.Errorf("owners names %s, which is no role of metadata.Tx: remove it", role)
		}
		if owner != "" && !slices.Contains(subsystems, owner) && !slices.Contains(belowRules, owner) {
			t.Errorf("owners gives %s to %s, which is not in subsystems", role, owner)
		}
	}
	for _, sub := range subsystems {
		files, err := filepath.Glob(filepath.Join(filepath.FromSlash(sub), "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range files {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			src, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			f, err := parser.ParseFile(fset, name, src, 0)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(f, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok || len(call.Args) > 0 {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok || !isTx(sel.X) {
					return true
				}
				owner, ok := owners[sel.Sel.Name]
				if ok && owner != "" && owner != sub {
					t.Errorf("%s: %s calls tx.%s(), whose records %s owns: use %s's exported methods that take the caller's metadata.Tx, or a Config hook to one above",
						fset.Position(call.Pos()), sub, sel.Sel.Name, owner, owner)
				}
				return true
			})
		}
	}
}

// isTx reports whether x names a transaction: tx, or a field tx of
// something (a view bound to one).
func isTx(x ast.Expr) bool {
	switch x := x.(type) {
	case *ast.Ident:
		return x.Name == "tx"
	case *ast.SelectorExpr:
		return x.Sel.Name == "tx"
	}
	return false
}
