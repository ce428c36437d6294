package llm

import (
	"fmt"
	"net/netip"
	"regexp"
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
}

// DefaultRedactions are applied to every log line placed in a prompt unless
// Config.NoDefaultRedact is set. Order matters: key=value secrets run before
// the address rules so that "password=10.0.0.1" loses the whole value.
var DefaultRedactions = []Redaction{
	{Name: "jwt", Pattern: `\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`, Replacement: "<JWT>"},
	{Name: "bearer", Pattern: `(?i)\bbearer\s+(?P<secret>[A-Za-z0-9\-._~+/]{8,}=*)`, Replacement: "<TOKEN>"},
	{Name: "basic-auth", Pattern: `(?i)\bbasic\s+(?P<secret>[A-Za-z0-9+/]{8,}=*)`, Replacement: "<TOKEN>"},
	{Name: "url-credentials", Pattern: `(?i)\b[a-z][a-z0-9+.-]*://[^/\s:@]+:(?P<secret>[^/\s@]+)@`, Replacement: "<SECRET>"},
	{Name: "key-value-secret", Pattern: `(?i)\b(?:password|passwd|pwd|pass|secret|client[_-]?secret|token|access[_-]?token|refresh[_-]?token|auth[_-]?token|api[_-]?key|apikey|x-api-key|access[_-]?key(?:[_-]?id)?|secret[_-]?access[_-]?key|aws[_-]?secret[_-]?access[_-]?key|private[_-]?key|credentials?|authorization)["']?\s*[:=]\s*(?P<secret>"[^"]*"|'[^']*'|[^\s,;&"']+)`, Replacement: "<SECRET>"},
	{Name: "aws-access-key-id", Pattern: `\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b`, Replacement: "<AWS_KEY>"},
	{Name: "openai-style-key", Pattern: `\bsk-[A-Za-z0-9_-]{16,}`, Replacement: "<SECRET>"},
	{Name: "email", Pattern: `[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}`, Replacement: "<EMAIL>"},
	// IPv6 before IPv4 so an IPv4-mapped address goes as a whole; candidates
	// are confirmed by netip so clock times (12:34:56) and "std::map" survive.
	{Name: "ipv6", Pattern: `(?i)[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}(?:(?:\.\d{1,3}){3})?(?:%[0-9a-z]+)?`, Replacement: "<IPV6>", valid: validIPv6},
	{Name: "ipv4", Pattern: `\b(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\b`, Replacement: "<IP>"},
}

type compiledRedaction struct {
	re     *regexp.Regexp
	secret int // submatch index of the "secret" group, -1 = whole match
	repl   string
	valid  func(s string, lo, hi int) bool
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
		rules = append(rules, DefaultRedactions...)
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
		r.rules = append(r.rules, compiledRedaction{re: re, secret: re.SubexpIndex("secret"), repl: rule.Replacement, valid: rule.valid})
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
