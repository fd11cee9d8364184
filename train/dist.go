package train

import (
	"fmt"
	"math"
	"math/bits"
	"time"

	"github.com/radinpaint/rad/torch"
	"github.com/radinpaint/rad/train/data"
)

// Data-parallel training (Config.Group) and the per-sample random scheme
// (RNGSample) it needs; docs/DESIGN.md, "Data-parallel training".

// DefaultBucketMB is the gradient all-reduce's bucket size (PyTorch DDP's).
const DefaultBucketMB = 25

// sampleKey is the seed of one sample's draws of one kind: SplitMix64's
// finaliser over the kind's sub-seed and the sample's stream position.
func sampleKey(base uint64, pos int64) uint64 {
	return data.Mix64(base ^ (uint64(pos)+1)*data.Golden)
}

// sampleSteps draws each sample's step in [0, hi) from its position; with
// Config.PhaseOneFraction p > 0 (RAD objectives), phase 1 ([0, N)) with
// probability p and phase 2 ([N, T)) otherwise, uniform within the phase.
func (t *trainer) sampleSteps(pos []int64, hi int64) []int {
	base := subSeed(t.cfg.Seed, "timesteps")
	out := make([]int, len(pos))
	p1 := t.cfg.PhaseOneFraction
	for i, p := range pos {
		k := sampleKey(base, p)
		if p1 > 0 && t.cfg.Objective != ADM {
			out[i] = phaseStep(k, p1, t.sched.N(), t.sched.T())
			continue
		}
		h, _ := bits.Mul64(k, uint64(hi))
		out[i] = int(h)
	}
	return out
}

// phaseStep turns one sample's key into a global step: phase 1 ([0, n))
// with probability p1, else phase 2 ([n, T)), uniform within the phase
// (docs/DESIGN.md §5.1).
func phaseStep(key uint64, p1 float64, n, T int) int {
	u := float64(key>>11) / (1 << 53)
	k := data.Mix64(key ^ data.Golden)
	if u < p1 || T <= n {
		h, _ := bits.Mul64(k, uint64(n))
		return int(h)
	}
	h, _ := bits.Mul64(k, uint64(T-n))
	return n + int(h)
}

// sampleNoise draws each sample's Gaussian noise [C,H,W] from a generator
// seeded by its position and stacks them on the trainer's device.
func (t *trainer) sampleNoise(s *torch.Scope, pos []int64, shape []int64) *torch.Tensor {
	base := subSeed(t.cfg.Seed, "noise")
	parts := make([]*torch.Tensor, len(pos))
	for i, p := range pos {
		g := torch.NewGenerator(sampleKey(base, p))
		parts[i] = s.Randn(g, torch.Float32, t.dev, shape[1:]...)
		g.Close()
	}
	return s.Stack(0, parts...)
}

// sampleDropout returns one dropout generator per sample (nil when the
// model has no dropout); close them after the forward.
func (t *trainer) sampleDropout(pos []int64) []*torch.Generator {
	if t.cfg.Model.Dropout <= 0 {
		return nil
	}
	base := subSeed(t.cfg.Seed, "dropout")
	gs := make([]*torch.Generator, len(pos))
	for i, p := range pos {
		gs[i] = torch.NewGenerator(sampleKey(base, p))
	}
	return gs
}

// rank is this process's rank (0 without a group).
func (t *trainer) rank() int {
	if t.pg == nil {
		return 0
	}
	return t.pg.Rank()
}

// buckets groups ts, last first (the order in which the backward pass
// finishes gradients), into buckets of about bucketMB each.
func buckets(ts []*torch.Tensor, bucketMB float64) [][]*torch.Tensor {
	if bucketMB <= 0 {
		bucketMB = DefaultBucketMB
	}
	limit := int64(bucketMB * (1 << 20))
	var out [][]*torch.Tensor
	var cur []*torch.Tensor
	var size int64
	for i := len(ts) - 1; i >= 0; i-- {
		x := ts[i]
		cur = append(cur, x)
		size += x.Numel() * int64(x.DType().Size())
		if size >= limit {
			out, cur, size = append(out, cur), nil, 0
		}
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// broadcastState makes every rank's trained weights and EMA rank 0's.
func (t *trainer) broadcastState() error {
	if t.pg == nil || t.pg.World() == 1 {
		return nil
	}
	for _, set := range [][]*torch.Tensor{t.params, t.ema} {
		for _, b := range buckets(set, t.cfg.BucketMB) {
			if err := t.pg.Broadcast(b, 0); err != nil {
				return fmt.Errorf("train: broadcasting rank 0's weights: %w", err)
			}
		}
	}
	return nil
}

// allReduceGrads replaces every gradient by its mean over the ranks, a
// bucket per collective call; it returns the number of calls.
func (t *trainer) allReduceGrads() (int, error) {
	s := torch.NewNoGradScope()
	defer s.Close()
	var gs []*torch.Tensor
	for _, p := range t.params {
		// every rank runs the same graph: the same gradients are defined
		if g := s.Grad(p); g != nil {
			gs = append(gs, g)
		}
	}
	if err := s.Err(); err != nil {
		return 0, err
	}
	bs := buckets(gs, t.cfg.BucketMB)
	for _, b := range bs {
		if err := t.pg.AllReduce(b, 1/float64(t.pg.World())); err != nil {
			return 0, err
		}
	}
	return len(bs), nil
}

// stop requests a rank puts into a step's agreement (syncStep).
const (
	stopTime   = 1 // the session's time limit is reached
	stopCancel = 2 // the run's context is cancelled
)

// syncStep all-reduces the step's losses (the mean over ranks), whether
// any rank had a non-finite loss (then every rank skips the step) and the
// ranks' stop requests (then every rank stops after this step).
func (t *trainer) syncStep(rec *Record, bad bool) (bool, error) {
	s := torch.NewNoGradScope()
	defer s.Close()
	v := []float64{rec.MSE, rec.VLB, rec.Loss, 0, 0, 0}
	if bad {
		v[3] = 1
	}
	if t.wantStop&stopTime != 0 {
		v[4] = 1
	}
	if t.wantStop&stopCancel != 0 {
		v[5] = 1
	}
	x := torch.FromSliceOn(s, t.dev, v, int64(len(v)))
	if err := s.Err(); err != nil {
		return bad, err
	}
	w := float64(t.pg.World())
	if err := t.pg.AllReduce([]*torch.Tensor{x}, 1); err != nil {
		return bad, err
	}
	r, err := x.Float64s()
	if err != nil {
		return bad, err
	}
	rec.MSE, rec.VLB, rec.Loss = r[0]/w, r[1]/w, r[2]/w
	t.stopAll = 0
	if r[4] > 0 {
		t.stopAll |= stopTime
	}
	if r[5] > 0 {
		t.stopAll |= stopCancel
	}
	return r[3] > 0 || !finite(rec.Loss), nil
}

// dataParallel runs a step's collectives after the local backward passes:
// the agreement, then (unless skipped) the gradient all-reduce. It returns
// whether the step is skipped.
func (t *trainer) dataParallel(rec *Record, bad bool) (bool, error) {
	start := time.Now()
	defer func() { rec.CommSeconds = time.Since(start).Seconds() }()
	bad, err := t.syncStep(rec, bad)
	if err != nil || bad {
		return bad, err
	}
	_, err = t.allReduceGrads()
	return false, err
}

// checkRanksAgree makes sure every rank starts at rank 0's step and data
// position (the same checkpoint, or all fresh).
func (t *trainer) checkRanksAgree(dataPos int) error {
	if t.pg == nil || t.pg.World() == 1 {
		return nil
	}
	s := torch.NewNoGradScope()
	defer s.Close()
	mine := []float64{float64(t.step), float64(dataPos), float64(t.opt.Steps)}
	x := torch.FromSliceOn(s, t.dev, append([]float64(nil), mine...), 3)
	if err := s.Err(); err != nil {
		return err
	}
	if err := t.pg.Broadcast([]*torch.Tensor{x}, 0); err != nil {
		return fmt.Errorf("train: agreeing on the start: %w", err)
	}
	r, err := x.Float64s()
	if err != nil {
		return err
	}
	for i := range r {
		if math.Abs(r[i]-mine[i]) > 0 {
			return fmt.Errorf("train: rank %d starts at step %d (data batch %d), rank 0 at step %d (data batch %d): every rank must resume the same checkpoint (put the output folder on storage every rank reads)",
				t.rank(), t.step, dataPos, int(r[0]), int(r[1]))
		}
	}
	return nil
}
