package main

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/miekg/dns"
)

// CoreDNS (held out, untouched): every query is logged by the log plugin as
// `[INFO] 127.0.0.1:PORT - ID "TYPE CLASS NAME PROTO SIZE DO BUFSIZE" RCODE
// FLAGS RSIZE DURATION`; the client's port is the session key. The builder
// binds every session's UDP socket (and its TCP connection, if any) to its own
// local port, each used once per run, so the port names one client session.
// The errors plugin's lines (`[ERROR] plugin/errors: 2 NAME TYPE: reason`)
// carry no client field and stay only in raw.log.

var corednsPortRe = regexp.MustCompile(`\b127\.0\.0\.1:(\d+) - \d+ "`)

// corednsKey keys a CoreDNS log line by the client's port.
func corednsKey(line string) (string, bool) {
	m := corednsPortRe.FindStringSubmatch(line)
	if m == nil {
		return "", false
	}
	return "port-" + m[1], true
}

// The TSIG key of secure.test (require all).
const (
	corednsTsigName   = "corpus-key."
	corednsTsigSecret = "c2NyaXB0cy9jb3JwdXMgdHNpZyBrZXkgZm9yIGNvcmVkbnM="
	// tsig_failure signs with a key the server does not know, or with the
	// right key name and this secret.
	corednsRogueKey    = "rogue-key."
	corednsWrongSecret = "d3Jvbmcgc2VjcmV0IGZvciB0aGUgY29ycHVzIGtleQ=="
)

type corednsDriver struct {
	cmd      *exec.Cmd
	done     chan error
	addr     string
	udpAddr  *net.UDPAddr
	upstream []*dns.Server
	mu       sync.Mutex
	next     int // the next client port to try
}

func (d *corednsDriver) Kinds() []string {
	return []string{
		"lookup", "mixed_records", "forward_lookup", "tcp_lookup", "search_path", "reverse_lookup", "signed_lookup", "health_check",
		"upstream_down", "upstream_timeout", "upstream_error", "acl_refused", "transfer_refused", "tsig_failure",
	}
}

// exampleHosts are the A records of example.test (10.0.0.N); a third also
// have an AAAA record.
var exampleHosts = []string{"www", "api", "mail", "db", "cache", "ns1", "auth", "files", "git", "ci",
	"web1", "web2", "web3", "web4", "queue", "search", "metrics", "vpn", "proxy", "backup"}

func corednsZones() map[string]string {
	var ex strings.Builder
	ex.WriteString("$ORIGIN example.test.\n$TTL 300\n")
	ex.WriteString("@ IN SOA ns1.example.test. hostmaster.example.test. 2024010101 7200 3600 1209600 300\n")
	ex.WriteString("@ IN NS ns1\n@ IN MX 10 mail\n@ IN MX 20 backup\n")
	ex.WriteString("@ IN TXT \"v=spf1 mx -all\"\n_dmarc IN TXT \"v=DMARC1; p=reject\"\n")
	ex.WriteString("_sip._tcp IN SRV 10 60 5060 web1\n_ldap._tcp IN SRV 0 5 389 auth\n_imaps._tcp IN SRV 0 1 993 mail\n")
	ex.WriteString("cdn IN CNAME www\nstatic IN CNAME files\nstatus IN CNAME web2\n")
	var rev strings.Builder
	rev.WriteString("$ORIGIN 0.0.10.in-addr.arpa.\n$TTL 300\n")
	rev.WriteString("@ IN SOA ns1.example.test. hostmaster.example.test. 2024010101 7200 3600 1209600 300\n@ IN NS ns1.example.test.\n")
	for i, h := range exampleHosts {
		fmt.Fprintf(&ex, "%s IN A 10.0.0.%d\n", h, i+1)
		if i%3 == 0 {
			fmt.Fprintf(&ex, "%s IN AAAA fd00::%x\n", h, i+1)
		}
		fmt.Fprintf(&rev, "%d IN PTR %s.example.test.\n", i+1, h)
	}
	small := func(origin string) string {
		var b strings.Builder
		fmt.Fprintf(&b, "$ORIGIN %s\n$TTL 300\n@ IN SOA ns1.%s hostmaster.%s 2024010101 7200 3600 1209600 300\n@ IN NS ns1.%s\nns1 IN A 10.0.1.1\n", origin, origin, origin, origin)
		for i, w := range words {
			fmt.Fprintf(&b, "%s IN A 10.0.1.%d\n", w, i+10)
		}
		return b.String()
	}
	return map[string]string{
		"db.example.test": ex.String(), "db.reverse": rev.String(),
		"db.secure.test": small("secure.test."), "db.internal.test": small("internal.test."),
	}
}

// corefile is the server configuration: authoritative zones (file), a
// forwarder with a cache to the builder's upstream, the upstream's failing
// and silent zones, a zone forwarded to a closed port, an ACL-blocked zone,
// a TSIG-only zone, chaos for version.bind.
func corefile(port int, dir, upstream, dead string) string {
	var b strings.Builder
	block := func(zones string, body ...string) {
		var zs []string
		for _, z := range strings.Fields(zones) {
			zs = append(zs, fmt.Sprintf("%s:%d", z, port))
		}
		fmt.Fprintf(&b, "%s {\n    bind 127.0.0.1\n    errors\n    log\n", strings.Join(zs, " "))
		for _, l := range body {
			fmt.Fprintf(&b, "    %s\n", l)
		}
		b.WriteString("}\n")
	}
	f := func(name string) string { return filepath.Join(dir, "zones", name) }
	block("example.test 0.0.10.in-addr.arpa", "debug",
		"file "+f("db.example.test")+" example.test",
		"file "+f("db.reverse")+" 0.0.10.in-addr.arpa",
		"transfer example.test {\n        to 127.0.0.2\n    }")
	block("ext.test", "cache 30", "forward . "+upstream)
	block("broken.test", "forward . "+upstream)
	block("slow.test", "forward . "+upstream)
	block("legacy.test", "forward . "+dead)
	block("internal.test", "acl {\n        block\n    }", "file "+f("db.internal.test")+" internal.test")
	block("secure.test", "tsig {\n        secret "+corednsTsigName+" "+corednsTsigSecret+"\n        require all\n    }",
		"file "+f("db.secure.test")+" secure.test")
	block(".", "chaos CoreDNS-corpus corpus@example.test")
	return b.String()
}

// upstreamHandler is the resolver behind the forward plugin: ext.test names
// resolve, broken.test fails with SERVFAIL, slow.test is never answered,
// anything else (the forward plugin's health check, ". IN NS") is answered.
func upstreamHandler(w dns.ResponseWriter, req *dns.Msg) {
	if len(req.Question) != 1 {
		return
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	m := new(dns.Msg)
	m.SetReply(req)
	m.RecursionAvailable = true
	switch {
	case strings.HasSuffix(name, ".slow.test."):
		return
	case strings.HasSuffix(name, ".broken.test."):
		m.Rcode = dns.RcodeServerFailure
	case strings.HasSuffix(name, ".ext.test."):
		h := fnv.New32a()
		h.Write([]byte(name))
		v := h.Sum32()
		hdr := dns.RR_Header{Name: q.Name, Class: dns.ClassINET, Ttl: 60}
		switch q.Qtype {
		case dns.TypeA:
			hdr.Rrtype = dns.TypeA
			m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: net.IPv4(192, 0, 2, byte(v%250+1)).To4()})
			if v%4 == 0 {
				hdr2 := hdr
				m.Answer = append(m.Answer, &dns.A{Hdr: hdr2, A: net.IPv4(192, 0, 2, byte(v/7%250+1)).To4()})
			}
		case dns.TypeAAAA:
			if v%2 == 0 {
				hdr.Rrtype = dns.TypeAAAA
				m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr, AAAA: net.ParseIP(fmt.Sprintf("2001:db8::%x", v%65535+1))})
			}
		}
	case name == "." && q.Qtype == dns.TypeNS:
		m.Answer = append(m.Answer, &dns.NS{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: 3600}, Ns: "a.root.test."})
	default:
		m.Rcode = dns.RcodeNameError
	}
	_ = w.WriteMsg(m)
}

func (d *corednsDriver) Start(ctx context.Context, bin, dir string, logw io.Writer) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	d.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	d.udpAddr = &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
	d.next = 20000
	// The upstream resolver, on UDP and TCP of one port.
	upPort, err := freePort()
	if err != nil {
		return err
	}
	upAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(upPort))
	for _, nw := range []string{"udp", "tcp"} {
		started := make(chan struct{})
		srv := &dns.Server{Addr: upAddr, Net: nw, Handler: dns.HandlerFunc(upstreamHandler), NotifyStartedFunc: func() { close(started) }}
		errc := make(chan error, 1)
		go func() { errc <- srv.ListenAndServe() }()
		select {
		case <-started:
		case err := <-errc:
			return fmt.Errorf("upstream %s: %w", nw, err)
		case <-time.After(5 * time.Second):
			return errors.New("upstream did not start")
		}
		d.upstream = append(d.upstream, srv)
	}
	deadPort, err := closedPort()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "zones"), 0o755); err != nil {
		return err
	}
	for name, body := range corednsZones() {
		if err := os.WriteFile(filepath.Join(dir, "zones", name), []byte(body), 0o644); err != nil {
			return err
		}
	}
	cfg := filepath.Join(dir, "Corefile")
	if err := os.WriteFile(cfg, []byte(corefile(port, dir, upAddr, net.JoinHostPort("127.0.0.1", strconv.Itoa(deadPort)))), 0o644); err != nil {
		return err
	}
	d.cmd = exec.Command(bin, "-conf", cfg)
	d.cmd.Dir = dir
	d.cmd.Stdout, d.cmd.Stderr = logw, logw
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := d.cmd.Start(); err != nil {
		return err
	}
	d.done = make(chan error, 1)
	go func() { d.done <- d.cmd.Wait() }()
	return waitListening(ctx, d.addr, d.done)
}

func (d *corednsDriver) Stop() error {
	err := stopProcess(d.cmd, d.done)
	for _, s := range d.upstream {
		_ = s.Shutdown()
	}
	return err
}

// closedPort returns a port below the client ports (and below the kernel's
// ephemeral range) on which nothing listens, UDP or TCP. A port from the
// ephemeral range will not do: the forward plugin's UDP socket to it can be
// bound to that very port and read its own query back ("Wrong reply",
// FORMERR) instead of the connection refused a dead upstream gives.
func closedPort() (int, error) {
	for p := 19000; p < 20000; p++ {
		u, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p})
		if err != nil {
			continue
		}
		t, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p})
		u.Close()
		if err != nil {
			continue
		}
		t.Close()
		return p, nil
	}
	return 0, errors.New("no closed port in 19000-19999")
}

// reuseAddr sets SO_REUSEADDR: a TCP client port may still be in TIME_WAIT
// from the previous release's run.
func reuseAddr(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
	}); err != nil {
		return err
	}
	return serr
}

// dnsSession is one client session: a UDP socket on its own local port and,
// when a query needs TCP, a TCP connection from the same port number.
type dnsSession struct {
	d    *corednsDriver
	r    *rand.Rand
	port int
	udp  *dns.Conn
	tcp  *dns.Conn
	cl   *dns.Client // signs with the right secret of corpus-key. and rogue-key.
	bad  *dns.Client // signs corpus-key. with a wrong secret
}

func (d *corednsDriver) newSession(r *rand.Rand) (*dnsSession, error) {
	cl := &dns.Client{Net: "udp", Timeout: 12 * time.Second, UDPSize: 1232,
		TsigSecret: map[string]string{corednsTsigName: corednsTsigSecret, corednsRogueKey: corednsWrongSecret}}
	bad := &dns.Client{Net: "udp", Timeout: 12 * time.Second, UDPSize: 1232,
		TsigSecret: map[string]string{corednsTsigName: corednsWrongSecret}}
	for tries := 0; tries < 50; tries++ {
		d.mu.Lock()
		if d.next > 32000 {
			d.mu.Unlock()
			return nil, errors.New("client port range exhausted")
		}
		port := d.next
		d.next++
		d.mu.Unlock()
		la := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
		c, err := net.DialUDP("udp", la, d.udpAddr)
		if err != nil {
			if errors.Is(err, syscall.EADDRINUSE) {
				continue
			}
			return nil, err
		}
		return &dnsSession{d: d, r: r, port: port, udp: &dns.Conn{Conn: c, UDPSize: 1232}, cl: cl, bad: bad}, nil
	}
	return nil, errors.New("no free client port")
}

func (s *dnsSession) close() {
	if s.udp != nil {
		s.udp.Close()
	}
	if s.tcp != nil {
		s.tcp.Close()
	}
}

// query sends one question and checks the answer's rcode (want < 0: any).
// tsig: "" unsigned, "ok" signed with corpus-key., "rogue" signed with a key
// the server does not know, "wrong" corpus-key. with a wrong secret.
func (s *dnsSession) query(ctx context.Context, name string, qtype uint16, class uint16, tcp bool, tsig string, want int) error {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.Question[0].Qclass = class
	m.Id = uint16(s.r.Uint32())
	m.RecursionDesired = true
	if s.r.IntN(2) == 0 {
		m.SetEdns0(1232, false)
	}
	conn := s.udp
	if tcp {
		if s.tcp == nil {
			dl := net.Dialer{Timeout: 3 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: s.port}, Control: reuseAddr}
			c, err := dl.DialContext(ctx, "tcp", s.d.addr)
			if err != nil {
				return fmt.Errorf("tcp dial: %w", err)
			}
			s.tcp = &dns.Conn{Conn: c}
		}
		conn = s.tcp
	}
	cl := s.cl
	switch tsig {
	case "ok":
		m.SetTsig(corednsTsigName, dns.HmacSHA256, 300, time.Now().Unix())
	case "rogue":
		m.SetTsig(corednsRogueKey, dns.HmacSHA256, 300, time.Now().Unix())
	case "wrong":
		m.SetTsig(corednsTsigName, dns.HmacSHA256, 300, time.Now().Unix())
		cl = s.bad
	}
	if tsig != "" {
		// A fresh dns.Conn on the same socket: a dns.Conn signs a request
		// with the MAC of the previous answer chained in (as for the
		// messages of a zone transfer), which the server rejects.
		conn = &dns.Conn{Conn: conn.Conn, UDPSize: conn.UDPSize}
	}
	resp, _, err := cl.ExchangeWithConnContext(ctx, m, conn)
	if err != nil {
		// A refused TSIG request is answered unsigned or with a TSIG
		// error the client cannot verify.
		if resp != nil && (want < 0 || resp.Rcode == want) {
			return nil
		}
		return fmt.Errorf("%s %s: %w", dns.TypeToString[qtype], name, err)
	}
	if want >= 0 && resp.Rcode != want {
		return fmt.Errorf("%s %s: %s, want %s", dns.TypeToString[qtype], name, dns.RcodeToString[resp.Rcode], dns.RcodeToString[want])
	}
	return nil
}
