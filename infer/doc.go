// Package infer is RAD inpainting: samplers and the embeddable Inpainter.
//
// Samplers are small stateless functions of (model, known image, mask,
// process, generator, options): RAD's ancestral sampler (the default: 100
// respaced steps of phase 1 with ADM's learned variance), RAD DDIM, and the
// RePaint baseline on the scalar embedding (respacing 250, jump length 10,
// 10 resamplings: 2,410 model calls). The noise-level-to-timestep mapping
// (diffusion.TimestepMapper) lives apart from them.
//
// Mask convention: 1 = hole. Hole pixels start from noise only: the input's
// content under a hole (m = 1) is never read. Known pixels (m = 0) start
// and stay exactly as given. Gray levels 0 < m < 1 are partial-strength
// regeneration: such a pixel starts from its own noise level
// sqrt(A) x0 + sqrt(1 - A) eps with A = 1 - nu m, so it keeps part of its
// content, like SDEdit with a per-pixel strength.
package infer
