package pretrain

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/coorlog/coorlogprocessor/model/encoder/tokenizer"
	"golang.org/x/text/unicode/norm"
)

// Specials are the first ids of every learnt vocabulary, in BERT's roles.
var specials = [...]string{tokenizer.TokenPad, tokenizer.TokenUnk, tokenizer.TokenCLS, tokenizer.TokenSEP, tokenizer.TokenMask}

// LearnVocab learns an uncased WordPiece vocabulary of at most size tokens
// from lines (already normalised): [PAD]=0, [UNK]=1, [CLS]=2, [SEP]=3,
// [MASK]=4, then every character of the corpus (word-initial and "##"
// continuation forms, plus printable ASCII so that any ASCII line tokenises
// without [UNK]), then merges chosen as in WordPiece (Schuster & Nakajima,
// 2012): the adjacent pair with the highest count(ab)/(count(a)·count(b)),
// among pairs seen at least minPairCount times. Ties break by the pair's
// text, so the result depends on the corpus only.
//
// Words are cut as BERT's basic tokenizer cuts them (lowercase, accents
// stripped, split at whitespace and punctuation), so a placeholder such as
// <NUM> is the three tokens "<", "num", ">": the encoder's tokenizer is used
// unchanged at inference. weights, when not nil, weigh each line.
func LearnVocab(lines []string, weights []int, size int) ([]string, error) {
	if size < len(specials)+2*95 {
		return nil, fmt.Errorf("learn vocabulary: size %d is below the %d tokens of specials and ASCII", size, len(specials)+2*95)
	}
	if weights != nil && len(weights) != len(lines) {
		return nil, fmt.Errorf("learn vocabulary: %d weights for %d lines", len(weights), len(lines))
	}
	wordCount := map[string]int{}
	for i, l := range lines {
		w := 1
		if weights != nil {
			w = max(weights[i], 1)
		}
		for _, word := range BasicWords(l) {
			if utf8.RuneCountInString(word) <= maxWordChars {
				wordCount[word] += w
			}
		}
	}
	l := newLearner(wordCount)
	l.seedAlphabet()
	for len(l.vocab) < size && l.mergeBest() {
	}
	return l.vocab, nil
}

// maxWordChars mirrors BertTokenizer's max_input_chars_per_word: longer
// words become [UNK] whole at inference, so they teach nothing.
const maxWordChars = 100

// minPairCount keeps WordPiece's score from merging pairs seen once.
const minPairCount = 2

// BasicWords is BERT's uncased basic tokenisation: drop control characters,
// lowercase, strip accents (NFD, drop combining marks), split at whitespace,
// then put every punctuation character and CJK ideograph in its own word.
func BasicWords(line string) []string {
	line = norm.NFD.String(strings.ToLower(line))
	var out []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			out = append(out, cur.String())
			cur.Reset()
		}
	}
	for _, r := range line {
		switch {
		case r == 0 || r == utf8.RuneError || (unicode.IsControl(r) && !unicode.IsSpace(r)):
		case unicode.Is(unicode.Mn, r):
		case unicode.IsSpace(r):
			flush()
		case isPunct(r) || isCJK(r):
			flush()
			out = append(out, string(r))
		default:
			cur.WriteRune(r)
		}
	}
	flush()
	return out
}

// isPunct is BERT's punctuation: ASCII non-alphanumeric printable characters
// and Unicode P* categories.
func isPunct(r rune) bool {
	if (r >= 33 && r <= 47) || (r >= 58 && r <= 64) || (r >= 91 && r <= 96) || (r >= 123 && r <= 126) {
		return true
	}
	return unicode.IsPunct(r)
}

func isCJK(r rune) bool {
	return (r >= 0x4E00 && r <= 0x9FFF) || (r >= 0x3400 && r <= 0x4DBF) || (r >= 0x20000 && r <= 0x2A6DF) ||
		(r >= 0x2A700 && r <= 0x2B73F) || (r >= 0x2B740 && r <= 0x2B81F) || (r >= 0x2B820 && r <= 0x2CEAF) ||
		(r >= 0xF900 && r <= 0xFAFF) || (r >= 0x2F800 && r <= 0x2FA1F)
}

// learner holds the corpus as words of symbol ids and the pair statistics,
// updated incrementally as merges rewrite the words that hold the pair.
type learner struct {
	vocab   []string
	ids     map[string]int32
	words   [][]int32
	counts  []int
	symCnt  map[int32]int
	pairCnt map[uint64]int
	holders map[uint64][]int32 // pair -> words that held it (may be stale)
}

func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

func newLearner(wordCount map[string]int) *learner {
	l := &learner{ids: map[string]int32{}, symCnt: map[int32]int{}, pairCnt: map[uint64]int{}, holders: map[uint64][]int32{}}
	for _, s := range specials {
		l.add(s)
	}
	words := make([]string, 0, len(wordCount))
	for w := range wordCount {
		words = append(words, w)
	}
	slices.Sort(words) // deterministic symbol ids
	for _, w := range words {
		var syms []int32
		first := true
		for _, r := range w {
			s := string(r)
			if !first {
				s = "##" + s
			}
			first = false
			syms = append(syms, l.add(s))
		}
		wi := int32(len(l.words))
		l.words = append(l.words, syms)
		l.counts = append(l.counts, wordCount[w])
		l.account(wi, +1)
	}
	return l
}

// seedAlphabet makes sure printable ASCII tokenises in both positions.
func (l *learner) seedAlphabet() {
	for c := byte(33); c < 127; c++ {
		if c >= 'A' && c <= 'Z' { // uncased
			continue
		}
		l.add(string(c))
		l.add("##" + string(c))
	}
}

func (l *learner) add(tok string) int32 {
	if id, ok := l.ids[tok]; ok {
		return id
	}
	id := int32(len(l.vocab))
	l.vocab = append(l.vocab, tok)
	l.ids[tok] = id
	return id
}

// account adds (sign=+1) or removes (-1) word wi's symbols and pairs.
func (l *learner) account(wi int32, sign int) {
	syms, c := l.words[wi], l.counts[wi]*sign
	for i, s := range syms {
		l.symCnt[s] += c
		if i > 0 {
			k := pairKey(syms[i-1], s)
			l.pairCnt[k] += c
			if sign > 0 {
				l.holders[k] = append(l.holders[k], wi)
			}
		}
	}
}

// mergeBest applies the best-scoring merge; false when none is left.
func (l *learner) mergeBest() bool {
	var best uint64
	bestScore, bestText := -1.0, ""
	for k, n := range l.pairCnt {
		if n < minPairCount {
			continue
		}
		a, b := int32(k>>32), int32(uint32(k))
		score := float64(n) / (float64(l.symCnt[a]) * float64(l.symCnt[b]))
		if score > bestScore || (score == bestScore && cmp.Compare(l.merged(a, b), bestText) < 0) {
			best, bestScore, bestText = k, score, l.merged(a, b)
		}
	}
	if bestScore < 0 {
		return false
	}
	a, b := int32(best>>32), int32(uint32(best))
	c := l.add(bestText) // may already exist ("a"+"##bc" = "ab"+"##c"): then words share it
	holders := l.holders[best]
	delete(l.holders, best)
	seen := map[int32]bool{}
	for _, wi := range holders {
		if seen[wi] {
			continue
		}
		seen[wi] = true
		syms := l.words[wi]
		has := false
		for i := 1; i < len(syms); i++ {
			if syms[i-1] == a && syms[i] == b {
				has = true
				break
			}
		}
		if !has {
			continue
		}
		l.account(wi, -1)
		out := syms[:0:0]
		for i := 0; i < len(syms); i++ {
			if i+1 < len(syms) && syms[i] == a && syms[i+1] == b {
				out = append(out, c)
				i++
				continue
			}
			out = append(out, syms[i])
		}
		l.words[wi] = out
		l.account(wi, +1)
	}
	for k, n := range l.pairCnt {
		if n == 0 {
			delete(l.pairCnt, k)
		}
	}
	return true // every merge shortens some word, so the loop ends
}

// merged is the token text of pair (a, b): "ab", "##ab", never "a##b".
func (l *learner) merged(a, b int32) string {
	return l.vocab[a] + strings.TrimPrefix(l.vocab[b], "##")
}
