// Command corpus builds labelled session corpora from real releases of real
// open-source servers (see README.md): it runs a release installed with go
// install, drives seeded client scenarios at it over 127.0.0.1, captures its
// debug log, cuts it into one session per connection and labels each session
// with the scenario that opened it.
//
//	corpus list   -manifest manifest.json
//	corpus build  -manifest manifest.json -server nats -version v2.8.4 -bin PATH -out out/corpus
//	corpus report -manifest manifest.json -out out/corpus
//	corpus evaltable -manifest manifest.json -eval out/corpus-eval   (eval.sh's table)
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "list":
		err = cmdList(os.Args[2:])
	case "build":
		err = cmdBuild(os.Args[2:])
	case "report":
		err = cmdReport(os.Args[2:])
	case "evaltable":
		err = cmdEvalTable(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "corpus:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: corpus list|build|report|evaltable [flags] (see README.md)")
	os.Exit(2)
}

// cmdList prints "server module package binary version date held_out" lines
// for run.sh.
func cmdList(args []string) error {
	fs := flag.NewFlagSet("list", flag.ExitOnError)
	man := fs.String("manifest", "manifest.json", "the manifest")
	fs.Parse(args)
	m, err := loadManifest(*man)
	if err != nil {
		return err
	}
	for _, s := range m.Servers {
		for _, r := range s.Release {
			fmt.Println(s.Name, s.Module, s.Package, s.Binary, r.Version, r.Date, s.HeldOut)
		}
	}
	return nil
}

func driverFor(name string) (Driver, KeyFunc, error) {
	switch name {
	case "nats":
		return &natsDriver{}, natsKey, nil
	case "caddy":
		return &caddyDriver{}, caddyKey, nil
	case "coredns":
		return &corednsDriver{}, corednsKey, nil
	}
	return nil, nil, fmt.Errorf("no driver for server %q", name)
}

func cmdBuild(args []string) error {
	fs := flag.NewFlagSet("build", flag.ExitOnError)
	man := fs.String("manifest", "manifest.json", "the manifest")
	server := fs.String("server", "", "server name of the manifest")
	version := fs.String("version", "", "release of the server")
	bin := fs.String("bin", "", "the installed server binary")
	out := fs.String("out", "out/corpus", "output root; writes OUT/SERVER/VERSION/")
	n := fs.Int("sessions", 600, "client scenarios to play (about one session each)")
	share := fs.Float64("anomalous", 0.17, "share of fault scenarios")
	seed := fs.Uint64("seed", 1, "seed of the scenario sequence")
	conc := fs.Int("concurrency", 16, "scenarios played at once")
	timeout := fs.Duration("timeout", 15*time.Minute, "time limit of the whole run")
	minMarker := fs.Float64("min-marker", 0.9, "fail when a fault kind's marker shows in fewer of its sessions than this share")
	fs.Parse(args)
	m, err := loadManifest(*man)
	if err != nil {
		return err
	}
	s, err := m.server(*server)
	if err != nil {
		return err
	}
	found := false
	for _, r := range s.Release {
		found = found || r.Version == *version
	}
	if !found {
		return fmt.Errorf("release %s of %s is not in the manifest", *version, *server)
	}
	if *bin == "" {
		return fmt.Errorf("-bin is required")
	}
	if *share < 0 || *share > 1 || *n < 1 || *conc < 1 {
		return fmt.Errorf("bad -sessions, -anomalous or -concurrency")
	}
	d, key, err := driverFor(s.Name)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sum, err := build(ctx, d, key, Options{
		Server: s, Version: *version, Bin: *bin, OutDir: filepath.Join(*out, s.Name, *version),
		Sessions: *n, Anomalous: *share, Seed: *seed, Concurrency: *conc, Timeout: *timeout,
	})
	if err != nil {
		return err
	}
	printSummary(sum)
	return checkMarkers(s, sum, *minMarker)
}

// checkMarkers fails the build when an injected fault did not make the
// server log what it should in at least min of its sessions, when a fault
// kind has no session, or when more than 1% of the normal sessions show a
// fault's marker (such sessions are left out of sessions.jsonl either way).
func checkMarkers(s *Server, sum *Summary, min float64) error {
	var bad []string
	for _, f := range s.Faults {
		ks := sum.Kinds[f.Name]
		if ks == nil || ks.Sessions+ks.Excluded == 0 {
			if sum.Planned >= 2*len(s.Planned()) && sum.Anomalous > 0 {
				bad = append(bad, f.Name+": no session")
			}
			continue
		}
		if all := ks.WithMarker + ks.Excluded; f.Marker != "" && float64(ks.WithMarker) < min*float64(all) {
			bad = append(bad, fmt.Sprintf("%s: marker in %d of %d sessions", f.Name, ks.WithMarker, all))
		}
	}
	normal, marked := 0, 0
	for _, ks := range sum.Kinds {
		if ks.Label == 0 {
			normal += ks.Sessions + ks.Excluded
			marked += ks.FaultMarkers
		}
	}
	if marked > 0 && float64(marked) > 0.01*float64(normal) {
		bad = append(bad, fmt.Sprintf("%d of %d normal sessions show a fault marker", marked, normal))
	}
	if len(bad) > 0 {
		return fmt.Errorf("%s %s: fault check failed: %v", sum.Server, sum.Version, bad)
	}
	return nil
}
