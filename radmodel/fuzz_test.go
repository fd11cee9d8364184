package radmodel

import (
	"os"
	"testing"
)

// FuzzParseFlags: guided-diffusion flag strings never panic the parser, and
// every config it accepts validates and prints.
func FuzzParseFlags(f *testing.F) {
	for _, s := range []string{
		"--image_size 256 --num_channels 256 --num_res_blocks 2 --attention_resolutions 32,16,8 --learn_sigma True",
		"--image_size=64 --class_cond t --num_head_channels 64 --resblock_updown yes --use_fp16 1",
		"--image_size 32 --num_channels 32 --channel_mult 1,2 --num_heads 1 --dropout 0.1",
		"--image_size 512 --channel_mult '' --use_new_attention_order n",
		"--image_size", "--unknown 3", "--image_size -8", "--num_channels 0", "--attention_resolutions 99999999999999999999",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, flags string) {
		sp, err := ParseFlags(flags)
		if err != nil {
			return
		}
		if err := sp.Model.Validate(); err != nil {
			t.Fatalf("ParseFlags(%q) accepted a config that does not validate: %v", flags, err)
		}
		_ = sp.Model.Short()
	})
}

// FuzzConfigJSON: model config JSON (unet_kwargs, script_util_flags,
// model_flags, bare objects) never panics the reader, and every config it
// accepts validates.
func FuzzConfigJSON(f *testing.F) {
	for _, p := range []string{"pub_a.json", "pub_b.json", "pub_c.json"} {
		raw, err := os.ReadFile(fixture(p))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	for _, s := range []string{
		`{"model_flags": "--image_size 64 --num_channels 64"}`,
		`{"script_util_flags": {"image_size": 32, "num_channels": 32, "learn_sigma": true, "channel_mult": "1,2"}}`,
		`{"unet_kwargs": {"image_size": 32, "in_channels": 3, "model_channels": 32, "out_channels": 6, "num_res_blocks": 1, "attention_resolutions": [], "channel_mult": [1, 2]}}`,
		`{"unet_kwargs": {"channel_mult": [1e308]}}`, `[]`, `{"image_size": null}`, `{`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		sp, err := specFromJSONBytes(raw)
		if err != nil {
			return
		}
		if err := sp.Model.Validate(); err != nil {
			t.Fatalf("accepted a config that does not validate: %v\n%s", err, raw)
		}
	})
}
