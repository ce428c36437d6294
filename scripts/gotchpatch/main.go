// Command gotchpatch adapts a copy of the gotch module to the libtorch that is
// installed on this machine. gotch's generated C++ wrappers target a newer
// libtorch than Debian ships; instead of hand-maintaining a patch, it asks the
// compiler which wrappers fail (a syntax-only compile) and turns exactly those
// into functions that raise "not available in this libtorch build" at run time.
// The rest of gotch is untouched, so the step adapts to whatever libtorch is
// installed. The C++ layer is compiled here, once, into a static archive that
// every Go build links (archive.go).
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

const generated = "torch_api_generated.cpp.h"

func main() {
	dir := flag.String("dir", "", "gotch module copy to patch (writable)")
	phase := flag.String("phase", "", "go: adapt the Go side and the cgo flags (seconds); archive: compile the C++ layer into the archive the flags link")
	inc := flag.String("include", "/usr/include", "libtorch include directory")
	lib := flag.String("lib", "/usr/lib/x86_64-linux-gnu", "libtorch library directory")
	cuda := flag.String("cuda", "", "CUDA home; empty for a CPU-only build")
	maxPasses := flag.Int("passes", 4, "compile passes (each stubs the wrappers that failed) before giving up")
	cache := flag.String("cache", "", "directory that keeps compiled libtch archives across clones; empty for none")
	salt := flag.String("salt", "", "mixed into the archive's key (setup passes a hash of this tool's sources)")
	known := flag.String("known", "", "directory of committed lists of the wrapper lines that fail for given inputs (skips the first pass)")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "gotchpatch: -dir is required")
		os.Exit(2)
	}
	libtch := filepath.Join(*dir, "libtch")
	var err error
	switch *phase {
	case "go":
		err = adaptGo(*dir, *inc, *lib, *cuda, *salt)
	case "archive":
		err = buildArchive(libtch, *inc, *cuda, *cache, *salt, *known, *maxPasses)
	default:
		fmt.Fprintln(os.Stderr, "gotchpatch: -phase go|archive is required")
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gotchpatch:", err)
		os.Exit(1)
	}
}

// adaptGo makes every change to what the go command sees: the Go fixes, the
// C++ sources hidden from cgo (they go into the archive instead), and cgo
// flags that link the archive. After it, the module's packages compile (the
// archive is needed only to link), so setup can hand the module to the go
// command while the archive is compiled.
func adaptGo(dir, inc, lib, cuda, salt string) error {
	libtch := filepath.Join(dir, "libtch")
	if err := fixIntReads(libtch); err != nil {
		return fmt.Errorf("fixing C int reads: %w", err)
	}
	if err := fixNoGrad(filepath.Join(dir, "ts", "tensor.go")); err != nil {
		return fmt.Errorf("fixing ts.NoGrad: %w", err)
	}
	if err := hideSources(libtch); err != nil {
		return err
	}
	key, err := archiveKey(libtch, inc, cuda, salt)
	if err != nil {
		return err
	}
	if err := writeCgoFlags(filepath.Join(libtch, "lib.go"), inc, lib, cuda, key); err != nil {
		return fmt.Errorf("rewriting cgo flags: %w", err)
	}
	return nil
}

// writeCgoFlags replaces gotch's hard-wired flags (CUDA libraries, the old C++
// ABI, a vendored libtorch path) with flags for the libtorch given, linking
// the precompiled C++ layer (archiveName). key names the archive's content:
// as a define it is part of every build-cache key of the package, so a new
// archive is never linked against objects built for an old one.
func writeCgoFlags(path, inc, lib, cuda, key string) error {
	src, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var keep []string
	for _, l := range strings.Split(string(src), "\n") {
		if !strings.HasPrefix(l, "// #cgo ") {
			keep = append(keep, l)
		}
	}
	flags := []string{
		"// #cgo LDFLAGS: ${SRCDIR}/" + archiveName + " -lstdc++ -lm -ltorch -lc10 -ltorch_cpu -L" + lib + " -Wl,-rpath," + lib,
		"// #cgo CFLAGS: -DCOORLOG_LIBTCH_" + key + " -I${SRCDIR} -O3 -Wall -Wno-unused-variable -Wno-deprecated-declarations -Wno-c++11-narrowing -Wno-sign-compare -Wno-unused-function",
	}
	if cuda != "" {
		flags = append(flags,
			"// #cgo LDFLAGS: -L"+cuda+"/lib64 -lcuda -lcudart -lcublas -lcudnn -lnvrtc -lc10_cuda -ltorch_cuda",
			"// #cgo CFLAGS: -I"+cuda+"/include")
	}
	out := []string{}
	inserted := false
	for _, l := range keep {
		out = append(out, l)
		if !inserted && strings.HasPrefix(l, "package ") {
			out = append(out, "")
			out = append(out, flags...)
			inserted = true
		}
	}
	// cgo directives must directly precede `import "C"`; move them there.
	joined := strings.Join(out, "\n")
	block := strings.Join(flags, "\n")
	joined = strings.Replace(joined, "\n"+block, "", 1)
	joined = strings.Replace(joined, "import \"C\"", block+"\nimport \"C\"", 1)
	return os.WriteFile(path, []byte(joined), 0o644)
}

var errLine = regexp.MustCompile(`^(.*?):(\d+):\d+: error: `)

// parseErrors reads g++'s diagnostics: the line numbers in the generated file
// that fail, and errors anywhere else.
func parseErrors(stderr []byte) (map[int]bool, []string) {
	failing := map[int]bool{}
	var other []string
	sc := bufio.NewScanner(bytes.NewReader(stderr))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		m := errLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		if filepath.Base(m[1]) == generated {
			n, _ := strconv.Atoi(m[2])
			failing[n] = true
		} else {
			other = append(other, sc.Text())
		}
	}
	return failing, other
}

// stubFunctions replaces the PROTECT(...) body of every wrapper that contains
// a failing line with a throw that names the wrapper.
func stubFunctions(path string, failing map[int]bool) (int, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	lines := strings.Split(string(src), "\n")
	type span struct{ start, end int } // PROTECT body, 0-based, exclusive end
	spans := map[span]string{}
	for ln := range failing {
		i := ln - 1
		if i < 0 || i >= len(lines) {
			continue
		}
		// Walk back to the wrapper's signature (a line starting at column 0).
		s := i
		for s > 0 && (lines[s] == "" || lines[s][0] == ' ' || lines[s][0] == '\t' || lines[s][0] == '}') {
			s--
		}
		name := signatureName(lines[s])
		p := s
		for p < len(lines) && strings.TrimSpace(lines[p]) != "PROTECT(" {
			p++
		}
		e := p + 1
		for e < len(lines) && lines[e] != "  )" {
			e++
		}
		if name == "" || p >= len(lines) || e >= len(lines) || i > e {
			return 0, fmt.Errorf("%s:%d: cannot find the enclosing wrapper", generated, ln)
		}
		spans[span{p + 1, e}] = name
	}
	keys := make([]span, 0, len(spans))
	for k := range spans {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(a, b int) bool { return keys[a].start > keys[b].start })
	for _, k := range keys {
		stub := fmt.Sprintf("    throw std::runtime_error(\"%s: not available in this libtorch build (gotch targets a newer libtorch)\");", spans[k])
		lines = append(lines[:k.start], append([]string{stub}, lines[k.end:]...)...)
	}
	return len(keys), os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644)
}

var sigName = regexp.MustCompile(`\b(at[a-z]*_\w+)\(`)

func signatureName(l string) string {
	m := sigName.FindStringSubmatch(l)
	if m == nil {
		return ""
	}
	return m[1]
}

// intRead matches gotch's `*(*int)(unsafe.Pointer(&x))` conversions of a C
// int result: they read 8 bytes from a 4-byte value, so the upper half is
// stack garbage. at_grad_set_enabled goes through one: the "previous grad
// mode" it reports is wrong, and code restoring it can leave gradients off.
var intRead = regexp.MustCompile(`return \*\(\*int\)\(unsafe\.Pointer\(&(\w+)\)\)`)

func fixIntReads(libtch string) error {
	for _, name := range []string{"tensor.go"} {
		path := filepath.Join(libtch, name)
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		out := intRead.ReplaceAll(src, []byte("return int($1)"))
		if err := os.WriteFile(path, out, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// noGradFixes pin gotch's ts.NoGrad and ts.NoGrad1 to one OS thread.
// libtorch's grad mode is per thread: a goroutine that moved to another
// thread before restoring it left gradients off on the first, and a later
// training step scheduled there failed ("element 0 of tensors does not
// require grad"). nn's weight initialisation goes through NoGrad. NoGrad also
// restores the previous mode instead of forcing it on.
var noGradFixes = []struct{ old, new string }{
	{
		old: `func NoGrad(fn func()) {
	// Switch off Grad
	MustGradSetEnabled(false)

	fn()

	// Switch on Grad
	MustGradSetEnabled(true)
}`,
		new: `func NoGrad(fn func()) {
	// Grad mode is per OS thread in libtorch: stay on one (coorlog setup).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	prev := MustGradSetEnabled(false)
	defer MustGradSetEnabled(prev)
	fn()
}`,
	},
	{
		old: `func NoGrad1(fn func() interface{}) interface{} {
`,
		new: `func NoGrad1(fn func() interface{}) interface{} {
	// Grad mode is per OS thread in libtorch: stay on one (coorlog setup).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
`,
	},
}

// fixNoGrad applies noGradFixes; a gotch whose code no longer matches fails
// the setup rather than building with the race.
func fixNoGrad(path string) error {
	src, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out := string(src)
	for _, f := range noGradFixes {
		if strings.Count(out, f.old) != 1 {
			return fmt.Errorf("%s: expected one occurrence of %q", path, strings.SplitN(f.old, "\n", 2)[0])
		}
		out = strings.Replace(out, f.old, f.new, 1)
	}
	if !strings.Contains(out, "\t\"runtime\"\n") {
		return fmt.Errorf("%s: does not import runtime", path)
	}
	return os.WriteFile(path, []byte(out), 0o644)
}
