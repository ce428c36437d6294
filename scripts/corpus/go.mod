module github.com/coorlog/coorlogprocessor/scripts/corpus

go 1.26.0

require (
	github.com/coorlog/coorlogprocessor v0.0.0-00010101000000-000000000000
	github.com/miekg/dns v1.1.73
	github.com/nats-io/nats.go v1.37.0
	golang.org/x/crypto v0.58.0
)

require (
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/nats-io/nkeys v0.4.7 // indirect
	github.com/nats-io/nuid v1.0.1 // indirect
	golang.org/x/net v0.62.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
)

// The template report uses the project's own normaliser (model/normalize).
replace github.com/coorlog/coorlogprocessor => ../..
