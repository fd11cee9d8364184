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

// SpecFromFlagMap builds a Spec from flags in string form (names without
// dashes), as ParseFlags does.
func SpecFromFlagMap(given map[string]string) (Spec, error) {
	sp := Spec{Other: map[string]string{}}
	f := make(map[string]string, len(modelDefaults))
	for k, v := range modelDefaults {
		f[k] = v
	}
	var unknown []string
	for k, v := range given {
		k = strings.ReplaceAll(strings.TrimLeft(k, "-"), "-", "_")
		switch {
		case k == "":
			continue
		case otherScriptFlags[k]:
			sp.Other[k] = v
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
		return Spec{}, fmt.Errorf("flags: unknown flag(s) %s (model and diffusion flags are: %s)",
			strings.Join(unknown, ", "), strings.Join(known, ", "))
	}

	var err error
	geti := func(name string) int {
		if err != nil {
			return 0
		}
		v, e := strconv.Atoi(strings.TrimSpace(f[name]))
		if e != nil {
			err = fmt.Errorf("flag --%s: want an integer, got %q", name, f[name])
		}
		return v
	}
	getf := func(name string) float64 {
		if err != nil {
			return 0
		}
		v, e := strconv.ParseFloat(strings.TrimSpace(f[name]), 64)
		if e != nil {
			err = fmt.Errorf("flag --%s: want a number, got %q", name, f[name])
		}
		return v
	}
	getb := func(name string) bool {
		if err != nil {
			return false
		}
		v, e := str2bool(name, f[name])
		if e != nil {
			err = e
		}
		return v
	}

	imageSize := geti("image_size")
	numChannels := geti("num_channels")
	numResBlocks := geti("num_res_blocks")
	numHeads := geti("num_heads")
	numHeadsUp := geti("num_heads_upsample")
	numHeadCh := geti("num_head_channels")
	dropout := getf("dropout")
	classCond := getb("class_cond")
	useCheckpoint := getb("use_checkpoint")
	useSS := getb("use_scale_shift_norm")
	updown := getb("resblock_updown")
	fp16 := getb("use_fp16")
	newOrder := getb("use_new_attention_order")
	learnSigma := getb("learn_sigma")
	sp.Diffusion = DiffusionFlags{
		LearnSigma:           learnSigma,
		DiffusionSteps:       geti("diffusion_steps"),
		NoiseSchedule:        f["noise_schedule"],
		TimestepRespacing:    f["timestep_respacing"],
		UseKL:                getb("use_kl"),
		PredictXStart:        getb("predict_xstart"),
		RescaleTimesteps:     getb("rescale_timesteps"),
		RescaleLearnedSigmas: getb("rescale_learned_sigmas"),
	}
	if err != nil {
		return Spec{}, err
	}

	// script_util.create_model
	var mult []float64
	if strings.TrimSpace(f["channel_mult"]) == "" {
		switch imageSize {
		case 512:
			mult = []float64{0.5, 1, 1, 2, 2, 4, 4}
		case 256:
			mult = []float64{1, 1, 2, 2, 4, 4}
		case 128:
			mult = []float64{1, 1, 2, 3, 4}
		case 64:
			mult = []float64{1, 2, 3, 4}
		default:
			return Spec{}, fmt.Errorf("flags: unsupported image size %d without --channel_mult (script_util knows 64, 128, 256, 512)", imageSize)
		}
	} else if mult, err = parseFloatList(f["channel_mult"]); err != nil {
		return Spec{}, fmt.Errorf("flag --channel_mult: %w", err)
	}
	var ds []int
	for _, r := range strings.Split(f["attention_resolutions"], ",") {
		r = strings.TrimSpace(r)
		if r == "" {
			continue
		}
		res, e := strconv.Atoi(r)
		if e != nil || res <= 0 {
			return Spec{}, fmt.Errorf("flag --attention_resolutions: bad resolution %q in %q", r, f["attention_resolutions"])
		}
		ds = append(ds, imageSize/res)
	}
	out := 3
	if learnSigma {
		out = 6
	}
	numClasses := 0
	if classCond {
		numClasses = NumClasses
	}
	sp.Model = Config{
		ImageSize:            imageSize,
		InChannels:           3,
		ModelChannels:        numChannels,
		OutChannels:          out,
		NumResBlocks:         numResBlocks,
		AttentionResolutions: ds,
		Dropout:              dropout,
		ChannelMult:          mult,
		ConvResample:         true,
		Dims:                 2,
		NumClasses:           numClasses,
		UseCheckpoint:        useCheckpoint,
		UseFP16:              fp16,
		NumHeads:             numHeads,
		NumHeadChannels:      numHeadCh,
		NumHeadsUpsample:     numHeadsUp,
		UseScaleShiftNorm:    useSS,
		ResblockUpdown:       updown,
		UseNewAttentionOrder: newOrder,
		LearnSigma:           learnSigma,
	}
	if err := sp.Model.Validate(); err != nil {
		return Spec{}, err
	}
	return sp, nil
}
