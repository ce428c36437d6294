package defaultencoder

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/coorlog/coorlogprocessor/model/embedcache"
	"github.com/coorlog/coorlogprocessor/model/encoder"
	"github.com/coorlog/coorlogprocessor/model/internal/vec"
)

func TestEmbeddedCheckpointIsSmallAndComplete(t *testing.T) {
	var total int64
	for _, n := range []string{"config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json"} {
		st, err := fs.Stat(FS(), n)
		if err != nil {
			t.Fatalf("embedded checkpoint lacks %s: %v", n, err)
		}
		total += st.Size()
	}
	if total > 8<<20 {
		t.Errorf("embedded checkpoint is %d bytes; the default encoder must stay a few MB", total)
	}
	v, err := Version()
	if err != nil || !strings.HasPrefix(v, Name+"-") || len(v) != len(Name)+13 {
		t.Errorf("Version() = %q, %v", v, err)
	}
}

func TestDirIsIdempotentAndConcurrent(t *testing.T) {
	parent := t.TempDir()
	var wg sync.WaitGroup
	dirs := make([]string, 8)
	errs := make([]error, 8)
	for i := range dirs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			dirs[i], errs[i] = DirIn(parent)
		}(i)
	}
	wg.Wait()
	for i := range dirs {
		if errs[i] != nil || dirs[i] != dirs[0] {
			t.Fatalf("DirIn #%d = %q, %v; want %q", i, dirs[i], errs[i], dirs[0])
		}
	}
	entries, _ := os.ReadDir(parent)
	if len(entries) != 1 {
		t.Errorf("%d entries under the cache parent, want 1 (no leftover temporary directories)", len(entries))
	}
	// A damaged copy (truncated file) is written again.
	victim := filepath.Join(dirs[0], "vocab.txt")
	if err := os.WriteFile(victim, []byte("[PAD]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if complete(dirs[0]) {
		t.Fatal("a truncated copy counts as complete")
	}
	if err := os.RemoveAll(dirs[0]); err != nil {
		t.Fatal(err)
	}
	again, err := DirIn(parent)
	if err != nil || again != dirs[0] || !complete(again) {
		t.Fatalf("rewrite: %q %v", again, err)
	}
	if _, err := DirIn(filepath.Join(victim, "not-a-dir")); err == nil {
		t.Error("unusable parent accepted")
	}
}

func TestLoadAndEmbedThroughCache(t *testing.T) {
	enc, err := Load(encoder.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	if enc.Dim() != 128 {
		t.Errorf("Dim() = %d, want 128", enc.Dim())
	}
	c := embedcache.New(enc, 100)
	vecs, err := c.Embed(context.Background(), []string{
		"081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_38865049064139660 terminating",
		"081109 203807 222 INFO dfs.DataNode$PacketResponder: PacketResponder 0 for block blk_-6952295868487656571 terminating",
		"081109 204005 35 INFO dfs.FSNamesystem: BLOCK* NameSystem.addStoredBlock: blockMap updated: 10.251.73.220:50010 is added to blk_7128370237687728475 size 67108864",
	})
	if err != nil {
		t.Fatal(err)
	}
	if vec.Cosine(vecs[0], vecs[1]) < 0.9999 {
		t.Error("two lines of one template got different vectors through the cache")
	}
	if h, m, _ := c.Stats(); h != 1 || m != 2 {
		t.Errorf("cache stats %d hits %d misses, want 1 and 2", h, m)
	}
}
