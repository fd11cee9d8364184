package radmodel

import (
	"testing"
	"time"

	"github.com/radinpaint/rad/torch"
)

// benchForward times one no-grad forward of a random-weight model at
// batch b (images of the config's size, random timesteps).
func benchForward(bm *testing.B, cfg Config, b int64) { benchForwardWith(bm, cfg, b, ForwardOpts{}) }

// benchForwardWith is benchForward with forward options.
func benchForwardWith(bm *testing.B, cfg Config, b int64, o ForwardOpts) {
	m, err := NewRandom(cfg, torch.CPU, torch.Float32, 1)
	if err != nil {
		bm.Fatal(err)
	}
	defer m.Close()
	s := torch.NewNoGradScope().SetInference(true)
	defer s.Close()
	g := torch.NewGenerator(2)
	defer g.Close()
	size := int64(cfg.ImageSize)
	x := s.Randn(g, torch.Float32, torch.CPU, b, int64(cfg.InChannels), size, size)
	t := s.RandInt(g, 0, 1000, torch.CPU, b)
	var y *torch.Tensor
	if cfg.NumClasses > 0 {
		y = s.RandInt(g, 0, int64(cfg.NumClasses), torch.CPU, b)
	}
	noErr(bm, s)
	bm.ResetTimer()
	for i := 0; i < bm.N; i++ {
		c := s.Child()
		m.ForwardWith(c, x, t, y, o)
		if err := c.Err(); err != nil {
			bm.Fatal(err)
		}
		c.Close()
	}
}

func benchConfig(bm *testing.B, name string) Config {
	if name == "pub_b" {
		return fixtureConfig(bm, name)
	}
	c, err := Preset(name)
	if err != nil {
		bm.Fatal(err)
	}
	return c
}

func BenchmarkForwardPubB1(b *testing.B)     { benchForward(b, benchConfig(b, "pub_b"), 1) }
func BenchmarkForwardPubB4(b *testing.B)     { benchForward(b, benchConfig(b, "pub_b"), 4) }
func BenchmarkForwardFFHQ256x1(b *testing.B) { benchForward(b, benchConfig(b, "ffhq_10m"), 1) }
func BenchmarkForwardFFHQ256x4(b *testing.B) { benchForward(b, benchConfig(b, "ffhq_10m"), 4) }

// channels-last activations (ForwardOpts.ChannelsLast)
func BenchmarkForwardCLPubB1(b *testing.B) {
	benchForwardWith(b, benchConfig(b, "pub_b"), 1, ForwardOpts{ChannelsLast: true})
}
func BenchmarkForwardCLFFHQ256x1(b *testing.B) {
	benchForwardWith(b, benchConfig(b, "ffhq_10m"), 1, ForwardOpts{ChannelsLast: true})
}

// benchSpatialOverhead alternates scalar-timestep and spatial-map forwards
// of the same random-weight model on the same input (side by side in one
// run) and reports both times and the spatial embedding's overhead. The
// map is a box hole at step 500 on clean pixels (two distinct values: the
// fast path) or, with plain, the per-pixel reference path.
func benchSpatialOverhead(bm *testing.B, cfg Config, size, b int64, plain bool) {
	m, err := NewRandom(cfg, torch.CPU, torch.Float32, 1)
	if err != nil {
		bm.Fatal(err)
	}
	defer m.Close()
	s := torch.NewNoGradScope().SetInference(true)
	defer s.Close()
	g := torch.NewGenerator(2)
	defer g.Close()
	x := s.Randn(g, torch.Float32, torch.CPU, b, int64(cfg.InChannels), size, size)
	t := s.Full(500, torch.Float32, torch.CPU, b)
	tau := s.Full(-1, torch.Float32, torch.CPU, b, 1, size, size)
	hole := s.Narrow(s.Narrow(tau, 2, size/4, size/2), 3, size/4, size/2)
	if err := hole.Fill(500); err != nil {
		bm.Fatal(err)
	}
	noErr(bm, s)
	var scalarNs, spatialNs int64
	bm.ResetTimer()
	for i := 0; i < bm.N; i++ {
		for _, spatial := range []bool{false, true} {
			c := s.Child()
			start := time.Now()
			if spatial {
				m.ForwardWith(c, x, tau, nil, ForwardOpts{PlainSpatial: plain, TauLevels: []float64{-1, 500}})
			} else {
				m.Forward(c, x, t, nil)
			}
			el := time.Since(start).Nanoseconds()
			if err := c.Err(); err != nil {
				bm.Fatal(err)
			}
			c.Close()
			if spatial {
				spatialNs += el
			} else {
				scalarNs += el
			}
		}
	}
	bm.ReportMetric(float64(scalarNs)/float64(bm.N)/1e6, "scalar-ms")
	bm.ReportMetric(float64(spatialNs)/float64(bm.N)/1e6, "spatial-ms")
	bm.ReportMetric(100*(float64(spatialNs)/float64(scalarNs)-1), "overhead-%")
}

func BenchmarkSpatialOverheadPubB(b *testing.B) {
	benchSpatialOverhead(b, benchConfig(b, "pub_b"), 32, 1, false)
}
func BenchmarkSpatialOverheadFFHQ64(b *testing.B) {
	benchSpatialOverhead(b, benchConfig(b, "ffhq_10m"), 64, 1, false)
}
func BenchmarkSpatialOverheadFFHQ256(b *testing.B) {
	benchSpatialOverhead(b, benchConfig(b, "ffhq_10m"), 256, 1, false)
}
func BenchmarkSpatialPlainFFHQ64(b *testing.B) {
	benchSpatialOverhead(b, benchConfig(b, "ffhq_10m"), 64, 1, true)
}
