// Package train is RAD's training loop: LoRA fine-tuning of a pretrained
// ADM with RAD's per-pixel schedule and hybrid loss (the paper's setup),
// full training with the same loss, and plain guided-diffusion (ADM)
// training to make a base where no released checkpoint can be had.
//
// # The step
//
// Each sample of a micro-batch (images x0 in [-1, 1] and Perlin masks m,
// 1 = hole, from train/data) draws a global step s ~ U{0..2N-1}, noise
// eps ~ N(0, I), and is noised per pixel, x_s = QSample(x0, eps)
// (docs/DESIGN.md §2.4). The model sees x_s and the per-pixel timestep map tau (the
// diffusion.TimestepMapper inversion of the pixel's noise level, plus the
// offset), in training mode (the config's dropout). The loss is the mean
// over the batch of L_mse + lambda_vlb L_vlb (diffusion.Schedule.Loss;
// lambda_vlb 1e-3 by default). The ADM objective instead draws
// t ~ U{0..N-1}, uses m = 1 everywhere and the scalar timestep, lambda 1
// and the MSE over all pixels: guided-diffusion's training_losses.
//
// Accum micro-batches make one AdamW step (lr 1e-4, betas 0.9/0.999,
// weight decay 1e-2) after clipping the global gradient norm at 1; an EMA
// (0.999, optional) follows the trained weights. A NaN or Inf loss or
// gradient norm skips the step (no update) and is counted;
// MaxNonFinite in a row stop the run with ErrNonFinite. On CUDA the
// forward runs under bfloat16 autocast, the loss in float32; CPU runs
// stay float32.
//
// What is trained: rad-lora attaches LoRA adapters (rank/alpha 16/16, on
// the input and output convs, every ResBlock conv and every attention
// block's q, k, v and proj_out) to a frozen base and trains them with the
// time-embedding layers (time_embed, every emb_layers); rad-full and adm
// train every weight, from a base or from random init (guided-diffusion's
// zero_module layers start at zero).
//
// # Determinism and resuming
//
// Every random choice comes from a stream seeded from Config.Seed:
// adapter and model init, timesteps, noise and dropout (torch generators)
// and the data order, crops, flips and masks (the data loader's seed and
// position). A checkpoint holds the trained weights, their EMA, AdamW's
// moments and step count, every generator's state, the loader's position,
// the counters and the configuration, so a resumed run computes the same
// losses as an uninterrupted one, bit for bit on the CPU. Run keeps its
// goroutine on one OS thread: libtorch orders the backward pass by
// per-thread sequence numbers, so a forward spread over threads sums
// gradients in a varying order.
//
// # Data-parallel training
//
// With Config.Group (a torch.ProcessGroup joined from torchrun's
// variables, see LaunchFromEnv and Launch.Join) a run is one rank of a
// data-parallel run: rank 0's weights are broadcast, every rank trains
// on its shard of every global batch (World x BatchSize samples), the
// gradients are all-reduced in buckets after the backward, the losses,
// the non-finite skip and stop requests are agreed in one small
// all-reduce per step, and rank 0 alone writes files. Under RNGSample (the
// default of new runs) every random draw of a sample is keyed on its
// position in the data stream, so W ranks compute what one process with
// the global batch computes; a resume on another world size re-shards the
// same global batch. See docs/DESIGN.md §5.9.
//
// # Files
//
// Run writes into Config.Out: ckpt-<step>.safetensors every SaveEvery
// steps and at the end (the newest Keep kept), each with an export beside
// it: adapter-<step>.safetensors for rad-lora (radmodel.UNet.LoadAdapter,
// radctl infer --lora) or model-<step>.safetensors (radmodel.Load) for
// rad-full and adm, from the EMA weights when EMA is on; adapter- or
// model.safetensors at the end; train.jsonl, one JSON line per step (step,
// mse, vlb, loss, lr, grad_norm, skipped, seconds, bad_files); loss.png,
// the loss curve; samples/step-<step>.png, sample grids (input | mask |
// inpainted) every SampleEvery steps, made by Config.Preview (the
// sampler lives in package infer, which this package does not import);
// and config.json. Every file is written atomically (temporary file,
// fsync, rename), so a crash during a save leaves the previous
// checkpoint intact; the temporary files of interrupted saves are removed
// at the next start.
package train
