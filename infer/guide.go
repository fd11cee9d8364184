package infer

import (
	"context"
	"fmt"
	"image"
	"math"
)

// Init is how the hole's pixels start the reverse process
// (Options.Init; docs/DESIGN.md §4.8).
type Init string

const (
	// InitDefault is DefaultInit.
	InitDefault Init = ""
	// InitNoise starts every hole pixel from pure noise at the top of
	// phase 1 (RAD's own start).
	InitNoise Init = "noise"
	// InitHarmonic starts each hole pixel from the membrane (harmonic)
	// fill of the hole from its border, partly noised: the pixel runs
	// RAD's per-pixel schedule with a level s up to InitStrength (growing
	// with its distance from the known region) instead of 1, so it starts
	// at sqrt(A) fill + sqrt(1 - A) eps with A = 1 - nu s and is
	// regenerated from there.
	InitHarmonic Init = "harmonic"
	// InitEdges is InitHarmonic with the edges that cross the hole
	// continued: straight segments join the places where an edge of the
	// known region enters and leaves the hole, each side of a segment is
	// filled from its own side's colours, and the membrane fills the rest
	// (edgeFill, docs/DESIGN.md §4.8).
	InitEdges Init = "edges"
)

// DefaultInit is the start of Options.Init's zero value: the one that
// measured best on held-out large holes without losing thin strokes
// (docs/RESULTS.md §1b). The edge fill is the membrane wherever it finds
// no edge to continue; where it finds one it draws it (the demo picture's
// horizon) and on photos it measured neutral to better.
const DefaultInit = InitEdges

// ParseInit reads "default" (or ""), "noise", "harmonic" and "edges".
func ParseInit(s string) (Init, error) {
	switch s {
	case "", "default":
		return InitDefault, nil
	case "noise", "harmonic", "edges":
		return Init(s), nil
	}
	return "", fmt.Errorf("unknown init %q (want default, noise, harmonic or edges)", s)
}

// resolve is i with InitDefault replaced by DefaultInit.
func (i Init) resolve() Init {
	if i == InitDefault {
		return DefaultInit
	}
	return i
}

// DefaultInitStrength is the level a guided start gives the hole pixels
// farthest from the known region (Options.InitStrength). 0.35 beat 0.5 on
// the 14 held-out large holes at 256 (docs/RESULTS.md §1b: +0.27 ± 0.08
// dB hole PSNR, paired), and 0.5 had beaten 0.85 and 0.97 at 128.
const DefaultInitStrength = 0.35

// DefaultSteps is the number of RAD steps from pure noise (the paper's
// 100) and DefaultGuidedSteps the number from a guided start (Options.Steps
// 0). A guided start puts the hole at a level of at most InitStrength,
// about the chain's first fifth in the base chain's terms, so 100 steps
// over it are several times denser than 100 steps over the whole chain;
// 25 measured as good as 100 on held-out large holes and thin strokes
// (docs/RESULTS.md §1b) at a quarter of the time.
const (
	DefaultSteps       = 100
	DefaultGuidedSteps = 25
)

// defaultSteps is Options.Steps's default for a start that is guided or not.
func defaultSteps(guided bool) int {
	if guided {
		return DefaultGuidedSteps
	}
	return DefaultSteps
}

// SamplingSteps is the number of steps a RAD or RAD-DDIM sample with these
// options takes at the finest level: Steps when set, else DefaultSteps from
// pure noise (Init noise) and DefaultGuidedSteps from a guided start.
// (Coarse-to-fine's finer levels start guided whatever Init says.)
func (o Options) SamplingSteps() int {
	if o.Steps != 0 {
		return o.Steps
	}
	return defaultSteps(o.Init.resolve() != InitNoise)
}

// DefaultCoarseReach is CoarseReach's default in units of the model's
// training size: the distance over which a guided start's levels grow is
// a quarter of it. Coarse-to-fine's auto mode starts only with an explicit
// CoarseReach (when the hole's largest distance to a known pixel is above
// it): at this default reach (64 px for the photo model then; 128 px
// since its 128 px stage) it measured worse
// than one level from the guided start both on 72-104 px boxes at 256 and
// on 166-217 px boxes at 512 (-0.29 ± 0.11 dB, paired, at 1.3 times the
// time; docs/RESULTS.md §1b).
const DefaultCoarseReach = 1.0

// DefaultRefineStrength is the level of the hole pixels when a finer level
// of coarse-to-fine regenerates the upsampled coarser result.
const DefaultRefineStrength = 0.35

// harmonicFill returns x [C,h,w] with every unknown pixel replaced by the
// solution of Laplace's equation with the known pixels as boundary values
// (the membrane interpolant; image borders are free, Neumann). It solves a
// pyramid coarse to fine: each level starts from the upsampled coarser
// solution and relaxes with successive over-relaxation, so the cost is a
// few sweeps per level. Without any known pixel the fill is 0.
func harmonicFill(x []float32, known []bool, c, w, h int) []float32 {
	out := make([]float32, len(x))
	copy(out, x)
	hasKnown := false
	for _, k := range known {
		hasKnown = hasKnown || k
	}
	if !hasKnown {
		for i, k := range known {
			if !k {
				for ch := 0; ch < c; ch++ {
					out[ch*w*h+i] = 0
				}
			}
		}
		return out
	}
	for ch := 0; ch < c; ch++ {
		plane := make([]float64, w*h)
		for i := range plane {
			plane[i] = float64(x[ch*w*h+i])
		}
		membrane(plane, known, w, h)
		for i, k := range known {
			if !k {
				out[ch*w*h+i] = float32(plane[i])
			}
		}
	}
	return out
}

// membrane solves one plane in place (unknown pixels only).
func membrane(v []float64, known []bool, w, h int) {
	// a coarser level first, when the hole is more than a few pixels wide
	if w > 8 && h > 8 {
		cw, ch := (w+1)/2, (h+1)/2
		cv := make([]float64, cw*ch)
		ck := make([]bool, cw*ch)
		for y := 0; y < ch; y++ {
			for x := 0; x < cw; x++ {
				var sum float64
				n := 0
				for dy := 0; dy < 2; dy++ {
					for dx := 0; dx < 2; dx++ {
						sy, sx := 2*y+dy, 2*x+dx
						if sy < h && sx < w && known[sy*w+sx] {
							sum += v[sy*w+sx]
							n++
						}
					}
				}
				if n > 0 {
					cv[y*cw+x], ck[y*cw+x] = sum/float64(n), true
				}
			}
		}
		membrane(cv, ck, cw, ch)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				if !known[y*w+x] {
					v[y*w+x] = cv[(y/2)*cw+x/2]
				}
			}
		}
	} else {
		// the coarsest level starts from the known mean
		var sum float64
		n := 0
		for i, k := range known {
			if k {
				sum += v[i]
				n++
			}
		}
		for i, k := range known {
			if !k && n > 0 {
				v[i] = sum / float64(n)
			}
		}
	}
	sweeps := 40
	if w <= 8 || h <= 8 {
		sweeps = 200
	}
	const omega = 1.7
	for it := 0; it < sweeps; it++ {
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				i := y*w + x
				if known[i] {
					continue
				}
				var sum float64
				n := 0
				if x > 0 {
					sum += v[i-1]
					n++
				}
				if x+1 < w {
					sum += v[i+1]
					n++
				}
				if y > 0 {
					sum += v[i-w]
					n++
				}
				if y+1 < h {
					sum += v[i+w]
					n++
				}
				if n > 0 {
					v[i] += omega * (sum/float64(n) - v[i])
				}
			}
		}
	}
}

// distanceToKnown is each pixel's Euclidean distance (chamfer 3-4
// approximation, in pixels) to the nearest known pixel; known pixels are 0.
// Without any known pixel every distance is w + h.
func distanceToKnown(known []bool, w, h int) []float64 {
	const inf = math.MaxInt32 / 2
	d := make([]int, w*h)
	for i, k := range known {
		if !k {
			d[i] = inf
		}
	}
	relax := func(i, j, cost int) {
		if d[j]+cost < d[i] {
			d[i] = d[j] + cost
		}
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := y*w + x
			if x > 0 {
				relax(i, i-1, 3)
			}
			if y > 0 {
				relax(i, i-w, 3)
				if x > 0 {
					relax(i, i-w-1, 4)
				}
				if x+1 < w {
					relax(i, i-w+1, 4)
				}
			}
		}
	}
	for y := h - 1; y >= 0; y-- {
		for x := w - 1; x >= 0; x-- {
			i := y*w + x
			if x+1 < w {
				relax(i, i+1, 3)
			}
			if y+1 < h {
				relax(i, i+w, 3)
				if x+1 < w {
					relax(i, i+w+1, 4)
				}
				if x > 0 {
					relax(i, i+w-1, 4)
				}
			}
		}
	}
	out := make([]float64, w*h)
	for i, v := range d {
		if v >= inf {
			out[i] = float64(w + h)
		} else {
			out[i] = float64(v) / 3
		}
	}
	return out
}

// guidedStart turns a run's inputs (x [C,h,w], levels m [h,w]) into a
// guided start: the hole pixels (m >= 0.5) take the guess's values and
// the level strength(d), which grows from lo at the hole's border to hi
// at distance reach and beyond (d: the pixel's distance to the known
// region); other pixels keep theirs. Run through RAD's sampler, a pixel
// of level s < 1 starts at sqrt(A) guess + sqrt(1 - A) eps with A =
// 1 - nu s (nu: the chain's total noise) and follows its own schedule
// to 0 (docs/DESIGN.md §4.8).
func guidedStart(x, m, guess []float32, c, w, h int, lo, hi, reach float64) ([]float32, []float32) {
	known := make([]bool, w*h)
	for i, v := range m {
		known[i] = v < 0.5
	}
	dist := distanceToKnown(known, w, h)
	gx := make([]float32, len(x))
	copy(gx, x)
	gm := make([]float32, len(m))
	copy(gm, m)
	for i, k := range known {
		if k {
			continue
		}
		f := 1.0
		if reach > 0 {
			f = math.Min(1, math.Max(0, dist[i]-1)/reach)
		}
		// a few distinct levels: the model's spatial embedding then runs
		// once per level, not per pixel (radmodel.MaxFastLevels)
		f = math.Round(f*(guideLevels-1)) / (guideLevels - 1)
		gm[i] = float32(lo + (hi-lo)*f)
		for ch := 0; ch < c; ch++ {
			gx[ch*w*h+i] = guess[ch*w*h+i]
		}
	}
	return gx, gm
}

// guideLevels is the number of distinct levels of a guided start's hole
// (with the known pixels' 0, within radmodel.MaxFastLevels).
const guideLevels = 3

// maxHoleDistance is the largest distance from a hole pixel (m >= 0.5) to
// a known pixel: how far the model must carry the context.
func maxHoleDistance(m []float32, w, h int) float64 {
	known := make([]bool, w*h)
	for i, v := range m {
		known[i] = v < 0.5
	}
	best := 0.0
	for _, d := range distanceToKnown(known, w, h) {
		best = math.Max(best, d)
	}
	return best
}

// checkGuide validates the guided-start options.
func checkGuide(o Options) error {
	if _, err := ParseInit(string(o.Init)); err != nil {
		return fmt.Errorf("inpaint: %w", err)
	}
	if _, err := ParseSwitch(string(o.CoarseToFine)); err != nil {
		return fmt.Errorf("inpaint: coarse-to-fine: %w", err)
	}
	for _, v := range []struct {
		name string
		v    float64
	}{{"init strength", o.InitStrength}, {"refine strength", o.RefineStrength}} {
		if !(v.v >= 0 && v.v <= 1) {
			return fmt.Errorf("inpaint: %s %g must be in (0, 1] (0: the default)", v.name, v.v)
		}
	}
	if !(o.CoarseReach >= 0) || math.IsInf(o.CoarseReach, 0) {
		return fmt.Errorf("inpaint: coarse reach %g must be >= 0 (0: the default)", o.CoarseReach)
	}
	return nil
}

// guide prepares a run's start at the working size w x h: with
// coarse-to-fine, a coarser level is inpainted first (Inpaint on the
// image at half the size) and its upsampled result becomes the guided
// start; with InitHarmonic the membrane fill does. It returns the new
// inputs and what the coarser levels cost.
func (ip *Inpainter) guide(ctx context.Context, x, m []float32, w, h int, res Resolution, o Options) ([]float32, []float32, coarseCost, error) {
	cfg := ip.model.Config()
	c := cfg.InChannels
	reach := o.CoarseReach
	if reach == 0 {
		reach = float64(cfg.ImageSize) * DefaultCoarseReach
	}
	known := make([]bool, w*h)
	holes := 0
	for i, v := range m {
		known[i] = v < 0.5
		if !known[i] {
			holes++
		}
	}
	if holes == 0 {
		return x, m, coarseCost{}, nil
	}
	coarse := res == ResolutionNative && o.CoarseToFine != SwitchOff && min(w, h)/2 >= cfg.ImageSize/2 &&
		(o.CoarseToFine == SwitchOn || o.CoarseReach > 0 && maxHoleDistance(m, w, h) > reach)
	if !coarse && o.Init.resolve() == InitNoise {
		return x, m, coarseCost{}, nil
	}
	// the guided start itself: the membrane fill (or the edge fill) of
	// the hole, partly noised; no content under a hole is ever read
	if !coarse {
		hi := o.InitStrength
		if hi == 0 {
			hi = DefaultInitStrength
		}
		var fill []float32
		if o.Init.resolve() == InitEdges {
			fill, _ = edgeFill(x, known, c, w, h)
		} else {
			fill = harmonicFill(x, known, c, w, h)
		}
		gx, gm := guidedStart(x, m, fill, c, w, h, hi/2, hi, reach/4)
		return gx, gm, coarseCost{}, nil
	}
	// coarse-to-fine: the coarser level's input under the hole is the
	// membrane fill
	fill := harmonicFill(x, known, c, w, h)
	cw, chh := (w+1)/2, (h+1)/2
	small := resizeRGBA(chwToRGBA(fill, c, w, h), cw, chh)
	sm := resizeMask(m, w, h, cw, chh)
	mask := image.NewGray(image.Rect(0, 0, cw, chh))
	for i, v := range sm {
		if v >= 0.5 {
			mask.Pix[i] = 255
		}
	}
	co := o
	co.MaxSide, co.Average, co.Progress, co.Preview = 0, 1, nil, nil
	co.InvertMask, co.SoftMask = false, false
	co.Resolution = ResolutionNative
	co.Seed = o.Seed ^ 0x5bd1e995 // the coarser level's own noise
	out, st, err := ip.Inpaint(ctx, small, mask, co)
	if err != nil {
		return nil, nil, coarseCost{}, err
	}
	guess := rgbaToCHW(resizeRGBA(out, w, h), c)
	strength := o.RefineStrength
	if strength == 0 {
		strength = DefaultRefineStrength
	}
	gx, gm := guidedStart(x, m, guess, c, w, h, strength, strength, 0)
	return gx, gm, coarseCost{calls: st.ModelCalls, levels: st.Levels}, nil
}

// coarseCost is what the coarser levels of coarse-to-fine cost.
type coarseCost struct {
	calls  int64
	levels int
}
