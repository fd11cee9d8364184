// Package radmodel is OpenAI guided-diffusion's ADM UNetModel in Go, on
// the project's libtorch binding (package torch).
//
// # Configs
//
// Config holds UNetModel's keyword arguments. It comes from a JSON file
// (ConfigFromJSON: "unet_kwargs", "script_util_flags" or a bare object),
// from guided-diffusion's flag string (ConfigFromFlags / ParseFlags, with
// script_util's model_and_diffusion_defaults() and create_model() rules:
// channel_mult by image size, attention resolutions turned into
// downsample factors, out_channels 6 with learn_sigma, 1000 classes with
// class_cond), or from a preset of a released checkpoint (Preset:
// imagenet64, imagenet128, imagenet256, imagenet256_uncond, imagenet512,
// lsun_bedroom, lsun_cat, lsun_horse, ffhq_10m; the released file names
// work too). ParseFlags also returns the diffusion flags (DiffusionFlags)
// that the model ignores. Config.ParamShapes lists the state-dict keys
// and shapes in state_dict() order, and ParamCount the parameter count,
// without allocating weights.
//
// # The model
//
// The module tree mirrors unet.py: time_embed, label_emb, input_blocks
// (TimestepEmbedSequential of ResBlock, AttentionBlock, Downsample),
// middle_block, output_blocks (with Upsample) and out, each block under
// the state-dict key it has in guided-diffusion (see layers.go and
// buildNetwork in unet.go). Forward(s, x, t, y) returns the output in
// float32; ForwardOpts adds dropout for training and a hook that sees
// every intermediate under the names of the reference fixtures
// (testdata/adm). Temporaries live in child scopes of the caller's scope
// and are freed before Forward returns.
//
// With a float16 or bfloat16 model dtype the weights are stored as
// UNetModel.convert_to_fp16 stores them: block convolutions in that
// dtype, everything else (GroupNorm, embeddings, out) in float32;
// GroupNorm32 always computes in float32.
//
// # RAD's spatial noise embedding (the paper's section 3.3)
//
// Forward also takes a timestep map t [B,1,H,W] instead of [B]: each
// pixel's sinusoid goes through time_embed as 1x1 convolutions (the same
// Linear weights), the class embedding is added everywhere, and every
// ResBlock applies SiLU, a bilinear resize to its resolution
// (align_corners) and its emb_layers Linear as a 1x1 conv, per pixel. A map
// with K <= MaxFastLevels distinct values takes an exact fast path: only
// the K distinct vectors are embedded and blended with resized indicator
// maps (two levels, a binary mask, in one fused pass on CPU);
// ForwardOpts.TauLevels lets a sampler name the levels so that they need
// not be searched for (a device synchronisation on CUDA). A spatially
// constant map gives the scalar-timestep output.
//
// # LoRA
//
// AddLoRA attaches rank-r adapters (A with the base conv's kernel, stride
// and padding, B 1x1, A ~ N(0, 1/r), B = 0) to the input conv, the output
// conv, both 3x3 convs of every ResBlock, q, k and v of every attention
// block (slices of the fused qkv, in either attention order) and proj_out.
// TrainableParams is the LoRA training set (adapters, time_embed.*, every
// emb_layers.*); MergeLoRA folds the adapters into the weights;
// SaveAdapter / LoadAdapter write and read them as safetensors with
// metadata (rank, alpha, targets, timestep offset, base config, base
// checkpoint SHA-256, diffusion steps, lambda_vlb), refusing a base of
// another config or checkpoint.
//
// # Files
//
// Load reads a torch.save state dict (zip or legacy, any float dtype), a
// TorchScript archive of the model or safetensors, judged from the
// content. Every key is checked against the config; all problems come in
// one error naming the file and the config. Inspect infers what a
// checkpoint's shapes determine (model_channels, channel_mult, res blocks,
// attention levels, classes, learn_sigma, scale-shift, up/down ResBlocks)
// and says what they cannot (image size, attention heads and order).
// UNet.SaveSafetensors and UNet.SaveStateDict write the weights.
package radmodel
