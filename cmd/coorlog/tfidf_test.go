package main

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/coorlog/coorlogprocessor/internal/dataset"
	"github.com/coorlog/coorlogprocessor/model"
)

func TestTFIDFTokens(t *testing.T) {
	got := tfidfTokens([]string{"[INF] 10.0.0.1:4222 - cid:17 - Client connection closed: Stale Connection"})
	want := []string{"inf", "<ip>", "cid", "<num>", "client", "connection", "closed", "stale", "connection"}
	if !slices.Equal(got, want) {
		t.Fatalf("tokens %q, want %q", got, want)
	}
}

func TestTFIDFKNN(t *testing.T) {
	mk := func(id string, label int, lines ...string) dataset.Session {
		return dataset.Session{ID: id, Label: label, Lines: lines}
	}
	var train []dataset.Session
	for i := range 6 {
		train = append(train, mk("n", 0, "client connected", "sent 3 messages", "client closed"))
		if i < 3 {
			train = append(train, mk("a", 1, "client connected", "authorization violation", "client closed"))
		}
	}
	m := trainTFIDFKNN(train, tfidfK)
	// idf: "client" is in every session, "authorization" in 3 of 9.
	if idf := m.idf[m.vocab["client"]]; math.Abs(idf-1) > 1e-12 {
		t.Errorf("idf of a term in every session %v, want 1", idf)
	}
	if idf := m.idf[m.vocab["authorization"]]; math.Abs(idf-(math.Log(10.0/4)+1)) > 1e-12 {
		t.Errorf("idf %v", idf)
	}
	ctx := context.Background()
	check := func(lines []string, want bool, score float64) {
		t.Helper()
		v, err := m.Detect(ctx, model.Session{Lines: lines})
		if err != nil || v.Anomaly != want || math.Abs(v.Score-score) > 1e-12 || v.Route != "tfidf_knn" {
			t.Errorf("%q: %+v %v, want anomaly %v score %v", lines, v, err, want, score)
		}
	}
	// The three anomalous sessions are the nearest (identical), then two
	// normal ones: 3 of 5.
	check([]string{"client connected", "authorization violation", "client closed"}, true, 0.6)
	check([]string{"client connected", "sent 12 messages", "client closed"}, false, 0)
	// A new release adds a context field: unseen tokens are ignored, the
	// fault token still decides.
	check([]string{"client connected version=2.10", "authorization violation user=bob", "client closed"}, true, 0.6)
	// Nothing known: every similarity is 0, the first five sessions in
	// training order vote (n a n a n: 2 of 5).
	check([]string{"zzz"}, false, 0.4)
	// Fewer sessions than k: all of them vote.
	small := trainTFIDFKNN(train[:2], tfidfK)
	if v, _ := small.Detect(ctx, model.Session{Lines: []string{"authorization violation"}}); v.Anomaly || v.Score != 0.5 {
		t.Errorf("two sessions, one of each label: %+v (a tie is normal)", v)
	}
}
