package processor

import (
	"strings"
	"testing"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// FuzzSessionKey drives key extraction for every key source with arbitrary
// regexes, bodies, attribute values and trace ids. It must never panic, and
// a key, when there is one, is non-empty, valid UTF-8 and bounded; a short
// valid match is used verbatim. The detector line of the same body is valid
// UTF-8 within its cap.
func FuzzSessionKey(f *testing.F) {
	f.Add(uint8(3), `blk_-?\d+`, "Receiving block blk_-1608999687919862906 src: /10.250.19.102:54106", "", []byte{})
	f.Add(uint8(3), `blk_(-?\d+)`, "PacketResponder 1 for block blk_38865049064139660 terminating", "", []byte{})
	f.Add(uint8(3), `(x)?y`, "y", "", []byte{})
	f.Add(uint8(3), `.*`, "\xff\xfe\xc3", "", []byte{})
	f.Add(uint8(0), "", "body", "req-42", []byte{})
	f.Add(uint8(0), "", "body", strings.Repeat("é", 300), []byte{})
	f.Add(uint8(1), "", "body", "\xed\xa0\x80 surrogate", []byte{})
	f.Add(uint8(2), "", "", "", []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	f.Add(uint8(2), "", "", "", []byte{0, 0, 0})
	f.Fuzz(func(t *testing.T, src uint8, re, body, attr string, trace []byte) {
		cfg := cfgOf(Config{KeyName: "k", KeyRegex: re})
		switch src % 4 {
		case 0:
			cfg.KeySource = KeyFromAttribute
		case 1:
			cfg.KeySource = KeyFromResourceAttribute
		case 2:
			cfg.KeySource = KeyFromTraceID
		case 3:
			cfg.KeySource = KeyFromBodyRegex
		}
		if cfg.Validate() != nil {
			return // invalid regexes are rejected at config time, with an error
		}
		k, err := newKeyer(cfg)
		if err != nil {
			t.Fatalf("valid config, newKeyer failed: %v", err)
		}
		res := pcommon.NewResource()
		res.Attributes().PutStr("k", attr)
		lr := plog.NewLogRecord()
		lr.Body().SetStr(body)
		lr.Attributes().PutStr("k", attr)
		var id pcommon.TraceID
		copy(id[:], trace)
		lr.SetTraceID(id)

		resKey, resOK := k.resourceKey(res)
		key, ok := k.recordKey(lr, resKey, resOK)
		if ok {
			if key == "" || !utf8.ValidString(key) || len(key) > maxKeyBytes+17 {
				t.Fatalf("bad key %q (%d bytes)", key, len(key))
			}
		}
		var raw string
		switch cfg.KeySource {
		case KeyFromAttribute, KeyFromResourceAttribute:
			raw = attr
		case KeyFromTraceID:
			if id.IsEmpty() != !ok {
				t.Fatalf("trace id %x: ok=%v", id, ok)
			}
		case KeyFromBodyRegex:
			if m := k.re.FindStringSubmatch(body); m != nil {
				raw = m[0]
				if len(m) > 1 && k.re.FindStringSubmatchIndex(body)[2] >= 0 {
					raw = m[1]
				}
			}
		}
		if cfg.KeySource != KeyFromTraceID {
			if ok != (raw != "") {
				t.Fatalf("raw %q, ok=%v", raw, ok)
			}
			if ok && len(raw) <= maxKeyBytes && utf8.ValidString(raw) && key != raw {
				t.Fatalf("short valid key %q rewritten to %q", raw, key)
			}
			if ok && key != raw && !strings.Contains(key, "#") {
				t.Fatalf("rewritten key %q carries no hash of %q", key, raw)
			}
		}
		// Same input, same key: sessions depend on it.
		if key2, ok2 := k.recordKey(lr, resKey, resOK); key2 != key || ok2 != ok {
			t.Fatalf("key not deterministic: %q vs %q", key, key2)
		}
		for _, limit := range []int{1, 7, 64, DefaultConfig().MaxLineBytes} {
			line := detectorLine(lr.Body(), limit)
			if !utf8.ValidString(line) || len(line) > limit {
				t.Fatalf("detector line %q: valid=%v, %d bytes > %d", line, utf8.ValidString(line), len(line), limit)
			}
			if utf8.ValidString(body) && !strings.HasPrefix(body, line) {
				t.Fatalf("line %q is not a prefix of the valid body %q", line, body)
			}
		}
		if lr.Body().Str() != body {
			t.Fatal("the record's body was modified")
		}
	})
}
