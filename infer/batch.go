package infer

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/radinpaint/rad/torch"
)

// request is one Inpaint call's tensors-to-be, at the model's size.
type request struct {
	ctx    context.Context
	x, m   []float32 // [C,H,W] in [-1, 1] and [H,W] levels
	w, h   int       // the model input's size
	ww, wh int       // the working size (w x h less the padding)
	o      Options
	done   chan struct{}

	out   []float32 // [C,H,W]
	calls int64
	steps int
	batch int
	group *request // the first request of the batch this one ran in
	err   error
}

// key groups requests that can share a batch: same sampler settings and
// model input size.
func (r *request) key() string {
	o := r.o
	return fmt.Sprintf("%s/%d/%g/%v/%+v/%dx%d/%d", kindOr(o.Sampler), o.Steps, o.Eta, o.ScalarEmbedding, o.RePaint,
		r.w, r.h, o.MaxTilePixels)
}

// batcher collects concurrent requests into batches of up to max with the
// same key, waiting at most window for a batch to fill, and runs each
// batch on its own goroutine.
func (ip *Inpainter) batcher(max int, window time.Duration) {
	var pending []*request
	for {
		if len(pending) == 0 {
			select {
			case r := <-ip.batches:
				pending = append(pending, r)
			case <-ip.stop:
				return
			}
		}
		key := pending[0].key()
		var batch, rest []*request
		for _, r := range pending {
			if r.key() == key && len(batch) < max {
				batch = append(batch, r)
			} else {
				rest = append(rest, r)
			}
		}
		timer := time.NewTimer(window)
	fill:
		for len(batch) < max {
			select {
			case r := <-ip.batches:
				if r.key() == key {
					batch = append(batch, r)
				} else {
					rest = append(rest, r)
				}
			case <-timer.C:
				break fill
			case <-ip.stop:
				timer.Stop()
				for _, r := range append(batch, rest...) {
					r.err = fmt.Errorf("inpaint: inpainter closed")
					close(r.done)
				}
				return
			}
		}
		timer.Stop()
		go ip.runBatch(batch)
		pending = rest
	}
}

// batchContext is done when every request's context is done (a batch
// stops only when nobody waits for it any more).
func batchContext(reqs []*request) (context.Context, context.CancelFunc) {
	if len(reqs) == 1 {
		return reqs[0].ctx, func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var left atomic.Int64
	left.Store(int64(len(reqs)))
	for _, r := range reqs {
		go func(c context.Context) {
			select {
			case <-c.Done():
				if left.Add(-1) == 0 {
					cancel()
				}
			case <-ctx.Done():
			}
		}(r.ctx)
	}
	return ctx, cancel
}

// runBatch samples the requests together and hands each its result.
func (ip *Inpainter) runBatch(reqs []*request) {
	defer func() {
		// a panic below fails the batch's calls instead of the process
		if v := recover(); v != nil {
			for _, r := range reqs {
				r.out, r.err = nil, fmt.Errorf("inpaint: internal error: %v", v)
			}
		}
		for _, r := range reqs {
			close(r.done)
		}
	}()
	cfg := ip.model.Config()
	h, w := int64(reqs[0].h), int64(reqs[0].w) // the same for the batch
	c := int64(cfg.InChannels)
	b := int64(len(reqs))
	xs := make([]float32, 0, int(b*c*h*w))
	ms := make([]float32, 0, int(b*h*w))
	var labels []int64
	gens := make([]*torch.Generator, b)
	for i, r := range reqs {
		xs = append(xs, r.x...)
		ms = append(ms, r.m...)
		labels = append(labels, int64(r.o.Class))
		gens[i] = torch.NewGenerator(r.o.Seed)
	}
	defer func() {
		for _, g := range gens {
			g.Close()
		}
	}()
	fail := func(err error) {
		for _, r := range reqs {
			r.err = err
		}
	}
	s := torch.NewNoGradScope().SetInference(true)
	defer s.Close()
	dev := ip.model.Device()
	x0 := torch.FromSliceOn(s, dev, xs, b, c, h, w)
	mt := torch.FromSliceOn(s, dev, ms, b, 1, h, w)
	var y *torch.Tensor
	if cfg.NumClasses > 0 {
		y = torch.FromSliceOn(s, dev, labels)
	}
	if err := s.Err(); err != nil {
		fail(err)
		return
	}
	ctx, cancel := batchContext(reqs)
	defer cancel()
	progress := func(i, total int) {
		for _, r := range reqs {
			if r.o.Progress != nil {
				r.o.Progress(i, total)
			}
		}
	}
	o := reqs[0].o
	o.Progress = progress
	var cb func(i, total int, x, pred *torch.Tensor)
	for _, r := range reqs {
		if r.o.Preview != nil {
			cb = func(i, total int, _, pred *torch.Tensor) { previews(reqs, i, total, pred, int(c), int(h), int(w)) }
		}
	}
	out, calls, steps, err := ip.sample(ctx, s, x0, mt, y, o, gens, cb)
	var all []float32
	if err == nil {
		all, err = out.Float32s()
	}
	n := int(c * h * w)
	for i, r := range reqs {
		r.calls, r.steps, r.batch, r.group = calls, steps, len(reqs), reqs[0]
		switch {
		case r.ctx.Err() != nil:
			r.err = r.ctx.Err()
		case err != nil:
			r.err = err
		default:
			r.out = all[i*n : (i+1)*n]
		}
	}
}

// previews hands the requests that want one a preview of step i: the
// prediction of x0 (pred [B,C,H,W]) in the hole, the input elsewhere,
// cropped to the working size and scaled down.
func previews(reqs []*request, i, total int, pred *torch.Tensor, c, h, w int) {
	var all []float32
	n, hw := c*h*w, h*w
	for b, r := range reqs {
		every := r.o.PreviewEvery
		if every <= 0 {
			every = 10
		}
		if r.o.Preview == nil || r.ctx.Err() != nil || (i%every != 0 && i != total) {
			continue
		}
		if all == nil {
			var err error
			if all, err = pred.Float32s(); err != nil || len(all) != len(reqs)*n {
				return
			}
		}
		row := all[b*n : (b+1)*n]
		v := make([]float32, n)
		for ch := 0; ch < c; ch++ {
			for p := 0; p < hw; p++ {
				m := r.m[p]
				v[ch*hw+p] = m*row[ch*hw+p] + (1-m)*r.x[ch*hw+p]
			}
		}
		side := r.o.PreviewSide
		if side <= 0 {
			side = 96
		}
		img := chwToRGBA(cropCHW(v, c, w, h, r.ww, r.wh), c, r.ww, r.wh)
		pw, ph := workSize(r.ww, r.wh, side)
		r.o.Preview(i, total, resizeRGBA(img, pw, ph))
	}
}
