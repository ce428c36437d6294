package pretrain

import (
	"slices"
	"strings"
	"testing"

	"github.com/coorlog/coorlogprocessor/model/encoder"
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
	tok, err := encoder.NewTokenizer(vocab, encoder.TokenizerOptions{Lowercase: true})
	if err != nil {
		t.Fatal(err)
	}
	pieces := tok.Tokenize("PacketResponder <NUM> for block blk_<ID> terminating; brand-new words ~!")
	if slices.Contains(pieces, encoder.TokenUnk) {
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
