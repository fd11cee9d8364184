// Command embed inpaints one image with RAD's shipped default model, from a
// Go module of its own that imports github.com/radinpaint/rad as any Go
// program would (README: "Use it from your Go program"). The known pixels
// come back exactly as given; the hole (white in the mask) is regenerated.
//
//	go run . -image photo.png -mask hole.png -out filled.png
//
// Images and masks are PNG, JPEG or Netpbm (PPM/PGM).
package main

import (
	"context"
	"flag"
	"fmt"
	"image/png"
	"log"
	"os"
	"time"

	"github.com/radinpaint/rad/infer"
	"github.com/radinpaint/rad/torch"
)

func main() {
	imgPath := flag.String("image", "", "the image to inpaint")
	maskPath := flag.String("mask", "", "the mask: white (>= 128) is the hole")
	outPath := flag.String("out", "filled.png", "the result (PNG)")
	steps := flag.Int("steps", 0, "RAD steps (0: the model's default, 100)")
	seed := flag.Uint64("seed", 1, "random seed")
	flag.Parse()
	if *imgPath == "" || *maskPath == "" {
		flag.Usage()
		os.Exit(2)
	}
	img, err := infer.ReadImage(*imgPath)
	if err != nil {
		log.Fatal(err)
	}
	mask, err := infer.ReadImage(*maskPath)
	if err != nil {
		log.Fatal(err)
	}

	start := time.Now()
	ip, m, err := infer.NewDefault(torch.CPU, 1) // the model is embedded in the binary
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	defer ip.Close()
	out, stats, err := ip.Inpaint(context.Background(), img, mask, infer.Options{Seed: *seed, Steps: *steps})
	if err != nil {
		log.Fatal(err)
	}

	f, err := os.Create(*outPath)
	if err != nil {
		log.Fatal(err)
	}
	if err := png.Encode(f, out); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: %v, %d model calls, %.1f s (libtorch %s)\n",
		*outPath, out.Bounds().Size(), stats.ModelCalls, time.Since(start).Seconds(), torch.Version())
}
