package processor

import (
	"encoding/hex"
	"fmt"
	"github.com/coorlog/coorlogprocessor/internal/cut"
	"hash/fnv"
	"regexp"
	"strings"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// maxKeyBytes bounds a session key (it becomes a map key and the session.id
// attribute). Longer or invalid-UTF-8 keys are shortened/sanitised and get a
// hash of the raw key appended, so distinct raw keys stay distinct.
const maxKeyBytes = 256

// keyer extracts session keys. It is immutable after newKeyer and safe for
// concurrent use (regexp.Regexp is).
type keyer struct {
	src   KeySource
	name  string
	re    *regexp.Regexp
	group bool     // the regex has a capture group: use the first one
	scan  *keyScan // the same regex without the regexp engine, when its shape allows
}

func newKeyer(cfg Config) (*keyer, error) {
	k := &keyer{src: cfg.KeySource, name: cfg.KeyName}
	if cfg.KeySource == KeyFromBodyRegex {
		re, err := regexp.Compile(cfg.KeyRegex)
		if err != nil {
			return nil, fmt.Errorf("compiling key regex %q: %w", cfg.KeyRegex, err)
		}
		k.re, k.group, k.scan = re, re.NumSubexp() > 0, newKeyScan(cfg.KeyRegex)
	}
	return k, nil
}

// resourceKey is the key shared by every record of a resource, for
// KeyFromResourceAttribute; ok is false when the attribute is absent or empty.
func (k *keyer) resourceKey(res pcommon.Resource) (string, bool) {
	v, ok := res.Attributes().Get(k.name)
	if !ok {
		return "", false
	}
	return cleanKey(valueString(v))
}

// recordKey is the key of one record; resKey/resOK come from resourceKey.
func (k *keyer) recordKey(lr plog.LogRecord, resKey string, resOK bool) (string, bool) {
	switch k.src {
	case KeyFromResourceAttribute:
		return resKey, resOK
	case KeyFromAttribute:
		v, ok := lr.Attributes().Get(k.name)
		if !ok {
			return "", false
		}
		return cleanKey(valueString(v))
	case KeyFromTraceID:
		id := lr.TraceID()
		if id.IsEmpty() {
			return "", false
		}
		return hex.EncodeToString(id[:]), true
	case KeyFromBodyRegex:
		return k.fromText(valueString(lr.Body()))
	}
	return "", false
}

// fromText applies the key regex to a body's string form.
func (k *keyer) fromText(s string) (string, bool) {
	if k.scan != nil {
		lo, hi, ok := k.scan.find(s)
		if !ok {
			return "", false
		}
		return cleanKey(s[lo:hi])
	}
	m := k.re.FindStringSubmatchIndex(s)
	if m == nil {
		return "", false
	}
	lo, hi := m[0], m[1]
	if k.group && m[2] >= 0 {
		lo, hi = m[2], m[3]
	}
	return cleanKey(s[lo:hi])
}

// valueString is a value's string form without copying plain strings.
func valueString(v pcommon.Value) string {
	if v.Type() == pcommon.ValueTypeStr {
		return v.Str()
	}
	return v.AsString()
}

// cleanKey rejects empty keys and bounds/sanitises the rest (see maxKeyBytes).
func cleanKey(s string) (string, bool) {
	if s == "" {
		return "", false
	}
	if len(s) <= maxKeyBytes && utf8.ValidString(s) {
		return s, true
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(s))
	short := strings.ToValidUTF8(cut.UTF8(s, maxKeyBytes), "\uFFFD")
	short = cut.UTF8(short, maxKeyBytes)
	return fmt.Sprintf("%s#%016x", short, h.Sum64()), true
}

// detectorLine is the text the detector sees for one body: its string form,
// capped at max bytes on a rune boundary, invalid UTF-8 replaced. The record
// itself is never modified.
func detectorLine(body pcommon.Value, max int) string {
	return capLine(valueString(body), max)
}

// capLine is s capped at max bytes on a rune boundary, invalid UTF-8 replaced.
func capLine(s string, max int) string {
	if len(s) <= max && utf8.ValidString(s) {
		return s
	}
	s = cut.UTF8(s, max)
	if !utf8.ValidString(s) {
		s = cut.UTF8(strings.ToValidUTF8(s, "\uFFFD"), max)
	}
	return s
}
