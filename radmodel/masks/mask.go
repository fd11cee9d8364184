package masks

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/radinpaint/rad/internal/atomicfile"
)

// Mask is a binary H x W mask in row-major order: 1 = hole, 0 = keep.
type Mask struct {
	W, H int
	Pix  []uint8
}

// New returns an all-keep mask.
func New(w, h int) *Mask { return &Mask{W: w, H: h, Pix: make([]uint8, w*h)} }

// HoleFraction is the fraction of pixels in the hole.
func (m *Mask) HoleFraction() float64 {
	n := 0
	for _, v := range m.Pix {
		n += int(v)
	}
	return float64(n) / float64(len(m.Pix))
}

// Image renders the mask as an 8-bit gray image, white (255) = hole.
func (m *Mask) Image() *image.Gray {
	img := image.NewGray(image.Rect(0, 0, m.W, m.H))
	for i, v := range m.Pix {
		img.Pix[i] = v * 255
	}
	return img
}

// FromImage reads a mask from an image: a pixel is a hole when its gray
// level is >= 128 (the first channel's 8-bit value for colour images).
func FromImage(img image.Image) *Mask {
	b := img.Bounds()
	m := New(b.Dx(), b.Dy())
	for y := 0; y < m.H; y++ {
		for x := 0; x < m.W; x++ {
			g := color.GrayModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.Gray)
			if g.Y >= 128 {
				m.Pix[y*m.W+x] = 1
			}
		}
	}
	return m
}

// WritePNG writes the mask as a PNG, atomically.
func (m *Mask) WritePNG(path string) error {
	return atomicfile.Write(path, func(w io.Writer) error { return png.Encode(w, m.Image()) })
}

// Kind names a mask generator.
type Kind string

const (
	Perlin  Kind = "perlin"
	Box     Kind = "box"
	Extreme Kind = "extreme"
	Wide    Kind = "wide"
	// Thin is thin strokes (4-8 px, about 10% of the image): wires and
	// scratches.
	Thin Kind = "thin"
	// Mixed is Perlin, stroke and wide masks (the natural-photo model's
	// training masks).
	Mixed Kind = "mixed"
	// LargeBox is one object-sized box of 10-18% (object removal).
	LargeBox Kind = "large-box"
	// Object is an object-shaped blob of 10-18% (object removal).
	Object Kind = "object"
	// LargeMix is Mixed with LaMa's boxes and object blobs added (the
	// training masks of the object-removal model).
	LargeMix Kind = "large-mix"
	// Full makes the whole image the hole: inpainting becomes
	// unconditional generation (the FID of a base model's own samples).
	Full Kind = "full"
)

// Kinds lists the mask kinds.
var Kinds = []Kind{Perlin, Box, Extreme, Wide, Thin, Mixed, LargeBox, Object, LargeMix, Full}

// Generate makes mask number index of a seeded sequence of the given kind
// and size (square). The same (kind, size, seed, index) always gives the
// same mask.
func Generate(kind Kind, size int, seed uint64, index int) (*Mask, error) {
	if size < 8 {
		return nil, fmt.Errorf("mask size %d is too small (>= 8)", size)
	}
	rng := rand.New(rand.NewPCG(seed, uint64(index)^0x9e3779b97f4a7c15))
	switch kind {
	case Perlin:
		return PerlinMask(size, size, rng), nil
	case Box:
		return BoxMask(size, rng), nil
	case Extreme:
		return ExtremeMask(size, rng), nil
	case Wide:
		return WideMask(size, rng), nil
	case Thin:
		return ThinMask(size, rng), nil
	case Mixed:
		return MixedMask(size, rng), nil
	case LargeBox:
		return LargeBoxMask(size, rng), nil
	case Object:
		return ObjectMask(size, rng), nil
	case LargeMix:
		return LargeMixMask(size, rng), nil
	case Full:
		m := New(size, size)
		for i := range m.Pix {
			m.Pix[i] = 1
		}
		return m, nil
	}
	return nil, fmt.Errorf("unknown mask kind %q (want perlin, box, extreme, wide, thin, mixed, large-box, object, large-mix or full)", kind)
}

// GenerateMany makes masks index0..index0+n-1 on `workers` goroutines
// (GOMAXPROCS if <= 0), in order.
func GenerateMany(kind Kind, size int, seed uint64, index0, n, workers int) ([]*Mask, error) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	out := make([]*Mask, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out[i], errs[i] = Generate(kind, size, seed, index0+i)
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// WriteSet writes n masks as dir/00000.png, dir/00001.png, ...
func WriteSet(dir string, kind Kind, size int, seed uint64, n int) error {
	if n < 0 {
		return fmt.Errorf("mask count %d < 0", n)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	const chunk = 256
	for start := 0; start < n; start += chunk {
		k := min(chunk, n-start)
		ms, err := GenerateMany(kind, size, seed, start, k, 0)
		if err != nil {
			return err
		}
		for i, m := range ms {
			if err := m.WritePNG(filepath.Join(dir, fmt.Sprintf("%05d.png", start+i))); err != nil {
				return err
			}
		}
	}
	return nil
}
