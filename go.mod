module github.com/radinpaint/rad

go 1.22.0

require (
	github.com/aquilax/go-perlin v1.1.0
	github.com/nlpodyssey/gopickle v0.2.0
	github.com/urfave/cli/v2 v2.27.5
	golang.org/x/image v0.24.0
	gonum.org/v1/gonum v0.15.1
)

require (
	github.com/cpuguy83/go-md2man/v2 v2.0.5 // indirect
	github.com/prometheus/client_golang v1.22.0 // indirect
	github.com/russross/blackfriday/v2 v2.1.0 // indirect
	github.com/xrash/smetrics v0.0.0-20240521201337-686a1a2994c1 // indirect
)
