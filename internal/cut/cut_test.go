package cut

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
	"unsafe"
)

func TestUTF8(t *testing.T) {
	for _, tc := range []struct {
		s    string
		n    int
		want string
	}{
		{"hello", 10, "hello"},
		{"hello", 5, "hello"},
		{"hello", 3, "hel"},
		{"hello", 0, ""},
		{"hello", -1, ""},
		{"héllo", 2, "h"},  // é is 2 bytes: not split
		{"héllo", 3, "hé"}, //
		{"日本語", 4, "日"},    // 3-byte runes
		{"日本語", 2, ""},     //
		{"a\x80\x80\x80\x80\x80b", 5, "a\x80\x80\x80\x80"}, // not UTF-8 near the cut: at the limit
	} {
		if got := UTF8(tc.s, tc.n); got != tc.want {
			t.Errorf("UTF8(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
}

func FuzzUTF8(f *testing.F) {
	f.Add("héllo wörld", 4)
	f.Add(strings.Repeat("日", 10), 7)
	f.Add("\xff\xfe\xc3", 2)
	f.Fuzz(func(t *testing.T, s string, n int) {
		got := UTF8(s, n)
		if len(got) > max(n, 0) || !strings.HasPrefix(s, got) {
			t.Fatalf("UTF8(%q, %d) = %q", s, n, got)
		}
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Fatalf("valid %q cut to invalid %q", s, got)
		}
		if utf8.ValidString(s) && n >= 0 && len(s) > n && n-len(got) >= utf8.UTFMax {
			t.Fatalf("valid %q cut %d bytes short of %d", s, n-len(got), n)
		}
	})
}

// Detached lines are equal to the originals and share no memory with them.
func TestDetach(t *testing.T) {
	src := []byte("first line|second|third, longer line")
	whole := string(src)
	lines := []string{whole[:10], whole[11:17], "", whole[18:]}
	want := []string{"first line", "second", "", "third, longer line"}
	got := Detach(slices.Clone(lines))
	if !slices.Equal(got, want) {
		t.Fatalf("Detach = %q, want %q", got, want)
	}
	lo, hi := unsafe.StringData(whole), unsafe.Add(unsafe.Pointer(unsafe.StringData(whole)), len(whole))
	for i, l := range got {
		if l == "" {
			continue
		}
		p := unsafe.Pointer(unsafe.StringData(l))
		if uintptr(p) >= uintptr(unsafe.Pointer(lo)) && uintptr(p) < uintptr(hi) {
			t.Errorf("line %d still points into the original text", i)
		}
	}
}
