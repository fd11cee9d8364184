package infer

// SamplerVersion numbers the sampling code's behaviour: the processes
// (sampler.go), RePaint (repaint.go), the denoisers (model.go, unet.go)
// and the schedules of radmodel/diffusion (not its training loss). Any
// change to that code that can change a sample bumps it
// (TestSamplerVersion fails until it is bumped, comparing a hash of the
// code's tokens), and keys that cache samples include it: radctl eval
// --resume then resamples instead of reusing batches the old code
// computed.
const SamplerVersion = 1
