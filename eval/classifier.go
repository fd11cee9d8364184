package eval

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/radinpaint/rad/torch"
)

// ClassifierConfig is the shape of a Classifier.
type ClassifierConfig struct {
	// Size is the input's height and width (32).
	Size int `json:"size"`
	// Channels are the widths of the convolution stages; each stage is a
	// 3 x 3 convolution, GroupNorm and ReLU followed by 2 x 2 max pooling.
	// The last stage's pooled output is flattened into the hidden layer.
	Channels []int `json:"channels"`
	// Groups is the number of GroupNorm groups (it divides every width).
	Groups int `json:"groups"`
	// Hidden is the width of the penultimate layer (the pooled features).
	Hidden int `json:"hidden"`
	// Classes is the number of outputs.
	Classes int `json:"classes"`
}

// DefaultClassifierConfig is the Fashion-MNIST stand-in feature network:
// 32 x 32 gray input, stages of 32, 64 and 64 channels (feature maps at
// 32, 16 and 8 pixels), a 128-wide penultimate layer on the flattened
// 4 x 4 x 64 output, and 10 classes: 188,554 parameters.
func DefaultClassifierConfig() ClassifierConfig {
	return ClassifierConfig{Size: 32, Channels: []int{32, 64, 64}, Groups: 8, Hidden: 128, Classes: 10}
}

func (c ClassifierConfig) check() error {
	if c.Size < 1 || len(c.Channels) == 0 || c.Groups < 1 || c.Hidden < 1 || c.Classes < 2 {
		return fmt.Errorf("eval: classifier config %+v out of range", c)
	}
	if len(c.Channels) > 10 || c.Size%(1<<len(c.Channels)) != 0 {
		return fmt.Errorf("eval: classifier config: size %d does not halve %d times", c.Size, len(c.Channels))
	}
	for _, ch := range c.Channels {
		if ch < 1 || ch%c.Groups != 0 {
			return fmt.Errorf("eval: classifier config: %d channels not a positive multiple of %d groups", ch, c.Groups)
		}
	}
	return nil
}

// paramSpec is one parameter's name, shape and initialisation.
type paramSpec struct {
	name  string
	shape []int64
	init  string // "he" (normal, std sqrt(2/fan_in)), "uniform" (+-1/sqrt(fan_in)), "zeros", "ones"
	fanIn int64
}

func (c ClassifierConfig) specs() []paramSpec {
	var ps []paramSpec
	in := int64(1)
	for i, ch := range c.Channels {
		o := int64(ch)
		k := strconv.Itoa(i + 1)
		ps = append(ps,
			paramSpec{"conv" + k + ".weight", []int64{o, in, 3, 3}, "he", in * 9},
			paramSpec{"conv" + k + ".bias", []int64{o}, "zeros", 0},
			paramSpec{"norm" + k + ".weight", []int64{o}, "ones", 0},
			paramSpec{"norm" + k + ".bias", []int64{o}, "zeros", 0})
		in = o
	}
	h := int64(c.Hidden)
	side := int64(c.Size >> len(c.Channels))
	flat := in * side * side
	return append(ps,
		paramSpec{"fc1.weight", []int64{h, flat}, "he", flat},
		paramSpec{"fc1.bias", []int64{h}, "zeros", 0},
		paramSpec{"fc2.weight", []int64{int64(c.Classes), h}, "uniform", h},
		paramSpec{"fc2.bias", []int64{int64(c.Classes)}, "zeros", 0})
}

// Classifier is a small CNN for gray images (Fashion-MNIST's stand-in for
// an Inception network). Its pooled features are the penultimate layer's
// activations (after ReLU), its feature maps the outputs of its
// convolution stages. It implements FeatureNet.
//
// A Classifier is not safe for concurrent use while it is trained; its
// forward passes only read the parameters.
type Classifier struct {
	cfg    ClassifierConfig
	dev    torch.Device
	names  []string
	params []*torch.Tensor
	byName map[string]*torch.Tensor
	scope  *torch.Scope
}

// ClassifierFormat is the "format" metadata of a saved Classifier.
const ClassifierFormat = "rad-eval-classifier-v1"

// NewClassifier makes a classifier with parameters drawn from seed
// (He-normal convolutions and hidden layer, uniform output layer, zero
// biases), float32 on dev, not requiring grad.
func NewClassifier(cfg ClassifierConfig, seed uint64, dev torch.Device) (*Classifier, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	g := torch.NewGenerator(seed)
	defer g.Close()
	c := &Classifier{cfg: cfg, dev: dev, byName: map[string]*torch.Tensor{}, scope: torch.NewNoGradScope()}
	s := c.scope
	for _, p := range cfg.specs() {
		var t *torch.Tensor
		switch p.init {
		case "he":
			t = s.Normal(g, 0, math.Sqrt(2/float64(p.fanIn)), torch.Float32, dev, p.shape...)
		case "uniform":
			b := 1 / math.Sqrt(float64(p.fanIn))
			t = s.Uniform(g, -b, b, torch.Float32, dev, p.shape...)
		case "ones":
			t = s.Ones(torch.Float32, dev, p.shape...)
		default:
			t = s.Zeros(torch.Float32, dev, p.shape...)
		}
		c.add(p.name, t)
	}
	if err := s.Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("eval: new classifier: %w", err)
	}
	return c, nil
}

func (c *Classifier) add(name string, t *torch.Tensor) {
	c.names = append(c.names, name)
	c.params = append(c.params, t)
	c.byName[name] = t
}

// Config returns the classifier's shape.
func (c *Classifier) Config() ClassifierConfig { return c.cfg }

// Device is where the parameters live.
func (c *Classifier) Device() torch.Device { return c.dev }

// Params returns the parameters and their names, in a fixed order (owned
// by c: do not free them).
func (c *Classifier) Params() (names []string, ts []*torch.Tensor) {
	return append([]string(nil), c.names...), append([]*torch.Tensor(nil), c.params...)
}

// NumParams is the number of parameter values.
func (c *Classifier) NumParams() int64 {
	var n int64
	for _, p := range c.params {
		n += p.Numel()
	}
	return n
}

// SetTrainable makes autograd track the parameters (or stop tracking them).
func (c *Classifier) SetTrainable(on bool) error {
	for i, p := range c.params {
		if err := p.SetRequiresGrad(on); err != nil {
			return fmt.Errorf("eval: classifier %s: %w", c.names[i], err)
		}
	}
	return nil
}

// Close frees the parameters.
func (c *Classifier) Close() { c.scope.Close() }

// Forward runs the network on x [N, 1, Size, Size] (float32 on c's device)
// and returns, owned by s, the logits [N, Classes], the pooled features
// [N, Hidden] and the stage outputs (after ReLU, before pooling)
// [N, Channels[i], Size/2^i, Size/2^i].
// Errors are recorded in s (check s.Err).
func (c *Classifier) Forward(s *torch.Scope, x *torch.Tensor) (logits, pooled *torch.Tensor, maps []*torch.Tensor) {
	p := c.byName
	h := x
	for i := range c.cfg.Channels {
		k := strconv.Itoa(i + 1)
		h = s.Conv2d(h, p["conv"+k+".weight"], p["conv"+k+".bias"], torch.ConvOpts{Padding: 1})
		h = s.ReLU(s.GroupNorm(h, int64(c.cfg.Groups), p["norm"+k+".weight"], p["norm"+k+".bias"], 1e-5))
		maps = append(maps, h)
		h = maxPool2(s, h)
	}
	pooled = s.ReLU(s.Linear(s.Flatten(h, 1, 3), p["fc1.weight"], p["fc1.bias"]))
	logits = s.Linear(pooled, p["fc2.weight"], p["fc2.bias"])
	return logits, pooled, maps
}

// maxPool2 is 2 x 2 max pooling with stride 2 of x [N, C, H, W] (H, W even).
func maxPool2(s *torch.Scope, x *torch.Tensor) *torch.Tensor {
	if !x.Valid() {
		return s.Amax(x) // records the error
	}
	sh := x.Shape()
	return s.Amax(s.Reshape(x, sh[0], sh[1], sh[2]/2, 2, sh[3]/2, 2), 3, 5)
}

// lumaWeights are ITU-R 601's gray weights (as train/data uses for gray).
var lumaWeights = []float32{0.299, 0.587, 0.114}

// input checks x [N, 1 or 3, Size, Size] and returns it as float32 gray on
// c's device.
func (c *Classifier) input(s *torch.Scope, x *torch.Tensor) (*torch.Tensor, error) {
	if err := checkImagesTensor("classifier", x); err != nil {
		return nil, err
	}
	sh := x.Shape()
	sz := int64(c.cfg.Size)
	if (sh[1] != 1 && sh[1] != 3) || sh[2] != sz || sh[3] != sz {
		return nil, fmt.Errorf("eval: classifier: input of shape %v, want [N, 1 or 3, %d, %d] (resize first)", sh, sz, sz)
	}
	x = s.ToDevice(x, c.dev, torch.Float32)
	if sh[1] == 3 {
		w := s.ToDevice(torch.FromSlice(s, lumaWeights, 1, 3, 1, 1), c.dev, torch.Float32)
		x = s.SumKeep(s.Mul(x, w), 1)
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("eval: classifier input %v: %w", sh, err)
	}
	return x, nil
}

// Features implements FeatureNet: x is [N, 1, Size, Size] or
// [N, 3, Size, Size] (made gray with ITU-R 601 weights) in [-1, 1], on any
// device. pooled is the penultimate layer [N, Hidden]; maps are the
// convolution stages' outputs.
func (c *Classifier) Features(s *torch.Scope, x *torch.Tensor) (*torch.Tensor, []*torch.Tensor, error) {
	cs := s.Child()
	defer cs.Close()
	in, err := c.input(cs, x)
	if err != nil {
		return nil, nil, err
	}
	_, pooled, maps := c.Forward(cs, in)
	if err := cs.Err(); err != nil {
		return nil, nil, fmt.Errorf("eval: classifier features of %v: %w", x.Shape(), err)
	}
	for i := range maps {
		maps[i] = cs.Keep(maps[i])
	}
	return cs.Keep(pooled), maps, nil
}

// Logits returns the class scores [N, Classes] of x (as for Features),
// owned by s.
func (c *Classifier) Logits(s *torch.Scope, x *torch.Tensor) (*torch.Tensor, error) {
	cs := s.Child()
	defer cs.Close()
	in, err := c.input(cs, x)
	if err != nil {
		return nil, err
	}
	logits, _, _ := c.Forward(cs, in)
	if err := cs.Err(); err != nil {
		return nil, fmt.Errorf("eval: classifier logits of %v: %w", x.Shape(), err)
	}
	return cs.Keep(logits), nil
}

// Save writes the parameters as float16 safetensors with the config in the
// metadata ("format": ClassifierFormat, "config": JSON).
func (c *Classifier) Save(path string) error {
	cfg, err := json.Marshal(c.cfg)
	if err != nil {
		return err
	}
	s := torch.NewNoGradScope()
	defer s.Close()
	half := make([]*torch.Tensor, len(c.params))
	for i, p := range c.params {
		half[i] = s.ToDevice(p, torch.CPU, torch.Float16)
	}
	if err := s.Err(); err != nil {
		return fmt.Errorf("eval: save classifier: %w", err)
	}
	meta := map[string]string{"format": ClassifierFormat, "config": string(cfg)}
	if err := torch.SaveSafetensors(path, c.names, half, meta); err != nil {
		return fmt.Errorf("eval: save classifier: %w", err)
	}
	return nil
}

// LoadClassifier reads a classifier saved by Save (any float dtype) as
// float32 on dev. Every parameter must be there with its shape, and
// nothing else.
func LoadClassifier(path string, dev torch.Device) (*Classifier, error) {
	ls := torch.NewNoGradScope()
	defer ls.Close()
	sd, err := torch.LoadSafetensors(ls, path)
	if err != nil {
		return nil, fmt.Errorf("eval: load classifier: %w", err)
	}
	return classifierFrom(sd, path, dev)
}

// LoadClassifierBytes is LoadClassifier on the contents of a safetensors
// file held in memory (for example models.FMNISTClassifierBytes()); name
// stands for the file in messages.
func LoadClassifierBytes(name string, raw []byte, dev torch.Device) (*Classifier, error) {
	ls := torch.NewNoGradScope()
	defer ls.Close()
	sd, err := torch.LoadSafetensorsBytes(ls, name, raw)
	if err != nil {
		return nil, fmt.Errorf("eval: load classifier: %w", err)
	}
	return classifierFrom(sd, name, dev)
}

// classifierFrom makes a classifier of the tensors of sd (read from path),
// copied as float32 to dev.
func classifierFrom(sd *torch.StateDict, path string, dev torch.Device) (*Classifier, error) {
	if f, _ := sd.Meta["format"].(string); f != ClassifierFormat {
		return nil, fmt.Errorf("eval: load classifier %s: format %q, want %q", path, f, ClassifierFormat)
	}
	var cfg ClassifierConfig
	cj, _ := sd.Meta["config"].(string)
	if err := json.Unmarshal([]byte(cj), &cfg); err != nil {
		return nil, fmt.Errorf("eval: load classifier %s: config: %w", path, err)
	}
	if err := cfg.check(); err != nil {
		return nil, fmt.Errorf("eval: load classifier %s: %w", path, err)
	}
	specs := cfg.specs()
	if len(sd.Keys) != len(specs) {
		return nil, fmt.Errorf("eval: load classifier %s: %d tensors, the config has %d parameters", path, len(sd.Keys), len(specs))
	}
	c := &Classifier{cfg: cfg, dev: dev, byName: map[string]*torch.Tensor{}, scope: torch.NewNoGradScope()}
	for _, p := range specs {
		t := sd.Get(p.name)
		if t == nil {
			c.Close()
			return nil, fmt.Errorf("eval: load classifier %s: missing %s", path, p.name)
		}
		if !slices.Equal(t.Shape(), p.shape) || !t.DType().IsFloat() {
			c.Close()
			return nil, fmt.Errorf("eval: load classifier %s: %s is %v %s, want %v float", path, p.name, t.Shape(), t.DType(), p.shape)
		}
		c.add(p.name, c.scope.ToDevice(t, dev, torch.Float32))
	}
	if err := c.scope.Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("eval: load classifier %s: %w", path, err)
	}
	return c, nil
}
