package data

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// benchFolder writes n w x h images, alternately JPEG and PNG.
func benchFolder(b *testing.B, n, w, h int) *Folder {
	dir := b.TempDir()
	for i := 0; i < n; i++ {
		img := testImage(w, h, uint64(i))
		if i%2 == 0 {
			writeJPEG(b, filepath.Join(dir, fmt.Sprintf("%03d.jpg", i)), img)
		} else {
			writePNG(b, filepath.Join(dir, fmt.Sprintf("%03d.png", i)), img)
		}
	}
	return mustFolder(b, dir)
}

func benchLoader(b *testing.B, src Source, cfg Config) {
	l, err := NewLoader(context.Background(), src, cfg, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Next(); err != nil { // warm up the workers
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := l.Next(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*cfg.BatchSize)/time.Since(start).Seconds(), "images/s")
}

// BenchmarkLoader256 makes 256 x 256 RGB batches with Perlin masks from 64
// images of 320 x 256 (half JPEG, half PNG) on GOMAXPROCS workers, with
// random crops and flips. Run it on 2 cores with
//
//	go test -run NONE -bench Loader256 -cpu 2 ./train/data
func BenchmarkLoader256(b *testing.B) {
	src := benchFolder(b, 64, 320, 256)
	benchLoader(b, src, Config{Size: 256, Channels: 3, BatchSize: 8, Seed: 1,
		Workers: runtime.GOMAXPROCS(0), Prefetch: 4, RandomCrop: true, Flip: true})
}

// BenchmarkLoader256Resize is BenchmarkLoader256 from 640 x 480 images,
// which are resized (Catmull-Rom) to 341 x 256 before the crop.
func BenchmarkLoader256Resize(b *testing.B) {
	src := benchFolder(b, 32, 640, 480)
	benchLoader(b, src, Config{Size: 256, Channels: 3, BatchSize: 8, Seed: 1,
		Workers: runtime.GOMAXPROCS(0), Prefetch: 4, RandomCrop: true, Flip: true})
}
