package data

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/radinpaint/rad/radmodel/masks"
	"github.com/radinpaint/rad/torch"
)

// Config sets up a Loader.
type Config struct {
	// Size is the model's image size: samples are Size x Size (>= 8).
	Size int
	// Channels is the model's channel count: 1 (gray) or 3 (RGB).
	Channels int
	// BatchSize is the number of samples in a batch (>= 1): with Shards
	// > 1, in this shard's part of each global batch.
	BatchSize int
	// Shards > 1 splits every global batch of Shards x BatchSize samples
	// into Shards parts and returns part Shard (0..Shards-1): the loaders
	// of a data-parallel run's ranks together return exactly the batches
	// of one loader with BatchSize x Shards. 0 or 1: no split.
	Shards, Shard int
	// Seed fixes the shuffle, crops, flips and masks.
	Seed uint64
	// Workers is the number of decoding goroutines; <= 0 means GOMAXPROCS.
	// It does not change the batches.
	Workers int
	// Prefetch is the most batches prepared ahead of Next; <= 0 means 2.
	Prefetch int
	// RandomCrop crops at a random place; otherwise at the centre.
	RandomCrop bool
	// Flip mirrors each sample left to right with probability 1/2.
	Flip bool
	// MaskKind is the kind of mask drawn for each sample; "" is
	// masks.Perlin, the training masks.
	MaskKind masks.Kind
	// ZoomMax > 1 trains on patches: each sample's image is resized so
	// that its shorter side is z x Size, z drawn log-uniformly in
	// [1, ZoomMax], before the crop (see Aug.Zoom). 0 or 1: whole images.
	ZoomMax float64
	// ChannelShuffle permutes each RGB sample's channels, one of the 6
	// orders drawn uniformly per sample (drawn after the other choices, so
	// runs without it keep their samples). A colour augmentation for small
	// photo sets: the model cannot lean on the set's colour balance (a set
	// of mostly green photos) and must take a hole's colours from its
	// surroundings. RGB only (Channels = 3).
	ChannelShuffle bool
}

// DefaultConfig is guided-diffusion's training setup for a model of the
// given size and channels: centre crops, random flips, Perlin masks.
func DefaultConfig(size, channels, batchSize int, seed uint64) Config {
	return Config{Size: size, Channels: channels, BatchSize: batchSize, Seed: seed, Flip: true}
}

func (c *Config) check() error {
	if c.Size < 8 {
		return fmt.Errorf("data: image size %d, want >= 8", c.Size)
	}
	if c.Channels != 1 && c.Channels != 3 {
		return fmt.Errorf("data: %d channels, want 1 or 3", c.Channels)
	}
	if c.BatchSize < 1 {
		return fmt.Errorf("data: batch size %d, want >= 1", c.BatchSize)
	}
	if c.Shards < 1 {
		c.Shards = 1
	}
	if c.Shard < 0 || c.Shard >= c.Shards {
		return fmt.Errorf("data: shard %d of %d, want 0..%d", c.Shard, c.Shards, c.Shards-1)
	}
	if c.Workers <= 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	if c.Prefetch <= 0 {
		c.Prefetch = 2
	}
	if c.MaskKind == "" {
		c.MaskKind = masks.Perlin
	}
	if c.ZoomMax < 0 || math.IsNaN(c.ZoomMax) || math.IsInf(c.ZoomMax, 0) {
		return fmt.Errorf("data: zoom %g, want >= 1 (or 0: off)", c.ZoomMax)
	}
	if c.ChannelShuffle && c.Channels != 3 {
		return fmt.Errorf("data: channel shuffle needs RGB samples, the model has %d channel(s)", c.Channels)
	}
	if _, err := masks.Generate(c.MaskKind, c.Size, c.Seed, 0); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	return nil
}

// Batch is BatchSize samples: images in [-1, 1] and masks (1 = hole).
type Batch struct {
	// Number counts batches from the start of the stream (0-based): a
	// loader started at batch k returns k, k+1, ...
	Number int
	// Epoch is the epoch of the batch's first sample.
	Epoch int
	// Size and Channels are the samples' shape.
	Size, Channels int
	// Images is [B, C, Size, Size].
	Images []float32
	// Masks is [B, 1, Size, Size], 1 = hole, 0 = known.
	Masks []float32
	// Indices are the source indices of the images (a corrupt file's
	// replacement where one was skipped).
	Indices []int
	// Positions are the samples' numbers in the stream (see Loader): what
	// every random draw of a sample is keyed on.
	Positions []int64
	// Flipped says which samples were mirrored.
	Flipped []bool
}

// Len is the number of samples.
func (b *Batch) Len() int { return len(b.Indices) }

// Tensors copies the batch into two CPU float32 tensors owned by s: the
// images x [B, C, H, W] and the masks m [B, 1, H, W]. Failures are
// recorded in s (s.Err), as for every op.
func (b *Batch) Tensors(s *torch.Scope) (x, m *torch.Tensor) {
	n, sz := int64(b.Len()), int64(b.Size)
	x = torch.FromSlice(s, b.Images, n, int64(b.Channels), sz, sz)
	m = torch.FromSlice(s, b.Masks, n, 1, sz, sz)
	return x, m
}

// Stats counts what a Loader has done.
type Stats struct {
	// Batches is the number of batches Next has returned.
	Batches int64
	// Loaded is the number of images decoded (skipped ones included).
	Loaded int64
	// Skipped is the number of distinct files that failed to decode
	// or transform; each is replaced by the next usable index.
	Skipped int
	// SkippedNames names the first MaxSkippedNames of them (in the order
	// found), and SkippedErrors gives their errors.
	SkippedNames  []string
	SkippedErrors []error
}

// MaxSkippedNames is how many skipped files Stats names.
const MaxSkippedNames = 10

// ErrClosed is returned by Next after Close.
var ErrClosed = errors.New("data: loader closed")

// errStopped ends a sample when the loader stops.
var errStopped = errors.New("data: loader stopped")

// Loader makes batches from a Source on worker goroutines, a bounded
// number ahead of its consumer. It is deterministic: the batches depend on
// the source, Size, Channels, BatchSize, Seed, RandomCrop, Flip, MaskKind
// and the start batch only, not on Workers, Prefetch or timing.
//
// The samples form one stream: sample p (p = batch*BatchSize + j; with
// shards, p = (batch*Shards + Shard)*BatchSize + j) is
// epoch e = p / n's shuffled image number p mod n (n = source length), so
// that batches run on across epochs and no image is dropped. Sample p's
// crop offsets, flip and mask (mask index p of the Seed's sequence) depend
// on (Seed, p) only.
//
// Next and Close may be called from different goroutines; Next is meant
// for one consumer.
type Loader struct {
	src    Source
	cfg    Config
	name   string
	parent context.Context
	ctx    context.Context
	cancel context.CancelFunc
	ready  chan *pending
	jobs   chan job
	wg     sync.WaitGroup

	next    int // number of the batch Next returns next
	batches atomic.Int64
	loaded  atomic.Int64

	mu      sync.Mutex
	err     error // fatal error, returned by every later Next
	closed  bool
	bad     map[int]bool
	badList []string
	badErrs []error
}

type pending struct {
	batch *Batch
	left  atomic.Int32
	done  chan struct{}
	err   atomic.Pointer[error]
}

type job struct {
	p   *pending
	j   int   // slot in the batch
	pos int64 // sample number in the stream
	idx int   // source index
}

// NewLoader starts a Loader whose first batch is number startBatch (0 to
// start from the beginning). Resuming at k gives exactly the batches k,
// k+1, ... of an uninterrupted run, without decoding the images of
// batches 0..k-1. The loader stops when ctx is cancelled or Close is
// called; Close must be called in either case to release it.
func NewLoader(ctx context.Context, src Source, cfg Config, startBatch int) (*Loader, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if startBatch < 0 {
		return nil, fmt.Errorf("data: start batch %d < 0", startBatch)
	}
	name := "source"
	if s, ok := src.(fmt.Stringer); ok {
		name = s.String()
	}
	if src.Len() == 0 {
		return nil, fmt.Errorf("data: %s has no images", name)
	}
	if ctx == nil {
		ctx = context.Background()
	}
	l := &Loader{
		src: src, cfg: cfg, name: name, parent: ctx,
		ready: make(chan *pending, cfg.Prefetch),
		jobs:  make(chan job),
		next:  startBatch,
		bad:   map[int]bool{},
	}
	l.ctx, l.cancel = context.WithCancel(ctx)
	l.wg.Add(1 + cfg.Workers)
	go l.dispatch(startBatch)
	for w := 0; w < cfg.Workers; w++ {
		go l.work()
	}
	return l, nil
}

// Config returns the loader's configuration, defaults filled in.
func (l *Loader) Config() Config { return l.cfg }

// Position is the number of the batch Next returns next: the start batch
// to save for resuming after the batches already taken.
func (l *Loader) Position() int { return l.next }

// Next returns the next batch. It blocks until the batch is ready, the
// context is cancelled (its error), the loader is closed (ErrClosed) or
// the batch cannot be made because no file of the source is usable (an
// error naming the source, returned from then on).
func (l *Loader) Next() (*Batch, error) {
	if err := l.stopErr(false); err != nil {
		return nil, err
	}
	var p *pending
	select {
	case p = <-l.ready:
	case <-l.ctx.Done():
		return nil, l.stopErr(true)
	}
	select {
	case <-p.done:
	case <-l.ctx.Done():
		select {
		case <-p.done:
		default:
			return nil, l.stopErr(true)
		}
	}
	if e := p.err.Load(); e != nil {
		return nil, *e
	}
	l.next++
	l.batches.Add(1)
	return p.batch, nil
}

// stopErr is the error ending the stream, if any; stopped says the
// loader's context is done.
func (l *Loader) stopErr(stopped bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.closed:
		return ErrClosed
	case l.err != nil:
		return l.err
	case l.parent.Err() != nil:
		return l.parent.Err()
	case stopped:
		return ErrClosed
	}
	return nil
}

func (l *Loader) fail(err error) {
	l.mu.Lock()
	if l.err == nil {
		l.err = err
	}
	l.mu.Unlock()
	l.cancel()
}

// Close stops the workers and waits for them to return. It is safe to call
// more than once.
func (l *Loader) Close() error {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.cancel()
	l.wg.Wait()
	return nil
}

// Stats returns the loader's counters.
func (l *Loader) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Stats{
		Batches:       l.batches.Load(),
		Loaded:        l.loaded.Load(),
		Skipped:       len(l.bad),
		SkippedNames:  append([]string(nil), l.badList...),
		SkippedErrors: append([]error(nil), l.badErrs...),
	}
}

// dispatch queues batches startBatch, startBatch+1, ... and their samples.
func (l *Loader) dispatch(startBatch int) {
	defer l.wg.Done()
	defer close(l.jobs)
	n := l.src.Len()
	bs, sz, ch := l.cfg.BatchSize, l.cfg.Size, l.cfg.Channels
	epoch := int64(-1)
	var perm []int
	for b := startBatch; ; b++ {
		p := &pending{
			batch: &Batch{
				Number: b, Size: sz, Channels: ch,
				Images:    make([]float32, bs*ch*sz*sz),
				Masks:     make([]float32, bs*sz*sz),
				Indices:   make([]int, bs),
				Positions: make([]int64, bs),
				Flipped:   make([]bool, bs),
			},
			done: make(chan struct{}),
		}
		p.left.Store(int32(bs))
		first := (int64(b)*int64(l.cfg.Shards) + int64(l.cfg.Shard)) * int64(bs)
		p.batch.Epoch = int(first / int64(n))
		select {
		case l.ready <- p:
		case <-l.ctx.Done():
			return
		}
		for j := 0; j < bs; j++ {
			pos := first + int64(j)
			p.batch.Positions[j] = pos
			if e := pos / int64(n); e != epoch {
				epoch, perm = e, permutation(l.cfg.Seed, e, n)
			}
			select {
			case l.jobs <- job{p: p, j: j, pos: pos, idx: perm[pos%int64(n)]}:
			case <-l.ctx.Done():
				return
			}
		}
	}
}

// work makes samples until the jobs end or the loader stops.
func (l *Loader) work() {
	defer l.wg.Done()
	var t transformer
	for {
		select {
		case <-l.ctx.Done():
			return
		case jb, ok := <-l.jobs:
			if !ok {
				return
			}
			if err := l.sample(&t, jb); err == errStopped {
				return
			} else if err != nil {
				jb.p.err.CompareAndSwap(nil, &err)
				l.fail(err)
			}
			if jb.p.left.Add(-1) == 0 {
				close(jb.p.done)
			}
		}
	}
}

// sample makes sample jb.j of its batch.
func (l *Loader) sample(t *transformer, jb job) error {
	cfg := &l.cfg
	b := jb.p.batch
	rs := newStream(cfg.Seed, tagSample, uint64(jb.pos))
	a := Aug{RandomCrop: cfg.RandomCrop, U: rs.float64(), V: rs.float64()}
	a.Flip = rs.bit() && cfg.Flip
	if cfg.ZoomMax > 1 {
		// drawn after the others, so runs without zoom keep their stream
		a.Zoom = math.Exp(rs.float64() * math.Log(cfg.ZoomMax))
	}
	perm := 0
	if cfg.ChannelShuffle {
		perm = rs.intn(len(channelOrders)) // last: runs without it keep their stream
	}
	plane := cfg.Size * cfg.Size
	img := b.Images[jb.j*cfg.Channels*plane : (jb.j+1)*cfg.Channels*plane]
	idx, err := l.image(t, img, jb.idx, a)
	if err != nil {
		return err
	}
	if perm != 0 {
		t.shuffleChannels(img, plane, channelOrders[perm])
	}
	b.Indices[jb.j], b.Flipped[jb.j] = idx, a.Flip
	m, err := masks.Generate(cfg.MaskKind, cfg.Size, cfg.Seed, int(jb.pos))
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	mk := b.Masks[jb.j*plane : (jb.j+1)*plane]
	for i, v := range m.Pix {
		mk[i] = float32(v)
	}
	return nil
}

// image transforms source image idx into dst, or, when that file is
// unusable, the next usable one (idx+1, idx+2, ... around the source),
// and returns the index used.
func (l *Loader) image(t *transformer, dst []float32, idx int, a Aug) (int, error) {
	n := l.src.Len()
	var first error
	for k := 0; k < n; k++ {
		i := (idx + k) % n
		l.mu.Lock()
		bad := l.bad[i]
		l.mu.Unlock()
		if bad {
			continue
		}
		if l.ctx.Err() != nil {
			return 0, errStopped
		}
		img, err := l.src.Load(i)
		l.loaded.Add(1)
		if err == nil {
			err = t.do(dst, img, l.cfg.Size, l.cfg.Channels, a)
			if err != nil {
				err = fmt.Errorf("%s: %w", l.src.Name(i), err)
			}
		}
		if err == nil {
			return i, nil
		}
		if first == nil {
			first = err
		}
		l.mu.Lock()
		if !l.bad[i] {
			l.bad[i] = true
			if len(l.badList) < MaxSkippedNames {
				l.badList = append(l.badList, l.src.Name(i))
				l.badErrs = append(l.badErrs, err)
			}
		}
		l.mu.Unlock()
	}
	if first != nil {
		return 0, fmt.Errorf("data: no usable image in %s: all %d files failed to load (first: %v)", l.name, n, first)
	}
	return 0, fmt.Errorf("data: no usable image in %s: all %d files failed to load", l.name, n)
}
