package diffusion

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Base is a chain of N steps of a pretrained model, as guided-diffusion's
// (Spaced)GaussianDiffusion holds it: the betas of each step and the model
// timestep each step is fed (TimestepMap; 0..N-1 without respacing).
type Base struct {
	Betas       []float64 // beta_k, k = 0..N-1
	TimestepMap []int64   // the original (unspaced) step of each step
	// Original is the unspaced chain this one was respaced from (itself
	// when not respaced): the timestep mapper inverts its noise levels.
	Original *Base
}

// N is the number of steps.
func (b *Base) N() int { return len(b.Betas) }

// LinearBetas is guided-diffusion's "linear" schedule: linspace(1e-4, 0.02)
// scaled by 1000/N, as numpy computes it.
func LinearBetas(n int) []float64 {
	scale := 1000 / float64(n)
	return linspace(scale*0.0001, scale*0.02, n)
}

// linspace mirrors numpy.linspace: start + i*step, the last value exact.
func linspace(start, stop float64, n int) []float64 {
	out := make([]float64, n)
	if n == 1 {
		out[0] = start
		return out
	}
	step := (stop - start) / float64(n-1)
	for i := range out {
		out[i] = float64(i)*step + start
	}
	out[n-1] = stop
	return out
}

// CosineBetas is guided-diffusion's "cosine" schedule (Nichol & Dhariwal),
// betas capped at 0.999.
func CosineBetas(n int) []float64 {
	abar := func(t float64) float64 {
		c := math.Cos((t + 0.008) / 1.008 * math.Pi / 2)
		return c * c
	}
	out := make([]float64, n)
	for i := range out {
		out[i] = math.Min(1-abar(float64(i+1)/float64(n))/abar(float64(i)/float64(n)), 0.999)
	}
	return out
}

// DefaultSteps is the length of guided-diffusion's chain (diffusion_steps
// 1000), the default wherever a chain's length is not given.
const DefaultSteps = 1000

// NamedBetas returns the "linear" (also "") or "cosine" schedule of n
// steps (0: DefaultSteps).
func NamedBetas(name string, n int) ([]float64, error) {
	if n == 0 {
		n = DefaultSteps
	}
	if n < 2 {
		return nil, fmt.Errorf("diffusion steps must be >= 2, got %d", n)
	}
	switch name {
	case "linear", "":
		return LinearBetas(n), nil
	case "cosine":
		return CosineBetas(n), nil
	}
	return nil, fmt.Errorf("unknown noise schedule %q (want linear or cosine)", name)
}

// NewBase builds the unspaced chain of the given betas. Like
// guided-diffusion's SpacedDiffusion with every step kept, the betas are
// recomputed from the cumulative products, so the tables match it exactly.
func NewBase(betas []float64) (*Base, error) {
	for i, b := range betas {
		if !(b > 0 && b <= 1) {
			return nil, fmt.Errorf("beta %d = %v is not in (0, 1]", i, b)
		}
	}
	all := make([]int, len(betas))
	for i := range all {
		all[i] = i
	}
	raw := &Base{Betas: betas}
	b := raw.keep(all)
	b.Original = b
	return b, nil
}

// NewNamedBase is NewBase(NamedBetas(name, n)).
func NewNamedBase(name string, n int) (*Base, error) {
	betas, err := NamedBetas(name, n)
	if err != nil {
		return nil, err
	}
	return NewBase(betas)
}

// keep makes the chain of the given (sorted) steps of b, with betas
// 1 - abar_i/abar_prev as SpacedDiffusion computes them.
func (b *Base) keep(steps []int) *Base {
	abar := b.AlphasCumprod()
	out := &Base{Original: b.Original}
	last := 1.0
	j := 0
	for i, ac := range abar {
		if j < len(steps) && steps[j] == i {
			out.Betas = append(out.Betas, 1-ac/last)
			last = ac
			var orig int64 = int64(i)
			if b.TimestepMap != nil {
				orig = b.TimestepMap[i]
			}
			out.TimestepMap = append(out.TimestepMap, orig)
			j++
		}
	}
	return out
}

// Respace keeps the steps that guided-diffusion's space_timesteps selects
// for section counts such as "100", "10,15,20" or "ddim50" (respacing a
// respaced chain is not supported: respace the original).
func (b *Base) Respace(counts string) (*Base, error) {
	if b.Original != b {
		return nil, fmt.Errorf("respace: chain is already respaced")
	}
	if strings.TrimSpace(counts) == "" {
		return b, nil
	}
	steps, err := SpaceTimesteps(b.N(), counts)
	if err != nil {
		return nil, err
	}
	return b.keep(steps), nil
}

// SpaceTimesteps is guided-diffusion's space_timesteps: which of n steps to
// keep, split into equal sections with the given counts, each strided
// evenly (Python's round-half-to-even included); "ddimK" picks the integer
// stride that gives exactly K steps. The result is sorted.
func SpaceTimesteps(n int, counts string) ([]int, error) {
	counts = strings.TrimSpace(counts)
	if strings.HasPrefix(counts, "ddim") {
		want, err := strconv.Atoi(counts[4:])
		if err != nil || want < 1 {
			return nil, fmt.Errorf("bad respacing %q", counts)
		}
		for stride := 1; stride < n; stride++ {
			if (n+stride-1)/stride == want {
				var out []int
				for i := 0; i < n; i += stride {
					out = append(out, i)
				}
				return out, nil
			}
		}
		return nil, fmt.Errorf("cannot create exactly %d steps with an integer stride from %d", want, n)
	}
	var sections []int
	for _, f := range strings.Split(counts, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v < 0 {
			return nil, fmt.Errorf("bad respacing %q", counts)
		}
		sections = append(sections, v)
	}
	sizePer := n / len(sections)
	extra := n % len(sections)
	start := 0
	set := map[int]bool{}
	for i, count := range sections {
		size := sizePer
		if i < extra {
			size++
		}
		if size < count {
			return nil, fmt.Errorf("cannot divide section of %d steps into %d (respacing %q of %d steps)", size, count, counts, n)
		}
		stride := 1.0
		if count > 1 {
			stride = float64(size-1) / float64(count-1)
		}
		cur := 0.0
		for k := 0; k < count; k++ {
			set[start+int(math.RoundToEven(cur))] = true
			cur += stride
		}
		start += size
	}
	out := make([]int, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Ints(out)
	return out, nil
}

// AlphasCumprod is abar_k = prod_{j<=k} (1 - beta_j), multiplied in order.
func (b *Base) AlphasCumprod() []float64 {
	out := make([]float64, len(b.Betas))
	p := 1.0
	for i, beta := range b.Betas {
		p *= 1 - beta
		out[i] = p
	}
	return out
}

// Nu is the total noise of the chain, 1 - abar_{N-1} (docs/DESIGN.md §2.2).
func (b *Base) Nu() float64 {
	ac := b.AlphasCumprod()
	return 1 - ac[len(ac)-1]
}

// Tables returns guided-diffusion's GaussianDiffusion tables under their
// attribute names (float64), for checks and for plain-ADM samplers.
func (b *Base) Tables() map[string][]float64 {
	n := b.N()
	ac := b.AlphasCumprod()
	prev := append([]float64{1}, ac[:n-1]...)
	next := append(append([]float64{}, ac[1:]...), 0)
	t := map[string][]float64{
		"betas": b.Betas, "alphas_cumprod": ac, "alphas_cumprod_prev": prev, "alphas_cumprod_next": next,
	}
	f := func(name string, g func(i int) float64) {
		v := make([]float64, n)
		for i := range v {
			v[i] = g(i)
		}
		t[name] = v
	}
	f("sqrt_alphas_cumprod", func(i int) float64 { return math.Sqrt(ac[i]) })
	f("sqrt_one_minus_alphas_cumprod", func(i int) float64 { return math.Sqrt(1 - ac[i]) })
	f("log_one_minus_alphas_cumprod", func(i int) float64 { return math.Log(1 - ac[i]) })
	f("sqrt_recip_alphas_cumprod", func(i int) float64 { return math.Sqrt(1 / ac[i]) })
	f("sqrt_recipm1_alphas_cumprod", func(i int) float64 { return math.Sqrt(1/ac[i] - 1) })
	f("posterior_variance", func(i int) float64 { return b.Betas[i] * (1 - prev[i]) / (1 - ac[i]) })
	pv := t["posterior_variance"]
	f("posterior_log_variance_clipped", func(i int) float64 {
		if i == 0 {
			return math.Log(pv[1])
		}
		return math.Log(pv[i])
	})
	f("posterior_mean_coef1", func(i int) float64 { return b.Betas[i] * math.Sqrt(prev[i]) / (1 - ac[i]) })
	f("posterior_mean_coef2", func(i int) float64 { return (1 - prev[i]) * math.Sqrt(1-b.Betas[i]) / (1 - ac[i]) })
	return t
}
