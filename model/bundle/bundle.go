// Package bundle is the on-disk model of CoorLog: one file holding everything
// the cascade needs besides the encoder weights (which it references).
//
// Layout (little-endian):
//
//	magic      8 bytes  "COORLOGB"
//	version    uint32   FormatVersion
//	manifest   uint64 length + JSON (Manifest)
//	sections   uint32 count, then per section: uint64 name length + name,
//	           uint64 length + payload ("coordinator", "small_model", "memory",
//	           and "feedback" when operators gave any: JSON, see Feedback)
//	checksum   32 bytes SHA-256 of everything above
//
// Save writes a temporary file in the target directory, fsyncs it and renames
// it over the bundle, so a reader sees the old bundle or the new one, never a
// mix, and a failed write leaves the last good bundle in place. Load checks
// the magic, the version, the checksum and every length before it decodes,
// so a truncated, corrupt, foreign or newer file is a clear error.
package bundle

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/coorlog/coorlogprocessor/model/coordinator"
	"github.com/coorlog/coorlogprocessor/model/internal/wire"
	"github.com/coorlog/coorlogprocessor/model/lexical"
	"github.com/coorlog/coorlogprocessor/model/smallmodel"
)

// FileName is the bundle's name inside a model directory.
const FileName = "coorlog.bundle"

// Magic opens every bundle file.
const Magic = "COORLOGB"

// FormatVersion is the layout this build writes and reads.
const FormatVersion = 1

// Errors a caller may test for with errors.Is.
var (
	ErrNotBundle = errors.New("not a coorlog bundle")
	ErrVersion   = errors.New("unsupported bundle format version")
	ErrChecksum  = errors.New("bundle checksum mismatch (truncated or corrupt file)")
)

// EncoderRef names the encoder the vectors in the bundle come from.
type EncoderRef struct {
	Name       string `json:"name"`        // "default" (the shipped encoder) or a checkpoint path
	ConfigHash string `json:"config_hash"` // hash of the encoder's configuration, to detect a swap
	Dim        int    `json:"dim"`         // session vector width
	// Probe is a few training lines and the vectors the encoder gave them:
	// a cascade re-embeds them at start to verify that its encoder (weights,
	// pooling, normalisation) still produces the vectors the models learnt.
	Probe []ProbeLine `json:"probe,omitempty"`
	// SessionPooling is how the session vectors were pooled from line vectors (SessionPoolMean or
	// SessionPoolDistinct; "" in bundles written before it was recorded: SessionPoolMean). Detection must
	// pool the same way: a cascade takes it from here.
	SessionPooling string `json:"session_pooling,omitempty"`
	// Normalizer is the masking rules' version the training lines went through
	// (normalize.Version; "" before it was recorded).
	Normalizer string `json:"normalizer,omitempty"`
	// Lexical is the lexical half of the session vectors (package lexical):
	// a session vector is the pooled line vectors followed by Lexical.Dims
	// TF-IDF buckets of the session's masked tokens. nil in bundles made
	// without it (and before it existed): the session vector is the pooled
	// line vectors alone.
	Lexical *lexical.Model `json:"lexical,omitempty"`
}

// LexicalDims is the width of the lexical half of the session vectors (0
// without one).
func (r EncoderRef) LexicalDims() int { return r.Lexical.Width() }

// Session poolings (EncoderRef.SessionPooling).
const (
	// SessionPoolMean is the mean of every line vector of the session.
	SessionPoolMean = "mean"
	// SessionPoolDistinct is the mean of the session's distinct line vectors: a line repeated 40 times
	// weighs what it weighs once, so one fault line is not diluted by repeats of routine lines.
	SessionPoolDistinct = "distinct-mean"
)

// PoolingOf returns the pooling a bundle's vectors were made with.
func (r EncoderRef) SessionPoolingOf() string {
	if r.SessionPooling == "" {
		return SessionPoolMean
	}
	return r.SessionPooling
}

// ProbeLine is one line of EncoderRef.Probe.
type ProbeLine struct {
	Line   string    `json:"line"`
	Vector []float32 `json:"vector"`
}

// TrainInfo records how the bundle was trained.
type TrainInfo struct {
	TrainSessions      int     `json:"train_sessions"`
	ValidSessions      int     `json:"valid_sessions"`
	Anomalous          int     `json:"anomalous"`
	Seed               int64   `json:"seed"`
	EncodeSeconds      float64 `json:"encode_seconds"`
	CoordinatorSeconds float64 `json:"coordinator_seconds"`
	SmallModelSeconds  float64 `json:"small_model_seconds"`
}

// Manifest describes a bundle; it is stored as JSON so that it can be read
// without the model code.
type Manifest struct {
	FormatVersion int                     `json:"format_version"`
	ModelVersion  string                  `json:"model_version"`
	Created       time.Time               `json:"created"`
	Encoder       EncoderRef              `json:"encoder"`
	Coordinator   coordinator.Config      `json:"coordinator"`
	Tau           float64                 `json:"tau"`
	SmallModel    smallmodel.Config       `json:"small_model"`
	Memory        smallmodel.MemoryConfig `json:"memory"`
	MemoryItems   int                     `json:"memory_items"`
	MemoryClasses [2]int                  `json:"memory_classes"` // items per label
	Updates       int                     `json:"updates"`        // AEM updates applied since training
	Training      TrainInfo               `json:"training"`
}

// Bundle is a decoded model set.
type Bundle struct {
	Manifest    Manifest
	Coordinator *coordinator.Model
	Small       *smallmodel.Model
	Memory      *smallmodel.Memory
	// Feedback is the operators' labels, undone ones included, oldest first.
	Feedback []Feedback
}

// Path is the bundle file inside dir.
func Path(dir string) string { return filepath.Join(dir, FileName) }

// Encode serialises the bundle, refreshing the manifest fields that describe
// the models (tau, configs, memory size) from the models themselves.
func (b *Bundle) Encode() ([]byte, error) {
	if b.Coordinator == nil || b.Small == nil || b.Memory == nil {
		return nil, errors.New("bundle: coordinator, small model and memory are all required")
	}
	m := b.Manifest
	m.FormatVersion = FormatVersion
	m.Coordinator = b.Coordinator.Config()
	m.Tau = b.Coordinator.Tau()
	m.SmallModel = b.Small.Config()
	m.Memory = b.Memory.Config()
	m.MemoryItems = b.Memory.Len()
	m.MemoryClasses = b.Memory.ClassCounts()
	if m.Encoder.Dim == 0 {
		m.Encoder.Dim = b.Small.Dim()
	}
	sections := make([]section, 0, 3)
	for _, s := range []struct {
		name string
		enc  func() ([]byte, error)
	}{
		{"coordinator", b.Coordinator.MarshalBinary},
		{"small_model", b.Small.MarshalBinary},
		{"memory", b.Memory.MarshalBinary},
	} {
		p, err := s.enc()
		if err != nil {
			return nil, fmt.Errorf("bundle: encode %s: %w", s.name, err)
		}
		sections = append(sections, section{s.name, p})
	}
	if len(b.Feedback) > 0 {
		p, err := json.Marshal(b.Feedback)
		if err != nil {
			return nil, fmt.Errorf("bundle: encode feedback: %w", err)
		}
		sections = append(sections, section{"feedback", p})
	}
	var w wire.Writer
	for _, c := range []byte(Magic) {
		w.U8(c)
	}
	w.U32(FormatVersion)
	if err := w.JSON(m); err != nil {
		return nil, fmt.Errorf("bundle: manifest: %w", err)
	}
	w.U32(uint32(len(sections)))
	for _, s := range sections {
		w.String(s.name)
		w.Blob(s.data)
	}
	sum := sha256.Sum256(w.Bytes())
	return append(w.Bytes(), sum[:]...), nil
}

type section struct {
	name string
	data []byte
}

// maxSections bounds the section count a decoder accepts.
const maxSections = 64

// Decode parses and validates a bundle.
func Decode(p []byte) (*Bundle, error) {
	head := len(Magic) + 4
	if len(p) < len(Magic) || !bytes.Equal(p[:len(Magic)], []byte(Magic)) {
		return nil, fmt.Errorf("bundle: %w (bad magic)", ErrNotBundle)
	}
	if len(p) < head+sha256.Size {
		return nil, fmt.Errorf("bundle: %w: %d bytes", ErrChecksum, len(p))
	}
	r := wire.NewReader(p[len(Magic):])
	if v := r.U32(); v != FormatVersion {
		return nil, fmt.Errorf("bundle: %w: file has %d, this build reads %d", ErrVersion, v, FormatVersion)
	}
	body, sum := p[:len(p)-sha256.Size], p[len(p)-sha256.Size:]
	if got := sha256.Sum256(body); !bytes.Equal(got[:], sum) {
		return nil, fmt.Errorf("bundle: %w", ErrChecksum)
	}
	r = wire.NewReader(body[head:])
	var b Bundle
	r.JSON(&b.Manifest)
	count := r.U32()
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("bundle: manifest: %w", err)
	}
	if count > maxSections {
		return nil, fmt.Errorf("bundle: %d sections", count)
	}
	secs := map[string][]byte{}
	for range count {
		name := r.String()
		data := r.Blob()
		if err := r.Err(); err != nil {
			return nil, fmt.Errorf("bundle: sections: %w", err)
		}
		if _, dup := secs[name]; dup {
			return nil, fmt.Errorf("bundle: section %q appears twice", name)
		}
		secs[name] = data
	}
	if r.Remaining() != 0 {
		return nil, fmt.Errorf("bundle: %d bytes after the sections", r.Remaining())
	}
	for _, name := range []string{"coordinator", "small_model", "memory"} {
		if _, ok := secs[name]; !ok {
			return nil, fmt.Errorf("bundle: section %q missing", name)
		}
	}
	var err error
	if b.Coordinator, err = coordinator.Unmarshal(secs["coordinator"]); err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	if b.Small, err = smallmodel.Unmarshal(secs["small_model"]); err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	if b.Memory, err = smallmodel.UnmarshalMemory(secs["memory"], b.Small); err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	if p, ok := secs["feedback"]; ok {
		if b.Feedback, err = decodeFeedback(p); err != nil {
			return nil, fmt.Errorf("bundle: %w", err)
		}
	}
	if c, s, lx := b.Coordinator.Dim(), b.Small.Dim(), b.Manifest.Encoder.LexicalDims(); c+lx != s {
		return nil, fmt.Errorf("bundle: coordinator takes width %d, small model %d, lexical half %d", c, s, lx)
	}
	if p := b.Manifest.Encoder.SessionPoolingOf(); p != SessionPoolMean && p != SessionPoolDistinct {
		return nil, fmt.Errorf("bundle: %w: session pooling %q (this build knows %q and %q)", ErrVersion, p, SessionPoolMean, SessionPoolDistinct)
	}
	if d := b.Manifest.Encoder.Dim; d != 0 && d != b.Small.Dim() {
		return nil, fmt.Errorf("bundle: manifest says session vector width %d, models take %d", d, b.Small.Dim())
	}
	if lx := b.Manifest.Encoder.Lexical; lx != nil {
		if err := lx.Validate(); err != nil {
			return nil, fmt.Errorf("bundle: %w", err)
		}
	}
	for i, p := range b.Manifest.Encoder.Probe {
		if len(p.Vector) != b.Coordinator.Dim() { // the encoder's width
			return nil, fmt.Errorf("bundle: encoder probe %d has width %d, models take %d", i, len(p.Vector), b.Coordinator.Dim())
		}
	}
	return &b, nil
}

// Load reads the bundle at path, which is a bundle file or a directory
// holding FileName.
func Load(path string) (*Bundle, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = Path(path)
	}
	p, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("bundle: read: %w", err)
	}
	b, err := Decode(p)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, nil
}

// Save writes the bundle to dir/FileName atomically (temporary file in dir,
// fsync, rename, fsync of dir) and returns the path. On any failure the
// previous bundle, if any, is left as it was.
func Save(dir string, b *Bundle) (string, error) {
	p, err := b.Encode()
	if err != nil {
		return "", err
	}
	return WriteFileAtomic(Path(dir), p)
}

// WriteFileAtomic replaces path with data so that readers see either the old
// or the new content.
func WriteFileAtomic(path string, data []byte) (string, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("bundle: create directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return "", fmt.Errorf("bundle: create temporary file: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return "", fmt.Errorf("bundle: write: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return "", fmt.Errorf("bundle: sync: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("bundle: close: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return "", fmt.Errorf("bundle: chmod: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", fmt.Errorf("bundle: rename into place: %w", err)
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // make the rename durable; best effort where unsupported
		d.Close()
	}
	return path, nil
}

// ReadManifest returns the manifest of the bundle at path after the same
// validation as Load.
func ReadManifest(path string) (Manifest, error) {
	b, err := Load(path)
	if err != nil {
		return Manifest{}, err
	}
	return b.Manifest, nil
}

// MarshalIndent is the manifest as indented JSON, for `coorlog` to print.
func (m Manifest) MarshalIndent() ([]byte, error) { return json.MarshalIndent(m, "", "  ") }
