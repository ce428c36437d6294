package main

// The CoreDNS scenarios (corednsdriver.go has the server, its configuration
// and the client session): normal lookups and the injected faults, played
// with github.com/miekg/dns (pinned in go.mod).

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"

	"github.com/miekg/dns"
)

func (d *corednsDriver) Run(ctx context.Context, sc Scenario) ([]Record, error) {
	r := rand.New(rand.NewPCG(sc.Seed, uint64(sc.Index)))
	s, err := d.newSession(r)
	if err != nil {
		return nil, err
	}
	err = s.play(ctx, sc.Kind)
	s.close()
	return []Record{{Key: "port-" + strconv.Itoa(s.port), Index: sc.Index, Kind: sc.Kind, Label: sc.Label}}, err
}

func (s *dnsSession) host() string { return exampleHosts[s.r.IntN(len(exampleHosts))] }

// ok asks a question that must be answered NOERROR.
func (s *dnsSession) ok(ctx context.Context, name string, qtype uint16) error {
	return s.query(ctx, name, qtype, dns.ClassINET, false, "", dns.RcodeSuccess)
}

// lookup is one A or AAAA query of a host of example.test.
func (s *dnsSession) lookup(ctx context.Context) error {
	qt := dns.TypeA
	if s.r.IntN(3) == 0 {
		qt = dns.TypeAAAA
	}
	return s.ok(ctx, s.host()+".example.test.", qt)
}

// extName is a name under the forwarded zone; a small set, so that the
// cache answers some of them.
func (s *dnsSession) extName() string {
	return fmt.Sprintf("%s-%d.ext.test.", words[s.r.IntN(len(words))], s.r.IntN(40))
}

var mixedQueries = []struct {
	name  string
	qtype uint16
}{
	{"example.test.", dns.TypeMX}, {"example.test.", dns.TypeTXT}, {"_dmarc.example.test.", dns.TypeTXT},
	{"_sip._tcp.example.test.", dns.TypeSRV}, {"_ldap._tcp.example.test.", dns.TypeSRV}, {"_imaps._tcp.example.test.", dns.TypeSRV},
	{"cdn.example.test.", dns.TypeCNAME}, {"static.example.test.", dns.TypeA}, {"status.example.test.", dns.TypeA},
	{"example.test.", dns.TypeNS}, {"example.test.", dns.TypeSOA}, {"mail.example.test.", dns.TypeA},
}

// play runs one scenario on one session. A fault session first makes 0-3
// normal lookups, then the faulty query.
func (s *dnsSession) play(ctx context.Context, kind string) error {
	r := s.r
	repeat := func(min, max int, f func() error) error {
		for i, n := 0, min+r.IntN(max-min+1); i < n; i++ {
			if err := f(); err != nil {
				return err
			}
		}
		return nil
	}
	switch kind {
	case "lookup":
		return repeat(1, 6, func() error { return s.lookup(ctx) })
	case "mixed_records":
		return repeat(2, 5, func() error {
			q := mixedQueries[r.IntN(len(mixedQueries))]
			return s.ok(ctx, q.name, q.qtype)
		})
	case "forward_lookup":
		return repeat(1, 5, func() error {
			qt := dns.TypeA
			if r.IntN(3) == 0 {
				qt = dns.TypeAAAA
			}
			return s.ok(ctx, s.extName(), qt)
		})
	case "tcp_lookup":
		return repeat(2, 8, func() error {
			switch r.IntN(3) {
			case 0:
				return s.query(ctx, s.host()+".example.test.", dns.TypeA, dns.ClassINET, true, "", dns.RcodeSuccess)
			case 1:
				q := mixedQueries[r.IntN(len(mixedQueries))]
				return s.query(ctx, q.name, q.qtype, dns.ClassINET, true, "", dns.RcodeSuccess)
			}
			return s.query(ctx, s.extName(), dns.TypeA, dns.ClassINET, true, "", dns.RcodeSuccess)
		})
	case "search_path":
		// A stub resolver with the search list corp.example.test,
		// example.test: the first candidate does not exist.
		return repeat(1, 3, func() error {
			h := s.host()
			if err := s.query(ctx, h+".corp.example.test.", dns.TypeA, dns.ClassINET, false, "", dns.RcodeNameError); err != nil {
				return err
			}
			return s.ok(ctx, h+".example.test.", dns.TypeA)
		})
	case "reverse_lookup":
		return repeat(1, 4, func() error {
			return s.ok(ctx, fmt.Sprintf("%d.0.0.10.in-addr.arpa.", 1+r.IntN(len(exampleHosts))), dns.TypePTR)
		})
	case "signed_lookup":
		return repeat(1, 3, func() error {
			return s.query(ctx, words[r.IntN(len(words))]+".secure.test.", dns.TypeA, dns.ClassINET, false, "ok", dns.RcodeSuccess)
		})
	case "health_check":
		if err := s.query(ctx, "version.bind.", dns.TypeTXT, dns.ClassCHAOS, false, "", dns.RcodeSuccess); err != nil {
			return err
		}
		return s.ok(ctx, "example.test.", dns.TypeSOA)
	}
	// Faults: some normal lookups first, the faulty query last.
	if err := repeat(0, 3, func() error { return s.lookup(ctx) }); err != nil {
		return err
	}
	word := words[r.IntN(len(words))]
	switch kind {
	case "upstream_down":
		return s.query(ctx, fmt.Sprintf("%s-%d.legacy.test.", word, r.IntN(1000)), dns.TypeA, dns.ClassINET, false, "", dns.RcodeServerFailure)
	case "upstream_timeout":
		return s.query(ctx, fmt.Sprintf("%s-%d.slow.test.", word, r.IntN(1000)), dns.TypeA, dns.ClassINET, false, "", dns.RcodeServerFailure)
	case "upstream_error":
		return s.query(ctx, fmt.Sprintf("%s-%d.broken.test.", word, r.IntN(1000)), dns.TypeA, dns.ClassINET, false, "", dns.RcodeServerFailure)
	case "acl_refused":
		return s.query(ctx, word+".internal.test.", []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeTXT}[r.IntN(3)], dns.ClassINET, false, "", dns.RcodeRefused)
	case "transfer_refused":
		return s.query(ctx, "example.test.", dns.TypeAXFR, dns.ClassINET, true, "", dns.RcodeRefused)
	case "tsig_failure":
		name := word + ".secure.test."
		switch r.IntN(3) {
		case 0: // unsigned: refused by `require all`
			return s.query(ctx, name, dns.TypeA, dns.ClassINET, false, "", dns.RcodeRefused)
		case 1: // a key the server does not know
			return s.query(ctx, name, dns.TypeA, dns.ClassINET, false, "rogue", -1)
		}
		// the right key name with a wrong secret
		return s.query(ctx, name, dns.TypeA, dns.ClassINET, false, "wrong", -1)
	}
	return fmt.Errorf("unknown kind %q", kind)
}
