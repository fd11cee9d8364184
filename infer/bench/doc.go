// Package bench measures RAD inpainting: RAD's sampler against the RePaint
// baseline on the same model (wall time, model calls, milliseconds per
// call, each sampler run the same number of times), the spatial noise
// embedding's cost against the scalar one, and the sampler's own math per
// step without a network (NullDenoiser). radctl bench prints its Report;
// a Go program gets the same numbers from Run.
package bench
