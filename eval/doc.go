// Package eval measures inpainting quality: distribution metrics on
// network features (FID, KID), per-image metrics over the hole (PSNR,
// SSIM) and an LPIPS-style perceptual distance.
//
// # Feature networks
//
// A FeatureNet maps images [N, C, H, W] in [-1, 1] to pooled features
// [N, D] (for FID and KID) and intermediate feature maps (for the
// perceptual distance). Two are provided:
//
//   - TorchScriptNet runs any TorchScript archive (for example an
//     Inception network exported from Python); its output convention is
//     documented on the type.
//   - Classifier is the project's own stand-in: a small CNN (about 189k
//     parameters: three stages of 3 x 3 convolution, GroupNorm, ReLU and
//     max pooling, then two linear layers) for 32 x 32 gray images,
//     trained on Fashion-MNIST by TrainClassifier (the command
//     eval/cmd/train-classifier) and stored as float16 safetensors. Its
//     pooled features are the 128-wide penultimate layer, its maps the
//     three stages' outputs. Fashion-MNIST's 28 x 28 images are made
//     32 x 32 by train/data's Transform, as the diffusion training sees
//     them.
//
// ExtractFeatures runs a network over a batch of images in chunks.
//
// # Distribution metrics
//
// ComputeStats gives the mean and covariance of a feature set, FID the
// Fréchet distance between two such Gaussians, computed in float64 with a
// symmetric eigendecomposition (gonum) for the matrix square root. KID is
// the unbiased MMD^2 with the cubic polynomial kernel, averaged over random
// subsets as torch-fidelity and clean-fid do, deterministic for a seed.
//
// # Image metrics
//
// HolePSNR and HoleSSIM compare a prediction with the target over the hole
// only (mask 1), per image, on the [0, 1] scale: PSNR = 10 log10(1 / MSE)
// over hole pixels and channels; SSIM (Gaussian window 11, sigma 1.5) is
// the mean of the SSIM map over hole pixels. They take Images (Go slices)
// or tensors.
//
// # Perceptual distance
//
// MapDistance and PerceptualDistance compute an LPIPS-style distance
// without learned weights: per layer, channel vectors are unit-normalised,
// squared differences averaged over channels and positions; layers are
// averaged uniformly.
//
// # Evaluation runs
//
// Run is the whole protocol (radctl eval is its command line): a method
// (RAD's ancestral or DDIM sampler, optionally on the scalar embedding;
// RePaint; or the mean-fill floor) inpaints N real images (LoadImages
// reads them at the model's size) under a seeded mask of every kind (box,
// extreme, wide), in batches. The image at data set index j always gets
// mask j of the mask seed and its own noise generator (seed + j), so the
// results do not depend on the batch size or the range evaluated, and
// every method sees the same masks. Per mask kind the report gives FID
// and KID against the same N real images, the LPIPS-style distance, hole
// PSNR and SSIM, and seconds and network evaluations per image, over all
// N images and optionally over the first K (RunConfig.Subset), which a
// run of an expensive method over K images can be compared with. Reports
// are JSON and Markdown (Report.Write); grids and per-image CSVs go next
// to them. LoadClassifierBytes reads the shipped stand-in classifier.
//
// Tensors are made in scopes that are closed before returning, except
// those documented as owned by the caller's scope.
package eval
