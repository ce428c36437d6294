package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

	"github.com/nats-io/nats.go"
)

// natsClientVersion is the nats.go release pinned in go.mod; the raw-protocol
// fault clients send the same CONNECT as it does, so that the CONNECT line
// does not give the label away.
const natsClientVersion = "1.37.0"

// The NATS server limits the faults run into (nats.conf below).
const (
	natsMaxPayload = 65536
	natsMaxSubs    = 16
	natsMaxPending = 262144
)

var natsCidRe = regexp.MustCompile(` - cid:(\d+) - `)

// natsKey keys a NATS log line by the server's client connection id.
func natsKey(line string) (string, bool) {
	m := natsCidRe.FindStringSubmatch(line)
	if m == nil {
		return "", false
	}
	return "cid-" + m[1], true
}

type natsDriver struct {
	cmd  *exec.Cmd
	addr string
	done chan error
}

func (d *natsDriver) Kinds() []string {
	return []string{
		"pubsub", "request_reply", "queue_group", "headers", "short_lived", "idle_keepalive", "burst_publish", "bulk_publish", "drain",
		"auth_failure", "auth_timeout", "permission_violation", "max_payload", "protocol_error", "stale_connection",
		"slow_consumer", "producer_stall", "max_subscriptions", "abrupt_disconnect",
	}
}

const natsConf = `# written by scripts/corpus for one corpus run
listen: "127.0.0.1:%d"
max_payload: %d
max_pending: %d
max_subscriptions: %d
max_traced_msg_len: 64
write_deadline: "2s"
ping_interval: "1s"
ping_max: 2
authorization {
  timeout: 1
  users: [
    {user: alice, password: "alice-secret"}
    {user: bob, password: "bob-secret", permissions: {publish: ["app.>", "_INBOX.>"], subscribe: ["app.>", "_INBOX.>"]}}
  ]
}
`

func (d *natsDriver) Start(ctx context.Context, bin, dir string, logw io.Writer) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	conf := filepath.Join(dir, "nats.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(natsConf, port, natsMaxPayload, natsMaxPending, natsMaxSubs)), 0o644); err != nil {
		return err
	}
	d.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	// -DV: debug and trace logging.
	d.cmd = exec.Command(bin, "-c", conf, "-DV")
	d.cmd.Stdout, d.cmd.Stderr = logw, logw
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := d.cmd.Start(); err != nil {
		return err
	}
	d.done = make(chan error, 1)
	go func() { d.done <- d.cmd.Wait() }()
	return waitListening(ctx, d.addr, d.done)
}

func (d *natsDriver) Stop() error { return stopProcess(d.cmd, d.done) }

// sniffConn records the client id of the server's INFO, the first line the
// server sends, as nats.go reads it.
type sniffConn struct {
	net.Conn
	mu   sync.Mutex
	buf  []byte
	done bool
	cid  string
}

func (s *sniffConn) Read(p []byte) (int, error) {
	n, err := s.Conn.Read(p)
	s.mu.Lock()
	if !s.done && n > 0 {
		s.buf = append(s.buf, p[:n]...)
		if i := bytes.IndexByte(s.buf, '\n'); i >= 0 {
			s.cid = infoClientID(string(s.buf[:i]))
			s.done, s.buf = true, nil
		} else if len(s.buf) > 64<<10 {
			s.done, s.buf = true, nil
		}
	}
	s.mu.Unlock()
	return n, err
}

func (s *sniffConn) clientID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cid
}

// infoClientID returns the client_id of an INFO line, "" when absent.
func infoClientID(line string) string {
	line = strings.TrimSpace(line)
	if !strings.HasPrefix(line, "INFO ") {
		return ""
	}
	var info struct {
		ClientID *uint64 `json:"client_id"`
	}
	if json.Unmarshal([]byte(strings.TrimPrefix(line, "INFO ")), &info) != nil || info.ClientID == nil {
		return ""
	}
	return strconv.FormatUint(*info.ClientID, 10)
}

// sniffDialer is nats.go's custom dialer: it keeps every connection it made.
type sniffDialer struct {
	mu    sync.Mutex
	conns []*sniffConn
}

func (s *sniffDialer) Dial(network, address string) (net.Conn, error) {
	c, err := net.DialTimeout(network, address, 3*time.Second)
	if err != nil {
		return nil, err
	}
	sc := &sniffConn{Conn: c}
	s.mu.Lock()
	s.conns = append(s.conns, sc)
	s.mu.Unlock()
	return sc, nil
}

func (s *sniffDialer) records(sc Scenario) []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Record
	for i, c := range s.conns {
		if id := c.clientID(); id != "" {
			out = append(out, Record{Key: "cid-" + id, Index: sc.Index, Conn: i, Kind: sc.Kind, Label: sc.Label})
		}
	}
	return out
}

var natsUsers = [][2]string{{"alice", "alice-secret"}, {"bob", "bob-secret"}}

func (d *natsDriver) connect(sd *sniffDialer, user, pass string, extra ...nats.Option) (*nats.Conn, error) {
	opts := append([]nats.Option{
		nats.UserInfo(user, pass),
		nats.NoReconnect(),
		nats.SetCustomDialer(sd),
		nats.Timeout(3 * time.Second),
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}),
	}, extra...)
	return nats.Connect("nats://"+d.addr, opts...)
}

var words = []string{"orders", "billing", "metrics", "users", "events", "inventory", "audit", "search", "cart", "payments", "alerts", "jobs"}

var events = []string{"created", "updated", "deleted", "shipped", "paid", "refunded", "viewed", "expired"}

// payload is a message body of min to max bytes: JSON event records from a
// small vocabulary, the kind of content applications publish (the server's
// trace shows its first max_traced_msg_len bytes).
func payload(r *rand.Rand, min, max int) []byte {
	n := min + r.IntN(max-min+1)
	var b bytes.Buffer
	for b.Len() < n {
		fmt.Fprintf(&b, `{"event":"%s.%s","id":%d,"tenant":"%s","qty":%d,"ok":%t}`+"\n",
			words[r.IntN(len(words))], events[r.IntN(len(events))], r.IntN(100000), words[r.IntN(len(words))], 1+r.IntN(20), r.IntN(10) > 0)
	}
	return b.Bytes()[:n]
}

func (d *natsDriver) Run(ctx context.Context, sc Scenario) ([]Record, error) {
	r := rand.New(rand.NewPCG(sc.Seed, uint64(sc.Index)))
	sd := &sniffDialer{}
	var err error
	switch sc.Kind {
	case "auth_timeout", "max_payload", "protocol_error", "stale_connection", "slow_consumer", "abrupt_disconnect":
		var key, helper string
		key, helper, err = d.runRaw(ctx, sc, r)
		if key == "" {
			return nil, err
		}
		recs := []Record{{Key: key, Index: sc.Index, Kind: sc.Kind, Label: sc.Label}}
		if helper != "" {
			// The publisher that floods a slow consumer: the server stalls
			// it (back-pressure) and logs so on its connection, so it is
			// labelled as part of the fault, with a kind of its own.
			recs = append(recs, Record{Key: helper, Index: sc.Index, Conn: 1, Kind: "producer_stall", Label: 1})
		}
		return recs, err
	default:
		err = d.runClient(ctx, sc, r, sd)
	}
	return sd.records(sc), err
}

// runClient plays the kinds that use the official client.
func (d *natsDriver) runClient(ctx context.Context, sc Scenario, r *rand.Rand, sd *sniffDialer) error {
	kind := sc.Kind
	u := natsUsers[r.IntN(len(natsUsers))]
	subj := subject(r, sc)
	if kind == "permission_violation" {
		// bob may only use app.> and _INBOX.>; alice may use everything.
		u = natsUsers[1]
	}
	if kind == "auth_failure" {
		user, pass := u[0], "wrong-"+u[1]
		if r.IntN(3) == 0 {
			user, pass = "mallory", "guess"
		}
		nc, err := d.connect(sd, user, pass)
		if err == nil {
			nc.Close()
			return errors.New("auth_failure: connected with a wrong password")
		}
		return nil
	}
	if kind == "bulk_publish" {
		_, err := d.bulkPublish(sd, r, subj, 24+r.IntN(16))
		return err
	}
	nc, err := d.connect(sd, u[0], u[1])
	if err != nil {
		return err
	}
	defer nc.Close()
	switch kind {
	case "short_lived":
		return nc.FlushTimeout(2 * time.Second)
	case "pubsub", "headers", "permission_violation", "idle_keepalive":
		sub, err := nc.SubscribeSync(subj + ".>")
		if err != nil {
			return err
		}
		n := 2 + r.IntN(8)
		if kind == "idle_keepalive" {
			n = 1 + r.IntN(2)
			sleepCtx(ctx, time.Duration(1200+r.IntN(1300))*time.Millisecond)
		}
		violate := -1
		if kind == "permission_violation" {
			violate = r.IntN(n)
		}
		for i := 0; i < n; i++ {
			if i == violate {
				bad := fmt.Sprintf("admin.%s.%d", words[r.IntN(len(words))], r.IntN(100))
				if r.IntN(2) == 0 {
					_ = nc.Publish(bad, payload(r, 8, 120))
				} else {
					_, _ = nc.SubscribeSync(bad)
				}
				_ = nc.FlushTimeout(2 * time.Second)
			}
			m := nats.NewMsg(fmt.Sprintf("%s.%d", subj, i))
			m.Data = payload(r, 8, 200)
			if kind == "headers" {
				m.Header.Set("X-Request-Id", fmt.Sprintf("%08x", r.Uint32()))
				m.Header.Set("X-Tenant", words[r.IntN(len(words))])
			}
			if err := nc.PublishMsg(m); err != nil {
				return err
			}
		}
		for i := 0; i < n; i++ {
			if _, err := sub.NextMsg(2 * time.Second); err != nil {
				return fmt.Errorf("receive %d/%d: %w", i+1, n, err)
			}
		}
		return sub.Unsubscribe()
	case "request_reply":
		svc := subj + ".svc"
		if _, err := nc.Subscribe(svc, func(m *nats.Msg) { _ = m.Respond(append([]byte("ok "), m.Data...)) }); err != nil {
			return err
		}
		n := 1 + r.IntN(5)
		for i := 0; i < n; i++ {
			if _, err := nc.Request(svc, payload(r, 8, 120), 2*time.Second); err != nil {
				return fmt.Errorf("request %d/%d: %w", i+1, n, err)
			}
		}
		return nil
	case "queue_group":
		ch := make(chan *nats.Msg, 64)
		q := "workers-" + words[r.IntN(len(words))]
		for i := 0; i < 2; i++ {
			if _, err := nc.ChanQueueSubscribe(subj, q, ch); err != nil {
				return err
			}
		}
		n := 2 + r.IntN(10)
		for i := 0; i < n; i++ {
			if err := nc.Publish(subj, payload(r, 8, 200)); err != nil {
				return err
			}
		}
		for i := 0; i < n; i++ {
			select {
			case <-ch:
			case <-time.After(2 * time.Second):
				return fmt.Errorf("queue receive %d/%d: timeout", i+1, n)
			}
		}
		return nil
	case "burst_publish":
		n := 20 + r.IntN(40)
		for i := 0; i < n; i++ {
			if err := nc.Publish(subj, payload(r, 16, 512)); err != nil {
				return err
			}
		}
		return nc.FlushTimeout(2 * time.Second)
	case "drain":
		if _, err := nc.Subscribe(subj, func(*nats.Msg) {}); err != nil {
			return err
		}
		for i, n := 0, 1+r.IntN(5); i < n; i++ {
			_ = nc.Publish(subj, payload(r, 8, 200))
		}
		closed := make(chan struct{})
		nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
		if err := nc.Drain(); err != nil {
			return err
		}
		select {
		case <-closed:
		case <-time.After(3 * time.Second):
		}
		return nil
	case "max_subscriptions":
		n := natsMaxSubs + 2 + r.IntN(8)
		for i := 0; i < n; i++ {
			if _, err := nc.SubscribeSync(fmt.Sprintf("%s.s%d", subj, i)); err != nil {
				break
			}
		}
		_ = nc.FlushTimeout(2 * time.Second)
		return nil
	}
	return fmt.Errorf("unknown kind %q", kind)
}
