package normalize

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestLine(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", ""},
		{"   \t\n ", ""},
		{"plain words only", "plain words only"},
		{"a  b\t\tc\r\n", "a b c"},
		// numbers, signs, decimals, versions
		{"PacketResponder 1 for block blk_38865049064139660 terminating", "PacketResponder <NUM> for block blk_<ID> terminating"},
		{"Receiving block blk_-1608999687919862906 src", "Receiving block blk_<ID> src"},
		{"offset -5 and +7 of 3.14", "offset <NUM> and <NUM> of <NUM>"},
		{"Loaded Servicing Stack v6.1.7601.23505", "Loaded Servicing Stack v<NUM>.<NUM>"},
		{"node-246 R02-M1-N0", "node-<NUM> R<NUM>-M<NUM>-N<NUM>"},
		// hex and ids
		{"token=Token{a64f992 ActivityRecord{de9231d u0", "token=Token{<HEX> ActivityRecord{<HEX> u<NUM>"},
		{"route = 0x0 addr 0xDEADBEEF", "route = <HEX> addr <HEX>"},
		{"[instance: 7e7cc42f-3cb9-4d91-804c-f55f7bf1ed8a] spawned", "[instance: <ID>] spawned"},
		{"req-38101a0b-2096-447d-96ea-a692162415ae ok", "req-<ID> ok"},
		{"tenant 113d3a99c3da401fbd62cc2caa5b96d2", "tenant <HEX>"},
		{"key AKIAIOSFODNN7EXAMPLEQ done", "key <ID> done"},
		{"deadbeef cafe facade", "deadbeef cafe facade"}, // hex-looking words without digits stay
		// a random suffix after an id is part of it; words after an id are not
		{"<<- [PUB _INBOX.3SxbWWEks8UP09wADerPvt.51FzRqiD 63]", "<<- [PUB _INBOX.<ID> <NUM>]"},
		{"->> [MSG _INBOX.3SxbWWEks8UP09wADerQH7.ulvoDDZq 2 13]", "->> [MSG _INBOX.<ID> <NUM> <NUM>]"},
		{"pod coredns-7d9c8b6f5d-x2k9p ready", "pod coredns-<HEX> ready"},
		{"[SUB _INBOX.3SxbWWEks8UP09wADerPvt.* 2]", "[SUB _INBOX.<ID>.* <NUM>]"},
		{"block 9f4ef63a.Worker 9f4ef63a-INFO 9f4ef63a.svc 9f4ef63a-iPhone", "block <HEX>.Worker <HEX>-INFO <HEX>.svc <HEX>-iPhone"},
		{"app.search.29.svc and v2.x2k9 and abc.x2k9p", "app.search.<NUM>.svc and v<NUM>.x<NUM>k<NUM> and abc.x<NUM>k<NUM>p"},
		// addresses
		{"from 10.250.7.244:50010 to /10.250.7.244", "from <IP> to /<IP>"},
		{"rhost=218.188.2.4 net 10.0.0.0/8", "rhost=<IP> net <IP>"},
		{"v6 fe80::1ff:fe23:4567:890a and ::1 and 2001:db8:0:0:0:0:2:1", "v<NUM> <IP> and <IP> and <IP>"},
		{"not an ip 300.1.2.3", "not an ip <NUM>"},
		{"std::vector Foo::bar", "std::vector Foo::bar"},
		{"GET http://example.com/a?b=1&c=2 HTTP/1.1", "GET <URL> HTTP/<NUM>"},
		{"(see https://x.io/y).", "(see <URL>)."},
		{"mail root@example.com now", "mail <EMAIL> now"},
		{"user msrabi@msra-sa-41:9000", "user msrabi@msra-sa-<NUM>:<NUM>"},
		{"through proxy.cse.cuhk.edu.hk:5070 HTTPS", "through <HOST> HTTPS"},
		{"rhost=68.1.2.3.nw.nuvox.net user=root", "rhost=<HOST> user=root"},
		{"org.apache.hadoop.mapred.Task chrome.exe com.tencent.qt", "org.apache.hadoop.mapred.Task chrome.exe com.tencent.qt"},
		// paths
		{"ok /etc/httpd/conf/workers2.properties.", "ok <PATH>."},
		{`Core: C:\Windows\winsxs\amd64\cbscore.dll`, "Core: <PATH>"},
		{"cd ./build and ~/x and ../y", "cd <PATH> and <PATH> and <PATH>"},
		{"class org/apache/hadoop/Foo", "class <PATH>"},
		{"read/write mode", "read/write mode"},
		// times
		{"2015-10-18 18:01:47,978 INFO [main] x", "<TS> INFO [main] x"},
		{"[Sun Dec 04 04:47:44 2005] [notice] x", "[<TS>] [notice] x"},
		{"Jun 14 15:16:01 combo sshd", "<TS> combo sshd"},
		{"03-17 16:13:38.811  1702  2395 D WindowManager:", "<TS> D WindowManager:"},
		{"17/06/09 20:10:40 INFO x", "<TS> INFO x"},
		{"20171223-22:15:29:606|Step_LSC|30002312|x", "<TS>|Step_LSC|<NUM>|x"},
		{"- 1117838570 2005.06.03 R02 2005-06-03-15.42.50.675872 R02", "- <TS> R<NUM> <TS> R<NUM>"},
		{"at 2017-05-16T00:00:00.008Z done", "at <TS> done"},
		{"dn228 Nov 9 12:01:01 dn228/dn228", "dn<NUM> <TS> dn<NUM>/dn<NUM>"},
		// durations and sizes
		{"took 12ms then 3.5s then 2h", "took <DUR> then <DUR> then <DUR>"},
		{"for 214 seconds. Will retry", "for <DUR>. Will retry"},
		{"size 9.6 KB, free 418.6 MB)", "size <SIZE>, free <SIZE>)"},
		{"heap 10MB 4 KiB 64K 512 bytes", "heap <SIZE> <SIZE> <SIZE> <SIZE>"},
		{"2nd try", "<NUM>nd try"},
		{"fast producer stall (850µs) and 12μs", "fast producer stall (<DUR>) and <DUR>"}, // Go's µ (U+00B5) and the Greek μ
		{"retry in 1m30.5s, uptime 2h0m0s, 5s3 x", "retry in <DUR>, uptime <DUR>, <NUM>s<NUM> x"},
		// quoted context fields between " - " separators are dropped (issue 11)
		{`127.0.0.1:4785 - cid:8 - "v1.37.0:go" - <<- [PING]`, "<IP> - cid:<NUM> - <<- [PING]"},
		{`127.0.0.1:4785 - cid:8 - "v1.37.0:go" - "$G/user:bob" - <<- [PING]`, "<IP> - cid:<NUM> - <<- [PING]"},
		{`a | "ctx" | b`, "a | b"},
		{`Publish Violation - User "bob", Subject "admin.x"`, `Publish Violation - User "bob", Subject "admin.x"`}, // data, kept
		{`x - "two words" - y`, `x - "two words" - y`},                                                             // a message in quotes, kept
		{`x - "ctx" -`, `x - "ctx" -`},                                                                             // no field after: kept
		{`{"user":"bob","msg":"a - b"}`, `{"user":"bob","msg":"a - b"}`},                                           // JSON untouched
		// single quotes around a value are written as double quotes; apostrophes stay
		{"processSub Parse Error: 'app.x'", `processSub Parse Error: "app.x"`},
		{"user 'root' (uid=0): don't, Jan's 'x y'", `user "root" (uid=<NUM>): don't, Jan's 'x y'`},
		// bad input
		{"bad \xff\xfe utf8 \xc3", "bad \uFFFD utf<NUM> \uFFFD"},
		{"nul\x00inside", "nul inside"},
	}
	for _, c := range cases {
		if got := Line(c.in); got != c.want {
			t.Errorf("Line(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
	}
}

func TestLineLongInputIsCapped(t *testing.T) {
	head := strings.Repeat("word ", MaxBytes/5+1)
	a := Line(head + "tail one")
	b := Line(head + "something completely different")
	if a != b {
		t.Fatalf("lines equal in their first %d bytes normalised differently", MaxBytes)
	}
	if huge := Line(strings.Repeat("x", 10<<20)); len(huge) != MaxBytes {
		t.Fatalf("10 MiB line: got %d bytes, want %d", len(huge), MaxBytes)
	}
}

func TestLineIdempotent(t *testing.T) {
	for _, s := range []string{
		"2015-10-18 18:01:47,978 INFO blk_-123456789012 to 10.0.0.1:80 took 3ms",
		"Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; rhost=218.188.2.4",
		"<NUM> <TS> already normalised",
	} {
		once := Line(s)
		if twice := Line(once); twice != once {
			t.Errorf("not idempotent: %q -> %q -> %q", s, once, twice)
		}
	}
}

func TestTemplateKey(t *testing.T) {
	a := TemplateKey([]string{"Receiving block blk_1 src: /10.0.0.1:5", "PacketResponder 1 terminating"})
	b := TemplateKey([]string{"Receiving  block blk_2 src: /10.0.0.9:7", "PacketResponder 2 terminating"})
	if a != b {
		t.Errorf("same templates, different keys: %s %s", a, b)
	}
	if len(a) != 32 {
		t.Errorf("key length %d, want 32", len(a))
	}
	for _, other := range [][]string{
		{"PacketResponder 1 terminating", "Receiving block blk_1 src: /10.0.0.1:5"}, // order matters
		{"Receiving block blk_1 src: /10.0.0.1:5"},
		{"Receiving block blk_1 src: /10.0.0.1:5PacketResponder 1 terminating"}, // no ambiguity from concatenation
		nil,
	} {
		if TemplateKey(other) == a {
			t.Errorf("different sequence %q shares key", other)
		}
	}
	if TemplateKey(nil) != TemplateKey([]string{}) {
		t.Error("nil and empty sessions differ")
	}
}

func TestPlaceholdersAreStable(t *testing.T) {
	p := Placeholders()
	p[0] = "mutated"
	if Placeholders()[0] != Num {
		t.Fatal("Placeholders exposes shared state")
	}
	for _, ph := range Placeholders() {
		if Line(ph) != ph {
			t.Errorf("placeholder %q not stable under Line: %q", ph, Line(ph))
		}
	}
}

func FuzzLine(f *testing.F) {
	for _, s := range []string{
		"081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_38865049064139660 terminating",
		"2015-07-29 17:41:44,747 - INFO  [QuorumPeer[myid=1]/0:0:0:0:0:0:0:0:2181:FastLeaderElection@774] - Notification time out: 3200",
		"fe80::1 http://a/b 1.2.3.4:5 C:\\x\\y 12ms 4 KiB \xff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Line(s)
		if !utf8.ValidString(out) {
			t.Fatalf("invalid UTF-8 output %q", out)
		}
		if strings.ContainsAny(out, "\n\r\t\x00") || strings.HasPrefix(out, " ") || strings.HasSuffix(out, " ") || strings.Contains(out, "  ") {
			t.Fatalf("whitespace not collapsed: %q", out)
		}
		// Output can grow (1 -> <NUM>) but only by a bounded factor of what was examined.
		if len(out) > 7*MaxBytes {
			t.Fatalf("output too long: %d", len(out))
		}
		if again := Line(s); again != out {
			t.Fatalf("not deterministic: %q vs %q", out, again)
		}
		// Idempotence holds for real log lines (TestLineIdempotent) but not for
		// every byte string: a placeholder's < > can open a new chunk.
		_ = Line(out)
	})
}

func BenchmarkLine(b *testing.B) {
	lines := []string{
		"081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_38865049064139660 terminating",
		"2015-10-18 18:01:47,978 INFO [main] org.apache.hadoop.mapreduce.v2.app.MRAppMaster: Created MRAppMaster for application appattempt_1445144423722_0020_000001",
		"nova-compute.log.1.2017-05-16_13:55:31 2017-05-16 00:03:44.908 2931 INFO nova.virt.libvirt.driver [req-c6d4eab2-e008-4384-a149-8ff001ca4cb6 113d3a99c3da401fbd62cc2caa5b96d2 54fadb412c4e40cdbaed9335e4c35a9e - - -] [instance: 7e7cc42f-3cb9-4d91-804c-f55f7bf1ed8a] Creating image",
		"Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=218.188.2.4",
	}
	var n int
	for _, l := range lines {
		n += len(l)
	}
	b.SetBytes(int64(n / len(lines)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		_ = Line(lines[i%len(lines)])
	}
}
