package radmodel

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/radinpaint/rad/torch"
)

func TestFixtureConfigs(t *testing.T) {
	for _, name := range fixtureNames {
		t.Run(name, func(t *testing.T) {
			f := readFixtureJSON(t, name)
			kw, err := configFromKwargs(f.UnetKwargs)
			if err != nil {
				t.Fatal(err)
			}
			fm, err := flagMapFromJSON(f.ScriptUtilFlags)
			if err != nil {
				t.Fatal(err)
			}
			sp, err := SpecFromFlagMap(fm)
			if err != nil {
				t.Fatal(err)
			}
			if !kw.Equal(sp.Model) {
				t.Fatalf("unet_kwargs and script_util_flags differ:\n%+v\n%+v", kw, sp.Model)
			}
			if whole := fixtureConfig(t, name); !whole.Equal(kw) {
				t.Fatalf("ConfigFromJSON differs from unet_kwargs:\n%+v\n%+v", whole, kw)
			}
			if err := kw.Validate(); err != nil {
				t.Fatal(err)
			}
			n, err := kw.ParamCount()
			if err != nil || n != f.ParamCount {
				t.Fatalf("ParamCount %d (%v), want %d", n, err, f.ParamCount)
			}
			shapes, err := kw.ParamShapes()
			if err != nil || len(shapes) != f.StateDictEntries {
				t.Fatalf("ParamShapes: %d entries (%v), want %d", len(shapes), err, f.StateDictEntries)
			}
			// keys and shapes equal the .pt's, in order
			s := torch.NewNoGradScope()
			defer s.Close()
			sd, err := torch.LoadPT(s, fixture(name+".pt"))
			if err != nil {
				t.Fatal(err)
			}
			if len(sd.Keys) != len(shapes) {
				t.Fatalf("%d keys in the .pt, %d from the config", len(sd.Keys), len(shapes))
			}
			for i, p := range shapes {
				if sd.Keys[i] != p.Key {
					t.Fatalf("key %d: config %q, file %q", i, p.Key, sd.Keys[i])
				}
				if got := sd.Get(p.Key).Shape(); !slices.Equal(got, p.Shape) {
					t.Fatalf("%s: config shape %v, file %v", p.Key, p.Shape, got)
				}
			}
			// attention layout (heads and order per block)
			lay := attentionLayout(kw)
			if len(lay) != len(f.AttentionBlocks) {
				t.Fatalf("%d attention blocks, want %d", len(lay), len(f.AttentionBlocks))
			}
			for i, a := range f.AttentionBlocks {
				got := lay[i]
				newOrder := strings.HasPrefix(a.Order, "new")
				if got.key != a.Module || got.ch != a.Channels || got.heads != a.NumHeads || got.newOrder != newOrder {
					t.Fatalf("attention block %d: got %+v, want %+v", i, got, a)
				}
			}
		})
	}
}

func TestPresetParamCounts(t *testing.T) {
	want := map[string]int64{
		"imagenet256_uncond": 552_814_086,
		"ffhq_10m":           93_563_910,
		// the LSUN models share the 256x256 unconditional architecture
		"lsun_bedroom": 552_814_086,
		"lsun_cat":     552_814_086,
		"lsun_horse":   552_814_086,
		// class-conditional: + a 1000 x 1024 label embedding
		"imagenet256": 552_814_086 + 1000*1024,
	}
	for name, n := range want {
		c, err := Preset(name)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.ParamCount()
		if err != nil || got != n {
			t.Errorf("%s: ParamCount %d (%v), want %d", name, got, err, n)
		}
	}
	for _, name := range PresetNames() {
		sp, err := PresetSpec(name)
		if err != nil {
			t.Fatal(err)
		}
		c := sp.Model
		if _, err := c.ParamCount(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if !c.LearnSigma || c.OutChannels != 6 || sp.Diffusion.DiffusionSteps != 1000 {
			t.Errorf("%s: learn_sigma %v out %d steps %d", name, c.LearnSigma, c.OutChannels, sp.Diffusion.DiffusionSteps)
		}
		// Flags() round-trips
		back, err := ConfigFromFlags(c.Flags())
		if err != nil || !back.Equal(c) {
			t.Errorf("%s: Flags() %q gives %+v (%v), want %+v", name, c.Flags(), back, err, c)
		}
	}
	// aliases: released file names
	a, err := Preset("256x256_diffusion_uncond.pt")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Preset("imagenet256_uncond")
	if !a.Equal(b) {
		t.Fatal("alias differs")
	}
	if _, err := Preset("nope"); err == nil || !strings.Contains(err.Error(), "ffhq_10m") {
		t.Fatalf("unknown preset: %v", err)
	}
	im64, _ := PresetSpec("imagenet64")
	if im64.Diffusion.NoiseSchedule != "cosine" || !im64.Model.UseNewAttentionOrder || im64.Model.NumResBlocks != 3 ||
		im64.Model.NumClasses != 1000 || im64.Model.Dropout != 0.1 {
		t.Fatalf("imagenet64: %+v", im64)
	}
	ff, _ := Preset("ffhq_10m")
	if ff.ImageSize != 256 || len(ff.AttentionResolutions) != 1 || ff.AttentionResolutions[0] != 16 ||
		ff.NumClasses != 0 || ff.NumResBlocks != 1 || ff.ModelChannels != 128 {
		t.Fatalf("ffhq_10m: %+v", ff)
	}
}

func TestParseFlags(t *testing.T) {
	sp, err := ParseFlags("--attention_resolutions 32,16,8 --class_cond False --diffusion_steps 1000 " +
		"--image_size 256 --learn_sigma True --noise_schedule linear --num_channels 256 --num_head_channels 64 " +
		"--num_res_blocks 2 --resblock_updown True --use_fp16 True --use_scale_shift_norm True " +
		"--timestep_respacing 250 --batch_size 4 --use_ddim False")
	if err != nil {
		t.Fatal(err)
	}
	c := sp.Model
	if c.ImageSize != 256 || c.ModelChannels != 256 || c.OutChannels != 6 || c.NumClasses != 0 ||
		joinFloats(c.ChannelMult) != "1,1,2,2,4,4" || joinInts(c.AttentionResolutions) != "8,16,32" ||
		c.NumHeadChannels != 64 || c.NumHeads != 4 || !c.ResblockUpdown || !c.UseFP16 || !c.UseScaleShiftNorm ||
		c.InChannels != 3 || !c.ConvResample {
		t.Fatalf("model: %+v", c)
	}
	d := sp.Diffusion
	if !d.LearnSigma || d.DiffusionSteps != 1000 || d.NoiseSchedule != "linear" || d.TimestepRespacing != "250" {
		t.Fatalf("diffusion: %+v", d)
	}
	if sp.Other["batch_size"] != "4" || sp.Other["use_ddim"] != "False" {
		t.Fatalf("other: %v", sp.Other)
	}

	// defaults: model_and_diffusion_defaults()
	def, err := ParseFlags("")
	if err != nil {
		t.Fatal(err)
	}
	if def.Model.ImageSize != 64 || def.Model.ModelChannels != 128 || def.Model.NumResBlocks != 2 ||
		def.Model.NumHeads != 4 || joinFloats(def.Model.ChannelMult) != "1,2,3,4" ||
		joinInts(def.Model.AttentionResolutions) != "4,8" || !def.Model.UseScaleShiftNorm ||
		def.Model.OutChannels != 3 || def.Diffusion.NoiseSchedule != "linear" || def.Diffusion.DiffusionSteps != 1000 {
		t.Fatalf("defaults: %+v %+v", def.Model, def.Diffusion)
	}

	// channel_mult by image size
	for size, mult := range map[int]string{512: "0.5,1,1,2,2,4,4", 256: "1,1,2,2,4,4", 128: "1,1,2,3,4", 64: "1,2,3,4"} {
		c, err := ConfigFromFlags("--image_size " + strconv.Itoa(size) + " --num_channels 256")
		if err != nil || joinFloats(c.ChannelMult) != mult {
			t.Fatalf("image %d: channel_mult %v (%v), want %s", size, c.ChannelMult, err, mult)
		}
	}

	// syntax variants: --flag=value, dashes, str2bool forms, quotes
	c2, err := ConfigFromFlags(`--image-size=32 --channel_mult "1,2" --class_cond yes --learn_sigma T ` +
		`--attention_resolutions 16 --num_channels 32 --use_scale_shift_norm n --num_heads=2`)
	if err != nil {
		t.Fatal(err)
	}
	if c2.ImageSize != 32 || joinFloats(c2.ChannelMult) != "1,2" || c2.NumClasses != 1000 || c2.OutChannels != 6 ||
		joinInts(c2.AttentionResolutions) != "2" || c2.UseScaleShiftNorm || c2.NumHeads != 2 {
		t.Fatalf("variants: %+v", c2)
	}

	bad := map[string]string{
		"--num_channel 128":                         "unknown flag",
		"--image_size":                              "has no value",
		"--class_cond maybe":                        "boolean value expected",
		"--image_size 48":                           "unsupported image size 48",
		"--num_channels abc":                        "want an integer",
		"image_size 64":                             "unexpected",
		"--attention_resolutions 16,x":              "bad resolution",
		"--num_channels 100":                        "not a multiple of 32",
		"--num_head_channels 48 --num_channels 128": "not a multiple of num_head_channels",
		`--image_size "64`:                          "unterminated quote",
	}
	for flags, want := range bad {
		if _, err := ParseFlags(flags); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one containing %q", flags, err, want)
		}
	}
}

func TestConfigJSONForms(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	want := fixtureConfig(t, "pub_a")
	forms := map[string]string{
		"bare_flags.json": `{"image_size": 32, "num_channels": 32, "num_res_blocks": 1, "num_heads": 2,
			"attention_resolutions": "16", "channel_mult": "1,1,2", "learn_sigma": true, "class_cond": "False"}`,
		"bare_kwargs.json": `{"image_size": 32, "in_channels": 3, "model_channels": 32, "out_channels": 6,
			"num_res_blocks": 1, "attention_resolutions": [2], "channel_mult": [1, 1, 2], "num_classes": null,
			"num_heads": 2, "use_scale_shift_norm": true}`,
		"model_flags.json": `{"model_flags": "--image_size 32 --num_channels 32 --num_res_blocks 1 --num_heads 2 ` +
			`--attention_resolutions 16 --channel_mult 1,1,2 --learn_sigma True"}`,
	}
	for name, body := range forms {
		c, err := ConfigFromJSON(write(name, body))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !c.Equal(want) {
			t.Fatalf("%s: %+v, want %+v", name, c, want)
		}
	}
	badForms := map[string]string{
		`{"unet_kwargs": {"image_size": 32, "model_channels": 32, "out_channels": 3, "num_res_blocks": 1, "attention_resolutions": [], "bogus": 1}}`: "bogus",
		`{"unet_kwargs": {"image_size": 32, "out_channels": 3, "num_res_blocks": 1, "attention_resolutions": []}}`:                                   "model_channels is required",
		`[1, 2]`:                             "not a JSON object",
		`{"num_chanels": 128}`:               "unknown flag",
		`{"script_util_flags": 3}`:           "script_util_flags",
		`{"image_size": 64, "dropout": 1.5}`: "dropout",
	}
	for body, want := range badForms {
		if _, err := ConfigFromJSON(write("bad.json", body)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one containing %q", body, err, want)
		}
	}
	if _, err := ConfigFromJSON(filepath.Join(dir, "missing.json")); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("missing file: %v", err)
	}
	// diffusion flags come back from script_util_flags
	sp, err := SpecFromJSON(fixture("pub_c.json"))
	if err != nil || !sp.Diffusion.LearnSigma || sp.Model.NumClasses != 1000 {
		t.Fatalf("spec: %+v %v", sp, err)
	}
}

func TestValidate(t *testing.T) {
	base := fixtureConfig(t, "pub_c")
	cases := map[string]func(c *Config){
		"num_res_blocks":     func(c *Config) { c.NumResBlocks = 0 },
		"channel_mult":       func(c *Config) { c.ChannelMult = nil },
		"multiple of 32":     func(c *Config) { c.ChannelMult = []float64{1, 1.5} },
		"head":               func(c *Config) { c.NumHeadChannels = 24 },
		"dims":               func(c *Config) { c.Dims = 3 },
		"in_channels":        func(c *Config) { c.InChannels = 0 },
		"num_heads":          func(c *Config) { c.NumHeadChannels, c.NumHeads = -1, 0 },
		"3 heads":            func(c *Config) { c.NumHeadChannels, c.NumHeads = -1, 3 },
		"attention":          func(c *Config) { c.AttentionResolutions = []int{0} },
		"num_heads_upsample": func(c *Config) { c.NumHeadsUpsample = 0 },
		"resolution":         func(c *Config) { c.Resolution = "any" },
	}
	for want, mod := range cases {
		c := base
		c.ChannelMult = append([]float64(nil), base.ChannelMult...)
		mod(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: Validate() = %v", want, err)
		}
	}
	if err := base.Validate(); err != nil {
		t.Fatal(err)
	}
	// Resolution is a note on the sizes to run at: valid values, not part of Equal
	for _, r := range []string{SizeNative, SizeModel} {
		c := base
		c.Resolution = r
		if err := c.Validate(); err != nil || !c.Equal(base) || !strings.Contains(c.Short(), r+" resolution") {
			t.Errorf("resolution %s: %v, equal %v, %s", r, err, c.Equal(base), c.Short())
		}
	}
}
