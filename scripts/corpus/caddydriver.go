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
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Caddy limits the faults run into (caddy.json below).
const (
	caddyMaxBody       = 64 << 10
	caddyHeaderTimeout = "3s"
)

var caddyPortRe = regexp.MustCompile(`"remote_port":\s*"?(\d+)`)

// caddyKey keys a Caddy log line by the client connection's port, which the
// driver allocates uniquely per run (see portAllocator).
func caddyKey(line string) (string, bool) {
	m := caddyPortRe.FindStringSubmatch(line)
	if m == nil {
		return "", false
	}
	return "port-" + m[1], true
}

type caddyDriver struct {
	cmd     *exec.Cmd
	done    chan error
	addr    string
	backend *http.Server
	ports   *portAllocator
}

func (d *caddyDriver) Kinds() []string {
	return []string{
		"browse", "api_read", "api_write", "upload", "admin", "health_check",
		"auth_failure", "payload_too_large", "upstream_down", "upstream_timeout", "upstream_error", "client_abort",
	}
}

// portAllocator hands out local client ports, each once per run, so that
// the remote port Caddy logs identifies one connection.
type portAllocator struct {
	mu   sync.Mutex
	next int
	max  int
}

func (p *portAllocator) dial(ctx context.Context, addr string) (net.Conn, int, error) {
	for tries := 0; tries < 50; tries++ {
		p.mu.Lock()
		if p.next > p.max {
			p.mu.Unlock()
			return nil, 0, errors.New("client port range exhausted")
		}
		port := p.next
		p.next++
		p.mu.Unlock()
		dl := net.Dialer{Timeout: 3 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port},
			// SO_REUSEADDR: the port may still be in TIME_WAIT from the
			// previous release's run, which connected to another server.
			Control: func(_, _ string, c syscall.RawConn) error {
				var serr error
				if err := c.Control(func(fd uintptr) {
					serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
				}); err != nil {
					return err
				}
				return serr
			}}
		c, err := dl.DialContext(ctx, "tcp", addr)
		if err == nil {
			return c, port, nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			return nil, 0, err
		}
	}
	return nil, 0, errors.New("no free client port")
}

type route = map[string]any

func (d *caddyDriver) config(port int, backend, dead, static string, hash []byte) ([]byte, error) {
	proxy := func(up string) route {
		return route{
			"handler":   "reverse_proxy",
			"upstreams": []route{{"dial": up}},
			"transport": route{"protocol": "http", "response_header_timeout": caddyHeaderTimeout},
		}
	}
	routes := []route{
		{"match": []route{{"path": []string{"/admin/*"}}}, "handle": []route{
			{"handler": "authentication", "providers": route{"http_basic": route{
				"hash":     route{"algorithm": "bcrypt"},
				"accounts": []route{{"username": "admin", "password": string(hash)}},
				// Caddy checks an unknown user against a fake bcrypt hash
				// of cost 14 (timing-attack protection): seconds of CPU a
				// request on a loaded 2-core machine. The cache keeps the
				// result of each (password, hash) pair.
				"hash_cache": route{},
			}}},
			{"handler": "static_response", "status_code": 200, "body": `{"status":"ok"}`},
		}},
		{"match": []route{{"path": []string{"/upload", "/upload/*"}}}, "handle": []route{
			{"handler": "request_body", "max_size": caddyMaxBody},
			proxy(backend),
		}},
		{"match": []route{{"path": []string{"/api/*"}}}, "handle": []route{proxy(backend)}},
		{"match": []route{{"path": []string{"/legacy/*"}}}, "handle": []route{proxy(dead)}},
		{"match": []route{{"path": []string{"/static/*"}}}, "handle": []route{
			{"handler": "rewrite", "strip_path_prefix": "/static"},
			{"handler": "file_server", "root": static},
		}},
		{"handle": []route{{"handler": "static_response", "status_code": 200, "body": "caddy corpus"}}},
	}
	cfg := route{
		"admin": route{"disabled": true, "config": route{"persist": false}},
		"logging": route{"logs": route{"default": route{
			"level":   "DEBUG",
			"writer":  route{"output": "stderr"},
			"encoder": route{"format": "json"},
		}}},
		"apps": route{"http": route{"servers": route{"corpus": route{
			"listen":          []string{fmt.Sprintf("127.0.0.1:%d", port)},
			"automatic_https": route{"disable": true},
			"logs":            route{},
			"routes":          routes,
		}}}},
	}
	return json.MarshalIndent(cfg, "", "  ")
}

func (d *caddyDriver) Start(ctx context.Context, bin, dir string, logw io.Writer) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	d.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	// Client ports below the kernel's ephemeral range, one per connection.
	d.ports = &portAllocator{next: 20000, max: 32000}
	// The upstream the reverse proxy talks to: a small API in this process.
	bl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	d.backend = &http.Server{Handler: http.HandlerFunc(backendHandler), ReadHeaderTimeout: 5 * time.Second}
	go d.backend.Serve(bl)
	deadPort, err := freePort() // nothing listens there
	if err != nil {
		return err
	}
	static := filepath.Join(dir, "static")
	if err := os.MkdirAll(static, 0o755); err != nil {
		return err
	}
	for name, body := range map[string]string{
		"index.html": "<!doctype html><title>corpus</title><link rel=stylesheet href=style.css><script src=app.js></script>",
		"app.js":     strings.Repeat("console.log('corpus');\n", 40),
		"style.css":  strings.Repeat("body{margin:0}\n", 40),
		"logo.svg":   `<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>`,
	} {
		if err := os.WriteFile(filepath.Join(static, name), []byte(body), 0o644); err != nil {
			return err
		}
	}
	// Cost 4: the check runs on every admin request of the corpus.
	hash, err := bcrypt.GenerateFromPassword([]byte("admin-secret"), 4)
	if err != nil {
		return err
	}
	cfg, err := d.config(port, bl.Addr().String(), net.JoinHostPort("127.0.0.1", strconv.Itoa(deadPort)), static, hash)
	if err != nil {
		return err
	}
	cfgPath := filepath.Join(dir, "caddy.json")
	if err := os.WriteFile(cfgPath, cfg, 0o644); err != nil {
		return err
	}
	d.cmd = exec.Command(bin, "run", "--config", cfgPath)
	home := filepath.Join(dir, "home")
	d.cmd.Env = append(os.Environ(), "HOME="+home, "XDG_DATA_HOME="+home+"/data", "XDG_CONFIG_HOME="+home+"/config")
	d.cmd.Stdout, d.cmd.Stderr = logw, logw
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := d.cmd.Start(); err != nil {
		return err
	}
	d.done = make(chan error, 1)
	go func() { d.done <- d.cmd.Wait() }()
	return waitListening(ctx, d.addr, d.done)
}

func (d *caddyDriver) Stop() error {
	err := stopProcess(d.cmd, d.done)
	if d.backend != nil {
		d.backend.Close()
	}
	return err
}

// backendHandler is the upstream API behind Caddy's reverse proxy.
func backendHandler(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasPrefix(r.URL.Path, "/api/slow"):
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"slow":true}`)
	case strings.HasPrefix(r.URL.Path, "/api/fail"):
		http.Error(w, `{"error":"database unavailable"}`, http.StatusInternalServerError)
	case r.URL.Path == "/api/health":
		io.WriteString(w, "ok")
	case r.Method == http.MethodPost || r.Method == http.MethodPut:
		n, _ := io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"stored":%d}`, n)
	default:
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"path":%q,"items":[1,2,3]}`, r.URL.Path)
	}
}

// caddyClient is one scenario's HTTP client: one keep-alive connection at a
// time, every connection it opens remembered by its local port.
type caddyClient struct {
	http  *http.Client
	mu    sync.Mutex
	ports []int
}

func (d *caddyDriver) newClient() *caddyClient {
	c := &caddyClient{}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			conn, port, err := d.ports.dial(ctx, d.addr)
			if err == nil {
				c.mu.Lock()
				c.ports = append(c.ports, port)
				c.mu.Unlock()
			}
			return conn, err
		},
		MaxConnsPerHost:     1,
		MaxIdleConnsPerHost: 1,
		DisableCompression:  true,
	}
	// 25 s: every answer takes at most 5.5 s on an idle machine, but an
	// unknown basic-auth user costs Caddy a bcrypt check of cost 14 (its
	// timing-attack protection), which took up to 16 s with several at
	// once on a loaded 2-core machine. The scenario limit is 30 s.
	c.http = &http.Client{Transport: tr, Timeout: 25 * time.Second}
	return c
}

func (c *caddyClient) do(ctx context.Context, method, url string, body []byte, hdr map[string]string) (int, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("User-Agent", "corpus-client/1.0")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

func (d *caddyDriver) Run(ctx context.Context, sc Scenario) ([]Record, error) {
	r := rand.New(rand.NewPCG(sc.Seed, uint64(sc.Index)))
	c := d.newClient()
	err := d.play(ctx, c, sc.Kind, r)
	c.http.CloseIdleConnections()
	c.mu.Lock()
	defer c.mu.Unlock()
	var recs []Record
	for i, p := range c.ports {
		recs = append(recs, Record{Key: "port-" + strconv.Itoa(p), Index: sc.Index, Conn: i, Kind: sc.Kind, Label: sc.Label})
	}
	return recs, err
}

func basic(user, pass string) map[string]string {
	req, _ := http.NewRequest("GET", "/", nil)
	req.SetBasicAuth(user, pass)
	return map[string]string{"Authorization": req.Header.Get("Authorization")}
}

// play runs a few normal requests on one keep-alive connection, then, for a
// fault kind, the faulty request last (the server may close the connection).
func (d *caddyDriver) play(ctx context.Context, c *caddyClient, kind string, r *rand.Rand) error {
	base := "http://" + d.addr
	item := func() string { return fmt.Sprintf("/api/%s/%d", words[r.IntN(len(words))], r.IntN(10000)) }
	expect := func(want int, method, path string, body []byte, hdr map[string]string) error {
		got, err := c.do(ctx, method, base+path, body, hdr)
		if err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
		if want != 0 && got != want {
			return fmt.Errorf("%s %s: status %d, want %d", method, path, got, want)
		}
		return nil
	}
	warmup := func(max int) error {
		for i, n := 0, r.IntN(max+1); i < n; i++ {
			if err := expect(200, "GET", item(), nil, nil); err != nil {
				return err
			}
		}
		return nil
	}
	switch kind {
	case "browse":
		pages := []string{"/static/index.html", "/static/app.js", "/static/style.css", "/static/logo.svg", "/"}
		for i, n := 0, 2+r.IntN(4); i < n; i++ {
			if err := expect(200, "GET", pages[r.IntN(len(pages))], nil, nil); err != nil {
				return err
			}
		}
		return nil
	case "api_read":
		for i, n := 0, 1+r.IntN(6); i < n; i++ {
			if err := expect(200, "GET", item(), nil, nil); err != nil {
				return err
			}
		}
		return nil
	case "api_write":
		for i, n := 0, 1+r.IntN(3); i < n; i++ {
			body := fmt.Sprintf(`{"name":%q,"qty":%d}`, words[r.IntN(len(words))], r.IntN(100))
			if err := expect(201, "POST", item(), []byte(body), map[string]string{"Content-Type": "application/json"}); err != nil {
				return err
			}
			if err := expect(200, "GET", item(), nil, nil); err != nil {
				return err
			}
		}
		return nil
	case "upload":
		for i, n := 0, 1+r.IntN(2); i < n; i++ {
			if err := expect(201, "POST", "/upload/"+words[r.IntN(len(words))], payload(r, 256, caddyMaxBody/2), map[string]string{"Content-Type": "application/octet-stream"}); err != nil {
				return err
			}
		}
		return nil
	case "admin":
		for i, n := 0, 1+r.IntN(3); i < n; i++ {
			if err := expect(200, "GET", "/admin/status", nil, basic("admin", "admin-secret")); err != nil {
				return err
			}
		}
		return nil
	case "health_check":
		if err := expect(200, "HEAD", "/static/index.html", nil, nil); err != nil {
			return err
		}
		return expect(200, "GET", "/api/health", nil, nil)
	}
	// Faults: some normal traffic first, the faulty request last.
	if err := warmup(3); err != nil {
		return err
	}
	switch kind {
	case "auth_failure":
		var hdr map[string]string
		switch r.IntN(3) {
		case 0:
			hdr = basic("admin", "wrong-"+words[r.IntN(len(words))])
		case 1:
			hdr = basic("root", "toor")
		}
		return expect(401, "GET", "/admin/status", nil, hdr)
	case "payload_too_large":
		return expect(413, "POST", "/upload/"+words[r.IntN(len(words))], payload(r, 2*caddyMaxBody, 6*caddyMaxBody), map[string]string{"Content-Type": "application/octet-stream"})
	case "upstream_down":
		return expect(502, "GET", fmt.Sprintf("/legacy/%s/%d", words[r.IntN(len(words))], r.IntN(1000)), nil, nil)
	case "upstream_timeout":
		return expect(504, "GET", fmt.Sprintf("/api/slow?ms=%d", 4000+r.IntN(1500)), nil, nil)
	case "upstream_error":
		return expect(500, "GET", fmt.Sprintf("/api/fail/%s", words[r.IntN(len(words))]), nil, nil)
	case "client_abort":
		// Give up on a slow upstream answer and drop the connection.
		actx, cancel := context.WithTimeout(ctx, time.Duration(100+r.IntN(200))*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(actx, "GET", base+fmt.Sprintf("/api/slow?ms=%d", 700+r.IntN(200)), nil)
		req.Header.Set("User-Agent", "corpus-client/1.0")
		if resp, err := c.http.Do(req); err == nil {
			resp.Body.Close()
			return errors.New("client_abort: the slow request completed")
		}
		sleepCtx(ctx, 900*time.Millisecond) // let the proxy notice and log
		return nil
	}
	return fmt.Errorf("unknown kind %q", kind)
}
