package encoder

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
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Special tokens of BERT vocabularies.
const (
	TokenPad  = "[PAD]"
	TokenUnk  = "[UNK]"
	TokenCLS  = "[CLS]"
	TokenSEP  = "[SEP]"
	TokenMask = "[MASK]"
)

// maxCharsPerWord is BertTokenizer's max_input_chars_per_word: longer words
// become [UNK] whole.
const maxCharsPerWord = 100

// TokenizerOptions are the switches of BERT's basic tokenisation.
type TokenizerOptions struct {
	Lowercase bool // lowercase (and strip accents unless StripAccents says otherwise)
	// StripAccents: nil follows Lowercase, as in Hugging Face.
	StripAccents *bool
	// MaxLen is the default length of Encode, [CLS] and [SEP] included;
	// <= 0 means 512.
	MaxLen int
}

// Tokenizer is BERT's WordPiece tokenizer (Hugging Face BertTokenizer
// semantics: clean text, split CJK characters, whitespace, lowercase and
// strip accents when uncased, split on punctuation, then greedy
// longest-match-first WordPiece with "##" continuations). It is immutable
// and safe for concurrent use.
type Tokenizer struct {
	vocab  []string
	ids    map[string]int64
	lower  bool
	strip  bool
	maxLen int
	// maxTokenBytes is the longest vocabulary entry without "##", in bytes.
	maxTokenBytes int

	PadID, UnkID, ClsID, SepID, MaskID int64 // MaskID is -1 when the vocabulary has no [MASK]
}

// NewTokenizer builds a tokenizer over vocab (token i has id i). The
// vocabulary must hold [PAD], [UNK], [CLS] and [SEP].
func NewTokenizer(vocab []string, opts TokenizerOptions) (*Tokenizer, error) {
	t := &Tokenizer{
		vocab:  append([]string(nil), vocab...),
		ids:    make(map[string]int64, len(vocab)),
		lower:  opts.Lowercase,
		strip:  opts.Lowercase,
		maxLen: opts.MaxLen,
	}
	if opts.StripAccents != nil {
		t.strip = *opts.StripAccents
	}
	if t.maxLen <= 0 {
		t.maxLen = 512
	}
	for i, tok := range vocab {
		if _, dup := t.ids[tok]; !dup { // first occurrence wins, as in HF's vocab loading order
			t.ids[tok] = int64(i)
		}
		t.maxTokenBytes = max(t.maxTokenBytes, len(strings.TrimPrefix(tok, "##")))
	}
	need := func(tok string) (int64, error) {
		id, ok := t.ids[tok]
		if !ok {
			return 0, fmt.Errorf("vocabulary has no %s token", tok)
		}
		return id, nil
	}
	var err error
	if t.PadID, err = need(TokenPad); err != nil {
		return nil, err
	}
	if t.UnkID, err = need(TokenUnk); err != nil {
		return nil, err
	}
	if t.ClsID, err = need(TokenCLS); err != nil {
		return nil, err
	}
	if t.SepID, err = need(TokenSEP); err != nil {
		return nil, err
	}
	t.MaskID = -1
	if id, ok := t.ids[TokenMask]; ok {
		t.MaskID = id
	}
	return t, nil
}

// LoadTokenizer reads a Hugging Face tokenizer from dir: tokenizer.json
// (WordPiece model, BertNormalizer settings) when present, else vocab.txt
// with do_lower_case/strip_accents from tokenizer_config.json (default:
// uncased, as BertTokenizer).
func LoadTokenizer(dir string) (*Tokenizer, error) {
	tc, _, err := readTokenizerConfig(dir)
	if err != nil {
		return nil, err
	}
	opts := TokenizerOptions{Lowercase: true}
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
		t, err := NewTokenizer(vocab, o)
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
	t, err := NewTokenizer(vocab, opts)
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
func parseTokenizerJSON(raw []byte, opts TokenizerOptions) ([]string, TokenizerOptions, error) {
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

// Vocab returns a copy of the vocabulary (token i has id i).
func (t *Tokenizer) Vocab() []string { return append([]string(nil), t.vocab...) }

// VocabSize is the number of tokens.
func (t *Tokenizer) VocabSize() int { return len(t.vocab) }

// Lowercase reports whether the tokenizer is uncased.
func (t *Tokenizer) Lowercase() bool { return t.lower }

// MaxLen is Encode's length limit, [CLS] and [SEP] included.
func (t *Tokenizer) MaxLen() int { return t.maxLen }

// ID returns the id of a token.
func (t *Tokenizer) ID(token string) (int64, bool) {
	id, ok := t.ids[token]
	return id, ok
}

// Encode returns [CLS] wordpieces... [SEP], truncated to MaxLen().
func (t *Tokenizer) Encode(text string) []int64 { return t.EncodeMax(text, t.maxLen) }

// EncodeMax returns [CLS] wordpieces... [SEP] with the wordpieces truncated
// so that the whole is at most maxLen ids (maxLen < 2 is treated as 2).
func (t *Tokenizer) EncodeMax(text string, maxLen int) []int64 {
	if maxLen < 2 {
		maxLen = 2
	}
	ids := make([]int64, 0, min(maxLen, 2+len(text)))
	ids = append(ids, t.ClsID)
	t.wordpieces(text, maxLen-2, func(id int64) bool {
		ids = append(ids, id)
		return len(ids) < maxLen-1
	})
	return append(ids, t.SepID)
}

// Tokenize returns the wordpieces of text, without [CLS]/[SEP] and without
// truncation.
func (t *Tokenizer) Tokenize(text string) []string {
	var out []string
	t.wordpieces(text, -1, func(id int64) bool {
		out = append(out, t.vocab[id])
		return true
	})
	return out
}

// TokenizeIDs is Tokenize as ids.
func (t *Tokenizer) TokenizeIDs(text string) []int64 {
	var out []int64
	t.wordpieces(text, -1, func(id int64) bool {
		out = append(out, id)
		return true
	})
	return out
}

// wordpieces calls emit for each wordpiece id of text in order until emit
// returns false. limit 0 emits nothing.
func (t *Tokenizer) wordpieces(text string, limit int, emit func(int64) bool) {
	if limit == 0 {
		return
	}
	for _, word := range t.basicTokens(text) {
		if id, ok := t.ids[word]; ok && isSpecial(word) {
			if !emit(id) {
				return
			}
			continue
		}
		if !t.wordpiece(word, emit) {
			return
		}
	}
}

// wordpiece splits one basic token greedily, longest match first; a word
// with an unmatched remainder is [UNK] as a whole. It returns false when
// emit asked to stop.
func (t *Tokenizer) wordpiece(word string, emit func(int64) bool) bool {
	if utf8.RuneCountInString(word) > maxCharsPerWord {
		return emit(t.UnkID)
	}
	var small [16]int64
	pieces := small[:0]
	buf := make([]byte, 0, 2+len(word))
	for start := 0; start < len(word); {
		// No vocabulary entry is longer than maxTokenBytes: start there.
		end := min(len(word), start+t.maxTokenBytes)
		for end < len(word) && end > start && !utf8.RuneStart(word[end]) {
			end--
		}
		found := int64(-1)
		for end > start {
			buf = buf[:0]
			if start > 0 {
				buf = append(buf, "##"...)
			}
			buf = append(buf, word[start:end]...)
			if id, ok := t.ids[string(buf)]; ok { // no allocation: map lookup by []byte
				found = id
				break
			}
			_, size := utf8.DecodeLastRuneInString(word[start:end])
			end -= size
		}
		if found < 0 {
			return emit(t.UnkID)
		}
		pieces = append(pieces, found)
		start = end
	}
	for _, id := range pieces {
		if !emit(id) {
			return false
		}
	}
	return true
}

func isSpecial(tok string) bool {
	switch tok {
	case TokenPad, TokenUnk, TokenCLS, TokenSEP, TokenMask:
		return true
	}
	return false
}

// basicTokens is BertTokenizer's BasicTokenizer plus its handling of
// special tokens written literally in the text ("[SEP]" stays one token).
func (t *Tokenizer) basicTokens(text string) []string {
	var out []string
	for _, chunk := range splitSpecial(text) {
		if chunk.special {
			if _, ok := t.ids[chunk.text]; ok {
				out = append(out, chunk.text)
				continue
			}
		}
		out = t.basicSplit(chunk.text, out)
	}
	return out
}

type textChunk struct {
	text    string
	special bool
}

// splitSpecial cuts text around literal special tokens.
func splitSpecial(text string) []textChunk {
	if !strings.Contains(text, "[") {
		return []textChunk{{text: text}}
	}
	var chunks []textChunk
	for len(text) > 0 {
		best, bestTok := -1, ""
		for _, tok := range [...]string{TokenPad, TokenUnk, TokenCLS, TokenSEP, TokenMask} {
			if i := strings.Index(text, tok); i >= 0 && (best < 0 || i < best) {
				best, bestTok = i, tok
			}
		}
		if best < 0 {
			chunks = append(chunks, textChunk{text: text})
			break
		}
		if best > 0 {
			chunks = append(chunks, textChunk{text: text[:best]})
		}
		chunks = append(chunks, textChunk{text: bestTok, special: true})
		text = text[best+len(bestTok):]
	}
	return chunks
}

// basicSplit appends the basic tokens of text to out.
func (t *Tokenizer) basicSplit(text string, out []string) []string {
	// 1. Clean: drop NUL, U+FFFD and control characters, map whitespace to
	//    ' ', and put spaces around CJK ideographs.
	var sb strings.Builder
	sb.Grow(len(text) + 8)
	for _, r := range text {
		switch {
		case r == 0 || r == 0xFFFD || isControl(r):
			continue
		case isWhitespace(r):
			sb.WriteByte(' ')
		case isCJK(r):
			sb.WriteByte(' ')
			sb.WriteRune(r)
			sb.WriteByte(' ')
		default:
			sb.WriteRune(r)
		}
	}
	// 2. NFC (as BertTokenizer does since transformers 4.27, so that one
	//    character written two ways is one token), whitespace split, then per
	//    token: lowercase, strip accents, split on punctuation.
	cleaned := sb.String()
	if !isASCII(cleaned) {
		cleaned = norm.NFC.String(cleaned)
	}
	for _, tok := range strings.Fields(cleaned) {
		if t.lower {
			tok = strings.ToLower(tok)
		}
		if t.strip {
			tok = stripAccents(tok)
		}
		out = splitPunct(tok, out)
	}
	return out
}

// stripAccents decomposes (NFD) and drops nonspacing marks (Mn).
func stripAccents(s string) string {
	if isASCII(s) {
		return s
	}
	var sb strings.Builder
	for _, r := range norm.NFD.String(s) {
		if !unicode.Is(unicode.Mn, r) {
			sb.WriteRune(r)
		}
	}
	return sb.String()
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// splitPunct appends the pieces of tok split around each punctuation
// character (every punctuation character is its own token).
func splitPunct(tok string, out []string) []string {
	start := 0
	for i, r := range tok {
		if isPunct(r) {
			if i > start {
				out = append(out, tok[start:i])
			}
			n := len(string(r))
			out = append(out, tok[i:i+n])
			start = i + n
		}
	}
	if start < len(tok) {
		out = append(out, tok[start:])
	}
	return out
}

// isWhitespace matches HF's _is_whitespace: space, \t, \n, \r and Zs.
func isWhitespace(r rune) bool {
	if r == ' ' || r == '\t' || r == '\n' || r == '\r' {
		return true
	}
	return unicode.Is(unicode.Zs, r)
}

// isControl matches HF's _is_control: categories Cc and Cf except the
// whitespace controls \t \n \r.
func isControl(r rune) bool {
	if r == '\t' || r == '\n' || r == '\r' {
		return false
	}
	return unicode.In(r, unicode.Cc, unicode.Cf)
}

// isPunct matches HF's _is_punctuation: every non-alphanumeric ASCII
// printable character, and Unicode category P.
func isPunct(r rune) bool {
	if (r >= 33 && r <= 47) || (r >= 58 && r <= 64) || (r >= 91 && r <= 96) || (r >= 123 && r <= 126) {
		return true
	}
	return unicode.IsPunct(r)
}

// isCJK matches HF's _is_chinese_char (CJK Unified Ideographs blocks).
func isCJK(r rune) bool {
	return (r >= 0x4E00 && r <= 0x9FFF) ||
		(r >= 0x3400 && r <= 0x4DBF) ||
		(r >= 0x20000 && r <= 0x2A6DF) ||
		(r >= 0x2A700 && r <= 0x2B73F) ||
		(r >= 0x2B740 && r <= 0x2B81F) ||
		(r >= 0x2B820 && r <= 0x2CEAF) ||
		(r >= 0xF900 && r <= 0xFAFF) ||
		(r >= 0x2F800 && r <= 0x2FA1F)
}
