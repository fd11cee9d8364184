// Package data is the input pipeline of RAD's training: it reads images,
// prepares them as guided-diffusion's image_datasets.py does, draws a
// training mask for each, and serves fixed-shape batches that are the same
// for a seed whatever the number of goroutines, and that can be resumed at
// any batch.
//
// # Sources
//
// A Source is an indexed set of images. NewFolder lists the PNG and JPEG
// files (.png, .jpg, .jpeg, any case) under a folder, recursively, sorted
// by relative path; NewIDX reads an IDX image file (magic 0x00000803,
// gzip-compressed or not) such as Fashion-MNIST's
// train-images-idx3-ubyte.gz; Open picks one of the two for a path.
//
// # Samples
//
// Transform makes one sample from an image: 2 x 2 box halving while the
// shorter side is at least twice the model size, a Catmull-Rom (bicubic)
// resize of the shorter side to the size (golang.org/x/image/draw), a
// centre or random size x size crop, an optional left-right mirror, gray
// (ITU-R 601 luma) or RGB for a model of 1 or 3 channels, and the levels
// scaled to [-1, 1] as v/127.5 - 1, in [C, H, W] order.
//
// Each sample gets a mask from radmodel/masks (Perlin noise by default,
// 1 = hole), as float32 [1, H, W].
//
// # Batches
//
// A Loader cuts the stream of samples into batches of BatchSize. Sample p
// of the stream is image perm_e[p mod n] of epoch e = p / n, where n is the
// source's length and perm_e a shuffle drawn from (Seed, e); batches run on
// across epoch ends. The sample's crop position and flip are drawn from
// (Seed, p) and its mask is number p of the Seed's mask sequence. Nothing
// depends on which goroutine makes a sample, so Workers and Prefetch change
// the speed only, and NewLoader(ctx, src, cfg, k) starts at batch k with
// exactly the batches an uninterrupted run gives from k on, without
// decoding anything before it (save Loader.Position with a checkpoint).
// The generators are PCG streams with the package's own conversions, so
// the draws do not change with the Go release either.
//
// Workers decode and transform samples in parallel; at most Prefetch
// batches are made ahead of Next. Close, or the cancellation of the
// context given to NewLoader, stops every goroutine.
//
// A file that fails to decode is skipped: the sample takes the next usable
// index instead (i+1, i+2, ... around the source), so batches keep their
// shape and stay deterministic, and Stats counts the skipped files and
// names the first few. When no file is usable, Next returns an error
// naming the source; a folder with no image file at all is an error of
// NewFolder already.
//
// Batch holds Go slices (Images [B, C, H, W], Masks [B, 1, H, W], Indices)
// and Tensors copies them into torch tensors.
package data
