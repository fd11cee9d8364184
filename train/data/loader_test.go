package data

import (
	"context"
	"fmt"
	"image"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/radinpaint/rad/radmodel/masks"
	"github.com/radinpaint/rad/torch"
)

func mustLoader(t testing.TB, src Source, cfg Config, start int) *Loader {
	t.Helper()
	l, err := NewLoader(context.Background(), src, cfg, start)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func batches(t testing.TB, l *Loader, n int) []*Batch {
	t.Helper()
	var out []*Batch
	for i := 0; i < n; i++ {
		b, err := l.Next()
		if err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
		out = append(out, b)
	}
	return out
}

func TestLoaderShapes(t *testing.T) {
	dir := testFolder(t, 7)
	for _, ch := range []int{1, 3} {
		cfg := Config{Size: 16, Channels: ch, BatchSize: 5, Seed: 1, Workers: 2, RandomCrop: true, Flip: true}
		l := mustLoader(t, mustFolder(t, dir), cfg, 0)
		for _, b := range batches(t, l, 3) {
			if b.Len() != 5 || len(b.Images) != 5*ch*16*16 || len(b.Masks) != 5*16*16 || len(b.Flipped) != 5 {
				t.Fatalf("channels %d: batch of %d, %d image values, %d mask values", ch, b.Len(), len(b.Images), len(b.Masks))
			}
			if b.Size != 16 || b.Channels != ch {
				t.Fatalf("batch shape %d x %d", b.Channels, b.Size)
			}
			lo, hi := b.Images[0], b.Images[0]
			for _, v := range b.Images {
				lo, hi = min(lo, v), max(hi, v)
			}
			if lo < -1 || hi > 1 || hi-lo < 1 {
				t.Fatalf("channels %d: values in [%v, %v]", ch, lo, hi)
			}
			for _, v := range b.Masks {
				if v != 0 && v != 1 {
					t.Fatalf("mask value %v", v)
				}
			}
			for _, i := range b.Indices {
				if i < 0 || i >= 7 {
					t.Fatalf("index %d", i)
				}
			}
			s := torch.NewScope()
			x, m := b.Tensors(s)
			if err := s.Err(); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(x.Shape()) != fmt.Sprint([]int64{5, int64(ch), 16, 16}) || fmt.Sprint(m.Shape()) != "[5 1 16 16]" {
				t.Fatalf("tensor shapes %v %v", x.Shape(), m.Shape())
			}
			xs, err := x.Float32s()
			if err != nil || !slices.Equal(xs, b.Images) {
				t.Fatalf("tensor values differ from the batch (%v)", err)
			}
			s.Close()
		}
		if st := l.Stats(); st.Batches != 3 || st.Skipped != 0 || st.Loaded < 15 {
			t.Fatalf("stats %+v", st)
		}
	}
}

func TestLoaderConfigErrors(t *testing.T) {
	src := mustFolder(t, testFolder(t, 1))
	for _, cfg := range []Config{
		{Size: 4, Channels: 3, BatchSize: 1},
		{Size: 16, Channels: 2, BatchSize: 1},
		{Size: 16, Channels: 3, BatchSize: 0},
		{Size: 16, Channels: 3, BatchSize: 1, MaskKind: "stripes"},
	} {
		if l, err := NewLoader(context.Background(), src, cfg, 0); err == nil {
			l.Close()
			t.Fatalf("config %+v accepted", cfg)
		}
	}
	if _, err := NewLoader(context.Background(), src, DefaultConfig(16, 3, 1, 0), -1); err == nil {
		t.Fatal("negative start accepted")
	}
}

// asymmetric is a size x size gray image with a distinct level per pixel.
func asymmetricFolder(t *testing.T, size int) (string, []float32) {
	dir := t.TempDir()
	g := gradient(size, size, func(x, y int) int { return (x*size + y) % 256 })
	writePNG(t, filepath.Join(dir, "asym.png"), g)
	want := make([]float32, size*size)
	for i, v := range g.Pix {
		want[i] = lut[v]
	}
	return dir, want
}

func mirror(img []float32, size int) []float32 {
	out := make([]float32, len(img))
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			out[y*size+x] = img[y*size+size-1-x]
		}
	}
	return out
}

func TestLoaderFlip(t *testing.T) {
	const size = 16
	dir, orig := asymmetricFolder(t, size)
	mirrored := mirror(orig, size)
	for _, flip := range []bool{false, true} {
		cfg := Config{Size: size, Channels: 1, BatchSize: 10, Seed: 3, Workers: 2, RandomCrop: true, Flip: flip}
		l := mustLoader(t, mustFolder(t, dir), cfg, 0)
		flipped := 0
		for _, b := range batches(t, l, 20) {
			for j := 0; j < b.Len(); j++ {
				img := b.Images[j*size*size : (j+1)*size*size]
				want := orig
				if b.Flipped[j] {
					flipped++
					want = mirrored
				}
				if !slices.Equal(img, want) {
					t.Fatalf("flip=%v batch %d sample %d (flipped %v): not the expected image", flip, b.Number, j, b.Flipped[j])
				}
			}
		}
		if !flip && flipped != 0 {
			t.Fatalf("flip off: %d samples flipped", flipped)
		}
		// 200 fair coins: 100 +- 7; 65..135 is 5 standard deviations
		if flip && (flipped < 65 || flipped > 135) {
			t.Fatalf("flip on: %d of 200 samples flipped", flipped)
		}
	}
}

func TestLoaderMasks(t *testing.T) {
	const size = 32
	cfg := Config{Size: size, Channels: 3, BatchSize: 8, Seed: 11, Workers: 2}
	l := mustLoader(t, mustFolder(t, testFolder(t, 2)), cfg, 0)
	bins := make([]int, 10)
	lo, hi := 1.0, 0.0
	for _, b := range batches(t, l, 25) {
		for j := 0; j < b.Len(); j++ {
			mk := b.Masks[j*size*size : (j+1)*size*size]
			holes := 0.0
			for _, v := range mk {
				holes += float64(v)
			}
			f := holes / float64(len(mk))
			bins[min(9, int(f*10))]++
			lo, hi = min(lo, f), max(hi, f)
			// the mask is the seed's Perlin mask number p (the sample number)
			want, err := masks.Generate(masks.Perlin, size, cfg.Seed, b.Number*cfg.BatchSize+j)
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range want.Pix {
				if float32(v) != mk[i] {
					t.Fatalf("batch %d sample %d: mask differs from masks.Generate", b.Number, j)
				}
			}
		}
	}
	// 200 hole fractions, uniform on [0, 1]: every tenth is hit
	for i, c := range bins {
		if c == 0 {
			t.Fatalf("no hole fraction in [%.1f, %.1f): %v", float64(i)/10, float64(i+1)/10, bins)
		}
	}
	if lo > 0.05 || hi < 0.95 {
		t.Fatalf("hole fractions in [%.3f, %.3f]", lo, hi)
	}
}

func TestLoaderCorrupt(t *testing.T) {
	dir := testFolder(t, 3)
	writeFile(t, filepath.Join(dir, "bad.png"), []byte("\x89PNG\r\n\x1a\n this is no PNG at all"))
	jp := jpegBytes(t, testImage(40, 30, 9))
	writeFile(t, filepath.Join(dir, "cut.jpg"), jp[:len(jp)/2])
	src := mustFolder(t, dir)
	if src.Len() != 5 {
		t.Fatalf("%d files", src.Len())
	}
	cfg := Config{Size: 16, Channels: 3, BatchSize: 5, Seed: 2, Workers: 3}
	l := mustLoader(t, src, cfg, 0)
	for _, b := range batches(t, l, 4) {
		if b.Len() != 5 || len(b.Images) != 5*3*16*16 {
			t.Fatalf("batch of %d", b.Len())
		}
		for _, i := range b.Indices {
			if n := filepath.Base(src.Name(i)); n == "bad.png" || n == "cut.jpg" {
				t.Fatalf("batch %d holds %s", b.Number, n)
			}
		}
	}
	st := l.Stats()
	if st.Skipped != 2 || len(st.SkippedNames) != 2 || len(st.SkippedErrors) != 2 {
		t.Fatalf("stats %+v", st)
	}
	names := strings.Join(st.SkippedNames, " ")
	if !strings.Contains(names, "bad.png") || !strings.Contains(names, "cut.jpg") {
		t.Fatalf("skipped %q", names)
	}
	// the replacements are deterministic: the same with one worker
	cfg.Workers = 1
	one := batches(t, mustLoader(t, src, cfg, 0), 4)
	l2 := mustLoader(t, src, Config{Size: 16, Channels: 3, BatchSize: 5, Seed: 2, Workers: 3}, 0)
	for i, b := range batches(t, l2, 4) {
		if !slices.Equal(b.Indices, one[i].Indices) || !slices.Equal(b.Images, one[i].Images) {
			t.Fatalf("batch %d differs between 1 and 3 workers", i)
		}
	}
}

func TestLoaderAllCorrupt(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "x.png"), []byte("garbage"))
	writeFile(t, filepath.Join(dir, "y.jpeg"), []byte{0xff, 0xd8, 0xff})
	src := mustFolder(t, dir)
	l := mustLoader(t, src, Config{Size: 16, Channels: 3, BatchSize: 4, Workers: 2}, 0)
	_, err := l.Next()
	if err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "no usable image") {
		t.Fatalf("error %v, want one naming %s", err, dir)
	}
	if _, err2 := l.Next(); err2 == nil || err2.Error() != err.Error() {
		t.Fatalf("second Next: %v", err2)
	}
	if st := l.Stats(); st.Skipped != 2 {
		t.Fatalf("stats %+v", st)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Next(); err != ErrClosed {
		t.Fatalf("Next after Close: %v", err)
	}
}

func sameBatches(t *testing.T, what string, a, b []*Batch) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%s: %d and %d batches", what, len(a), len(b))
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Number != y.Number || x.Epoch != y.Epoch || !slices.Equal(x.Indices, y.Indices) || !slices.Equal(x.Flipped, y.Flipped) ||
			!slices.Equal(x.Images, y.Images) || !slices.Equal(x.Masks, y.Masks) {
			t.Fatalf("%s: batch %d differs (numbers %d/%d, indices %v/%v)", what, i, x.Number, y.Number, x.Indices, y.Indices)
		}
	}
}

func TestLoaderDeterminism(t *testing.T) {
	const n = 7
	src := mustFolder(t, testFolder(t, n))
	cfg := Config{Size: 16, Channels: 3, BatchSize: 3, Seed: 5, RandomCrop: true, Flip: true}
	run := func(seed uint64, workers, prefetch int) []*Batch {
		c := cfg
		c.Seed, c.Workers, c.Prefetch = seed, workers, prefetch
		return batches(t, mustLoader(t, src, c, 0), 7)
	}
	a := run(5, 1, 1)
	sameBatches(t, "1 and 4 workers", a, run(5, 4, 3))
	// each epoch is a permutation of the source
	var idx []int
	for _, b := range a {
		idx = append(idx, b.Indices...)
	}
	for e := 0; e < 3; e++ {
		ep := slices.Clone(idx[e*n : (e+1)*n])
		slices.Sort(ep)
		if !slices.Equal(ep, []int{0, 1, 2, 3, 4, 5, 6}) {
			t.Fatalf("epoch %d draws %v", e, idx[e*n:(e+1)*n])
		}
	}
	if slices.Equal(idx[:n], idx[n:2*n]) && slices.Equal(idx[n:2*n], idx[2*n:3*n]) {
		t.Fatal("the same order every epoch")
	}
	if a[2].Epoch != 0 || a[3].Epoch != 1 { // batch 3 starts at sample 9
		t.Fatalf("epochs %d %d", a[2].Epoch, a[3].Epoch)
	}
	b := run(6, 2, 2)
	same := 0
	for i := range a {
		if slices.Equal(a[i].Images, b[i].Images) {
			same++
		}
		if slices.Equal(a[i].Masks, b[i].Masks) {
			t.Fatalf("seeds 5 and 6 give the same masks in batch %d", i)
		}
	}
	if same == len(a) {
		t.Fatal("seeds 5 and 6 give the same images")
	}
}

// counting counts Load calls.
type counting struct {
	Source
	loads atomic.Int64
}

func (c *counting) Load(i int) (image.Image, error) {
	c.loads.Add(1)
	return c.Source.Load(i)
}

func TestLoaderResume(t *testing.T) {
	src := mustFolder(t, testFolder(t, 5))
	cfg := Config{Size: 16, Channels: 1, BatchSize: 4, Seed: 9, Workers: 2, RandomCrop: true, Flip: true}
	all := batches(t, mustLoader(t, src, cfg, 0), 9)
	for _, k := range []int{1, 4, 6} {
		l := mustLoader(t, src, cfg, k)
		if l.Position() != k {
			t.Fatalf("position %d, want %d", l.Position(), k)
		}
		sameBatches(t, fmt.Sprintf("resume at %d", k), all[k:], batches(t, l, 9-k))
		if l.Position() != 9 {
			t.Fatalf("position %d after batch 8", l.Position())
		}
	}
	// resuming far ahead decodes only the batches it makes
	c := &counting{Source: src}
	cfg.Prefetch = 1
	l := mustLoader(t, c, cfg, 100000)
	b := batches(t, l, 1)[0]
	if b.Number != 100000 || b.Epoch != 100000*4/5 {
		t.Fatalf("batch %d of epoch %d", b.Number, b.Epoch)
	}
	if n := c.loads.Load(); n > 4*3 {
		t.Fatalf("%d images decoded for one batch of 4", n)
	}
}

func TestLoaderPrefetchBound(t *testing.T) {
	c := &counting{Source: mustFolder(t, testFolder(t, 5))}
	cfg := Config{Size: 16, Channels: 3, BatchSize: 4, Workers: 3, Prefetch: 2}
	l := mustLoader(t, c, cfg, 0)
	deadline := time.Now().Add(5 * time.Second)
	for c.loads.Load() < 8 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	if n := c.loads.Load(); n != 8 {
		t.Fatalf("%d images decoded ahead, want 2 batches of 4", n)
	}
	batches(t, l, 1)
	deadline = time.Now().Add(5 * time.Second)
	for c.loads.Load() < 12 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	if n := c.loads.Load(); n != 12 {
		t.Fatalf("%d images decoded after one batch taken, want 12", n)
	}
}

func TestLoaderIDX(t *testing.T) {
	const n, rows, cols = 6, 28, 28
	pix := make([]byte, n*rows*cols)
	for i := range pix {
		pix[i] = byte(i * 13)
	}
	path := filepath.Join(t.TempDir(), "train-images-idx3-ubyte.gz")
	writeFile(t, path, idxBytes(t, 0x00000803, n, rows, cols, pix, true))
	src, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range []int{1, 3} {
		l := mustLoader(t, src, Config{Size: 32, Channels: ch, BatchSize: 4, Seed: 1, Flip: true}, 0)
		for _, b := range batches(t, l, 2) {
			if len(b.Images) != 4*ch*32*32 {
				t.Fatalf("%d values", len(b.Images))
			}
			if ch == 3 { // gray: three equal planes
				p := 32 * 32
				if !slices.Equal(b.Images[:p], b.Images[p:2*p]) || !slices.Equal(b.Images[:p], b.Images[2*p:3*p]) {
					t.Fatal("RGB from gray: channels differ")
				}
			}
		}
	}
}

// waitGoroutines waits up to 2 s for the goroutine count to fall to n.
func waitGoroutines(t *testing.T, n int, what string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%s: %d goroutines, had %d:\n%s", what, runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestLoaderNoLeaks(t *testing.T) {
	src := mustFolder(t, testFolder(t, 4))
	cfg := Config{Size: 16, Channels: 3, BatchSize: 3, Workers: 4, Prefetch: 2}
	before := runtime.NumGoroutine()

	// closed after some batches, closed untouched, closed twice
	l, err := NewLoader(context.Background(), src, cfg, 0)
	if err != nil {
		t.Fatal(err)
	}
	batches(t, l, 2)
	l.Close()
	if _, err := l.Next(); err != ErrClosed {
		t.Fatalf("Next after Close: %v", err)
	}
	l.Close()
	l, _ = NewLoader(context.Background(), src, cfg, 0)
	l.Close()
	waitGoroutines(t, before, "after Close")

	// a cancelled context stops the goroutines without Close
	ctx, cancel := context.WithCancel(context.Background())
	l, _ = NewLoader(ctx, src, cfg, 0)
	batches(t, l, 1)
	cancel()
	waitGoroutines(t, before, "after cancel")
	if _, err := l.Next(); err != context.Canceled {
		t.Fatalf("Next after cancel: %v", err)
	}
	l.Close()

	// Close while Next waits on a slow source
	slow := &slowSource{Source: src, delay: 20 * time.Millisecond}
	l, _ = NewLoader(context.Background(), slow, cfg, 0)
	done := make(chan error)
	go func() {
		_, err := l.Next()
		for err == nil {
			_, err = l.Next()
		}
		done <- err
	}()
	time.Sleep(30 * time.Millisecond)
	l.Close()
	if err := <-done; err != ErrClosed {
		t.Fatalf("Next during Close: %v", err)
	}
	waitGoroutines(t, before, "after Close during Next")
}

type slowSource struct {
	Source
	delay time.Duration
}

func (s *slowSource) Load(i int) (image.Image, error) {
	time.Sleep(s.delay)
	return s.Source.Load(i)
}

// TestLoaderShards: the two shards of a 2-way split (batch 3 each,
// started at batch 1) return, side by side, exactly the samples of one
// loader with batch 6 (images, masks, indices, positions), across an
// epoch boundary (7 images).
func TestLoaderShards(t *testing.T) {
	src := mustFolder(t, testFolder(t, 7))
	cfg := Config{Size: 16, Channels: 1, BatchSize: 6, Seed: 3, Workers: 2, RandomCrop: true, Flip: true}
	whole := batches(t, mustLoader(t, src, cfg, 1), 3)
	cfg.BatchSize, cfg.Shards = 3, 2
	var parts [2][]*Batch
	for r := 0; r < 2; r++ {
		cfg.Shard = r
		parts[r] = batches(t, mustLoader(t, src, cfg, 1), 3)
	}
	for i, w := range whole {
		a, b := parts[0][i], parts[1][i]
		if !slices.Equal(w.Images, append(slices.Clone(a.Images), b.Images...)) ||
			!slices.Equal(w.Masks, append(slices.Clone(a.Masks), b.Masks...)) ||
			!slices.Equal(w.Indices, append(slices.Clone(a.Indices), b.Indices...)) ||
			!slices.Equal(w.Positions, append(slices.Clone(a.Positions), b.Positions...)) {
			t.Fatalf("batch %d: shards %v + %v, whole %v", i, a.Positions, b.Positions, w.Positions)
		}
	}
	cfg.Shard = 2
	if _, err := NewLoader(context.Background(), src, cfg, 0); err == nil || !strings.Contains(err.Error(), "shard 2 of 2") {
		t.Fatalf("shard out of range: %v", err)
	}
}

// With ChannelShuffle every sample is the unshuffled run's sample (same
// seed: the same images, crops, flips and masks) with its R, G, B planes in
// one of the 6 orders, each order about equally often; gray models are
// refused.
func TestLoaderChannelShuffle(t *testing.T) {
	const size = 16
	dir := t.TempDir()
	for i := 0; i < 4; i++ {
		writePNG(t, filepath.Join(dir, name(i, ".png")), testImage(24+4*i, 20+2*i, uint64(i)))
	}
	src := mustFolder(t, dir)
	cfg := Config{Size: size, Channels: 3, BatchSize: 30, Seed: 5, Workers: 2, RandomCrop: true, Flip: true, ZoomMax: 2}
	plain := batches(t, mustLoader(t, src, cfg, 0), 10)
	cfg.ChannelShuffle = true
	shuffled := batches(t, mustLoader(t, src, cfg, 0), 10)
	plane := size * size
	count := map[[3]int]int{}
	for bi := range plain {
		p, s := plain[bi], shuffled[bi]
		if !slices.Equal(p.Masks, s.Masks) || !slices.Equal(p.Indices, s.Indices) || !slices.Equal(p.Flipped, s.Flipped) {
			t.Fatalf("batch %d: masks, images or flips differ from the unshuffled run", bi)
		}
		for j := 0; j < p.Len(); j++ {
			a := p.Images[j*3*plane : (j+1)*3*plane]
			b := s.Images[j*3*plane : (j+1)*3*plane]
			found := false
			for _, o := range channelOrders {
				ok := true
				for c := 0; c < 3 && ok; c++ {
					ok = slices.Equal(b[c*plane:(c+1)*plane], a[o[c]*plane:(o[c]+1)*plane])
				}
				if ok {
					count[o]++
					found = true
					break
				}
			}
			if !found {
				t.Fatalf("batch %d sample %d: not a channel order of the unshuffled sample", bi, j)
			}
		}
	}
	// 300 samples, 6 orders: 50 +- 6.5 each; 25..75 is about 4 standard deviations
	for _, o := range channelOrders {
		if count[o] < 25 || count[o] > 75 {
			t.Fatalf("order %v drawn %d times of 300 (%v)", o, count[o], count)
		}
	}
	if l, err := NewLoader(context.Background(), src, Config{Size: size, Channels: 1, BatchSize: 1, ChannelShuffle: true}, 0); err == nil {
		l.Close()
		t.Fatal("channel shuffle accepted for a gray model")
	}
}
