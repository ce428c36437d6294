package main

// The NATS driver's raw-protocol client (natsdriver.go has the server, its
// configuration and the scenarios played with the official client): the
// faults nats.go refuses to commit, played by hand over TCP, and the bulk
// publisher that floods a slow consumer.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"syscall"
	"time"
)

// rawNATS is a client speaking the NATS protocol by hand, for faults the
// official client refuses to commit.
type rawNATS struct {
	c   net.Conn
	br  *bufio.Reader
	cid string
}

func (d *natsDriver) dialRaw(ctx context.Context, rcvbuf int) (*rawNATS, error) {
	dl := net.Dialer{Timeout: 3 * time.Second}
	if rcvbuf > 0 {
		dl.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
			})
			if err != nil {
				return err
			}
			return serr
		}
	}
	c, err := dl.DialContext(ctx, "tcp", d.addr)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(15 * time.Second))
	rn := &rawNATS{c: c, br: bufio.NewReader(c)}
	line, err := rn.br.ReadString('\n')
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("read INFO: %w", err)
	}
	rn.cid = infoClientID(line)
	if rn.cid == "" {
		c.Close()
		return nil, fmt.Errorf("no client_id in INFO %.80q", line)
	}
	return rn, nil
}

// connectLine is the CONNECT nats.go sends.
func connectLine(user, pass string) string {
	return fmt.Sprintf(`CONNECT {"verbose":false,"pedantic":false,"user":%q,"pass":%q,"tls_required":false,"name":"","lang":"go","version":%q,"protocol":1,"echo":true,"headers":true,"no_responders":true}`+"\r\n", user, pass, natsClientVersion)
}

func (rn *rawNATS) send(s string) error { _, err := io.WriteString(rn.c, s); return err }

// waitClosed reads (and discards) until the server closes the connection or
// the deadline passes; it never answers a PING.
func (rn *rawNATS) waitClosed(d time.Duration) {
	_ = rn.c.SetReadDeadline(time.Now().Add(d))
	_, _ = io.Copy(io.Discard, rn.br)
}

// subject is a scenario's own subject: a word and the scenario index, so
// that concurrent scenarios never receive each other's messages.
func subject(r *rand.Rand, sc Scenario) string {
	return fmt.Sprintf("app.%s.%d", words[r.IntN(len(words))], sc.Index)
}

func (d *natsDriver) runRaw(ctx context.Context, sc Scenario, r *rand.Rand) (key, helper string, err error) {
	kind := sc.Kind
	rcv := 0
	if kind == "slow_consumer" {
		rcv = 4096
	}
	rn, err := d.dialRaw(ctx, rcv)
	if err != nil {
		return "", "", err
	}
	defer rn.c.Close()
	key = "cid-" + rn.cid
	u := natsUsers[r.IntN(len(natsUsers))]
	subj := subject(r, sc)
	switch kind {
	case "auth_timeout":
		// Connect and never send CONNECT: the server's 1 s auth timeout.
		rn.waitClosed(5 * time.Second)
		return key, "", nil
	case "protocol_error":
		if err := rn.send(connectLine(u[0], u[1]) + "PING\r\n"); err != nil {
			return key, "", err
		}
		garbage := []string{"HELLO " + words[r.IntN(len(words))] + "\r\n", "PUB\r\n", "SUB " + subj + "\r\n", "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", "PUB " + subj + " abc\r\n"}
		_ = rn.send(garbage[r.IntN(len(garbage))])
		rn.waitClosed(3 * time.Second)
		return key, "", nil
	case "max_payload":
		if err := rn.send(connectLine(u[0], u[1]) + "PING\r\n"); err != nil {
			return key, "", err
		}
		size := natsMaxPayload + 1 + r.IntN(4*natsMaxPayload)
		_ = rn.send(fmt.Sprintf("PUB %s %d\r\n", subj, size))
		rn.waitClosed(3 * time.Second)
		return key, "", nil
	case "stale_connection":
		// Answer nothing: the server pings every second, and after two
		// unanswered pings closes the connection as stale.
		if err := rn.send(connectLine(u[0], u[1]) + fmt.Sprintf("SUB %s 1\r\nPING\r\n", subj)); err != nil {
			return key, "", err
		}
		rn.waitClosed(8 * time.Second)
		return key, "", nil
	case "slow_consumer":
		// Subscribe several times to one subject and never read, while a
		// separate publisher (the official client, a producer_stall
		// session) sends large messages to it: the server's pending bytes
		// for the subscriber pass max_pending and it cuts it off.
		var b strings.Builder
		b.WriteString(connectLine(u[0], u[1]))
		k := 6 + r.IntN(6)
		for i := 1; i <= k; i++ {
			fmt.Fprintf(&b, "SUB %s %d\r\n", subj, i)
		}
		b.WriteString("PING\r\n")
		if err := rn.send(b.String()); err != nil {
			return key, "", err
		}
		if _, err := rn.br.ReadString('\n'); err != nil { // PONG: the subscriptions are in place
			return key, "", err
		}
		// The publisher stalls or times out while the server is blocked on
		// the slow consumer: that is the fault's effect, not a driver error.
		helper, _ = d.bulkPublish(&sniffDialer{}, r, subj, 24+r.IntN(16))
		sleepCtx(ctx, 500*time.Millisecond)
		return key, helper, nil
	case "abrupt_disconnect":
		// A peer that resets the connection in the middle of a message.
		if err := rn.send(connectLine(u[0], u[1]) + fmt.Sprintf("SUB %s 1\r\nPING\r\n", subj)); err != nil {
			return key, "", err
		}
		_, _ = rn.br.ReadString('\n') // PONG
		_ = rn.send(fmt.Sprintf("PUB %s 200\r\n%s", subj, payload(r, 20, 120)))
		sleepCtx(ctx, 50*time.Millisecond)
		if tc, ok := rn.c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		return key, "", nil
	}
	return key, "", fmt.Errorf("unknown raw kind %q", kind)
}

// bulkPublish publishes n large messages to subj with the official client
// and returns its connection's session key.
func (d *natsDriver) bulkPublish(sd *sniffDialer, r *rand.Rand, subj string, n int) (string, error) {
	u := natsUsers[r.IntN(len(natsUsers))]
	nc, err := d.connect(sd, u[0], u[1])
	key := ""
	if recs := sd.records(Scenario{}); len(recs) > 0 {
		key = recs[0].Key
	}
	if err != nil {
		return key, err
	}
	defer nc.Close()
	msg := payload(r, 48<<10, 60<<10)
	for i := 0; i < n; i++ {
		if err := nc.Publish(subj, msg); err != nil {
			return key, err
		}
		if i%4 == 3 {
			if err := nc.FlushTimeout(2 * time.Second); err != nil {
				return key, err
			}
		}
	}
	return key, nc.FlushTimeout(2 * time.Second)
}
