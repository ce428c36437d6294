package bundle

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coorlog/coorlogprocessor/model/coordinator"
	"github.com/coorlog/coorlogprocessor/model/smallmodel"
)

// tiny trains a small but real bundle: width 8, a few dozen sessions.
func tiny(t testing.TB) *Bundle {
	t.Helper()
	r := rand.New(rand.NewSource(1))
	var vecs [][]float32
	var samples []smallmodel.Sample
	var items []smallmodel.Item
	for i := range 40 {
		v := make([]float32, 8)
		for j := range v {
			v[j] = float32(r.NormFloat64())
		}
		label := i % 4 / 3
		vecs = append(vecs, v)
		samples = append(samples, smallmodel.Sample{Vec: v, Label: label})
		items = append(items, smallmodel.Item{ID: fmt.Sprint("blk_", i), Label: label, Vec: v, Key: fmt.Sprint(i % 30), Lines: []string{"081109 203615 148 INFO dfs.DataNode$PacketResponder: line", "second"}})
	}
	ctx := context.Background()
	c, err := coordinator.Train(ctx, vecs, nil, coordinator.Config{Hidden: []int{4}, Epochs: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := smallmodel.Train(ctx, samples, smallmodel.Config{Hidden: []int{8, 8}, Epochs: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := smallmodel.NewMemory(smallmodel.MemoryConfig{K: 3}, s, items)
	if err != nil {
		t.Fatal(err)
	}
	return &Bundle{
		Manifest: Manifest{ModelVersion: "test-1", Created: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC), Encoder: EncoderRef{Name: "default", ConfigHash: "abc",
			Probe: []ProbeLine{{Line: "081109 203615 148 INFO dfs.DataNode$PacketResponder: line", Vector: vecs[0]}}}},
		Coordinator: c, Small: s, Memory: m,
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	b := tiny(t)
	dir := t.TempDir()
	path, err := Save(dir, b)
	if err != nil {
		t.Fatal(err)
	}
	if path != filepath.Join(dir, FileName) {
		t.Fatalf("saved to %s", path)
	}
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := got.Manifest
	if m.ModelVersion != "test-1" || m.Encoder.Name != "default" || m.Encoder.Dim != 8 || m.Tau != b.Coordinator.Tau() ||
		m.MemoryItems != b.Memory.Len() || m.FormatVersion != FormatVersion || !m.Created.Equal(b.Manifest.Created) {
		t.Fatalf("manifest %+v", m)
	}
	v := b.Memory.Item(0).Vec
	if got.Coordinator.Error(v) != b.Coordinator.Error(v) {
		t.Fatal("coordinator changed")
	}
	s1, _, _ := b.Memory.Classify(b.Small, v)
	s2, _, _ := got.Memory.Classify(got.Small, v)
	if s1 != s2 || got.Memory.Item(3).Lines[0] != b.Memory.Item(3).Lines[0] {
		t.Fatal("small model or memory changed")
	}
	if _, err := ReadManifest(path); err != nil {
		t.Fatal(err)
	}
}

func TestLoadRejectsBadFiles(t *testing.T) {
	p, err := tiny(t).Encode()
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, data []byte, want error) {
		t.Helper()
		_, err := Decode(data)
		if err == nil {
			t.Fatalf("%s: accepted", name)
		}
		if want != nil && !errors.Is(err, want) {
			t.Fatalf("%s: error %v, want %v", name, err, want)
		}
	}
	// Every truncation fails: a cut within the magic is "not a bundle", the
	// rest fail the checksum.
	for cut := 0; cut < len(p); cut++ {
		want := ErrChecksum
		if cut < len(Magic) {
			want = ErrNotBundle
		}
		check(fmt.Sprintf("truncated at %d", cut), p[:cut], want)
	}
	for i := len(Magic) + 4; i < len(p); i += 101 {
		c := bytes.Clone(p)
		c[i] ^= 0x40
		check(fmt.Sprintf("byte %d flipped", i), c, ErrChecksum)
	}
	v := bytes.Clone(p)
	binary.LittleEndian.PutUint32(v[len(Magic):], FormatVersion+1)
	check("newer version", v, ErrVersion)
	check("foreign", []byte("\x89PNG\r\n\x1a\n0000000000000000000000000000000000000000000000"), ErrNotBundle)
	check("empty", nil, ErrNotBundle)
	check("text", []byte(strings.Repeat("hello ", 20)), ErrNotBundle)

	// A probe vector of the wrong width is caught after decoding.
	wrongProbe := tiny(t)
	wrongProbe.Manifest.Encoder.Probe[0].Vector = []float32{1, 2}
	if q, err := wrongProbe.Encode(); err != nil {
		t.Fatal(err)
	} else {
		check("probe width", q, nil)
	}

	// A consistent checksum over an inconsistent body is still caught.
	body := bytes.Clone(p[:len(p)-sha256.Size])
	body = append(body, 0) // trailing garbage after the sections
	check("trailing bytes", reseal(body), nil)

	dir := t.TempDir()
	if _, err := Load(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("missing file accepted")
	}
	bad := filepath.Join(dir, FileName)
	os.WriteFile(bad, p[:len(p)/2], 0o644)
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), bad) || !errors.Is(err, ErrChecksum) {
		t.Fatalf("error should name the file and the cause: %v", err)
	}
}

func reseal(body []byte) []byte {
	sum := sha256.Sum256(body)
	return append(body, sum[:]...)
}

func TestFailedSaveKeepsLastGood(t *testing.T) {
	good := tiny(t)
	dir := t.TempDir()
	if _, err := Save(dir, good); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(Path(dir))
	if _, err := Save(dir, &Bundle{}); err == nil {
		t.Fatal("incomplete bundle saved")
	}
	// A write that fails midway: the target is a directory we cannot rename over.
	blocked := filepath.Join(dir, "blocked")
	os.MkdirAll(filepath.Join(blocked, FileName, "x"), 0o755)
	if _, err := Save(blocked, good); err == nil {
		t.Fatal("rename over a non-empty directory succeeded")
	}
	after, _ := os.ReadFile(Path(dir))
	if !bytes.Equal(before, after) {
		t.Fatal("last good bundle changed")
	}
	for _, d := range []string{dir, blocked} {
		entries, _ := os.ReadDir(d)
		for _, e := range entries {
			if strings.Contains(e.Name(), ".tmp-") {
				t.Fatalf("temporary file left behind: %s", e.Name())
			}
		}
	}
	if _, err := Load(dir); err != nil {
		t.Fatal(err)
	}
}

// TestWriteFuzzSeed regenerates the committed seed corpus when
// COORLOG_WRITE_FUZZ_SEED=1 (after a format change). The seed "valid" is
// kept as it was written (a bundle whose coordinator section is format 1):
// older bundles must keep loading.
func TestWriteFuzzSeed(t *testing.T) {
	if os.Getenv("COORLOG_WRITE_FUZZ_SEED") != "1" {
		t.Skip("set COORLOG_WRITE_FUZZ_SEED=1 to regenerate testdata/fuzz/FuzzLoad")
	}
	p, err := tiny(t).Encode()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzLoad")
	os.MkdirAll(dir, 0o755)
	write := func(name string, data []byte) {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("valid-current", p)
	write("truncated", p[:len(p)/3])
	write("magic-only", []byte(Magic))
}

// FuzzLoad feeds arbitrary bytes to the decoder, both as they are (the
// checksum rejects almost all) and resealed with a valid checksum, so the
// section parsers behind it are exercised too. Nothing may panic.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(Magic))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := Decode(data)
		if err == nil && b.Coordinator == nil {
			t.Fatal("nil model without error")
		}
		if len(data) > sha256.Size {
			b, err = Decode(reseal(bytes.Clone(data[:len(data)-sha256.Size])))
			if err == nil {
				// Whatever decodes must be usable.
				v := make([]float32, b.Coordinator.Dim())
				b.Coordinator.Evolved(v)
				b.Memory.Classify(b.Small, v)
			}
		}
	})
}

// The committed seeds decode: "valid-current" is a bundle as this build
// writes it (a format change must regenerate it), "valid" one written before
// the coordinator kept held-out sessions (coordinator format 1), which must
// keep loading with a fixed tau.
func TestCommittedSeedDecodes(t *testing.T) {
	for name, held := range map[string]bool{"valid": false, "valid-current": true} {
		raw, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzLoad", name))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.SplitN(string(raw), "\n", 3)
		if len(lines) < 2 || !strings.HasPrefix(lines[1], "[]byte(") {
			t.Fatalf("%s: not a fuzz corpus file: %q", name, lines[0])
		}
		lit := strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")")
		data, err := strconv.Unquote(lit)
		if err != nil {
			t.Fatal(err)
		}
		b, err := Decode([]byte(data))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if b.Manifest.ModelVersion != "test-1" || b.Memory.Len() == 0 || (b.Coordinator.HeldOut() > 0) != held {
			t.Fatalf("%s: manifest %+v, %d held-out sessions", name, b.Manifest, b.Coordinator.HeldOut())
		}
	}
}

func TestDecodeRejectsAnUnknownPooling(t *testing.T) {
	b := tiny(t)
	b.Manifest.Encoder.SessionPooling = "max"
	p, err := b.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(p); !errors.Is(err, ErrVersion) || !strings.Contains(err.Error(), `"max"`) {
		t.Fatalf("want ErrVersion naming the pooling, got %v", err)
	}
	for _, p := range []string{"", SessionPoolMean, SessionPoolDistinct} {
		b.Manifest.Encoder.SessionPooling = p
		enc, err := b.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Decode(enc); err != nil {
			t.Fatalf("pooling %q: %v", p, err)
		}
	}
}
