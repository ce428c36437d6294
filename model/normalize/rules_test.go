package normalize

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
)

// rulesDigest is the digest of Line over the Loghub 2k logs and soupLines,
// per Version: a change of any output is a change of the masking rules, which
// must come with a new Version (it is part of every TemplateKey and keys the
// persisted caches). A faster Line must leave it as it is.
var rulesDigest = map[string]string{ // Version: digest
	Version: "25fcade493844ccebcee2cb825c26b75d0c08d57eafb099c954de2f222ca6827",
}

// soupLines are n lines glued from pieces that sit at the rules' edges
// (numbers, ids, addresses, times, units, quotes, delimiters, invalid UTF-8),
// from a fixed seed.
func soupLines(n int) []string {
	pieces := []string{"0x1f", "9f4ef63", "blk_-123456789012", "10.0.0.1", "10.251.300.1:80", "::1", "fe80::1%eth0",
		"2015-10-18", "18:01:47,978", "12ms", "3.5s", "850µs", "9.6", "KB", "214", "seconds", "Sun", "Dec", "04", "04:47:44",
		"2005", "a/b/c", "/usr/lib/x", `C:\Windows\x`, "http://x.y/z?q=1", "user@example.com", "proxy.cse.cuhk.edu.hk:5070",
		"_INBOX.abc123XYZ.51FzRqiD", "coredns-7d9c8b6f5d-x2k9p", "'quoted value'", `"dq"`, "=", ",", ";", "(", ")", "[",
		"]", "{", "}", "<", ">", "|", "-", "+", "-7", "+3.14", "6.1.7601", "uid=0", "dn228", "ulvoDDZ2", "MRG00YBc",
		"7e7cc42f-3cb9-4d91-804c-f55f7bf1ed8a", "\t", "  ", "\x01", "\xff\xfe", "é", "日本", "...", "?", "!", ":", ".",
		"x", "INFO", "ERROR", "KiB", "512", "bytes", "1.2.3.4/24", "20170516_13:55:31", "2005-06-03-15.42.50.675872",
		"12:00", "AM", "Z", "T", "1e10", "0", "00", "--", "a-b", "a_b", "a.b", "a:b", "A1B2C3D4E5", "DeadBeef", "deadbeef12"}
	seps := []string{" ", " ", "", "\t", ", "}
	r := rand.New(rand.NewPCG(7, 16))
	lines := make([]string, n)
	for i := range lines {
		var b strings.Builder
		sep := seps[r.IntN(len(seps))]
		for k := range 1 + r.IntN(25) {
			if k > 0 {
				b.WriteString(sep)
			}
			b.WriteString(pieces[r.IntN(len(pieces))])
			if r.IntN(10) < 3 {
				b.WriteString(pieces[r.IntN(len(pieces))])
			}
		}
		lines[i] = b.String()
	}
	return lines
}

func TestRulesMatchVersion(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(loghubDir(t), "*_2k.log"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Loghub 2k logs: %v", err)
	}
	h := sha256.New()
	n := 0
	for _, f := range files {
		for _, l := range readLines(t, f) {
			fmt.Fprintln(h, Line(l))
			n++
		}
	}
	for _, l := range soupLines(100_000) {
		fmt.Fprintln(h, Line(l))
		n++
	}
	got := hex.EncodeToString(h.Sum(nil))
	if want := rulesDigest[Version]; got != want {
		t.Fatalf("Line over %d lines has digest %s, %s has %q: the masking rules changed; give them a new Version and record its digest", n, got, Version, want)
	}
}

// AppendLine writes what Line returns, over the same lines as the digest,
// onto a buffer that already holds text.
func TestAppendLineIsLine(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(loghubDir(t), "*_2k.log"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Loghub 2k logs: %v", err)
	}
	lines := soupLines(100_000)
	for _, f := range files {
		lines = append(lines, readLines(t, f)...)
	}
	lines = append(lines, "", " ", "\xff\xfe", "a\xffb 12", strings.Repeat("x1 ", MaxBytes))
	buf := []byte("kept|")
	for _, l := range lines {
		buf = AppendLine(buf[:5], l)
		if got, want := string(buf[5:]), Line(l); got != want || string(buf[:5]) != "kept|" {
			t.Fatalf("AppendLine(%q) = %q after %q, Line = %q", l, got, buf[:5], want)
		}
	}
}
