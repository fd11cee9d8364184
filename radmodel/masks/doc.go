// Package masks makes RAD's inpainting masks: Perlin-noise training masks
// (the paper's section 3.2) and the box, extreme and wide evaluation masks
// of the LaMa protocol the paper evaluates with (section 4.2). A mask is
// binary, 1 = hole (to generate), and deterministic for a seed and index,
// whatever the number of goroutines making it.
package masks
