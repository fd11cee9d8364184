package radmodel

import (
	"testing"

	"github.com/radinpaint/rad/torch"
)

// benchForward times one no-grad forward of a random-weight model at
// batch b (images of the config's size, random timesteps).
func benchForward(bm *testing.B, cfg Config, b int64) {
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
		m.Forward(c, x, t, y)
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
