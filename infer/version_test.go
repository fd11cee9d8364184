package infer

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"go/ast"
	"go/parser"
	"go/scanner"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

// samplerSources are the files whose code SamplerVersion covers, relative
// to this package; samplerExcluded are files those patterns match that no
// sampler calls (the training loss: TestSamplerSourcesExcluded checks that
// no sampling code uses their functions).
var (
	samplerSources  = []string{"sampler.go", "repaint.go", "model.go", "unet.go", "../radmodel/diffusion/*.go"}
	samplerExcluded = []string{"../radmodel/diffusion/loss.go"}
)

// samplerCode is SamplerVersion's code hash: the code of every version.
// Comments and formatting do not count. (Version 1 was first recorded as
// 59631828d193c605 with loss.go in the hash; leaving the training loss out
// re-recorded it, the sampling code unchanged.)
var samplerCode = map[int]string{
	1: "fd44edaf41027559",
}

// codeHash hashes the Go tokens (no comments, no spacing) of the
// non-test files matching the patterns.
func codeHash(t *testing.T, patterns []string) string {
	var files []string
	for _, p := range patterns {
		m, err := filepath.Glob(p)
		if err != nil || len(m) == 0 {
			t.Fatalf("%s: no files (%v)", p, err)
		}
		for _, f := range m {
			if filepath.Ext(f) == ".go" && !strings.HasSuffix(f, "_test.go") && !slices.Contains(samplerExcluded, f) {
				files = append(files, f)
			}
		}
	}
	sort.Strings(files)
	h := sha256.New()
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(h, "file %s\n", filepath.Base(f))
		fs := token.NewFileSet()
		var s scanner.Scanner
		s.Init(fs.AddFile(f, -1, len(src)), src, nil, 0) // mode 0: comments skipped
		for {
			_, tok, lit := s.Scan()
			if tok == token.EOF {
				break
			}
			if tok == token.SEMICOLON {
				continue // automatic or written: layout, not code
			}
			fmt.Fprintf(h, "%d %s\n", tok, lit)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// TestSamplerVersion: the sampling code is the code SamplerVersion was
// recorded with. When it fails, the code changed: bump SamplerVersion
// (version.go) and record the new hash here, so that cached samples made
// by the old code are not reused.
func TestSamplerVersion(t *testing.T) {
	checkCodeVersion(t, "SamplerVersion", samplerSources, SamplerVersion, samplerCode)
	// comments do not count, code does
	dir := t.TempDir()
	a, b, c := filepath.Join(dir, "a", "x.go"), filepath.Join(dir, "b", "x.go"), filepath.Join(dir, "c", "x.go")
	for _, f := range []string{a, b, c} {
		os.Mkdir(filepath.Dir(f), 0o755)
	}
	os.WriteFile(a, []byte("package p\n// one\nfunc f() int { return 1 }\n"), 0o644)
	os.WriteFile(b, []byte("package p\n\n// two\nfunc f() int {\n\treturn 1\n}\n"), 0o644)
	os.WriteFile(c, []byte("package p\nfunc f() int { return 2 }\n"), 0o644)
	ha, hb, hc := codeHash(t, []string{a}), codeHash(t, []string{b}), codeHash(t, []string{c})
	if ha != hb || ha == hc {
		t.Fatalf("hashes: comments/format %s vs %s, code %s", ha, hb, hc)
	}
}

// TestSamplerSourcesExcluded: the functions of the files left out of the
// sampler's hash are not called from the code a sampler reaches (this
// package, radmodel, radmodel/diffusion; training calls them), so no
// sample depends on them.
func TestSamplerSourcesExcluded(t *testing.T) {
	for _, ex := range samplerExcluded {
		src, err := os.ReadFile(ex)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(token.NewFileSet(), ex, src, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		var calls []*regexp.Regexp
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok {
				calls = append(calls, regexp.MustCompile(`\b`+fd.Name.Name+`\(`))
			}
		}
		if len(calls) == 0 {
			t.Fatalf("%s: no functions found", ex)
		}
		// what a sampler reaches: this package, radmodel and its diffusion
		var files []string
		for _, p := range []string{"*.go", "../radmodel/*.go", "../radmodel/diffusion/*.go"} {
			m, _ := filepath.Glob(p)
			files = append(files, m...)
		}
		for _, name := range files {
			if name == ex || strings.HasSuffix(name, "_test.go") {
				continue
			}
			b, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			for _, re := range calls {
				if loc := re.Find(b); loc != nil {
					t.Errorf("%s calls %s of %s, which the sampler hash leaves out", name, loc, filepath.Base(ex))
				}
			}
		}
	}
}

// resampleCode is ResampleVersion's code hash (resample.go alone: the rest
// of what it runs is SamplerVersion's, and keys of resampled samples hold
// both numbers).
var resampleCode = map[int]string{
	1: "feb720b5301c3b2d",
}

// TestResampleVersion: resample.go is the code ResampleVersion was
// recorded with; when it fails, bump ResampleVersion and record the hash.
func TestResampleVersion(t *testing.T) {
	checkCodeVersion(t, "ResampleVersion", []string{"resample.go"}, ResampleVersion, resampleCode)
}

// checkCodeVersion fails unless the code of the files matching patterns
// hashes to what version (the constant named name) was recorded with.
func checkCodeVersion(t *testing.T, name string, patterns []string, version int, recorded map[int]string) {
	t.Helper()
	got := codeHash(t, patterns)
	if want, ok := recorded[version]; !ok || got != want {
		t.Fatalf("the hash of %v is %s, %s %d was recorded as %q: the code changed; "+
			"bump %s and record %d: %q", patterns, got, name, version, want, name, version+1, got)
	}
}
