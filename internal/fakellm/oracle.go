package fakellm

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/coorlog/coorlogprocessor/internal/simdraw"
	"github.com/coorlog/coorlogprocessor/model/normalize"
)

// Oracle is the simulated LLM of the demo and the end-to-end tests, an
// http.Handler for POST {base}/chat/completions. It answers CoorLog's
// Evol-CoT questions about the NEW SESSION it is shown. The zero value
// answers from the HDFS failure events in the session (exceptions,
// interrupted or failed responders and transfers, time-outs, missing
// blocks); with Labels it answers from the label of the session's key (KeyRE's
// first match in the NEW SESSION; by default the first blk_ id), wrong with
// probability 1-Accuracy, like `coorlog eval --llm simulated:ACC`, and from
// the failure events for an unknown key. Safe for concurrent use; configure
// it before the first request.
type Oracle struct {
	Labels   map[string]int // session key -> 0 normal, 1 anomalous
	Accuracy float64        // with Labels; 0 means 1
	Seed     uint64
	// KeyRE finds the session key in the NEW SESSION's text: its first
	// capture group, or the whole match without one. Default: HDFS block ids.
	KeyRE *regexp.Regexp
	// ByContent makes the wrong answers follow the session's content (the
	// set of its normalised lines, normalize.ContentKey, as shown in the
	// prompt), as `coorlog eval --llm simulated-content:ACC` does: every
	// question about the same content gets the same answer. Otherwise each
	// question draws on its own.
	ByContent bool
	// Contents, with ByContent, maps a session key to the content key of the
	// whole session (normalize.ContentKey of its labelled lines): the draw then
	// uses it instead of the lines the prompt shows, so that a seed picks the
	// same wrong contents as `coorlog eval --llm simulated-content:ACC --seed`
	// on the same sessions (a prompt may show a session cut short). Keys
	// missing from it fall back to the prompt's lines.
	Contents map[string]string

	once    sync.Once
	srv     Server
	mu      sync.Mutex
	rng     *rand.Rand
	unkeyed atomic.Int64
}

var (
	blockRE   = regexp.MustCompile(`blk_-?\d+`)
	failureRE = regexp.MustCompile(`(?i)exception|interrupted|failed to|timed out|unexpected error|empty packet|does not belong`)
)

func (o *Oracle) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.once.Do(func() { o.srv.Handle = o.answer })
	o.srv.ServeHTTP(w, r)
}

// Requests is the number of questions received.
func (o *Oracle) Requests() int64 { return o.srv.Requests() }

// Unkeyed is the number of questions, with Labels, whose session key was not
// among them (KeyRE found none in the prompt, or an unknown one): those were
// answered from the HDFS failure events, which say nothing about another
// system's sessions. A key pattern that the prompt's redaction breaks (an IP
// address becomes <IP>) shows here.
func (o *Oracle) Unkeyed() int64 { return o.unkeyed.Load() }

func (o *Oracle) answer(w http.ResponseWriter, _ *http.Request, req Request, _ int) {
	abnormal := o.abnormal(req.Section("NEW SESSION"))
	var answer string
	if req.IsEvolDetect() {
		refAbnormal := req.RefLabel() == "abnormal"
		answer = fmt.Sprintf(`{"is_evolution": %v, "reason": "simulated LLM (oracle): new session abnormal=%v, reference abnormal=%v"}`,
			abnormal == refAbnormal, abnormal, refAbnormal)
	} else {
		state := "normal"
		if abnormal {
			state = "abnormal"
		}
		answer = fmt.Sprintf(`{"state": %q, "reason": "simulated LLM (oracle): HDFS failure events present=%v"}`, state, abnormal)
	}
	// About four bytes a token, as the client's own estimate.
	Completion(w, req.Model, answer, &Usage{Prompt: len(req.LastUser()) / 4, Completion: len(answer) / 4})
}

// abnormal judges the NEW SESSION text.
func (o *Oracle) abnormal(session string) bool {
	if o.Labels != nil {
		key := o.key(session)
		if label, ok := o.Labels[key]; ok {
			truth := label == 1
			acc := o.Accuracy
			if acc <= 0 {
				acc = 1
			}
			if o.ByContent {
				content, ok := o.Contents[key]
				if !ok {
					content = normalize.ContentKey(SectionLines(session))
				}
				return truth == simdraw.Right(int64(o.Seed), content, acc)
			}
			o.mu.Lock()
			if o.rng == nil {
				o.rng = rand.New(rand.NewPCG(o.Seed, 0x6f7261636c65))
			}
			wrong := o.rng.Float64() >= acc
			o.mu.Unlock()
			return truth != wrong
		}
		o.unkeyed.Add(1)
	}
	return failureRE.MatchString(session)
}

// key is the session key in a session's lines, "" when there is none. The
// prompt quotes each line as a JSON string; the key is looked for in the
// lines as the log wrote them (a key pattern with quotes, such as Caddy's
// "remote_port":"N", does not match the quoted form).
func (o *Oracle) key(session string) string {
	re := o.KeyRE
	if re == nil {
		re = blockRE
	}
	text := session
	if lines := SectionLines(session); len(lines) > 0 {
		text = strings.Join(lines, "\n")
	}
	m := re.FindStringSubmatch(text)
	switch {
	case m == nil:
		return ""
	case len(m) > 1:
		return m[1]
	}
	return m[0]
}
