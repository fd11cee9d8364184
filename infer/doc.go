// Package infer is RAD inpainting: samplers and the embeddable Inpainter.
//
// Samplers are small stateless functions of (model, known image, mask,
// process, generator, options): RAD's ancestral sampler (the default: 100
// respaced steps of phase 1 with ADM's learned variance), RAD DDIM, and the
// RePaint baseline on the scalar embedding (respacing 250, jump length 10,
// 10 resamplings: 2,410 model calls). Process.SampleResampled runs
// RePaint's jump schedule over RAD's own process, a departure kept to tell
// RePaint's resampling from its model (docs/DESIGN.md §4.9). The
// noise-level-to-timestep mapping (diffusion.TimestepMapper) lives apart
// from them.
//
// The Inpainter starts a hole from a guess by default (Options.Init: the
// membrane fill with straight edges continued, partly noised; then 25
// steps instead of 100, Options.SamplingSteps; docs/DESIGN.md §4.8).
//
// Mask convention: 1 = hole. Hole pixels start from noise or from a guess
// computed from the known pixels: the input's content under a hole
// (m = 1) is never read. Known pixels (m = 0) start
// and stay exactly as given. Gray levels 0 < m < 1 are partial-strength
// regeneration: such a pixel starts from its own noise level
// sqrt(A) x0 + sqrt(1 - A) eps with A = 1 - nu m, so it keeps part of its
// content, like SDEdit with a per-pixel strength.
//
// Resolution (Options.Resolution). In model resolution the Inpainter
// resizes every image to the model's training size and pastes the result
// back under the mask. In native resolution the model runs on the image
// at its own size, padded at the right and bottom to a multiple of the
// UNet's downsampling factor 2^(len(channel_mult)-1) (DownsamplingFactor);
// the padding is known context (mask 0, the image's reflection; where the
// reflection would show a hole pixel, the mean of the known pixels) and is
// cropped off afterwards. Options.MaxSide scales larger images down
// first; above Options.MaxTilePixels the model runs on overlapping tiles
// whose outputs are blended at every step (TiledDenoiser), so the tiles
// are one sample. The default (ResolutionAuto) is decided by the model's
// config (SizeBound): its saved note (radmodel.Config.Resolution,
// "native" or "model") when it has one; otherwise a model with attention
// resolutions (a non-empty attention_resolutions) is bound to its training
// size and is resized, and a model without them is treated as fully
// convolutional and runs natively.
// The attention block of the UNet's middle level, which every ADM has, is
// not counted. Either mode can be forced.
//
// Images: ReadImage and image.Decode (with this package linked) read PNG,
// JPEG and Netpbm: binary and plain PPM/PGM (P6, P5, P3, P2), 8 or 16
// bits per sample.
package infer
