package main

import (
	"encoding/json"
	"fmt"
	"os"
)

// Manifest fixes, before anything is measured, which servers, releases and
// session kinds the corpora are made of (manifest.json, committed).
type Manifest struct {
	Comment string   `json:"comment,omitempty"`
	Servers []Server `json:"servers"`
}

// Server is one open-source server and the releases of it that are built.
type Server struct {
	Name    string `json:"name"`
	Module  string `json:"module"`  // the Go module of the server
	Package string `json:"package"` // the main package installed with go install
	Binary  string `json:"binary"`  // the name go install gives the binary
	License string `json:"license"`
	// HeldOut marks a system kept out of tuning decisions: Caddy (out of
	// all but one, see README.md) and CoreDNS (added afterwards, untouched).
	HeldOut bool      `json:"held_out"`
	Client  string    `json:"client"` // the client that drives it (pinned in go.mod)
	Key     string    `json:"session_key"`
	Note    string    `json:"note,omitempty"`
	Release []Release `json:"releases"`
	Normal  []Kind    `json:"normal_kinds"`
	Faults  []Kind    `json:"fault_kinds"`
}

// Release is one release of a server.
type Release struct {
	Version string `json:"version"`
	Date    string `json:"date"` // the module proxy's time of the version
}

// Kind is one normal client behaviour or one injected fault.
type Kind struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Marker is a regular expression that must match a line of every
	// session of a fault kind (checked after each run).
	Marker string `json:"marker,omitempty"`
	// CompanionOf names the fault kind whose scenarios open this kind's
	// sessions as their second connection; such a kind is never planned
	// by itself.
	CompanionOf string `json:"companion_of,omitempty"`
}

// Planned returns the fault kinds that scenarios are drawn from.
func (s Server) Planned() []Kind {
	var out []Kind
	for _, f := range s.Faults {
		if f.CompanionOf == "" {
			out = append(out, f)
		}
	}
	return out
}

// Pair is an upgrade pair (older -> newer) of one server.
type Pair struct{ Old, New string }

// Pairs lists every ordered pair of the server's releases (older first).
func (s Server) Pairs() []Pair {
	var ps []Pair
	for i := 0; i < len(s.Release); i++ {
		for j := i + 1; j < len(s.Release); j++ {
			ps = append(ps, Pair{s.Release[i].Version, s.Release[j].Version})
		}
	}
	return ps
}

func loadManifest(path string) (*Manifest, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	held := 0
	for _, s := range m.Servers {
		if s.HeldOut {
			held++
		}
		if len(s.Release) < 2 {
			return nil, fmt.Errorf("%s: server %s needs at least two releases", path, s.Name)
		}
		if len(s.Planned()) < 5 {
			return nil, fmt.Errorf("%s: server %s needs at least five fault kinds", path, s.Name)
		}
	}
	if held < 1 || held == len(m.Servers) {
		return nil, fmt.Errorf("%s: at least one server must be held out and at least one tuned, got %d held out of %d", path, held, len(m.Servers))
	}
	return &m, nil
}

func (m *Manifest) server(name string) (*Server, error) {
	for i := range m.Servers {
		if m.Servers[i].Name == name {
			return &m.Servers[i], nil
		}
	}
	return nil, fmt.Errorf("no server %q in the manifest", name)
}
