package llm

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
)

// Redaction is one rule applied to log text before it leaves the process.
type Redaction struct {
	Name        string
	Pattern     string // RE2; a named group "secret" limits the replacement to that group
	Replacement string
	// valid, when set, vets a match s[lo:hi] (of the secret group or the
	// whole match) before it is replaced; used where a regex alone would
	// over-match (IPv6 versus "std::map" or clock times).
	valid func(s string, lo, hi int) bool
	// need, when set, is a cheap test that must hold for the pattern to
	// match at all; it skips the regex on the vast majority of lines.
	need func(s string) bool
}

// DefaultRedactions returns the rules applied to every log line placed in a
// prompt unless Config.NoDefaultRedact is set (a fresh copy each call).
func DefaultRedactions() []Redaction { return slices.Clone(defaultRedactions[:]) }

// Order matters: key=value secrets run before the address rules so that
// "password=10.0.0.1" loses the whole value.
var defaultRedactions = [...]Redaction{
	{Name: "jwt", Pattern: `\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`, Replacement: "<JWT>", need: has("eyJ")},
	{Name: "bearer", need: hasFold("bearer"), Pattern: `(?i)\bbearer\s+(?P<secret>[A-Za-z0-9\-._~+/]{8,}=*)`, Replacement: "<TOKEN>"},
	{Name: "basic-auth", need: hasFold("basic"), Pattern: `(?i)\bbasic\s+(?P<secret>[A-Za-z0-9+/]{8,}=*)`, Replacement: "<TOKEN>"},
	{Name: "url-credentials", need: hasAll("://", "@"), Pattern: `(?i)\b[a-z][a-z0-9+.-]*://[^/\s:@]+:(?P<secret>[^/\s@]+)@`, Replacement: "<SECRET>"},
	{Name: "key-value-secret", need: hasFold("pass", "pwd", "secret", "token", "key", "credential", "authorization"), Pattern: `(?i)\b(?:password|passwd|pwd|pass|secret|client[_-]?secret|token|access[_-]?token|refresh[_-]?token|auth[_-]?token|api[_-]?key|apikey|x-api-key|access[_-]?key(?:[_-]?id)?|secret[_-]?access[_-]?key|aws[_-]?secret[_-]?access[_-]?key|private[_-]?key|credentials?|authorization)["']?\s*[:=]\s*(?:(?:bearer|basic|token)\s+)?(?P<secret>"[^"]*"|'[^']*'|[^\s,;&"']+)`, Replacement: "<SECRET>", valid: notPlaceholder},
	{Name: "aws-access-key-id", need: has("AKIA", "ASIA", "AGPA", "AIDA", "AROA", "ANPA", "ANVA", "AIPA"), Pattern: `\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b`, Replacement: "<AWS_KEY>"},
	{Name: "openai-style-key", need: has("sk-"), Pattern: `\bsk-[A-Za-z0-9_-]{16,}`, Replacement: "<SECRET>"},
	{Name: "email", need: has("@"), Pattern: `[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}`, Replacement: "<EMAIL>"},
	// IPv6 before IPv4 so an IPv4-mapped address goes as a whole; candidates
	// are confirmed by netip so clock times (12:34:56) and "std::map" survive.
	{Name: "ipv6", Pattern: `(?i)(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}|[0-9a-f:]*::[0-9a-f:]*(?:(?:\.\d{1,3}){3})?(?:%[0-9a-z]+)?`,
		Replacement: "<IPV6>", valid: validIPv6, need: func(s string) bool { return strings.Contains(s, "::") || strings.Count(s, ":") >= 7 }},
	{Name: "ipv4", need: func(s string) bool { return strings.Count(s, ".") >= 3 }, Pattern: `\b(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\b`, Replacement: "<IP>", valid: validIPv4},
}

func has(subs ...string) func(string) bool {
	return func(s string) bool {
		for _, sub := range subs {
			if strings.Contains(s, sub) {
				return true
			}
		}
		return false
	}
}

func hasAll(subs ...string) func(string) bool {
	return func(s string) bool {
		for _, sub := range subs {
			if !strings.Contains(s, sub) {
				return false
			}
		}
		return true
	}
}

// hasFold is has for lower-case ASCII needles, ignoring case.
func hasFold(subs ...string) func(string) bool {
	return func(s string) bool {
		for i := 0; i < len(s); i++ {
			c := s[i] | 0x20 // ASCII lower case (harmless for non-letters here)
			for _, sub := range subs {
				if c == sub[0] && len(s)-i >= len(sub) && strings.EqualFold(s[i:i+len(sub)], sub) {
					return true
				}
			}
		}
		return false
	}
}

type compiledRedaction struct {
	re     *regexp.Regexp
	secret int // submatch index of the "secret" group, -1 = whole match
	repl   string
	valid  func(s string, lo, hi int) bool
	need   func(s string) bool
}

// validIPv6 accepts s[lo:hi] when it parses as an IPv6 address and is not
// glued to a word character or further address characters.
func validIPv6(s string, lo, hi int) bool {
	if lo > 0 && isAddrChar(s[lo-1]) || hi < len(s) && isAddrChar(s[hi]) {
		return false
	}
	a, err := netip.ParseAddr(s[lo:hi])
	return err == nil && a.Is6()
}

// validIPv4 rejects dotted quads that are part of a longer dotted number
// (versions such as 1.2.3.4.5).
func validIPv4(s string, lo, hi int) bool {
	if lo > 0 && s[lo-1] == '.' {
		return false
	}
	return !(hi+1 < len(s) && s[hi] == '.' && '0' <= s[hi+1] && s[hi+1] <= '9')
}

// placeholderRE matches the replacements above, so that "Authorization:
// Bearer <TOKEN>" is not redacted a second time.
var placeholderRE = regexp.MustCompile(`^<[A-Z0-9_]+>$`)

func notPlaceholder(s string, lo, hi int) bool { return !placeholderRE.MatchString(s[lo:hi]) }

func isAddrChar(c byte) bool {
	return c == '_' || c == ':' || c == '.' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// redactor applies the compiled rules in order. It is immutable after
// construction and safe for concurrent use.
type redactor struct {
	rules   []compiledRedaction
	literal []string // exact strings always removed (the API key)
}

func newRedactor(cfg Config) (*redactor, error) {
	var rules []Redaction
	if !cfg.NoDefaultRedact {
		rules = append(rules, defaultRedactions[:]...)
	}
	for i, p := range cfg.Redact {
		rules = append(rules, Redaction{Name: fmt.Sprintf("redact[%d]", i), Pattern: p, Replacement: "<REDACTED>"})
	}
	r := &redactor{}
	for _, rule := range rules {
		re, err := regexp.Compile(rule.Pattern)
		if err != nil {
			return nil, fmt.Errorf("compiling redaction %s: %w", rule.Name, err)
		}
		r.rules = append(r.rules, compiledRedaction{re: re, secret: re.SubexpIndex("secret"), repl: rule.Replacement, valid: rule.valid, need: rule.need})
	}
	// The key itself is removed from log text even if no pattern matches
	// it (a log line that echoes the configured key must not send it back).
	if len(cfg.APIKey) >= 4 {
		r.literal = append(r.literal, cfg.APIKey)
	}
	return r, nil
}

// redact returns s with every rule applied.
func (r *redactor) redact(s string) string {
	for _, lit := range r.literal {
		if strings.Contains(s, lit) {
			s = strings.ReplaceAll(s, lit, "<SECRET>")
		}
	}
	for _, c := range r.rules {
		if c.need != nil && !c.need(s) {
			continue
		}
		idx := c.re.FindAllStringSubmatchIndex(s, -1)
		if idx == nil {
			continue
		}
		var b strings.Builder
		last := 0
		for _, m := range idx {
			lo, hi := m[0], m[1]
			if c.secret >= 0 && m[2*c.secret] >= 0 {
				lo, hi = m[2*c.secret], m[2*c.secret+1]
			}
			if lo == hi || c.valid != nil && !c.valid(s, lo, hi) {
				continue
			}
			b.WriteString(s[last:lo])
			b.WriteString(c.repl)
			last = hi
		}
		if last == 0 {
			continue // every candidate was vetoed
		}
		b.WriteString(s[last:])
		s = b.String()
	}
	return s
}

func (r *redactor) redactAll(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = r.redact(l)
	}
	return out
}
