// Package defaultencoder ships the project's own compact log-line encoder: a
// 2-layer BERT (hidden 128) pretrained by model/pretrain with masked language
// modelling on the 16 Loghub systems (see MODEL_CARD.md). Its checkpoint is
// embedded in the binary, so the detector works with no download; any Hugging
// Face BERT checkpoint replaces it by configuration.
//
// The encoder expects normalised lines (model/normalize): wrap it in
// model/embedcache, which normalises, or normalise yourself.
package defaultencoder

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/coorlog/coorlogprocessor/model/encoder"
)

//go:embed checkpoint
var files embed.FS

const checkpointDir = "checkpoint"

// Name identifies the shipped checkpoint in model bundles and telemetry;
// Version adds a hash of its files.
const Name = "coorlog-default-loghub-bert-2x128"

// FS returns the embedded checkpoint files (config.json, model.safetensors,
// vocab.txt, tokenizer_config.json) at its root.
func FS() fs.FS {
	sub, err := fs.Sub(files, checkpointDir)
	if err != nil { // the directory is embedded: cannot happen in a built binary
		panic(err)
	}
	return sub
}

// Version is Name plus the first 12 hex digits of the SHA-256 of the
// checkpoint files (names and contents, in name order).
func Version() (string, error) {
	sum, err := digest()
	if err != nil {
		return "", err
	}
	return Name + "-" + sum[:12], nil
}

func digest() (string, error) {
	names, err := fs.Glob(FS(), "*")
	if err != nil {
		return "", fmt.Errorf("default encoder: %w", err)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		b, err := fs.ReadFile(FS(), n)
		if err != nil {
			return "", fmt.Errorf("default encoder: %w", err)
		}
		fmt.Fprintf(h, "%s\x00%d\x00", n, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Dir writes the embedded checkpoint once to a directory named after its
// hash under the user cache directory (os.TempDir when there is none) and
// returns it; later calls, from any process, find it there. The directory is
// filled under a temporary name and renamed, so it is complete or absent.
func Dir() (string, error) {
	return DirIn("")
}

// DirIn is Dir with an explicit parent directory ("" for the default).
func DirIn(parent string) (string, error) {
	sum, err := digest()
	if err != nil {
		return "", err
	}
	if parent == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			base = os.TempDir()
		}
		parent = filepath.Join(base, "coorlog", "defaultencoder")
	}
	dir := filepath.Join(parent, sum[:16])
	if complete(dir) {
		return dir, nil
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", fmt.Errorf("default encoder: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, ".tmp-")
	if err != nil {
		return "", fmt.Errorf("default encoder: %w", err)
	}
	defer os.RemoveAll(tmp) // no-op after the rename
	names, _ := fs.Glob(FS(), "*")
	for _, n := range names {
		b, err := fs.ReadFile(FS(), n)
		if err != nil {
			return "", fmt.Errorf("default encoder: %w", err)
		}
		if err := os.WriteFile(filepath.Join(tmp, n), b, 0o644); err != nil {
			return "", fmt.Errorf("default encoder: write %s: %w", n, err)
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		if complete(dir) { // another process won the race
			return dir, nil
		}
		return "", fmt.Errorf("default encoder: %w", err)
	}
	return dir, nil
}

// complete reports whether dir holds every embedded file with its size.
func complete(dir string) bool {
	names, err := fs.Glob(FS(), "*")
	if err != nil || len(names) == 0 {
		return false
	}
	for _, n := range names {
		want, err := fs.Stat(FS(), n)
		if err != nil {
			return false
		}
		got, err := os.Stat(filepath.Join(dir, n))
		if err != nil || got.Size() != want.Size() {
			return false
		}
	}
	return true
}

// Load opens the default encoder (see Dir) with the given options.
func Load(opts encoder.Options) (*encoder.Encoder, error) {
	dir, err := Dir()
	if err != nil {
		return nil, err
	}
	e, err := encoder.Load(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("default encoder: %w", err)
	}
	return e, nil
}
