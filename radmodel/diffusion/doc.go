// Package diffusion is RAD's per-pixel diffusion math (the paper's
// sections 3.1, 3.2 and 3.4; docs/DESIGN.md §2), written over the torch package.
//
// A Base is the pretrained model's chain (guided-diffusion's
// GaussianDiffusion tables, in float64, optionally respaced). A Schedule
// turns a Base and a mask m (1 = hole) into per-pixel noise levels: a
// global step s in 0..2N-1 runs two phases, phase 1 noising the hole and
// phase 2 the rest, so that after both every pixel holds the same total
// noise 1 - nu. Inference uses phase 1 only, in reverse.
//
// Each equation lives in one named function whose comment gives the
// paper's equation number (or the docs/DESIGN.md section for the closed forms of
// the supplementary normalisation). Pixels where no noise has been added
// yet (Bbar = 0) or that the current phase does not move (b = 0) are
// guarded: their reverse step is the identity, and no division by zero,
// NaN or Inf is ever produced, in float64, float32 or bfloat16.
//
// With m = 1 everywhere phase 1 is guided-diffusion's GaussianDiffusion
// (and SpacedDiffusion) bit for bit up to float error; the tests check this
// against guided-diffusion's own numbers.
package diffusion
