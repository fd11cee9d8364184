package radmodel

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Spec is what a guided-diffusion flag set describes: the model (built as
// script_util.create_model builds it), the diffusion flags (which the
// model ignores but samplers read), and other recognised script flags.
type Spec struct {
	Model     Config
	Diffusion DiffusionFlags
	// Other holds recognised flags of guided-diffusion's scripts that are
	// neither model nor diffusion flags (batch_size, use_ddim, ...), as
	// given.
	Other map[string]string
}

// DiffusionFlags are script_util.diffusion_defaults()'s flags.
type DiffusionFlags struct {
	LearnSigma           bool   `json:"learn_sigma"`
	DiffusionSteps       int    `json:"diffusion_steps"`
	NoiseSchedule        string `json:"noise_schedule"`
	TimestepRespacing    string `json:"timestep_respacing"`
	UseKL                bool   `json:"use_kl"`
	PredictXStart        bool   `json:"predict_xstart"`
	RescaleTimesteps     bool   `json:"rescale_timesteps"`
	RescaleLearnedSigmas bool   `json:"rescale_learned_sigmas"`
}

func defaultDiffusion() DiffusionFlags {
	return DiffusionFlags{DiffusionSteps: 1000, NoiseSchedule: "linear"}
}

// modelDefaults is script_util.model_and_diffusion_defaults(), in string
// form (model part, then diffusion_defaults()).
var modelDefaults = map[string]string{
	"image_size":              "64",
	"num_channels":            "128",
	"num_res_blocks":          "2",
	"num_heads":               "4",
	"num_heads_upsample":      "-1",
	"num_head_channels":       "-1",
	"attention_resolutions":   "16,8",
	"channel_mult":            "",
	"dropout":                 "0.0",
	"class_cond":              "False",
	"use_checkpoint":          "False",
	"use_scale_shift_norm":    "True",
	"resblock_updown":         "False",
	"use_fp16":                "False",
	"use_new_attention_order": "False",
	// diffusion_defaults()
	"learn_sigma":            "False",
	"diffusion_steps":        "1000",
	"noise_schedule":         "linear",
	"timestep_respacing":     "",
	"use_kl":                 "False",
	"predict_xstart":         "False",
	"rescale_timesteps":      "False",
	"rescale_learned_sigmas": "False",
}

// otherScriptFlags are flags of guided-diffusion's sample/train scripts
// (and classifier flags) that do not describe the UNet or the diffusion.
// They are accepted and returned in Spec.Other.
var otherScriptFlags = map[string]bool{
	"clip_denoised": true, "num_samples": true, "batch_size": true, "use_ddim": true, "model_path": true,
	"classifier_path": true, "classifier_scale": true, "classifier_use_fp16": true, "classifier_width": true,
	"classifier_depth": true, "classifier_attention_resolutions": true, "classifier_use_scale_shift_norm": true,
	"classifier_resblock_updown": true, "classifier_pool": true, "data_dir": true, "schedule_sampler": true,
	"lr": true, "weight_decay": true, "lr_anneal_steps": true, "microbatch": true, "ema_rate": true,
	"log_interval": true, "save_interval": true, "resume_checkpoint": true, "fp16_scale_growth": true,
	"iterations": true, "anneal_lr": true, "eval_interval": true, "val_data_dir": true, "noised": true,
	"large_size": true, "small_size": true, "base_samples": true,
}

// NumClasses is guided-diffusion's NUM_CLASSES (ImageNet).
const NumClasses = 1000

// ParseFlags reads a guided-diffusion flag string such as
// "--attention_resolutions 32,16,8 --class_cond False --image_size 256 ..."
// ("--flag value" or "--flag=value"; dashes in names read as
// underscores), fills unspecified flags from model_and_diffusion_defaults()
// and builds the model as script_util.create_model does. Booleans accept
// str2bool's forms (true/false, t/f, yes/no, y/n, 1/0, any case). Unknown
// flags are errors.
func ParseFlags(flags string) (Spec, error) {
	m, err := splitFlags(flags)
	if err != nil {
		return Spec{}, err
	}
	return SpecFromFlagMap(m)
}

// ConfigFromFlags is ParseFlags returning the model config only.
func ConfigFromFlags(flags string) (Config, error) {
	sp, err := ParseFlags(flags)
	return sp.Model, err
}

// splitFlags tokenises a flag string (whitespace separated, optional
// single or double quotes around a value).
func splitFlags(s string) (map[string]string, error) {
	toks, err := tokenize(s)
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		if !strings.HasPrefix(t, "--") || len(t) == 2 {
			return nil, fmt.Errorf("flags: unexpected %q (want --name value)", t)
		}
		name := t[2:]
		var val string
		if eq := strings.IndexByte(name, '='); eq >= 0 {
			name, val = name[:eq], name[eq+1:]
		} else {
			if i+1 >= len(toks) || (strings.HasPrefix(toks[i+1], "--") && len(toks[i+1]) > 2) {
				return nil, fmt.Errorf("flags: --%s has no value", name)
			}
			i++
			val = toks[i]
		}
		m[strings.ReplaceAll(name, "-", "_")] = val
	}
	return m, nil
}

func tokenize(s string) ([]string, error) {
	var toks []string
	var cur strings.Builder
	in := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '"' || r == '\'':
			quote, in = r, true
		case r == ' ' || r == '\t' || r == '\n' || r == '\r':
			if in {
				toks = append(toks, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("flags: unterminated quote in %q", s)
	}
	if in {
		toks = append(toks, cur.String())
	}
	return toks, nil
}

// str2bool is guided-diffusion's script_util.str2bool.
func str2bool(name, v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "yes", "true", "t", "y", "1":
		return true, nil
	case "no", "false", "f", "n", "0":
		return false, nil
	}
	return false, fmt.Errorf("flag --%s: boolean value expected, got %q", name, v)
}

// defaultChannelMult is script_util.create_model's channel_mult for each
// image size when none is given.
var defaultChannelMult = map[int][]float64{
	512: {0.5, 1, 1, 2, 2, 4, 4}, 256: {1, 1, 2, 2, 4, 4}, 128: {1, 1, 2, 3, 4}, 64: {1, 2, 3, 4},
}

// SpecFromFlagMap builds a Spec from flags in string form (names without
// dashes), as ParseFlags does.
func SpecFromFlagMap(given map[string]string) (Spec, error) {
	f, other, err := mergeFlags(given)
	if err != nil {
		return Spec{}, err
	}
	r := flagReader{f: f}
	sp := Spec{Other: other, Diffusion: r.diffusion()}
	if sp.Model, err = r.model(); err != nil {
		return Spec{}, err
	}
	if err := sp.Model.Validate(); err != nil {
		return Spec{}, err
	}
	return sp, nil
}

// mergeFlags lays the given flags (dashes read as underscores) over
// model_and_diffusion_defaults(); script flags that do not shape the model
// go to other, unknown ones are one error listing the known.
func mergeFlags(given map[string]string) (f, other map[string]string, err error) {
	f = make(map[string]string, len(modelDefaults))
	for k, v := range modelDefaults {
		f[k] = v
	}
	other = map[string]string{}
	var unknown []string
	for k, v := range given {
		k = strings.ReplaceAll(strings.TrimLeft(k, "-"), "-", "_")
		switch {
		case k == "":
			continue
		case otherScriptFlags[k]:
			other[k] = v
		default:
			if _, ok := modelDefaults[k]; !ok {
				unknown = append(unknown, "--"+k)
				continue
			}
			f[k] = v
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		known := make([]string, 0, len(modelDefaults))
		for k := range modelDefaults {
			known = append(known, k)
		}
		sort.Strings(known)
		return nil, nil, fmt.Errorf("flags: unknown flag(s) %s (model and diffusion flags are: %s)",
			strings.Join(unknown, ", "), strings.Join(known, ", "))
	}
	return f, other, nil
}

// flagReader reads typed values from a merged flag map, keeping the first
// error (later reads return zero values), like bufio.Scanner.
type flagReader struct {
	f   map[string]string
	err error
}

func (r *flagReader) int(name string) int {
	if r.err != nil {
		return 0
	}
	v, e := strconv.Atoi(strings.TrimSpace(r.f[name]))
	if e != nil {
		r.err = fmt.Errorf("flag --%s: want an integer, got %q", name, r.f[name])
	}
	return v
}

func (r *flagReader) float(name string) float64 {
	if r.err != nil {
		return 0
	}
	v, e := strconv.ParseFloat(strings.TrimSpace(r.f[name]), 64)
	if e != nil {
		r.err = fmt.Errorf("flag --%s: want a number, got %q", name, r.f[name])
	}
	return v
}

func (r *flagReader) bool(name string) bool {
	if r.err != nil {
		return false
	}
	v, e := str2bool(name, r.f[name])
	if e != nil {
		r.err = e
	}
	return v
}

// diffusion reads the diffusion flags (errors are left in r.err).
func (r *flagReader) diffusion() DiffusionFlags {
	return DiffusionFlags{
		LearnSigma:           r.bool("learn_sigma"),
		DiffusionSteps:       r.int("diffusion_steps"),
		NoiseSchedule:        r.f["noise_schedule"],
		TimestepRespacing:    r.f["timestep_respacing"],
		UseKL:                r.bool("use_kl"),
		PredictXStart:        r.bool("predict_xstart"),
		RescaleTimesteps:     r.bool("rescale_timesteps"),
		RescaleLearnedSigmas: r.bool("rescale_learned_sigmas"),
	}
}

// model is script_util.create_model's config from the flags.
func (r *flagReader) model() (Config, error) {
	c := Config{
		ImageSize:            r.int("image_size"),
		InChannels:           3,
		ModelChannels:        r.int("num_channels"),
		OutChannels:          3,
		NumResBlocks:         r.int("num_res_blocks"),
		Dropout:              r.float("dropout"),
		ConvResample:         true,
		Dims:                 2,
		UseCheckpoint:        r.bool("use_checkpoint"),
		UseFP16:              r.bool("use_fp16"),
		NumHeads:             r.int("num_heads"),
		NumHeadChannels:      r.int("num_head_channels"),
		NumHeadsUpsample:     r.int("num_heads_upsample"),
		UseScaleShiftNorm:    r.bool("use_scale_shift_norm"),
		ResblockUpdown:       r.bool("resblock_updown"),
		UseNewAttentionOrder: r.bool("use_new_attention_order"),
		LearnSigma:           r.bool("learn_sigma"),
	}
	if c.LearnSigma {
		c.OutChannels = 6
	}
	if r.bool("class_cond") {
		c.NumClasses = NumClasses
	}
	if r.err != nil {
		return Config{}, r.err
	}
	var err error
	if c.ChannelMult, err = channelMult(r.f["channel_mult"], c.ImageSize); err != nil {
		return Config{}, err
	}
	if c.AttentionResolutions, err = attentionDownsamples(r.f["attention_resolutions"], c.ImageSize); err != nil {
		return Config{}, err
	}
	return c, nil
}

// channelMult parses --channel_mult, or gives script_util's default for the
// image size when it is empty.
func channelMult(flag string, imageSize int) ([]float64, error) {
	if strings.TrimSpace(flag) == "" {
		mult, ok := defaultChannelMult[imageSize]
		if !ok {
			return nil, fmt.Errorf("flags: unsupported image size %d without --channel_mult (script_util knows 64, 128, 256, 512)", imageSize)
		}
		return append([]float64(nil), mult...), nil
	}
	mult, err := parseFloatList(flag)
	if err != nil {
		return nil, fmt.Errorf("flag --channel_mult: %w", err)
	}
	return mult, nil
}

// attentionDownsamples turns --attention_resolutions (resolutions, as
// script_util takes them) into the downsampling rates UNetModel takes.
func attentionDownsamples(flag string, imageSize int) ([]int, error) {
	var ds []int
	for _, r := range strings.Split(flag, ",") {
		r = strings.TrimSpace(r)
		if r == "" {
			continue
		}
		res, e := strconv.Atoi(r)
		if e != nil || res <= 0 {
			return nil, fmt.Errorf("flag --attention_resolutions: bad resolution %q in %q", r, flag)
		}
		ds = append(ds, imageSize/res)
	}
	return ds, nil
}
