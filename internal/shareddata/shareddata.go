// Package shareddata locates the public log data the project is developed
// and evaluated on (../shared/data next to the repository, or $COORLOG_DATA).
// The data is never part of the repository: commands report its absence as
// an error and tests skip.
package shareddata

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// ErrNotFound is returned when the shared data directory is absent.
var ErrNotFound = errors.New("shared data directory not found")

// Dir returns $COORLOG_DATA, else ../shared/data relative to the repository
// root (found by walking up from the working directory to go.mod).
func Dir() (string, error) {
	if d := os.Getenv("COORLOG_DATA"); d != "" {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			return d, nil
		}
		return "", fmt.Errorf("%w: COORLOG_DATA=%s", ErrNotFound, d)
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("locating shared data: %w", err)
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			cand := filepath.Join(d, "..", "shared", "data")
			if st, err := os.Stat(cand); err == nil && st.IsDir() {
				return filepath.Clean(cand), nil
			}
			return "", fmt.Errorf("%w: %s (set COORLOG_DATA)", ErrNotFound, cand)
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("%w: no go.mod above %s (set COORLOG_DATA)", ErrNotFound, wd)
		}
	}
}

// Require returns the path of sub (a file or folder inside the shared data)
// or skips the test with the reason when it is absent.
func Require(t testing.TB, sub string) string {
	t.Helper()
	dir, err := Dir()
	if err != nil {
		t.Skipf("skipping: %v", err)
	}
	p := filepath.Join(dir, sub)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("skipping: %s not in the shared data (set COORLOG_DATA): %v", sub, err)
	}
	return p
}
