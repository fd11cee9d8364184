package radmodel

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
)

// Config holds every keyword argument of guided-diffusion's UNetModel
// (unet.py), with the same meaning, plus LearnSigma (a script_util flag
// that decides OutChannels).
//
// AttentionResolutions are downsample factors ("ds"), exactly as
// UNetModel receives them: script_util turns the flag
// "--attention_resolutions 32,16,8" at image size 256 into ds 8,16,32.
// NumClasses 0 means an unconditional model (UNetModel's None).
// NumHeadChannels -1 means "use NumHeads"; NumHeadsUpsample -1 means
// "same as NumHeads". UseFP16 and UseCheckpoint are recorded only: the
// model dtype is chosen when loading (Load's dt), and this package never
// uses gradient checkpointing.
type Config struct {
	ImageSize            int       `json:"image_size"`
	InChannels           int       `json:"in_channels"`
	ModelChannels        int       `json:"model_channels"`
	OutChannels          int       `json:"out_channels"`
	NumResBlocks         int       `json:"num_res_blocks"`
	AttentionResolutions []int     `json:"attention_resolutions"`
	Dropout              float64   `json:"dropout"`
	ChannelMult          []float64 `json:"channel_mult"`
	ConvResample         bool      `json:"conv_resample"`
	Dims                 int       `json:"dims"`
	NumClasses           int       `json:"num_classes"`
	UseCheckpoint        bool      `json:"use_checkpoint"`
	UseFP16              bool      `json:"use_fp16"`
	NumHeads             int       `json:"num_heads"`
	NumHeadChannels      int       `json:"num_head_channels"`
	NumHeadsUpsample     int       `json:"num_heads_upsample"`
	UseScaleShiftNorm    bool      `json:"use_scale_shift_norm"`
	ResblockUpdown       bool      `json:"resblock_updown"`
	UseNewAttentionOrder bool      `json:"use_new_attention_order"`

	// LearnSigma is script_util's learn_sigma: the model predicts the
	// variance too, so OutChannels = 2*InChannels.
	LearnSigma bool `json:"learn_sigma"`

	// Prediction is what the first C output channels predict: "" or "eps"
	// (ADM, every released checkpoint), "v" or "x0" (models this project
	// trains from scratch; diffusion.Param, docs/DESIGN.md §2.8). It is
	// saved with the weights, so samplers read it from the model.
	Prediction string `json:"prediction,omitempty"`

	// Resolution is the image sizes the model was trained to run at, saved
	// with the weights for infer's size-bound rule (docs/DESIGN.md §6.1):
	// "" lets the rule decide from the attention resolutions, SizeNative
	// ("native") says the model runs at any image size (for example one
	// trained with attention on crops of several sizes), SizeModel
	// ("model") that it runs only at ImageSize.
	Resolution string `json:"resolution,omitempty"`
}

// The values of Config.Resolution besides "".
const (
	SizeNative = "native"
	SizeModel  = "model"
)

// OutputsVariance reports whether the network's output has the variance
// channels (OutChannels = 2*InChannels), whatever the LearnSigma flag says:
// the one test of it that samplers, trainers and the loader share.
func (c Config) OutputsVariance() bool { return c.OutChannels == 2*c.InChannels }

// normGroups is GroupNorm32's group count (nn.py normalization()).
const normGroups = 32

// normEps is torch.nn.GroupNorm's default eps, which GroupNorm32 keeps.
const normEps = 1e-5

// TimeEmbedDim is the width of the timestep embedding (model_channels*4).
func (c Config) TimeEmbedDim() int { return 4 * c.ModelChannels }

// levelChannels is int(mult * model_channels) for one channel_mult entry,
// truncating as Python's int() does.
func (c Config) levelChannels(mult float64) int { return int(mult * float64(c.ModelChannels)) }

// headsFor is AttentionBlock's head count for a block of ch channels.
func headsFor(ch, numHeads, numHeadChannels int) int {
	if numHeadChannels == -1 {
		return numHeads
	}
	return ch / numHeadChannels
}

// numHeadsUp resolves num_heads_upsample = -1.
func (c Config) numHeadsUp() int {
	if c.NumHeadsUpsample == -1 {
		return c.NumHeads
	}
	return c.NumHeadsUpsample
}

// hasAttention reports whether ds is one of the attention resolutions.
func (c Config) hasAttention(ds int) bool {
	for _, a := range c.AttentionResolutions {
		if a == ds {
			return true
		}
	}
	return false
}

// Levels is the number of resolutions (len(channel_mult)).
func (c Config) Levels() int { return len(c.ChannelMult) }

// Validate reports configs that UNetModel would reject or that cannot run
// (GroupNorm32 needs channel counts divisible by 32; attention needs
// channels divisible by the head count).
func (c Config) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("radmodel: invalid config (%s): %s", c.Short(), fmt.Sprintf(format, a...))
	}
	switch {
	case c.ImageSize <= 0:
		return bad("image_size %d must be positive", c.ImageSize)
	case c.InChannels <= 0:
		return bad("in_channels %d must be positive", c.InChannels)
	case c.OutChannels <= 0:
		return bad("out_channels %d must be positive", c.OutChannels)
	case c.ModelChannels <= 0:
		return bad("model_channels %d must be positive", c.ModelChannels)
	case c.NumResBlocks < 1:
		return bad("num_res_blocks %d must be at least 1", c.NumResBlocks)
	case len(c.ChannelMult) == 0:
		return bad("channel_mult is empty")
	case c.Dims != 0 && c.Dims != 2:
		return bad("dims %d: only 2-D models are supported", c.Dims)
	case c.Dropout < 0 || c.Dropout >= 1 || math.IsNaN(c.Dropout):
		return bad("dropout %g must be in [0, 1)", c.Dropout)
	case c.NumClasses < 0:
		return bad("num_classes %d must be >= 0 (0 = unconditional)", c.NumClasses)
	case c.NumHeadChannels == 0 || c.NumHeadChannels < -1:
		return bad("num_head_channels %d must be positive or -1", c.NumHeadChannels)
	case c.NumHeadsUpsample == 0 || c.NumHeadsUpsample < -1:
		return bad("num_heads_upsample %d must be positive or -1", c.NumHeadsUpsample)
	case c.Prediction != "" && c.Prediction != "eps" && c.Prediction != "v" && c.Prediction != "x0":
		return bad("prediction %q must be eps, v or x0", c.Prediction)
	case c.Resolution != "" && c.Resolution != SizeNative && c.Resolution != SizeModel:
		return bad("resolution %q must be native, model or empty (decided by the attention resolutions)", c.Resolution)
	}
	if c.NumHeadChannels == -1 && c.NumHeads <= 0 {
		return bad("num_heads %d must be positive when num_head_channels is -1", c.NumHeads)
	}
	for _, ds := range c.AttentionResolutions {
		if ds <= 0 {
			return bad("attention downsample factor %d must be positive", ds)
		}
	}
	for i, m := range c.ChannelMult {
		ch := c.levelChannels(m)
		if ch <= 0 || math.IsNaN(m) {
			return bad("channel_mult[%d] = %g gives %d channels", i, m, ch)
		}
		if ch%normGroups != 0 {
			return bad("channel_mult[%d] = %g gives %d channels, not a multiple of %d (GroupNorm32)", i, m, ch, normGroups)
		}
	}
	// attention blocks: check every block's channels against its heads
	for _, a := range attentionLayout(c) {
		if c.NumHeadChannels != -1 && a.ch%c.NumHeadChannels != 0 {
			return bad("%s: %d channels are not a multiple of num_head_channels %d", a.key, a.ch, c.NumHeadChannels)
		}
		if a.heads <= 0 || a.ch%a.heads != 0 {
			if c.NumHeadChannels != -1 {
				return bad("%s: %d channels are not a multiple of num_head_channels %d", a.key, a.ch, c.NumHeadChannels)
			}
			return bad("%s: %d channels are not a multiple of %d heads", a.key, a.ch, a.heads)
		}
	}
	return nil
}

// Short is a one-line summary used in error messages.
func (c Config) Short() string {
	var b strings.Builder
	fmt.Fprintf(&b, "image %d, in %d, out %d, model_channels %d, channel_mult %s, %d res blocks, attention ds %s",
		c.ImageSize, c.InChannels, c.OutChannels, c.ModelChannels, joinFloats(c.ChannelMult), c.NumResBlocks,
		joinInts(c.AttentionResolutions))
	if c.NumHeadChannels != -1 {
		fmt.Fprintf(&b, ", head channels %d", c.NumHeadChannels)
	} else {
		fmt.Fprintf(&b, ", %d heads", c.NumHeads)
	}
	if c.NumClasses > 0 {
		fmt.Fprintf(&b, ", %d classes", c.NumClasses)
	}
	if c.UseScaleShiftNorm {
		b.WriteString(", scale-shift norm")
	}
	if c.ResblockUpdown {
		b.WriteString(", resblock up/down")
	}
	if c.UseNewAttentionOrder {
		b.WriteString(", new attention order")
	}
	if c.Prediction != "" && c.Prediction != "eps" {
		fmt.Fprintf(&b, ", predicts %s", c.Prediction)
	}
	if c.Resolution != "" {
		fmt.Fprintf(&b, ", runs at %s resolution", c.Resolution)
	}
	return b.String()
}

func (c Config) String() string { return "ADM UNet (" + c.Short() + ")" }

// Flags returns the guided-diffusion flag string (script_util's create_model
// flags) that ParseFlags turns back into c. Attention resolutions are
// written as image_size/ds.
func (c Config) Flags() string {
	res := make([]int, 0, len(c.AttentionResolutions))
	for _, ds := range c.AttentionResolutions {
		res = append(res, c.ImageSize/ds)
	}
	parts := []string{
		"--attention_resolutions " + joinInts(res),
		"--channel_mult " + joinFloats(c.ChannelMult),
		"--class_cond " + pyBool(c.NumClasses > 0),
		"--dropout " + strconv.FormatFloat(c.Dropout, 'g', -1, 64),
		"--image_size " + strconv.Itoa(c.ImageSize),
		"--learn_sigma " + pyBool(c.LearnSigma),
		"--num_channels " + strconv.Itoa(c.ModelChannels),
		"--num_head_channels " + strconv.Itoa(c.NumHeadChannels),
		"--num_heads " + strconv.Itoa(c.NumHeads),
		"--num_heads_upsample " + strconv.Itoa(c.NumHeadsUpsample),
		"--num_res_blocks " + strconv.Itoa(c.NumResBlocks),
		"--resblock_updown " + pyBool(c.ResblockUpdown),
		"--use_fp16 " + pyBool(c.UseFP16),
		"--use_new_attention_order " + pyBool(c.UseNewAttentionOrder),
		"--use_scale_shift_norm " + pyBool(c.UseScaleShiftNorm),
	}
	return strings.Join(parts, " ")
}

func pyBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

func joinFloats(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.FormatFloat(x, 'g', -1, 64)
	}
	return strings.Join(s, ",")
}

// Equal reports whether two configs describe the same model: the same
// network and parameterization. Resolution, a note on the sizes to run it
// at, is not compared (an adapter fits its base whatever that says).
func (c Config) Equal(o Config) bool {
	a, b := c.canonical(), o.canonical()
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// canonical sorts the attention set and fills defaulted fields, so that
// equal models compare equal.
func (c Config) canonical() Config {
	c.AttentionResolutions = append([]int(nil), c.AttentionResolutions...)
	sort.Ints(c.AttentionResolutions)
	if c.Dims == 0 {
		c.Dims = 2
	}
	if c.Prediction == "eps" {
		c.Prediction = ""
	}
	c.Resolution = ""
	return c
}

// unetKwargs is the JSON form of UNetModel's keyword arguments (the
// fixtures' "unet_kwargs"). Pointers tell absent from zero.
type unetKwargs struct {
	ImageSize            *int            `json:"image_size"`
	InChannels           *int            `json:"in_channels"`
	ModelChannels        *int            `json:"model_channels"`
	OutChannels          *int            `json:"out_channels"`
	NumResBlocks         *int            `json:"num_res_blocks"`
	AttentionResolutions json.RawMessage `json:"attention_resolutions"`
	Dropout              *float64        `json:"dropout"`
	ChannelMult          json.RawMessage `json:"channel_mult"`
	ConvResample         *bool           `json:"conv_resample"`
	Dims                 *int            `json:"dims"`
	NumClasses           *int            `json:"num_classes"`
	UseCheckpoint        *bool           `json:"use_checkpoint"`
	UseFP16              *bool           `json:"use_fp16"`
	NumHeads             *int            `json:"num_heads"`
	NumHeadChannels      *int            `json:"num_head_channels"`
	NumHeadsUpsample     *int            `json:"num_heads_upsample"`
	UseScaleShiftNorm    *bool           `json:"use_scale_shift_norm"`
	ResblockUpdown       *bool           `json:"resblock_updown"`
	UseNewAttentionOrder *bool           `json:"use_new_attention_order"`
	LearnSigma           *bool           `json:"learn_sigma"`
}

// configFromKwargs applies UNetModel's own defaults for absent kwargs.
func configFromKwargs(raw json.RawMessage) (Config, error) {
	var k unetKwargs
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&k); err != nil {
		return Config{}, fmt.Errorf("unet_kwargs: %w", err)
	}
	c := Config{
		InChannels: 3, ConvResample: true, Dims: 2, NumHeads: 1, NumHeadChannels: -1, NumHeadsUpsample: -1,
		ChannelMult: []float64{1, 2, 4, 8}, // UNetModel's default
	}
	need := func(name string, p *int, dst *int) error {
		if p == nil {
			return fmt.Errorf("unet_kwargs: %s is required", name)
		}
		*dst = *p
		return nil
	}
	if err := need("image_size", k.ImageSize, &c.ImageSize); err != nil {
		return c, err
	}
	if err := need("model_channels", k.ModelChannels, &c.ModelChannels); err != nil {
		return c, err
	}
	if err := need("out_channels", k.OutChannels, &c.OutChannels); err != nil {
		return c, err
	}
	if err := need("num_res_blocks", k.NumResBlocks, &c.NumResBlocks); err != nil {
		return c, err
	}
	setInt := func(p *int, dst *int) {
		if p != nil {
			*dst = *p
		}
	}
	setBool := func(p *bool, dst *bool) {
		if p != nil {
			*dst = *p
		}
	}
	setInt(k.InChannels, &c.InChannels)
	setInt(k.Dims, &c.Dims)
	setInt(k.NumClasses, &c.NumClasses) // JSON null leaves 0 (= None)
	setInt(k.NumHeads, &c.NumHeads)
	setInt(k.NumHeadChannels, &c.NumHeadChannels)
	setInt(k.NumHeadsUpsample, &c.NumHeadsUpsample)
	setBool(k.ConvResample, &c.ConvResample)
	setBool(k.UseCheckpoint, &c.UseCheckpoint)
	setBool(k.UseFP16, &c.UseFP16)
	setBool(k.UseScaleShiftNorm, &c.UseScaleShiftNorm)
	setBool(k.ResblockUpdown, &c.ResblockUpdown)
	setBool(k.UseNewAttentionOrder, &c.UseNewAttentionOrder)
	if k.Dropout != nil {
		c.Dropout = *k.Dropout
	}
	if len(k.AttentionResolutions) == 0 {
		return c, fmt.Errorf("unet_kwargs: attention_resolutions is required")
	}
	ds, err := jsonNumbers(k.AttentionResolutions)
	if err != nil {
		return c, fmt.Errorf("unet_kwargs: attention_resolutions: %w", err)
	}
	c.AttentionResolutions = nil
	for _, v := range ds {
		if v != math.Trunc(v) {
			return c, fmt.Errorf("unet_kwargs: attention_resolutions: %g is not an integer", v)
		}
		c.AttentionResolutions = append(c.AttentionResolutions, int(v))
	}
	if len(k.ChannelMult) > 0 && string(k.ChannelMult) != "null" {
		if c.ChannelMult, err = jsonNumbers(k.ChannelMult); err != nil {
			return c, fmt.Errorf("unet_kwargs: channel_mult: %w", err)
		}
	}
	if k.LearnSigma != nil {
		c.LearnSigma = *k.LearnSigma
	} else {
		c.LearnSigma = c.OutputsVariance()
	}
	return c, nil
}

// jsonNumbers reads a JSON list of numbers, or a "1,2,4" string.
func jsonNumbers(raw json.RawMessage) ([]float64, error) {
	var list []float64
	if err := json.Unmarshal(raw, &list); err == nil {
		return list, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("want a list of numbers or a comma-separated string, got %s", raw)
	}
	return parseFloatList(s)
}

func parseFloatList(s string) ([]float64, error) {
	s = strings.Trim(strings.TrimSpace(s), "()[]")
	if s == "" {
		return nil, nil
	}
	var out []float64
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		v, err := strconv.ParseFloat(p, 64)
		if err != nil {
			return nil, fmt.Errorf("bad number %q in %q", p, s)
		}
		out = append(out, v)
	}
	return out, nil
}

// ConfigFromJSON reads a model config from a JSON file: an object with
// "unet_kwargs" (UNetModel's exact kwargs), or with "script_util_flags"
// (guided-diffusion's command-line flags, as strings, bools or numbers),
// or a bare object of either kind, or {"model_flags": "--image_size ..."}.
// unet_kwargs wins when both are present.
func ConfigFromJSON(path string) (Config, error) {
	sp, err := SpecFromJSON(path)
	return sp.Model, err
}

// SpecFromJSON is ConfigFromJSON returning the diffusion flags too (from
// script_util_flags, or guided-diffusion's defaults).
func SpecFromJSON(path string) (Spec, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Spec{}, fmt.Errorf("config %s: %w", path, err)
	}
	sp, err := specFromJSONBytes(raw)
	if err != nil {
		return Spec{}, fmt.Errorf("config %s: %w", path, err)
	}
	return sp, nil
}

func specFromJSONBytes(raw []byte) (Spec, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return Spec{}, fmt.Errorf("not a JSON object: %w", err)
	}
	var sp Spec
	var haveFlags bool
	if f, ok := top["script_util_flags"]; ok {
		fm, err := flagMapFromJSON(f)
		if err != nil {
			return Spec{}, fmt.Errorf("script_util_flags: %w", err)
		}
		if sp, err = SpecFromFlagMap(fm); err != nil {
			return Spec{}, fmt.Errorf("script_util_flags: %w", err)
		}
		haveFlags = true
	} else if f, ok := top["model_flags"]; ok {
		var s string
		if err := json.Unmarshal(f, &s); err != nil {
			return Spec{}, fmt.Errorf("model_flags: want a flag string: %w", err)
		}
		var err error
		if sp, err = ParseFlags(s); err != nil {
			return Spec{}, fmt.Errorf("model_flags: %w", err)
		}
		haveFlags = true
	}
	kw, haveKw := top["unet_kwargs"]
	if !haveKw && !haveFlags {
		// a bare object: kwargs if it names model_channels, flags otherwise
		if _, ok := top["model_channels"]; ok {
			kw, haveKw = raw, true
		} else {
			fm, err := flagMapFromJSON(raw)
			if err != nil {
				return Spec{}, err
			}
			return SpecFromFlagMap(fm)
		}
	}
	if haveKw {
		c, err := configFromKwargs(kw)
		if err != nil {
			return Spec{}, err
		}
		if !haveFlags {
			sp = Spec{Diffusion: defaultDiffusion(), Other: map[string]string{}}
			sp.Diffusion.LearnSigma = c.LearnSigma
		} else {
			c.LearnSigma = sp.Diffusion.LearnSigma
		}
		sp.Model = c
	}
	if err := sp.Model.Validate(); err != nil {
		return Spec{}, err
	}
	return sp, nil
}

// flagMapFromJSON turns {"image_size": 256, "class_cond": false, ...} into
// the string forms of the command line.
func flagMapFromJSON(raw json.RawMessage) (map[string]string, error) {
	var m map[string]any
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("flags: want a JSON object: %w", err)
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		switch x := v.(type) {
		case string:
			out[k] = x
		case bool:
			out[k] = pyBool(x)
		case json.Number:
			out[k] = x.String()
		case nil:
			out[k] = ""
		case []any:
			parts := make([]string, len(x))
			for i, e := range x {
				parts[i] = fmt.Sprint(e)
			}
			out[k] = strings.Join(parts, ",")
		default:
			return nil, fmt.Errorf("flag %q: unsupported value %v", k, v)
		}
	}
	return out, nil
}
