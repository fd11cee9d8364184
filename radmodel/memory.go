package radmodel

// ActivationFactor is how many feature maps of a level's width one
// inference forward holds at its peak, per resolution level, on top of
// the skip connections: a resblock's input, its normalised and activated
// copies, its two conv outputs and the scale-shift temporaries. It was
// calibrated on the shipped photo model (docs/PERFORMANCE.md, "Memory
// per sample"), where the estimate is an upper bound of the measured peak
// resident memory at 128-768 px.
const ActivationFactor = 8

// InferenceBytes is an upper estimate of the memory one float32 inference
// forward of a batch of one h x w input allocates at its peak: the
// activations of every level (ActivationFactor x the level's channels x
// the blocks it keeps for the skips, at its resolution) plus the largest
// attention matrix (heads x tokens^2, its scores and softmax), where
// attention runs (the middle block always, and attention_resolutions).
// Serving uses it to admit no more samples than fit a memory budget.
func (c Config) InferenceBytes(h, w int) int64 {
	if h < 1 || w < 1 || c.Levels() == 0 {
		return 0
	}
	px := float64(h) * float64(w)
	var perPixel float64 // float32 values per input pixel
	var attn float64     // the largest attention's values
	ds := 1
	for level, mult := range c.ChannelMult {
		ch := float64(c.levelChannels(mult))
		scale := 1 / float64(ds*ds)
		perPixel += ch * float64(c.NumResBlocks+1) * scale * ActivationFactor
		if c.hasAttention(ds) || level == c.Levels()-1 { // the middle block: the coarsest level
			heads := headsFor(int(ch), c.NumHeads, c.NumHeadChannels)
			if heads < 1 {
				heads = 1
			}
			tokens := px * scale
			attn = max(attn, 2*float64(heads)*tokens*tokens)
		}
		ds *= 2
	}
	// input, output and the timestep map: a few channels at full size
	perPixel += float64(c.InChannels+c.OutChannels) * 4
	return int64(4 * (perPixel*px + attn))
}
