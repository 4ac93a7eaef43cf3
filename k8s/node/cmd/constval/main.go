// Command constval prints the value of a string constant declared in a Go
// source file: `constval FILE NAME`. build.sh uses it to take kind's own
// default storage manifest (local-path-provisioner and the "standard"
// StorageClass) from the kind module it pins, instead of a copy that could
// drift from the kind version in use.
package main

import (
	"fmt"
	"go/ast"
	"go/constant"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"os"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: constval FILE NAME")
		os.Exit(2)
	}
	v, err := stringConst(os.Args[1], os.Args[2])
	if err != nil {
		fmt.Fprintf(os.Stderr, "constval: %v\n", err)
		os.Exit(1)
	}
	fmt.Print(v)
}

func stringConst(file, name string) (string, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, file, nil, 0)
	if err != nil {
		return "", fmt.Errorf("parsing: %w", err)
	}
	conf := types.Config{Importer: importer.Default(), Error: func(error) {}}
	pkg, _ := conf.Check(f.Name.Name, fset, []*ast.File{f}, nil) // other files' names may be missing; constants still evaluate
	obj, ok := pkg.Scope().Lookup(name).(*types.Const)
	if !ok {
		return "", fmt.Errorf("no constant %s in %s", name, file)
	}
	if obj.Val().Kind() != constant.String {
		return "", fmt.Errorf("%s is not a string constant", name)
	}
	return constant.StringVal(obj.Val()), nil
}
