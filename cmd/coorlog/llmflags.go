package main

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
)

// llmFlags selects the LLM stage for eval and bench: none, the simulated LLM
// (answers from the test file's labels with a given accuracy, its errors
// drawn per session or per session content; for measuring routing, cost and
// AEM without a real LLM), or a real OpenAI-compatible
// endpoint whose key comes from the environment, never from a flag (flags
// show up in process listings and shell history).
type llmFlags struct {
	spec     string
	endpoint string
	model    string
	// parsed
	simulated bool
	content   bool // simulated-content: errors drawn per session content
	accuracy  float64
}

// Simulated-LLM modes of --llm: errors drawn per session, or per session
// content (llm.NewSimulatedContent).
const (
	simSessionPrefix = "simulated:"
	simContentPrefix = "simulated-content:"
)

// llmKeyEnv holds the API key of --llm-endpoint.
const llmKeyEnv = "COORLOG_LLM_API_KEY"

func (l *llmFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&l.spec, "llm", "", simSessionPrefix+"ACC = a simulated LLM answering from the test labels with accuracy ACC, each session right or wrong at random; "+
		simContentPrefix+"ACC = the same with content-correlated errors: a share 1-ACC of session contents (sets of normalised lines) is answered wrong, for all their sessions (output marked simulated)")
	fs.StringVar(&l.endpoint, "llm-endpoint", "", "base URL of a real OpenAI-compatible API (key from $"+llmKeyEnv+")")
	fs.StringVar(&l.model, "llm-model", "", "model name for --llm-endpoint")
}

// validate parses --llm and checks the combination.
func (l *llmFlags) validate() error {
	if l.spec != "" && l.endpoint != "" {
		return fmt.Errorf("%w: give --llm or --llm-endpoint, not both", errUsage)
	}
	if l.spec != "" {
		rest, ok := strings.CutPrefix(l.spec, simSessionPrefix)
		if !ok {
			rest, ok = strings.CutPrefix(l.spec, simContentPrefix)
			l.content = ok
		}
		if !ok {
			return fmt.Errorf("%w: --llm %q: want %sACC or %sACC (use --llm-endpoint for a real LLM)", errUsage, l.spec, simSessionPrefix, simContentPrefix)
		}
		acc, err := strconv.ParseFloat(rest, 64)
		if err != nil || acc < 0 || acc > 1 || acc != acc {
			return fmt.Errorf("%w: --llm %q: accuracy must be a number in [0, 1]", errUsage, l.spec)
		}
		l.simulated, l.accuracy = true, acc
	}
	if l.endpoint != "" && l.model == "" {
		return fmt.Errorf("%w: --llm-endpoint needs --llm-model", errUsage)
	}
	if l.endpoint == "" && l.model != "" {
		return fmt.Errorf("%w: --llm-model needs --llm-endpoint", errUsage)
	}
	return nil
}

func (l *llmFlags) enabled() bool { return l.simulated || l.endpoint != "" }

// note is how LLM figures are labelled in output.
func (l *llmFlags) note() string {
	switch {
	case l.simulated && l.content:
		return fmt.Sprintf("simulated LLM (content-correlated errors, accuracy %.3g per session content, answers from test labels; tokens simulated)", l.accuracy)
	case l.simulated:
		return fmt.Sprintf("simulated LLM (accuracy %.3g, answers from test labels; tokens simulated)", l.accuracy)
	case l.endpoint != "":
		return fmt.Sprintf("real LLM %s at %s", l.model, l.endpoint)
	}
	return "no LLM: evolved sessions get the small model's verdict (route fallback)"
}
