// Package tokenizer is BERT's WordPiece tokenizer with Hugging Face
// BertTokenizer semantics, and the files Hugging Face keeps it in: vocab.txt,
// tokenizer.json and tokenizer_config.json (read by Load and ReadConfig,
// written by VocabFile and ConfigFile). It is plain Go (no libtorch).
package tokenizer

import (
	"fmt"
	"strings"
	"unicode/utf8"
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

// Options are the switches of BERT's basic tokenisation.
type Options struct {
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

// New builds a tokenizer over vocab (token i has id i). The
// vocabulary must hold [PAD], [UNK], [CLS] and [SEP].
func New(vocab []string, opts Options) (*Tokenizer, error) {
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
