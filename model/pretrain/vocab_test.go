package pretrain

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/coorlog/coorlogprocessor/model/encoder/tokenizer"
)

func TestBasicWords(t *testing.T) {
	got := BasicWords("PacketResponder <NUM> for block blk_<ID>, Café\tdone\x00!")
	want := []string{"packetresponder", "<", "num", ">", "for", "block", "blk", "_", "<", "id", ">", ",", "cafe", "done", "!"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

func TestLearnVocab(t *testing.T) {
	var lines []string
	for i := 0; i < 50; i++ {
		lines = append(lines,
			"Receiving block blk_<ID> src: <IP> dest: <IP>",
			"PacketResponder <NUM> for block blk_<ID> terminating",
			"Deleting block blk_<ID> file <PATH>",
			"Verification succeeded for blk_<ID>")
	}
	vocab, err := LearnVocab(lines, nil, 300)
	if err != nil {
		t.Fatal(err)
	}
	if len(vocab) > 300 {
		t.Fatalf("%d tokens, want <= 300", len(vocab))
	}
	for i, s := range specials {
		if vocab[i] != s {
			t.Fatalf("token %d = %q, want %q", i, vocab[i], s)
		}
	}
	seen := map[string]bool{}
	for _, v := range vocab {
		if seen[v] {
			t.Fatalf("duplicate token %q", v)
		}
		seen[v] = true
	}
	for _, w := range []string{"block", "blk", "num", "receiving"} {
		if !seen[w] {
			t.Errorf("frequent word %q not learnt as a whole token", w)
		}
	}
	again, _ := LearnVocab(lines, nil, 300)
	if !slices.Equal(vocab, again) {
		t.Fatal("vocabulary learning is not deterministic")
	}

	// The encoder's own tokenizer uses it without [UNK], with whole words.
	tok, err := tokenizer.New(vocab, tokenizer.Options{Lowercase: true})
	if err != nil {
		t.Fatal(err)
	}
	pieces := tok.Tokenize("PacketResponder <NUM> for block blk_<ID> terminating; brand-new words ~!")
	if slices.Contains(pieces, tokenizer.TokenUnk) {
		t.Errorf("[UNK] in %q", pieces)
	}
	if !slices.Contains(pieces, "block") || !strings.HasPrefix(strings.Join(pieces, " "), "packetresponder < num >") {
		t.Errorf("unexpected pieces %q", pieces)
	}

	if _, err := LearnVocab(lines, nil, 10); err == nil {
		t.Error("tiny size accepted")
	}
	if _, err := LearnVocab(lines, []int{1}, 300); err == nil {
		t.Error("mismatched weights accepted")
	}
}

func TestLoadCorpus(t *testing.T) {
	dir := t.TempDir()
	huge := "GET /" + strings.Repeat("a", 3<<20) + " done"
	files := map[string]string{
		"a.log":   "PacketResponder 1 for block blk_123456789012 terminating\r\nPacketResponder 2 for block blk_987654321098 terminating\n\n" + huge + "\nlast line without newline",
		"b.log":   "\xff\xfe bad bytes 42\nPacketResponder 3 for block blk_555555555555 terminating\n",
		"c.txt":   "not a log file: ignored\n",
		"sub.log": "",
	}
	for n, body := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c, err := LoadCorpus(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Files) != 3 || c.RawLines != 6 {
		t.Errorf("files %v, raw lines %d; want 3 .log files and 6 non-empty lines", c.Files, c.RawLines)
	}
	if c.Lines[0] != "PacketResponder <NUM> for block blk_<ID> terminating" || c.Counts[0] != 3 {
		t.Errorf("first distinct line %q x%d", c.Lines[0], c.Counts[0])
	}
	if len(c.Lines) != 4 {
		t.Errorf("%d distinct lines %q, want 4", len(c.Lines), c.Lines)
	}
	for _, l := range c.Lines {
		if len(l) > maxLineBytes {
			t.Errorf("a line of %d bytes was kept", len(l))
		}
	}
	if _, err := LoadCorpus(context.Background(), filepath.Join(dir, "missing")); err == nil {
		t.Error("missing corpus accepted")
	}
	cctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := LoadCorpus(cctx, dir); err == nil {
		t.Error("cancelled context accepted")
	}
}
