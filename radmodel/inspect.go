package radmodel

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/radinpaint/rad/torch"
)

// Report describes a checkpoint: its keys, and the ADM config inferred
// from the shapes where the weights determine it.
type Report struct {
	Path       string
	Format     string         // torch.save zip, TorchScript, safetensors, ...
	NumTensors int            // tensors in the file
	ParamCount int64          // elements of all tensors
	DTypes     map[string]int // dtype name -> number of tensors
	Groups     []KeyGroup     // top-level modules, in file order

	// Recognised is true when the keys look like a guided-diffusion
	// UNetModel (time_embed, input_blocks, out, ...).
	Recognised bool
	// Config holds the inferred fields. Fields that the weights cannot
	// determine are listed in Unknown and hold placeholders: ImageSize 0
	// (or the size whose script_util default channel_mult matches),
	// NumHeads 1, NumHeadChannels -1, no dropout, legacy attention order.
	Config  Config
	Unknown []string
	Notes   []string
	// Consistent is true when Config (whatever the unknown fields) gives
	// exactly the file's keys and shapes.
	Consistent bool
	// SavedConfig is the config stored in the file's metadata by
	// UNet.SaveSafetensors (nil if none).
	SavedConfig *Config
}

// KeyGroup counts the tensors and elements under one top-level name.
type KeyGroup struct {
	Prefix  string
	Tensors int
	Params  int64
}

// Inspect reads a checkpoint (any format Load accepts) and reports on it.
func Inspect(path string) (*Report, error) {
	s := torch.NewNoGradScope()
	defer s.Close()
	sd, kind, err := ReadWeights(s, path)
	if err != nil {
		return nil, err
	}
	sd = unwrap(sd)
	shapes := make(map[string][]int64, len(sd.Keys))
	dts := map[string]int{}
	for _, k := range sd.Keys {
		t := sd.Tensors[k]
		shapes[k] = t.Shape()
		dts[t.DType().String()]++
	}
	r := InspectShapes(sd.Keys, shapes)
	r.Path, r.Format, r.DTypes = path, kind.String(), dts
	if js, ok := sd.Meta[metaConfigKey].(string); ok {
		var c Config
		if err := json.Unmarshal([]byte(js), &c); err == nil {
			r.SavedConfig = &c
		} else {
			r.Notes = append(r.Notes, "unreadable "+metaConfigKey+" metadata: "+err.Error())
		}
	}
	if dts["float16"] > 0 && !r.Config.UseFP16 && r.Recognised {
		r.Notes = append(r.Notes, "weights are stored in float16 (trained with --use_fp16 True?)")
	}
	return r, nil
}

var blockIndex = regexp.MustCompile(`^(input_blocks|output_blocks)\.(\d+)\.`)

// InspectShapes infers what it can from keys (in file order) and shapes.
func InspectShapes(keys []string, shapes map[string][]int64) *Report {
	r := &Report{NumTensors: len(keys)}
	gi := map[string]int{}
	for _, k := range keys {
		n := numel(shapes[k])
		r.ParamCount += n
		top := k
		if i := strings.IndexByte(k, '.'); i >= 0 {
			top = k[:i]
		}
		if j, ok := gi[top]; ok {
			r.Groups[j].Tensors++
			r.Groups[j].Params += n
		} else {
			gi[top] = len(r.Groups)
			r.Groups = append(r.Groups, KeyGroup{Prefix: top, Tensors: 1, Params: n})
		}
	}
	inferConfig(r, keys, shapes)
	return r
}

func inferConfig(r *Report, keys []string, shapes map[string][]int64) {
	has := func(k string) bool { _, ok := shapes[k]; return ok }
	te0, in0, out2 := shapes["time_embed.0.weight"], shapes["input_blocks.0.0.weight"], shapes["out.2.weight"]
	if len(te0) != 2 || len(in0) != 4 || len(out2) != 4 || !has("middle_block.1.qkv.weight") {
		r.Notes = append(r.Notes, "not a guided-diffusion UNetModel state dict (no time_embed.0 / input_blocks.0.0 / middle_block.1 / out.2)")
		return
	}
	c := Config{
		InChannels: int(in0[1]), OutChannels: int(out2[0]), ModelChannels: int(te0[1]),
		ConvResample: true, Dims: 2, NumHeads: 1, NumHeadChannels: -1, NumHeadsUpsample: -1,
	}
	c.LearnSigma = c.OutputsVariance()
	if le := shapes["label_emb.weight"]; len(le) == 2 {
		c.NumClasses = int(le[0])
	}
	// block counts and which input blocks have parameters
	nIn, nOut := 0, 0
	inHas := map[int]bool{}
	for _, k := range keys {
		m := blockIndex.FindStringSubmatch(k)
		if m == nil {
			continue
		}
		i, _ := strconv.Atoi(m[2])
		if m[1] == "input_blocks" {
			nIn = max(nIn, i+1)
			inHas[i] = true
		} else {
			nOut = max(nOut, i+1)
		}
	}
	// num_res_blocks: the first output block with an upsampler is index
	// num_res_blocks; without upsampler parameters, the first input block
	// without parameters (an average-pool Downsample) is num_res_blocks+1.
	isUp := func(k int) bool {
		for _, pos := range []int{1, 2} {
			p := fmt.Sprintf("output_blocks.%d.%d.", k, pos)
			if has(p+"conv.weight") || has(p+"in_layers.0.weight") {
				return true
			}
		}
		return false
	}
	nrb := -1
	for k := 0; k < nOut; k++ {
		if isUp(k) {
			nrb = k
			break
		}
	}
	if nrb < 0 {
		for i := 1; i < nIn; i++ {
			if !inHas[i] {
				nrb = i - 1
				c.ConvResample = false
				break
			}
		}
	}
	if nrb < 0 { // a single level
		nrb = nOut - 1
	}
	if nrb < 1 || nOut%(nrb+1) != 0 || nIn != nOut {
		r.Notes = append(r.Notes, fmt.Sprintf("unusual block structure: %d input blocks, %d output blocks", nIn, nOut))
		return
	}
	c.NumResBlocks = nrb
	levels := nOut / (nrb + 1)
	for l := 0; l < levels; l++ {
		first := 1 + l*(nrb+1)
		w := shapes[fmt.Sprintf("input_blocks.%d.0.in_layers.2.weight", first)]
		if len(w) != 4 {
			r.Notes = append(r.Notes, fmt.Sprintf("input_blocks.%d is not a ResBlock", first))
			return
		}
		c.ChannelMult = append(c.ChannelMult, float64(w[0])/float64(c.ModelChannels))
		if has(fmt.Sprintf("input_blocks.%d.1.qkv.weight", first)) {
			c.AttentionResolutions = append(c.AttentionResolutions, 1<<l)
		}
	}
	if e := shapes["input_blocks.1.0.emb_layers.1.weight"]; len(e) == 2 {
		out := shapes["input_blocks.1.0.in_layers.2.weight"][0]
		c.UseScaleShiftNorm = e[0] == 2*out
	}
	if levels > 1 {
		c.ResblockUpdown = has(fmt.Sprintf("input_blocks.%d.0.in_layers.0.weight", nrb+1))
	}
	r.Recognised = true
	r.Unknown = []string{"image_size", "num_heads / num_head_channels / num_heads_upsample", "use_new_attention_order", "dropout"}
	if size := defaultSizeFor(c.ChannelMult); size > 0 {
		c.ImageSize = size
		r.Notes = append(r.Notes, fmt.Sprintf("channel_mult %s is script_util's default for image_size %d",
			joinFloats(c.ChannelMult), size))
	}
	r.Config = c

	// check: the inferred config must give the file's keys and shapes
	probe := c
	if probe.ImageSize == 0 {
		probe.ImageSize = 1 << (levels - 1)
	}
	specs, err := probe.ParamShapes()
	if err != nil {
		r.Notes = append(r.Notes, "inferred config is not valid: "+err.Error())
		return
	}
	if len(specs) != len(keys) {
		r.Notes = append(r.Notes, fmt.Sprintf("inferred config has %d tensors, the file %d", len(specs), len(keys)))
		return
	}
	for _, s := range specs {
		if fs, ok := shapes[s.Key]; !ok || !slices.Equal(fs, s.Shape) {
			r.Notes = append(r.Notes, fmt.Sprintf("inferred config does not reproduce %s", s.Key))
			return
		}
	}
	r.Consistent = true
}

// defaultSizeFor is the image size whose script_util default channel_mult
// equals mult (0 if none).
func defaultSizeFor(mult []float64) int {
	for size, d := range defaultChannelMult {
		if len(d) != len(mult) {
			continue
		}
		same := true
		for i := range d {
			if math.Abs(d[i]-mult[i]) > 1e-9 {
				same = false
			}
		}
		if same {
			return size
		}
	}
	return 0
}

// Guess is a one-line summary of the inferred config.
func (r *Report) Guess() string {
	if !r.Recognised {
		return "not an ADM UNet"
	}
	c := r.Config
	parts := []string{
		fmt.Sprintf("in %d, out %d (learn_sigma %v)", c.InChannels, c.OutChannels, pyBool(c.LearnSigma)),
		fmt.Sprintf("model_channels %d", c.ModelChannels),
		"channel_mult " + joinFloats(c.ChannelMult),
		fmt.Sprintf("%d res blocks", c.NumResBlocks),
		"attention ds " + joinInts(c.AttentionResolutions),
	}
	if c.ImageSize > 0 && len(c.AttentionResolutions) > 0 {
		res := make([]int, len(c.AttentionResolutions))
		for i, ds := range c.AttentionResolutions {
			res[i] = c.ImageSize / ds
		}
		sort.Sort(sort.Reverse(sort.IntSlice(res)))
		parts[len(parts)-1] += fmt.Sprintf(" (resolutions %s at image size %d)", joinInts(res), c.ImageSize)
	}
	if c.NumClasses > 0 {
		parts = append(parts, fmt.Sprintf("%d classes", c.NumClasses))
	} else {
		parts = append(parts, "unconditional")
	}
	parts = append(parts, "use_scale_shift_norm "+pyBool(c.UseScaleShiftNorm), "resblock_updown "+pyBool(c.ResblockUpdown))
	if !c.ConvResample {
		parts = append(parts, "conv_resample False")
	}
	return strings.Join(parts, ", ")
}

// String is a readable multi-line report.
func (r *Report) String() string {
	var b strings.Builder
	if r.Path != "" {
		fmt.Fprintf(&b, "file:        %s (%s)\n", r.Path, r.Format)
	}
	fmt.Fprintf(&b, "tensors:     %d, %s elements", r.NumTensors, commas(r.ParamCount))
	if len(r.DTypes) > 0 {
		var ds []string
		for _, k := range sortedKeys(r.DTypes) {
			ds = append(ds, fmt.Sprintf("%s %d", k, r.DTypes[k]))
		}
		fmt.Fprintf(&b, " (%s)", strings.Join(ds, ", "))
	}
	b.WriteString("\nkeys:\n")
	for _, g := range r.Groups {
		fmt.Fprintf(&b, "  %-14s %5d tensors %14s elements\n", g.Prefix, g.Tensors, commas(g.Params))
	}
	if !r.Recognised {
		b.WriteString("ADM UNet:    not recognised\n")
	} else {
		fmt.Fprintf(&b, "ADM UNet:    %s\n", r.Guess())
		fmt.Fprintf(&b, "unknown:     %s (not in the weights)\n", strings.Join(r.Unknown, ", "))
		if r.Consistent {
			fmt.Fprintf(&b, "check:       the inferred config reproduces all %d keys and shapes\n", r.NumTensors)
		}
		if r.Config.ImageSize > 0 {
			fmt.Fprintf(&b, "flags:       %s\n", r.Config.Flags())
		}
	}
	if r.SavedConfig != nil {
		fmt.Fprintf(&b, "saved:       %s\n", r.SavedConfig.Short())
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "note:        %s\n", n)
	}
	return b.String()
}

// commas formats n with thousands separators.
func commas(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}
