package tokenizer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Load reads a Hugging Face tokenizer from dir: tokenizer.json
// (WordPiece model, BertNormalizer settings) when present, else vocab.txt
// with do_lower_case/strip_accents from tokenizer_config.json (default:
// uncased, as BertTokenizer).
func Load(dir string) (*Tokenizer, error) {
	tc, _, err := ReadConfig(dir)
	if err != nil {
		return nil, err
	}
	opts := Options{Lowercase: true}
	if tc.DoLowerCase != nil {
		opts.Lowercase = *tc.DoLowerCase
	}
	opts.StripAccents = tc.StripAccents

	jsonPath := filepath.Join(dir, "tokenizer.json")
	raw, err := os.ReadFile(jsonPath)
	switch {
	case err == nil:
		vocab, o, err := parseTokenizerJSON(raw, opts)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", jsonPath, err)
		}
		t, err := New(vocab, o)
		if err != nil {
			return nil, fmt.Errorf("tokenizer from %s: %w", jsonPath, err)
		}
		return t, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("read tokenizer: %w", err)
	}

	vocabPath := filepath.Join(dir, "vocab.txt")
	raw, err = os.ReadFile(vocabPath)
	if err != nil {
		return nil, fmt.Errorf("read tokenizer (need tokenizer.json or vocab.txt): %w", err)
	}
	vocab, err := parseVocabTxt(raw)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", vocabPath, err)
	}
	t, err := New(vocab, opts)
	if err != nil {
		return nil, fmt.Errorf("tokenizer from %s: %w", vocabPath, err)
	}
	return t, nil
}

// parseVocabTxt reads one token per line; the line number is the id. Only
// the line ending is removed, as HF's load_vocab does (rstrip("\n")).
func parseVocabTxt(raw []byte) ([]string, error) {
	var vocab []string
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		vocab = append(vocab, strings.TrimSuffix(sc.Text(), "\r"))
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(vocab) == 0 {
		return nil, errors.New("empty vocabulary")
	}
	return vocab, nil
}

// parseTokenizerJSON takes the WordPiece vocabulary and BertNormalizer
// switches from a tokenizers-library tokenizer.json.
func parseTokenizerJSON(raw []byte, opts Options) ([]string, Options, error) {
	var doc struct {
		Normalizer *struct {
			Type         string `json:"type"`
			Lowercase    *bool  `json:"lowercase"`
			StripAccents *bool  `json:"strip_accents"`
		} `json:"normalizer"`
		Model struct {
			Type                    string           `json:"type"`
			Vocab                   map[string]int64 `json:"vocab"`
			ContinuingSubwordPrefix string           `json:"continuing_subword_prefix"`
		} `json:"model"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, opts, err
	}
	if doc.Model.Type != "WordPiece" {
		return nil, opts, fmt.Errorf("model type %q: only WordPiece is supported", doc.Model.Type)
	}
	if p := doc.Model.ContinuingSubwordPrefix; p != "" && p != "##" {
		return nil, opts, fmt.Errorf("continuing_subword_prefix %q: only \"##\" is supported", p)
	}
	if n := doc.Normalizer; n != nil && n.Type == "BertNormalizer" {
		if n.Lowercase != nil {
			opts.Lowercase = *n.Lowercase
		}
		opts.StripAccents = n.StripAccents
	}
	n := len(doc.Model.Vocab)
	if n == 0 {
		return nil, opts, errors.New("empty WordPiece vocabulary")
	}
	vocab := make([]string, n)
	seen := make([]bool, n)
	for tok, id := range doc.Model.Vocab {
		if id < 0 || id >= int64(n) || seen[id] {
			return nil, opts, fmt.Errorf("vocabulary ids are not 0..%d (token %q has id %d)", n-1, tok, id)
		}
		vocab[id], seen[id] = tok, true
	}
	return vocab, opts, nil
}

// Config is the part of a Hugging Face tokenizer_config.json that we honour.
type Config struct {
	DoLowerCase          *bool `json:"do_lower_case"`
	StripAccents         *bool `json:"strip_accents"`
	TokenizeChineseChars *bool `json:"tokenize_chinese_chars"`
	ModelMaxLength       *int  `json:"model_max_length"` // HF writes huge sentinels here; read as a hint only
}

// ReadConfig reads dir/tokenizer_config.json; found is false when there is
// no such file.
func ReadConfig(dir string) (cfg Config, found bool, err error) {
	path := filepath.Join(dir, "tokenizer_config.json")
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Config{}, false, nil
	}
	if err != nil {
		return Config{}, false, fmt.Errorf("read tokenizer config: %w", err)
	}
	var tc Config
	if err := json.Unmarshal(raw, &tc); err != nil {
		// model_max_length can be 1e30 in HF files: retry without it.
		var loose struct {
			DoLowerCase          *bool `json:"do_lower_case"`
			StripAccents         *bool `json:"strip_accents"`
			TokenizeChineseChars *bool `json:"tokenize_chinese_chars"`
		}
		if err2 := json.Unmarshal(raw, &loose); err2 != nil {
			return Config{}, false, fmt.Errorf("parse %s: %w", path, err2)
		}
		tc = Config{DoLowerCase: loose.DoLowerCase, StripAccents: loose.StripAccents, TokenizeChineseChars: loose.TokenizeChineseChars}
	}
	return tc, true, nil
}

// ConfigFile is the tokenizer_config.json of a BertTokenizer with this
// casing and length limit, as a checkpoint directory holds it.
func ConfigFile(lowercase bool, maxLen int) ([]byte, error) {
	b, err := json.MarshalIndent(map[string]any{
		"tokenizer_class":  "BertTokenizer",
		"do_lower_case":    lowercase,
		"model_max_length": maxLen,
		"unk_token":        TokenUnk, "sep_token": TokenSEP, "pad_token": TokenPad,
		"cls_token": TokenCLS, "mask_token": TokenMask,
	}, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// VocabFile is vocab.txt for vocab: one token per line, the line number is
// the id. A token that is empty or holds a line break cannot be written so.
func VocabFile(vocab []string) ([]byte, error) {
	n := 0
	for i, tok := range vocab {
		if tok == "" || strings.ContainsAny(tok, "\r\n") {
			return nil, fmt.Errorf("vocabulary token %d (%q) is empty or holds a line break", i, tok)
		}
		n += len(tok) + 1
	}
	b := make([]byte, 0, n)
	for _, tok := range vocab {
		b = append(b, tok...)
		b = append(b, '\n')
	}
	return b, nil
}
