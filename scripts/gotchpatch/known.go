package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// knownStubs are the lines of gotch's pristine generated wrappers that fail to
// compile against one libtorch, one compiler and one set of flags. The first
// pass finds them (a parse-only g++ run, about 50 s of one core on a fresh
// machine); a list committed for Debian's libtorch (scripts/gotchpatch/known)
// skips it. A wrong or stale list costs nothing but time: whatever still fails
// is stubbed by the next pass, as without a list.
type knownStubs struct {
	key     string
	dirs    []string // where lists are looked up: the committed directory, then the cache
	saveDir string   // where a list found by pass 1 is written (the cache)
	source  string   // the file a loaded list came from
}

// newKnownStubs keys the list by everything that decides which wrappers fail:
// the pristine generated file (in dir), libtorch's version header, the
// compiler and its flags.
func newKnownStubs(dir, inc, cuda, known, cache string) (*knownStubs, error) {
	h := sha256.New()
	fmt.Fprintln(h, strings.Join(cxxArgs(inc, cuda), " "))
	ver, err := exec.Command("g++", "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("g++ --version: %w", err)
	}
	h.Write(ver)
	for _, f := range []string{filepath.Join(inc, "torch/csrc/api/include/torch/version.h"), filepath.Join(dir, generated)} {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(h, "%s %d\n", filepath.Base(f), len(b))
		h.Write(b)
	}
	k := &knownStubs{key: hex.EncodeToString(h.Sum(nil))[:16]}
	for _, d := range []string{known, cache} {
		if d != "" {
			k.dirs = append(k.dirs, d)
		}
	}
	k.saveDir = cache
	return k, nil
}

func (k *knownStubs) name() string { return "stubs-" + k.key + ".lines" }

// load returns the known failing lines, or nil when no list matches.
func (k *knownStubs) load() map[int]bool {
	for _, d := range k.dirs {
		path := filepath.Join(d, k.name())
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		lines := map[int]bool{}
		for _, f := range strings.Fields(string(b)) {
			n, err := strconv.Atoi(f)
			if err != nil || n <= 0 {
				fmt.Printf("gotchpatch: ignoring %s: %q is not a line number\n", path, f)
				lines = nil
				break
			}
			lines[n] = true
		}
		if len(lines) > 0 {
			k.source = path
			return lines
		}
	}
	return nil
}

// save writes the lines pass 1 found to the cache, best effort, and says
// where: committed under scripts/gotchpatch/known, it spares every fresh
// machine with the same libtorch the first pass.
func (k *knownStubs) save(lines map[int]bool) {
	if k.saveDir == "" || len(lines) == 0 {
		return
	}
	ns := make([]int, 0, len(lines))
	for n := range lines {
		ns = append(ns, n)
	}
	sort.Ints(ns)
	var b strings.Builder
	for _, n := range ns {
		fmt.Fprintln(&b, n)
	}
	path := filepath.Join(k.saveDir, k.name())
	if err := os.MkdirAll(k.saveDir, 0o755); err != nil {
		return
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err == nil {
		fmt.Printf("gotchpatch: the failing wrapper lines are in %s (commit it under scripts/gotchpatch/known to skip the first pass on machines like this one)\n", path)
	}
}
