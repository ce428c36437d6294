package model

import (
	"context"
	"encoding/binary"
	"hash/fnv"
	"math"
	"regexp"
	"slices"
	"sort"
	"sync"

	"github.com/coorlog/coorlogprocessor/model/internal/vec"
	"github.com/coorlog/coorlogprocessor/model/normalize"
)

// ReviewOptions configure how a Learner screens its unlabelled learning
// sessions before they enter the model as normal.
//
// DefaultReviewBudget is the share of learning sessions whose review may cost
// a Judge request, unless told otherwise.
const DefaultReviewBudget = 0.10

// Faults that happen while a Learner collects would otherwise become normal
// for good: the coordinator learns them as in-distribution and the kNN memory
// votes them normal (measured on HDFS: F1 0.26 with 23% of the learning
// sessions anomalous). The screen finds suspects (see suspicion), asks the
// Judge about the most suspicious contents within a budget, and keeps the
// suspects it could not review out of the model.
type ReviewOptions struct {
	// Off takes every learning session as normal, unscreened.
	Off bool
	// Budget is the share of learning sessions that may cost a Judge request;
	// default DefaultReviewBudget. A judged label covers every learning session of the same
	// content, so one request may settle many sessions.
	Budget float64
	// RareShare: a session with a line shape (normalize.Shape) seen in fewer
	// than this share of the learning sessions is a suspect; default 0.05.
	// Shapes, not templates: on a NATS server at trace level nearly every
	// normal session has a template of its own (payloads, inbox ids), which
	// made 1,343 of 1,464 learning sessions suspects; by shape the 10 fault
	// kinds are all suspects and only one normal kind (queue groups with five
	// group names) is.
	RareShare float64
	// Workers bound the concurrent Judge requests; default 4.
	Workers int
}

func (o ReviewOptions) withDefaults() ReviewOptions {
	if o.Budget <= 0 {
		o.Budget = DefaultReviewBudget
	}
	if o.RareShare <= 0 {
		o.RareShare = 0.05
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	return o
}

// ReviewStats count what the screen of one learning window did.
type ReviewStats struct {
	Sessions          int `json:"sessions"`           // learning sessions screened
	Suspects          int `json:"suspects"`           // found unusual
	Reviewed          int `json:"reviewed"`           // sessions whose label a Judge request settled (requests <= this)
	Requests          int `json:"requests"`           // Judge requests made
	ReviewedAnomalous int `json:"reviewed_anomalous"` // of Reviewed, judged anomalous: in the model with label 1
	ReviewErrors      int `json:"review_errors"`      // requests that failed: their sessions stay out
	HeldOut           int `json:"held_out"`           // suspects kept out of the model (no budget, no Judge, or an error)
}

// ScreenDecision is what the screen decided for one learning session.
type ScreenDecision struct {
	ID       string
	Included bool // entered the model (false: a suspect held out)
	Label    int  // its label in the model when included
	Judged   bool // the label came from the Judge
}

// sessionTraits are what the screen needs of a session, taken at collection
// from all its lines (the text kept for the memory is capped).
type sessionTraits struct {
	shapes  []uint64 // distinct line shapes (normalize.Shape), hashed
	set     uint64   // the set of shapes, hashed: the session's content by shape
	content string   // normalize.ContentKey: the one definition of a session's content
	level   bool     // a line logged at warning level or above
	lines   int
}

// levelRE matches a warning-or-worse level as log headers print it: a
// standalone upper-case word (WARN, [ERR]), a key/value or JSON level field,
// or klog's W/E/F prefix (E1202 14:00:29). Message words such as "error" in
// "no error" are not levels.
var levelRE = regexp.MustCompile(`^[WEF]\d{4} \d\d:\d\d:\d\d|(?:^|[\s\[(<|])(?:WARN|WARNING|WRN|ERROR|ERR|EROR|FATAL|FTL|CRIT|CRITICAL|SEVERE|PANIC|ALERT|EMERG)(?:$|[\s\]):>|])|(?i:"?\b(?:level|lvl|severity)"?\s*[:=]\s*"?(?:warn|warning|error|err|fatal|critical|crit|panic|alert|emerg)\b)`)

func traitsOf(lines []string) sessionTraits {
	t := sessionTraits{lines: len(lines)}
	seen := make(map[uint64]struct{}, len(lines))
	for _, l := range lines {
		h := fnv.New64a()
		h.Write([]byte(normalize.Shape(l)))
		k := h.Sum64()
		if _, ok := seen[k]; !ok {
			seen[k] = struct{}{}
			t.shapes = append(t.shapes, k)
		}
		if !t.level && levelRE.MatchString(l) {
			t.level = true
		}
	}
	t.content = normalize.ContentKey(lines)
	sorted := slices.Clone(t.shapes)
	slices.Sort(sorted)
	h := fnv.New64a()
	var b [8]byte
	for _, k := range sorted {
		binary.LittleEndian.PutUint64(b[:], k)
		h.Write(b[:])
	}
	t.set = h.Sum64()
	return t
}

// reviewPlan is the screen's decision for each learning session.
type reviewPlan struct {
	include []bool // enters the model
	label   []int  // its label when included
	judged  []bool // the label came from the Judge
	stats   ReviewStats
}

// contentGroup is the learning sessions of one content.
type contentGroup struct {
	members []int
	suspect bool
	score   float64 // higher = more suspicious
	cluster uint64  // the rarest shape: suspects that share it likely share a cause
}

// screen decides which learning sessions enter the model and with which
// label. A session is a suspect when it has a warning-or-worse line, a line
// shape rare among the learning sessions (RareShare), a rare set of shapes
// (common lines in a rare combination: on HDFS with 3% of the learning
// sessions anomalous, 7 of 33 anomalous blocks stopped after their first two
// events, and only this rule finds them), or an outlying line count. Suspect contents are reviewed in order of suspicion, one request per
// content, round-robin over clusters of the same rarest shape (so every
// cause gets a labelled example before any gets a second), until the budget
// is spent; unreviewed suspects stay out.
func screen(ctx context.Context, opts ReviewOptions, judge Judge, sessions []LabelledSession, vecs [][]float32, traits []sessionTraits) reviewPlan {
	n := len(sessions)
	p := reviewPlan{include: make([]bool, n), label: make([]int, n), judged: make([]bool, n)}
	p.stats.Sessions = n
	if opts.Off {
		for i := range p.include {
			p.include[i] = true
		}
		return p
	}
	opts = opts.withDefaults()

	df, setDF := map[uint64]int{}, map[uint64]int{}
	for _, t := range traits {
		for _, k := range t.shapes {
			df[k]++
		}
		setDF[t.set]++
	}
	lens := make([]float64, n)
	for i, t := range traits {
		lens[i] = float64(t.lines)
	}
	med, mad := medianMAD(lens)

	groups := map[string]*contentGroup{}
	var order []*contentGroup
	for i, t := range traits {
		g := groups[t.content]
		if g == nil {
			g = &contentGroup{}
			groups[t.content] = g
			order = append(order, g)
		}
		g.members = append(g.members, i)
		rarest, minDF := uint64(0), math.MaxInt
		for _, k := range t.shapes {
			if df[k] < minDF {
				rarest, minDF = k, df[k]
			}
		}
		rare := float64(minDF) < opts.RareShare*float64(n)
		rareSet := float64(setDF[t.set]) < opts.RareShare*float64(n)
		long := mad > 0 && math.Abs(lens[i]-med) > 5*mad
		if t.level || rare || rareSet || long {
			g.suspect = true
			g.cluster = rarest
			if !rare {
				g.cluster = t.set // common lines in a rare combination (e.g. a block that stopped early)
			}
		}
		// Suspicion: a warning level first, then rarer shapes or sets.
		s := -math.Log(float64(min(minDF, setDF[t.set])) / float64(n))
		if t.level {
			s += 100
		}
		g.score = max(g.score, s)
	}

	var suspects []*contentGroup
	for _, g := range order {
		if g.suspect {
			suspects = append(suspects, g)
			p.stats.Suspects += len(g.members)
		} else {
			for _, i := range g.members {
				p.include[i] = true
			}
		}
	}
	reviewOrder := roundRobin(suspects)
	budget := int(opts.Budget * float64(n))
	if judge == nil {
		budget = 0
	}
	toReview := reviewOrder[:min(budget, len(reviewOrder))]

	// Context for the Judge: the nearest sessions taken as normal.
	var normal []int
	for i, in := range p.include {
		if in {
			normal = append(normal, i)
		}
	}
	type answer struct {
		g   *contentGroup
		j   Judgement
		err error
	}
	answers := make([]answer, len(toReview))
	var wg sync.WaitGroup
	next := make(chan int)
	for range opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range next {
				g := toReview[k]
				rep := g.members[0]
				s := Session{ID: sessions[rep].ID, Lines: sessions[rep].Lines}
				j, err := judge.Judge(ctx, s, nearestNormal(vecs, normal, rep, sessions, 5))
				answers[k] = answer{g: g, j: j, err: err}
			}
		}()
	}
	for k := range toReview {
		if ctx.Err() != nil {
			break
		}
		next <- k
	}
	close(next)
	wg.Wait()

	for _, a := range answers {
		if a.g == nil {
			continue // cancelled before it was asked
		}
		p.stats.Requests++
		if a.err != nil {
			p.stats.ReviewErrors++
			continue
		}
		label := 0
		if a.j.Anomaly {
			label = 1
		}
		for _, i := range a.g.members {
			p.include[i], p.label[i], p.judged[i] = true, label, true
			p.stats.Reviewed++
			p.stats.ReviewedAnomalous += label
		}
	}
	for _, in := range p.include {
		if !in {
			p.stats.HeldOut++
		}
	}
	return p
}

// roundRobin orders suspect contents for review: clusters (same rarest
// shape) by their most suspicious content, then one content of each
// cluster per round, most suspicious first.
func roundRobin(suspects []*contentGroup) []*contentGroup {
	byCluster := map[uint64][]*contentGroup{}
	var clusters []uint64
	for _, g := range suspects {
		if _, ok := byCluster[g.cluster]; !ok {
			clusters = append(clusters, g.cluster)
		}
		byCluster[g.cluster] = append(byCluster[g.cluster], g)
	}
	for _, c := range clusters {
		gs := byCluster[c]
		sort.SliceStable(gs, func(a, b int) bool { return gs[a].score > gs[b].score })
	}
	sort.SliceStable(clusters, func(a, b int) bool { return byCluster[clusters[a]][0].score > byCluster[clusters[b]][0].score })
	var out []*contentGroup
	for round := 0; len(out) < len(suspects); round++ {
		for _, c := range clusters {
			if gs := byCluster[c]; round < len(gs) {
				out = append(out, gs[round])
			}
		}
	}
	return out
}

// nearestNormal returns up to k sessions taken as normal nearest to session
// i by cosine of their session vectors, as the Judge's context.
func nearestNormal(vecs [][]float32, normal []int, i int, sessions []LabelledSession, k int) []Neighbour {
	type cand struct {
		j   int
		sim float64
	}
	best := make([]cand, 0, k+1)
	for _, j := range normal {
		if j == i {
			continue
		}
		c := cand{j, vec.Cosine(vecs[i], vecs[j])}
		best = append(best, c)
		sort.Slice(best, func(a, b int) bool { return best[a].sim > best[b].sim })
		if len(best) > k {
			best = best[:k]
		}
	}
	out := make([]Neighbour, len(best))
	for x, c := range best {
		out[x] = Neighbour{ID: sessions[c.j].ID, Lines: slices.Clone(sessions[c.j].Lines), Label: 0, Similarity: c.sim}
	}
	return out
}

// medianMAD returns the median and the median absolute deviation of xs.
func medianMAD(xs []float64) (float64, float64) {
	if len(xs) == 0 {
		return 0, 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	med := s[len(s)/2]
	for i, x := range xs {
		s[i] = math.Abs(x - med)
	}
	slices.Sort(s)
	return med, s[len(s)/2]
}
