// Package model is the CoorLog cascade, usable without the collector: a
// session of raw log lines goes in, a verdict comes out. Its shared types
// live in the leaf package model/core (the processor package depends only on
// core.Detector); model never imports pdata.
//
//	lines ─▶ Encoder (normalise, cache, BERT) ─▶ mean ─▶ Coordinator (autoencoder, tau)
//	                                                     ├─ not evolved ─▶ small model + kNN vote
//	                                                     └─ evolved ─────▶ LLM (Evol-CoT) ─▶ AEM
package model

import "github.com/coorlog/coorlogprocessor/model/core"

// The cascade's names for the shared types of model/core.
type (
	Session   = core.Session
	Route     = core.Route
	Verdict   = core.Verdict
	Detector  = core.Detector
	Encoder   = core.Encoder
	Neighbour = core.Neighbour
	Judgement = core.Judgement
	Judge     = core.Judge
)

// Routes (see core.Route).
const (
	RouteSmallModel = core.RouteSmallModel
	RouteLLM        = core.RouteLLM
	RouteCache      = core.RouteCache
	RouteFallback   = core.RouteFallback
	RoutePending    = core.RoutePending
)
