package processor

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// regexpKey is what keyer.fromText took from the regexp engine: the first
// group's span when it took part, else the whole match's.
func regexpKey(re *regexp.Regexp, s string) (lo, hi int, ok bool) {
	m := re.FindStringSubmatchIndex(s)
	if m == nil {
		return 0, 0, false
	}
	if re.NumSubexp() > 0 && m[2] >= 0 {
		return m[2], m[3], true
	}
	return m[0], m[1], true
}

func sameAsRegexp(t *testing.T, pattern string, k *keyScan, s string) {
	t.Helper()
	wlo, whi, wok := regexpKey(regexp.MustCompile(pattern), s)
	lo, hi, ok := k.find(s)
	if ok != wok || (ok && (lo != wlo || hi != whi)) {
		t.Fatalf("pattern %q on %q: scan (%d, %d, %v), regexp (%d, %d, %v)", pattern, s, lo, hi, ok, wlo, whi, wok)
	}
}

func TestKeyScanShapes(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		scans   bool
	}{
		{`blk_-?\d+`, true},
		{`- cid:(\d+) -`, true},
		{`"remote_port":"?(\d+)`, true},
		{`127\.0\.0\.1:(\d+)`, true},
		{`req=([0-9a-f]{8})`, true},
		{`\d+`, true},
		{`x*`, true},
		{`a*a`, false},            // a* gives back to the a after it
		{`[a-z]+\d*[a-z]`, false}, // the same, across an optional item
		{`(a|b)c`, true},          // the parser makes a|b the class [ab]
		{`(ab|cd)e`, false},
		{`\bblk_\d+`, false},
		{`^blk_\d+`, false},
		{`blk_\d+$`, false},
		{`(?i)blk_\d+`, false},
		{`blk_\d+?`, false},
		{`(a)(b)`, false},
		{`(ab)+`, false},
		{`x(?:ab|c)`, false},
	} {
		k := newKeyScan(tc.pattern)
		if (k != nil) != tc.scans {
			t.Errorf("%q: scans = %v, want %v", tc.pattern, k != nil, tc.scans)
		}
	}
}

func TestKeyScanFindsWhatTheRegexpFinds(t *testing.T) {
	lines := []string{
		"081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_38865049064139660 terminating",
		"081109 203807 222 INFO dfs.DataNode$PacketResponder: Received block blk_-6952295868487656571 of size 67108864 from /10.251.39.64",
		"blk_ blk_- blk_-x blk_12 blk_-3",
		"no key here", "", "blk_", "blk_\xff12", "blk_-\xff", "\xffblk_7",
		"[1] - cid:12 - Client connection created", "- cid: - x", "- cid:7- x - cid:8 - y",
		`{"request":{"remote_port":"54321"}}`, `"remote_port":54`, `"remote_port":"x"`,
		"127.0.0.1:53 127.0.0.1:5353", "req=deadbeef req=0123456789", "req=dead",
		"ééé blk_é1 blk_1é", "\u00a0blk_\u0661\u0662", // Arabic-Indic digits are not \d
	}
	for _, pattern := range []string{`blk_-?\d+`, `- cid:(\d+) -`, `"remote_port":"?(\d+)`, `127\.0\.0\.1:(\d+)`,
		`req=([0-9a-f]{8})`, `\d+`, `x*`, `(blk_)-?\d+`, `bl(k_-?)\d+`, `(b)lk`, `é+1`, `.\d`, `[^ ]+ \d`, `\pL+\d`} {
		k := newKeyScan(pattern)
		if k == nil {
			t.Fatalf("%q does not scan", pattern)
		}
		for _, s := range lines {
			sameAsRegexp(t, pattern, k, s)
		}
	}
}

// Random patterns of the shape, on random text over the same few runes.
func TestKeyScanRandomPatterns(t *testing.T) {
	rng := rand.New(rand.NewPCG(16, 16))
	atoms := []string{"a", "b", "-", "_", ":", "é", `\d`, `[a-b]`, `[^a]`, `.`, `\s`, `[0-9a-f]`, `\pL`}
	quants := []string{"", "", "?", "*", "+", "{2}", "{1,3}", "{2,}"}
	alphabet := []string{"a", "b", "-", "_", ":", "é", "1", "9", "f", " ", "\n", "\xff", "\u0661"}
	tried, scanned := 0, 0
	for tried < 3000 {
		n := 1 + rng.IntN(5)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = atoms[rng.IntN(len(atoms))] + quants[rng.IntN(len(quants))]
		}
		if rng.IntN(2) == 0 {
			lo := rng.IntN(n)
			hi := lo + 1 + rng.IntN(n-lo)
			parts[lo] = "(" + parts[lo]
			parts[hi-1] += ")"
		}
		pattern := strings.Join(parts, "")
		tried++
		k := newKeyScan(pattern)
		if k == nil {
			continue
		}
		scanned++
		for range 40 {
			var b strings.Builder
			for range rng.IntN(16) {
				b.WriteString(alphabet[rng.IntN(len(alphabet))])
			}
			sameAsRegexp(t, pattern, k, b.String())
		}
	}
	if scanned < tried/4 {
		t.Fatalf("only %d of %d random patterns scan: the test says little", scanned, tried)
	}
}

func FuzzKeyScan(f *testing.F) {
	f.Add(`blk_-?\d+`, "block blk_-12 x")
	f.Add(`- cid:(\d+) -`, "[7] - cid:3 - ok")
	f.Add(`"remote_port":"?(\d+)`, `{"remote_port":"80"}`)
	f.Add(`a?b*\d{2,}`, "aab12bb123")
	f.Fuzz(func(t *testing.T, pattern, s string) {
		if _, err := regexp.Compile(pattern); err != nil {
			return
		}
		if k := newKeyScan(pattern); k != nil {
			sameAsRegexp(t, pattern, k, s)
		}
	})
}

func BenchmarkKeyHDFS(b *testing.B) {
	const line = "081109 203807 222 INFO dfs.DataNode$PacketResponder: Received block blk_-6952295868487656571 of size 67108864 from /10.251.39.64"
	re := regexp.MustCompile(`blk_-?\d+`)
	k := newKeyScan(`blk_-?\d+`)
	b.Run("regexp", func(b *testing.B) {
		for range b.N {
			regexpKey(re, line)
		}
	})
	b.Run("scan", func(b *testing.B) {
		for range b.N {
			k.find(line)
		}
	})
}
