package masks

import (
	"bytes"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

func TestPerlinMasks(t *testing.T) {
	const n, size = 600, 64
	ms, err := GenerateMany(Perlin, size, 7, 0, n, 0)
	if err != nil {
		t.Fatal(err)
	}
	bins := make([]int, 10)
	agree, pairs := 0, 0
	for _, m := range ms {
		for _, v := range m.Pix {
			if v > 1 {
				t.Fatalf("non-binary value %d", v)
			}
		}
		f := m.HoleFraction()
		bins[min(9, int(f*10))]++
		// spatial coherence: horizontal neighbours agree far more often
		// than for independent pixels with the same fraction
		for y := 0; y < size; y++ {
			for x := 0; x+1 < size; x++ {
				if m.Pix[y*size+x] == m.Pix[y*size+x+1] {
					agree++
				}
				pairs++
			}
		}
	}
	for i, c := range bins {
		// uniform: 60 per bin; allow a wide band
		if c < 30 || c > 95 {
			t.Fatalf("hole fraction bin %d has %d of %d masks (bins %v)", i, c, n, bins)
		}
	}
	if r := float64(agree) / float64(pairs); r < 0.85 {
		t.Fatalf("neighbour agreement %.3f: masks are not spatially coherent", r)
	}
	// HoleFraction against an independent count (the exact rank of each
	// mask is tested in TestManySeedsStayExact)
	m, _ := Generate(Perlin, 100, 1, 3)
	holes := 0
	for _, v := range m.Pix {
		if v == 1 {
			holes++
		}
	}
	if m.HoleFraction() != float64(holes)/10000 || holes == 0 || holes == 10000 {
		t.Fatalf("HoleFraction %v for %d holes of 10000", m.HoleFraction(), holes)
	}
}

func TestSeedReproducibility(t *testing.T) {
	for _, k := range []Kind{Perlin, Box, Extreme, Wide} {
		a, _ := GenerateMany(k, 64, 42, 0, 20, 4)
		b, _ := GenerateMany(k, 64, 42, 0, 20, 1)
		c, _ := GenerateMany(k, 64, 43, 0, 20, 2)
		same, diff := true, false
		for i := range a {
			if !bytes.Equal(a[i].Pix, b[i].Pix) {
				same = false
			}
			if !bytes.Equal(a[i].Pix, c[i].Pix) {
				diff = true
			}
		}
		if !same {
			t.Fatalf("%s: same seed, different masks across worker counts", k)
		}
		if !diff {
			t.Fatalf("%s: seeds 42 and 43 give the same masks", k)
		}
	}
	if _, err := Generate("zigzag", 64, 1, 0); err == nil {
		t.Fatal("unknown kind accepted")
	}
	if _, err := Generate(Box, 4, 1, 0); err == nil {
		t.Fatal("size 4 accepted")
	}
}

// bbox returns the bounding box of pixels with value v and their count.
func bbox(m *Mask, v uint8) (x0, y0, x1, y1, n int) {
	x0, y0 = m.W, m.H
	for y := 0; y < m.H; y++ {
		for x := 0; x < m.W; x++ {
			if m.Pix[y*m.W+x] == v {
				x0, y0, x1, y1 = min(x0, x), min(y0, y), max(x1, x), max(y1, y)
				n++
			}
		}
	}
	return
}

func TestEvalMaskGeometry(t *testing.T) {
	for _, size := range []int{256, 128} {
		b := 128 * size / 256
		for i := 0; i < 20; i++ {
			m, _ := Generate(Box, size, 5, i)
			x0, y0, x1, y1, n := bbox(m, 1)
			if x1-x0+1 != b || y1-y0+1 != b || n != b*b {
				t.Fatalf("box %d at %d: bbox %dx%d, %d pixels", i, size, x1-x0+1, y1-y0+1, n)
			}
			e, _ := Generate(Extreme, size, 5, i)
			x0, y0, x1, y1, n = bbox(e, 0)
			if x1-x0+1 != b || y1-y0+1 != b || n != b*b {
				t.Fatalf("extreme %d at %d: kept region %dx%d, %d pixels", i, size, x1-x0+1, y1-y0+1, n)
			}
		}
	}
	var total float64
	for i := 0; i < 100; i++ {
		m, _ := Generate(Wide, 256, 9, i)
		f := m.HoleFraction()
		if f <= 0 || f >= 0.95 {
			t.Fatalf("wide mask %d covers %.3f", i, f)
		}
		total += f
	}
	// LaMa's thick 256 masks cover roughly a quarter to a third on average
	if avg := total / 100; avg < 0.1 || avg > 0.5 {
		t.Fatalf("wide masks cover %.3f on average", avg)
	}
}

func TestWriteSetAndPNGRoundTrip(t *testing.T) {
	dir := t.TempDir()
	if err := WriteSet(dir, Box, 64, 3, 3); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		f, err := os.Open(filepath.Join(dir, []string{"00000.png", "00001.png", "00002.png"}[i]))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		want, _ := Generate(Box, 64, 3, i)
		if got := FromImage(img); !bytes.Equal(got.Pix, want.Pix) {
			t.Fatalf("mask %d changed through PNG", i)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 3 {
		t.Fatalf("%d files", len(entries))
	}
}

// BenchmarkPerlin256 makes 256 x 256 Perlin masks on every core
// (GenerateMany); masks/s is the throughput.
func BenchmarkPerlin256(b *testing.B) {
	const batch = 64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := GenerateMany(Perlin, 256, 1, i*batch, batch, 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "masks/s")
}

// TestManySeedsStayExact: some seeds draw a (0, 0) Perlin gradient (NaN in
// go-perlin); every mask must still be binary with exactly the hole count
// its drawn fraction asks for. The count is made here pixel by pixel and
// the fraction re-drawn from the generator's stream (PerlinMask draws the
// cell size, the noise seed and the two offsets before it), independently
// of HoleFraction.
func TestManySeedsStayExact(t *testing.T) {
	const size, seed = 16, 11
	ms, err := GenerateMany(Perlin, size, seed, 0, 4000, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range ms {
		rng := rand.New(rand.NewPCG(seed, uint64(i)^0x9e3779b97f4a7c15))
		rng.Float64() // cell size
		rng.Int64()   // noise seed
		rng.Float64() // offsets
		rng.Float64()
		want := int(math.Round(rng.Float64() * size * size))
		holes := 0
		for _, v := range m.Pix {
			switch v {
			case 0:
			case 1:
				holes++
			default:
				t.Fatalf("mask %d: value %d", i, v)
			}
		}
		if holes != want {
			t.Fatalf("mask %d: %d holes, its fraction asks for %d", i, holes, want)
		}
	}
}

// TestStrokeMasks: thin masks are binary, deterministic and cover about
// 10%; mixed masks vary.
func TestStrokeMasks(t *testing.T) {
	for i := 0; i < 30; i++ {
		m, err := Generate(Thin, 256, 4, i)
		if err != nil {
			t.Fatal(err)
		}
		holes := 0
		for _, v := range m.Pix {
			if v > 1 {
				t.Fatalf("mask %d: value %d", i, v)
			}
			holes += int(v)
		}
		f := float64(holes) / float64(256*256)
		if f < 0.08 || f > 0.2 {
			t.Fatalf("thin mask %d covers %.3f", i, f)
		}
		again, _ := Generate(Thin, 256, 4, i)
		if !bytes.Equal(again.Pix, m.Pix) {
			t.Fatalf("thin mask %d is not deterministic", i)
		}
	}
	seen := map[float64]bool{}
	for i := 0; i < 40; i++ {
		m, err := Generate(Mixed, 64, 2, i)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, v := range m.Pix {
			n += int(v)
		}
		seen[float64(n)] = true
	}
	if len(seen) < 20 {
		t.Fatalf("mixed masks: only %d distinct hole counts in 40", len(seen))
	}
}

// TestLargeMasks checks the object-removal masks: large-box and object
// holes cover 10-18% of the image at several sizes, the object blob is one
// connected region that is not a box, and the training mix draws each of
// its parts.
func TestLargeMasks(t *testing.T) {
	for _, size := range []int{64, 256} {
		for _, kind := range []Kind{LargeBox, Object} {
			for i := 0; i < 20; i++ {
				m, err := Generate(kind, size, 3, i)
				if err != nil {
					t.Fatal(err)
				}
				f := m.HoleFraction()
				if f < 0.09 || f > 0.19 {
					t.Errorf("%s %d #%d: hole fraction %.3f outside [0.09, 0.19]", kind, size, i, f)
				}
				if kind == Object {
					minX, minY, maxX, maxY := size, size, -1, -1
					for y := 0; y < size; y++ {
						for x := 0; x < size; x++ {
							if m.Pix[y*size+x] == 1 {
								minX, minY, maxX, maxY = min(minX, x), min(minY, y), max(maxX, x), max(maxY, y)
							}
						}
					}
					bbox := float64((maxX-minX+1)*(maxY-minY+1)) / float64(size*size)
					if f > 0.9*bbox {
						t.Errorf("object %d #%d: fills %.2f of its bounding box, a box not a blob", size, i, f/bbox)
					}
				}
			}
		}
	}
	var fracs []float64
	for i := 0; i < 200; i++ {
		m, err := Generate(LargeMix, 64, 1, i)
		if err != nil {
			t.Fatal(err)
		}
		fracs = append(fracs, m.HoleFraction())
	}
	big := 0
	for _, f := range fracs {
		if f >= 0.1 {
			big++
		}
	}
	if big < 60 {
		t.Errorf("large-mix: only %d of 200 masks hold 10%% or more", big)
	}
}

// TestFullMask: the full kind is all hole, at any size and index.
func TestFullMask(t *testing.T) {
	for _, size := range []int{8, 32, 33} {
		m, err := Generate(Full, size, 1, size)
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range m.Pix {
			if v != 1 {
				t.Fatalf("size %d: pixel %d is %v", size, i, v)
			}
		}
	}
}
