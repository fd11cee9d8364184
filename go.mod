module github.com/radinpaint/rad

go 1.22.0

require (
	github.com/aquilax/go-perlin v1.1.0
	github.com/nlpodyssey/gopickle v0.2.0
	github.com/prometheus/client_golang v1.22.0
	github.com/urfave/cli/v2 v2.27.5
	golang.org/x/image v0.24.0
	gonum.org/v1/gonum v0.15.1
)

require (
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/cpuguy83/go-md2man/v2 v2.0.5 // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/prometheus/client_model v0.6.1 // indirect
	github.com/prometheus/common v0.62.0 // indirect
	github.com/prometheus/procfs v0.15.1 // indirect
	github.com/russross/blackfriday/v2 v2.1.0 // indirect
	github.com/xrash/smetrics v0.0.0-20240521201337-686a1a2994c1 // indirect
	golang.org/x/sys v0.30.0 // indirect
	google.golang.org/protobuf v1.36.5 // indirect
)
