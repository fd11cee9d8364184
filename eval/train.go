package eval

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"time"

	"github.com/radinpaint/rad/torch"
)

// TrainConfig says how TrainClassifier trains.
type TrainConfig struct {
	// Data is the folder with Fashion-MNIST's files
	// (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz and, for the
	// test accuracy, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz).
	// Train and Test, when set, are used instead of reading it.
	Data        string
	Train, Test *LabeledSet
	// Limit and TestLimit read only the first that many images (0: all).
	Limit, TestLimit int
	// NoTest skips the test accuracy.
	NoTest bool

	// Model is the network's shape (zero: DefaultClassifierConfig).
	Model ClassifierConfig
	// Epochs over the training set (0: 4), BatchSize (0: 128).
	Epochs, BatchSize int
	// LR is AdamW's peak learning rate (0: 2e-3), warmed up linearly over
	// the first 100 steps and decayed to 0 along a cosine; WeightDecay is
	// AdamW's decoupled weight decay (0: 1e-2; negative: none).
	LR, WeightDecay float64
	// NoFlip turns off random horizontal flips of training images.
	NoFlip bool
	// Seed draws the initial weights, the batch order and the flips.
	Seed uint64
	// Device to train on (zero value: CPU).
	Device torch.Device
	// LogEvery logs every that many steps through Logf (0: 100).
	LogEvery int
	Logf     func(format string, args ...any)
}

// TrainResult reports a training run.
type TrainResult struct {
	Steps, Epochs  int
	TrainImages    int
	FinalLoss      float64 // mean loss over the last epoch
	TrainAccuracy  float64 // over the last epoch's batches, while training
	TestAccuracy   float64 // NaN when not measured
	TestImages     int
	Seconds        float64
	NumParams      int64
	StepsPerSecond float64
}

func (cfg *TrainConfig) normalize() {
	if cfg.Model.Channels == nil {
		cfg.Model = DefaultClassifierConfig()
	}
	if cfg.Epochs == 0 {
		cfg.Epochs = 4
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = 128
	}
	if cfg.LR == 0 {
		cfg.LR = 2e-3
	}
	if cfg.WeightDecay == 0 {
		cfg.WeightDecay = 1e-2
	} else if cfg.WeightDecay < 0 {
		cfg.WeightDecay = 0
	}
	if cfg.LogEvery == 0 {
		cfg.LogEvery = 100
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
}

// TrainClassifier trains a Classifier on labelled images (Fashion-MNIST by
// default) with AdamW and cross-entropy, then measures its test accuracy.
// It honours ctx between steps. The result is reproducible bit for bit on
// the CPU for a given config (the run holds one OS thread, as autograd's
// order is per thread).
func TrainClassifier(ctx context.Context, cfg TrainConfig) (*Classifier, *TrainResult, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	started := time.Now()
	cfg.normalize()
	if cfg.Epochs < 0 || cfg.BatchSize < 1 || cfg.LR < 0 {
		return nil, nil, fmt.Errorf("eval: train: epochs %d, batch size %d, lr %g out of range", cfg.Epochs, cfg.BatchSize, cfg.LR)
	}
	if err := cfg.Model.check(); err != nil {
		return nil, nil, err
	}
	trainSet, testSet := cfg.Train, cfg.Test
	var err error
	if trainSet == nil {
		if trainSet, err = LoadFashionMNIST(cfg.Data, "train", cfg.Model.Size, cfg.Limit); err != nil {
			return nil, nil, err
		}
	}
	if testSet == nil && !cfg.NoTest {
		if testSet, err = LoadFashionMNIST(cfg.Data, "t10k", cfg.Model.Size, cfg.TestLimit); err != nil {
			return nil, nil, err
		}
	}
	if trainSet.Size != cfg.Model.Size || (testSet != nil && testSet.Size != cfg.Model.Size) {
		return nil, nil, fmt.Errorf("eval: train: images of size %d for a model of size %d", trainSet.Size, cfg.Model.Size)
	}
	for i, l := range trainSet.Labels {
		if l < 0 || l >= int64(cfg.Model.Classes) {
			return nil, nil, fmt.Errorf("eval: train: label %d of image %d outside [0, %d)", l, i, cfg.Model.Classes)
		}
	}
	cfg.Logf("train: %d images, test: %v, %d epochs of batch %d", trainSet.N, testSet != nil, cfg.Epochs, cfg.BatchSize)

	c, err := NewClassifier(cfg.Model, cfg.Seed, cfg.Device)
	if err != nil {
		return nil, nil, err
	}
	ok := false
	defer func() {
		if !ok {
			c.Close()
		}
	}()
	if err := c.SetTrainable(true); err != nil {
		return nil, nil, err
	}
	opt, err := torch.NewAdamW(c.params, torch.AdamWConfig{LR: cfg.LR, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: cfg.WeightDecay})
	if err != nil {
		return nil, nil, err
	}
	defer opt.Close()

	perEpoch := (trainSet.N + cfg.BatchSize - 1) / cfg.BatchSize
	total := perEpoch * cfg.Epochs
	res := &TrainResult{Epochs: cfg.Epochs, TrainImages: trainSet.N, TestAccuracy: math.NaN(), NumParams: c.NumParams()}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x464d4e495354)) // "FMNIST"
	p := trainSet.Size * trainSet.Size
	xs := make([]float32, cfg.BatchSize*p)
	ys := make([]int64, cfg.BatchSize)
	step := 0
	for epoch := 0; epoch < cfg.Epochs; epoch++ {
		order := rng.Perm(trainSet.N)
		var lossSum float64
		var correct, seen int
		for lo := 0; lo < trainSet.N; lo += cfg.BatchSize {
			if err := ctx.Err(); err != nil {
				return nil, nil, err
			}
			idx := order[lo:min(lo+cfg.BatchSize, trainSet.N)]
			b := len(idx)
			for j, i := range idx {
				copyImage(xs[j*p:(j+1)*p], trainSet.Image(i), trainSet.Size, !cfg.NoFlip && rng.IntN(2) == 1)
				ys[j] = trainSet.Labels[i]
			}
			opt.LR = cfg.LR * lrFactor(step, total)
			loss, hits, err := trainStep(c, opt, xs[:b*p], ys[:b], trainSet.Size)
			if err != nil {
				return nil, nil, fmt.Errorf("eval: train step %d: %w", step+1, err)
			}
			if math.IsNaN(loss) || math.IsInf(loss, 0) {
				return nil, nil, fmt.Errorf("eval: train step %d: loss is %v", step+1, loss)
			}
			step++
			lossSum += loss * float64(b)
			correct += hits
			seen += b
			if step%cfg.LogEvery == 0 || step == total {
				el := time.Since(started).Seconds()
				cfg.Logf("step %d/%d epoch %d loss %.4f acc %.4f lr %.2e %.1f steps/s", step, total, epoch+1,
					lossSum/float64(seen), float64(correct)/float64(seen), opt.LR, float64(step)/el)
			}
		}
		res.FinalLoss = lossSum / float64(max(seen, 1))
		res.TrainAccuracy = float64(correct) / float64(max(seen, 1))
	}
	res.Steps = step
	if err := c.SetTrainable(false); err != nil {
		return nil, nil, err
	}
	trainSecs := time.Since(started).Seconds()
	res.StepsPerSecond = float64(step) / trainSecs
	if testSet != nil {
		acc, err := c.Accuracy(ctx, testSet, 500)
		if err != nil {
			return nil, nil, err
		}
		res.TestAccuracy, res.TestImages = acc, testSet.N
		cfg.Logf("test accuracy %.4f on %d images", acc, testSet.N)
	}
	res.Seconds = time.Since(started).Seconds()
	ok = true
	return c, res, nil
}

// lrFactor is the schedule: linear warm-up over 100 steps (or a tenth of
// the run, if shorter), then a cosine to 0 at the end.
func lrFactor(step, total int) float64 {
	warm := min(100, max(1, total/10))
	if step < warm {
		return float64(step+1) / float64(warm)
	}
	return 0.5 * (1 + math.Cos(math.Pi*float64(step-warm)/float64(max(1, total-warm))))
}

// copyImage copies a size x size image, mirrored left to right when flip.
func copyImage(dst, src []float32, size int, flip bool) {
	if !flip {
		copy(dst, src)
		return
	}
	for y := 0; y < size; y++ {
		r, d := src[y*size:(y+1)*size], dst[y*size:(y+1)*size]
		for x := range d {
			d[x] = r[size-1-x]
		}
	}
}

// crossEntropy is the mean negative log-likelihood of labels y under logits.
func crossEntropy(s *torch.Scope, logits, y *torch.Tensor) *torch.Tensor {
	lp := s.LogSoftmax(logits, 1)
	return s.Neg(s.Mean(s.Gather(lp, 1, s.Unsqueeze(y, 1))))
}

// trainStep runs one AdamW step on a batch and returns its loss and the
// number of correctly classified images.
func trainStep(c *Classifier, opt *torch.AdamW, xs []float32, ys []int64, size int) (float64, int, error) {
	s := torch.NewScope()
	defer s.Close()
	b := int64(len(ys))
	sz := int64(size)
	x := s.ToDevice(torch.FromSlice(s, xs, b, 1, sz, sz), c.dev, torch.Float32)
	y := s.ToDevice(torch.FromSlice(s, ys, b), c.dev, torch.Int64)
	logits, _, _ := c.Forward(s, x)
	loss := crossEntropy(s, logits, y)
	hits := s.Sum(s.Eq(s.Argmax(s.Detach(logits), 1), y))
	if err := s.Err(); err != nil {
		return 0, 0, err
	}
	if err := loss.Backward(); err != nil {
		return 0, 0, err
	}
	if err := opt.Step(); err != nil {
		return 0, 0, err
	}
	if err := opt.ZeroGrad(); err != nil {
		return 0, 0, err
	}
	l, err := loss.Item()
	if err != nil {
		return 0, 0, err
	}
	h, err := hits.Item()
	if err != nil {
		return 0, 0, err
	}
	return l, int(h), nil
}

// Accuracy is the fraction of set's images that c classifies as labelled,
// computed in batches of batchSize (<= 0: 500).
func (c *Classifier) Accuracy(ctx context.Context, set *LabeledSet, batchSize int) (float64, error) {
	if set == nil || set.N == 0 {
		return 0, fmt.Errorf("eval: accuracy: empty set")
	}
	if set.Size != c.cfg.Size {
		return 0, fmt.Errorf("eval: accuracy: images of size %d for a classifier of size %d", set.Size, c.cfg.Size)
	}
	if batchSize <= 0 {
		batchSize = 500
	}
	p := set.Size * set.Size
	correct := 0
	for lo := 0; lo < set.N; lo += batchSize {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		hi := min(lo+batchSize, set.N)
		h, err := func() (float64, error) {
			s := torch.NewNoGradScope().SetInference(true)
			defer s.Close()
			sz := int64(set.Size)
			x := torch.FromSlice(s, set.Images[lo*p:hi*p], int64(hi-lo), 1, sz, sz)
			y := s.ToDevice(torch.FromSlice(s, set.Labels[lo:hi]), c.dev, torch.Int64)
			logits, err := c.Logits(s, x)
			if err != nil {
				return 0, err
			}
			hits := s.Sum(s.Eq(s.Argmax(logits, 1), y))
			if err := s.Err(); err != nil {
				return 0, err
			}
			return hits.Item()
		}()
		if err != nil {
			return 0, fmt.Errorf("eval: accuracy: %w", err)
		}
		correct += int(h)
	}
	return float64(correct) / float64(set.N), nil
}
