module github.com/radinpaint/rad/examples/embed

go 1.22.0

require github.com/radinpaint/rad v0.0.0-00010101000000-000000000000

require (
	github.com/nlpodyssey/gopickle v0.2.0 // indirect
	golang.org/x/image v0.24.0 // indirect
)

// In this repository the example builds against the working tree; a
// program of your own leaves this out and runs
// go get github.com/radinpaint/rad@<version> (README).
replace github.com/radinpaint/rad => ../..
