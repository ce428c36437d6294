package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The parity fixture of the encoder (made by ../testdata/gen_parity.py with
// a PyTorch reference tokenizer) holds the expected ids.
const parityDir = "../testdata/parity"

type parityRef struct {
	MaxSeqLen int       `json:"max_seq_len"`
	Sentences []string  `json:"sentences"`
	IDs       [][]int64 `json:"ids"`
}

func readParityRef(t testing.TB) parityRef {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(parityDir, "reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref parityRef
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	return ref
}

func TestTokenizerParity(t *testing.T) {
	ref := readParityRef(t)
	tok, err := Load(parityDir)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range ref.Sentences {
		got := tok.EncodeMax(s, ref.MaxSeqLen)
		if !slices.Equal(got, ref.IDs[i]) {
			t.Errorf("sentence %d %q:\n got  %v\n want %v", i, s, got, ref.IDs[i])
		}
	}
}

func testTokenizer(t *testing.T, lower bool) *Tokenizer {
	t.Helper()
	vocab := []string{TokenPad, TokenUnk, TokenCLS, TokenSEP, TokenMask,
		"hello", "world", "un", "##aff", "##able", ",", "!", "cafe", "café", "Hello", "中", "x", "##x", "#", "##ing", "block"}
	tok, err := New(vocab, Options{Lowercase: lower, MaxLen: 8})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestTokenizeBasics(t *testing.T) {
	uncased := testTokenizer(t, true)
	cased := testTokenizer(t, false)
	for _, c := range []struct {
		tok  *Tokenizer
		text string
		want string
	}{
		{uncased, "Hello, World!", "hello , world !"},
		{uncased, "unaffable", "un ##aff ##able"},
		{uncased, "unaffabley", "[UNK]"}, // no way to finish the word: the whole word is [UNK]
		{uncased, "Café", "cafe"},        // accents stripped when uncased
		{cased, "café", "café"},          // kept when cased
		{cased, "Hello hello", "Hello hello"},
		{uncased, "中中", "中 中"},                                 // CJK characters split apart
		{uncased, "x\u0000x\u200bx\tblock", "x ##x ##x block"}, // NUL and format chars dropped, tab splits
		{uncased, "a [SEP] b [sep]", "[UNK] [SEP] [UNK] [UNK] [UNK] [UNK]"},
		{uncased, "#block", "# block"},
		{uncased, strings.Repeat("x", 101), "[UNK]"}, // longer than max_input_chars_per_word
		{uncased, "", ""},
		{uncased, "\xff\xfe hello", "hello"}, // invalid UTF-8 decodes as U+FFFD, which BERT's cleaning drops
	} {
		got := strings.Join(c.tok.Tokenize(c.text), " ")
		if got != c.want {
			t.Errorf("Tokenize(%q) = %q, want %q", c.text, got, c.want)
		}
	}
}

func TestEncodeTruncates(t *testing.T) {
	tok := testTokenizer(t, true)
	ids := tok.Encode("hello world hello world hello world hello world")
	if len(ids) != 8 || ids[0] != tok.ClsID || ids[7] != tok.SepID {
		t.Fatalf("Encode with MaxLen 8 = %v", ids)
	}
	if got := tok.EncodeMax("hello world", 2); !slices.Equal(got, []int64{tok.ClsID, tok.SepID}) {
		t.Fatalf("EncodeMax(.., 2) = %v", got)
	}
	if got := tok.EncodeMax("hello", 0); len(got) != 2 {
		t.Fatalf("EncodeMax(.., 0) = %v, want [CLS] [SEP]", got)
	}
	if got := tok.EncodeMax("hello", 100); len(got) != 3 {
		t.Fatalf("EncodeMax(.., 100) = %v", got)
	}
}

func TestNewTokenizerNeedsSpecialTokens(t *testing.T) {
	if _, err := New([]string{"a", "b"}, Options{}); err == nil || !strings.Contains(err.Error(), "[PAD]") {
		t.Fatalf("want an error naming the missing token, got %v", err)
	}
}

// tokenizer.json (the fast tokenizer's file) must give the same ids as
// vocab.txt for the parity sentences.
func TestTokenizerJSONMatchesVocabTxt(t *testing.T) {
	ref := readParityRef(t)
	raw, err := os.ReadFile(filepath.Join(parityDir, "vocab.txt"))
	if err != nil {
		t.Fatal(err)
	}
	vocab, err := parseVocabTxt(raw)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]int{}
	for i, tok := range vocab {
		m[tok] = i
	}
	doc := map[string]any{
		"normalizer": map[string]any{"type": "BertNormalizer", "lowercase": true, "strip_accents": nil, "clean_text": true},
		"model":      map[string]any{"type": "WordPiece", "vocab": m, "unk_token": "[UNK]", "continuing_subword_prefix": "##"},
	}
	dir := t.TempDir()
	b, _ := json.Marshal(doc)
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	tok, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range ref.Sentences {
		if got := tok.EncodeMax(s, ref.MaxSeqLen); !slices.Equal(got, ref.IDs[i]) {
			t.Errorf("sentence %d: got %v want %v", i, got, ref.IDs[i])
		}
	}
	// Broken files are errors.
	for _, bad := range []string{`{`, `{"model":{"type":"BPE","vocab":{}}}`, `{"model":{"type":"WordPiece","vocab":{"a":5}}}`} {
		os.WriteFile(filepath.Join(dir, "tokenizer.json"), []byte(bad), 0o644)
		if _, err := Load(dir); err == nil {
			t.Errorf("tokenizer.json %s accepted", bad)
		}
	}
}

func FuzzTokenizer(f *testing.F) {
	raw, err := os.ReadFile(filepath.Join(parityDir, "vocab.txt"))
	if err != nil {
		f.Fatal(err)
	}
	vocab, _ := parseVocabTxt(raw)
	tok, err := New(vocab, Options{Lowercase: true, MaxLen: 16})
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"Receiving block blk_-160 src: /10.250.19.102:54106", "[SEP][CLS]x", "Café 中文", "\x00\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ids := tok.Encode(s)
		if len(ids) < 2 || len(ids) > 16 || ids[0] != tok.ClsID || ids[len(ids)-1] != tok.SepID {
			t.Fatalf("Encode(%q) = %v", s, ids)
		}
		for _, id := range ids {
			if id < 0 || int(id) >= tok.VocabSize() {
				t.Fatalf("id %d out of range", id)
			}
		}
	})
}

// The files a checkpoint holds read back as they were written.
func TestVocabAndConfigFilesRoundTrip(t *testing.T) {
	vocab := []string{TokenPad, TokenUnk, TokenCLS, TokenSEP, TokenMask, "block", "##ing"}
	raw, err := VocabFile(vocab)
	if err != nil {
		t.Fatal(err)
	}
	got, err := parseVocabTxt(raw)
	if err != nil || !slices.Equal(got, vocab) {
		t.Fatalf("vocab.txt round trip: %v %v", got, err)
	}
	for _, bad := range []string{"", "a\nb", "a\rb"} {
		if _, err := VocabFile(append(slices.Clone(vocab), bad)); err == nil || !strings.Contains(err.Error(), "token 7") {
			t.Errorf("token %q: want an error naming token 7, got %v", bad, err)
		}
	}
	dir := t.TempDir()
	cfg, err := ConfigFile(false, 32)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	tc, found, err := ReadConfig(dir)
	if err != nil || !found || tc.DoLowerCase == nil || *tc.DoLowerCase || tc.ModelMaxLength == nil || *tc.ModelMaxLength != 32 {
		t.Fatalf("tokenizer_config.json round trip: %+v %v %v", tc, found, err)
	}
	if _, found, err := ReadConfig(t.TempDir()); found || err != nil {
		t.Fatalf("no file: found %v, err %v", found, err)
	}
}
