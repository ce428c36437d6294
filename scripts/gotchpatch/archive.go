package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// archiveName is the static library that holds libtch's C++ layer, in the
// libtch package directory.
const archiveName = "libcoorlog_tch.a"

// cxxSources are the C++ translation units cgo would otherwise compile in
// every build whose flags differ (the collector, the commands, -race tests):
// about 70 s and 1.6 GB of compiler memory each on one core. adaptGo renames
// them with hiddenSuffix, out of cgo's sight.
var cxxSources = []string{"torch_api.cpp"}

const hiddenSuffix = ".src"

// cxxArgs are the compiler flags of the archive, without the source directory.
func cxxArgs(inc, cuda string) []string {
	args := []string{"-std=c++17", "-O2", "-fPIC", "-w", "-fmax-errors=0", "-I" + inc, "-I" + inc + "/torch/csrc/api/include"}
	if cuda != "" {
		args = append(args, "-I"+cuda+"/include")
	}
	return args
}

// buildArchive compiles libtch's C++ layer into archiveName. It works on a
// copy of the sources, so that nothing the go command hashes changes: the
// module may already be compiling. Each compile pass that fails stubs the
// wrappers the compiler rejected (stubFunctions) and tries again: the first
// pass stops after parsing (about 25 s), the second compiles what is left
// (about 60 s).
//
// With cache set, the archive and the stubbed wrappers are kept there under
// the key of the pristine inputs (archiveKey), so another clone on the same
// machine skips the compiler entirely.
//
// known is a directory of the wrapper lines known to fail (knownStubs): with
// a list for these exact inputs, the first pass is skipped.
func buildArchive(libtch, inc, cuda, cache, salt, known string, maxPasses int) error {
	key, err := archiveKey(libtch, inc, cuda, salt)
	if err != nil {
		return err
	}
	dst := filepath.Join(libtch, archiveName)
	var cachedArchive, cachedGenerated string
	if cache != "" {
		cachedArchive = filepath.Join(cache, "libtch-"+key+".a")
		cachedGenerated = filepath.Join(cache, "libtch-"+key+"-"+generated)
		if copyAtomic(cachedArchive, dst) == nil {
			fmt.Printf("gotchpatch: libtch (gotch's C++ layer) taken from the machine's cache %s\n", cachedArchive)
			return nil
		}
	}
	tmp, err := os.MkdirTemp("", "libtch")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	entries, err := os.ReadDir(libtch)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasSuffix(name, ".go") || name == archiveName {
			continue
		}
		if err := copyFile(filepath.Join(libtch, name), filepath.Join(tmp, strings.TrimSuffix(name, hiddenSuffix))); err != nil {
			return err
		}
	}
	var objs []string
	for _, src := range cxxSources {
		obj := filepath.Join(tmp, strings.TrimSuffix(src, ".cpp")+".o")
		args := append(cxxArgs(inc, cuda), "-I"+tmp, "-c", filepath.Join(tmp, src), "-o", obj)
		stubs, err := newKnownStubs(tmp, inc, cuda, known, cache)
		if err != nil {
			return err
		}
		if err := compileStubbing(tmp, src, args, stubs, maxPasses); err != nil {
			return err
		}
		objs = append(objs, obj)
	}
	part := dst + ".part"
	if out, err := exec.Command("ar", append([]string{"rcs", part}, objs...)...).CombinedOutput(); err != nil {
		return fmt.Errorf("ar: %v: %s", err, out)
	}
	if err := os.Rename(part, dst); err != nil {
		return err
	}
	if cache != "" {
		// Best effort: a cache that cannot be written only costs the next clone a compile.
		if err := os.MkdirAll(cache, 0o755); err == nil {
			_ = copyAtomic(filepath.Join(tmp, generated), cachedGenerated)
			_ = copyAtomic(dst, cachedArchive)
		}
	}
	return nil
}

// compileStubbing runs g++ with args until it succeeds, stubbing after each
// failed pass the generated wrappers (in dir) it rejected. With a list of the
// lines known to fail, it stubs them first and starts at the full compile.
func compileStubbing(dir, src string, args []string, stubs *knownStubs, maxPasses int) error {
	total, first := 0, 1
	if lines := stubs.load(); lines != nil {
		n, err := stubFunctions(filepath.Join(dir, generated), lines)
		if err != nil {
			return err
		}
		total, first = n, 2
		fmt.Printf("gotchpatch: stubbed the %d wrappers known not to compile against this libtorch (%s)\n", n, stubs.source)
	}
	var found map[int]bool // lines of the pristine file that failed, for stubs.save
	for pass := first; pass <= maxPasses; pass++ {
		if pass == 1 {
			fmt.Printf("gotchpatch: pass 1: finding the wrappers of %s this libtorch lacks (g++ stops after parsing when some fail; one core, about 25 s)\n", src)
		} else {
			fmt.Printf("gotchpatch: pass %d: compiling libtch %s (gotch's C++ layer, once per machine: one core, about 60 s)\n", pass, src)
		}
		cmd := exec.Command("g++", args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		stop := ticking()
		runErr := cmd.Run()
		elapsed := stop()
		if runErr == nil {
			fmt.Printf("gotchpatch: compiled in %s; %d wrappers stubbed (not in this libtorch)\n", elapsed.Round(time.Second), total)
			if pass == 2 && first == 1 {
				stubs.save(found)
			}
			return nil
		}
		var exitErr *exec.ExitError
		if !errors.As(runErr, &exitErr) {
			return fmt.Errorf("running g++: %w", runErr)
		}
		// Errors reported inside library headers (template instantiations) follow from a
		// wrapper's line too, and go away with it: they only count once no wrapper fails.
		failing, other := parseErrors(stderr.Bytes())
		if len(failing) == 0 && len(other) > 0 {
			return fmt.Errorf("errors outside the generated wrappers:\n%s", strings.Join(other, "\n"))
		}
		if len(failing) == 0 {
			return fmt.Errorf("g++ failed without parsable errors:\n%s", stderr.String())
		}
		n, err := stubFunctions(filepath.Join(dir, generated), failing)
		if err != nil {
			return err
		}
		if pass == 1 {
			found = failing // only the first pass's line numbers are those of the pristine file
		}
		total += n
		fmt.Printf("gotchpatch: pass %d: stubbed %d wrappers that do not compile against this libtorch\n", pass, n)
	}
	return fmt.Errorf("still failing after %d passes", maxPasses)
}

// archiveKey hashes everything the archive depends on: the pristine sources
// (after hideSources), the flags, the compiler, libtorch's version and salt.
// It is also a define in the cgo flags, so a new archive is never linked
// against objects built for an old one.
func archiveKey(libtch, inc, cuda, salt string) (string, error) {
	h := sha256.New()
	fmt.Fprintln(h, salt)
	fmt.Fprintln(h, strings.Join(cxxArgs(inc, cuda), " "))
	ver, err := exec.Command("g++", "--version").Output()
	if err != nil {
		return "", fmt.Errorf("g++ --version: %w", err)
	}
	h.Write(ver)
	files := []string{filepath.Join(inc, "torch/csrc/api/include/torch/version.h")}
	for _, f := range cxxSources {
		files = append(files, filepath.Join(libtch, f+hiddenSuffix))
	}
	for _, f := range []string{"torch_api.h", "torch_api_generated.h", generated} {
		files = append(files, filepath.Join(libtch, f))
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %d\n", filepath.Base(f), len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// hideSources renames the C++ sources so that cgo no longer compiles them.
func hideSources(libtch string) error {
	for _, src := range cxxSources {
		if err := os.Rename(filepath.Join(libtch, src), filepath.Join(libtch, src+hiddenSuffix)); err != nil {
			return err
		}
	}
	return nil
}

// ticking prints "still running" every 15 s until the returned function is
// called; that returns the time elapsed.
func ticking() func() time.Duration {
	start := time.Now()
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(15 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				fmt.Printf("gotchpatch: still running (%s)\n", time.Since(start).Round(time.Second))
			}
		}
	}()
	return func() time.Duration {
		close(done)
		<-stopped
		return time.Since(start)
	}
}

// copyAtomic copies src to dst through a temporary file, so that a reader
// never sees a partial dst.
func copyAtomic(src, dst string) error {
	part := dst + ".part"
	if err := copyFile(src, part); err != nil {
		return err
	}
	return os.Rename(part, dst)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
