package radmodel

import (
	"fmt"
	"sort"
	"strings"
)

// preset is a released checkpoint and the flags its authors published.
type preset struct {
	file  string // released file name
	flags string
}

const (
	// guided-diffusion README, "ImageNet" and "LSUN" sections.
	flagsImageNet64 = "--attention_resolutions 32,16,8 --class_cond True --diffusion_steps 1000 --dropout 0.1 " +
		"--image_size 64 --learn_sigma True --noise_schedule cosine --num_channels 192 --num_head_channels 64 " +
		"--num_res_blocks 3 --resblock_updown True --use_new_attention_order True --use_fp16 True " +
		"--use_scale_shift_norm True"
	flagsImageNet128 = "--attention_resolutions 32,16,8 --class_cond True --diffusion_steps 1000 --image_size 128 " +
		"--learn_sigma True --noise_schedule linear --num_channels 256 --num_heads 4 --num_res_blocks 2 " +
		"--resblock_updown True --use_fp16 True --use_scale_shift_norm True"
	flagsImageNet256 = "--attention_resolutions 32,16,8 --class_cond True --diffusion_steps 1000 --image_size 256 " +
		"--learn_sigma True --noise_schedule linear --num_channels 256 --num_head_channels 64 --num_res_blocks 2 " +
		"--resblock_updown True --use_fp16 True --use_scale_shift_norm True"
	flagsImageNet256Uncond = "--attention_resolutions 32,16,8 --class_cond False --diffusion_steps 1000 " +
		"--image_size 256 --learn_sigma True --noise_schedule linear --num_channels 256 --num_head_channels 64 " +
		"--num_res_blocks 2 --resblock_updown True --use_fp16 True --use_scale_shift_norm True"
	flagsImageNet512 = "--attention_resolutions 32,16,8 --class_cond True --diffusion_steps 1000 --image_size 512 " +
		"--learn_sigma True --noise_schedule linear --num_channels 256 --num_head_channels 64 --num_res_blocks 2 " +
		"--resblock_updown True --use_fp16 False --use_scale_shift_norm True"
	flagsLSUN = "--attention_resolutions 32,16,8 --class_cond False --diffusion_steps 1000 --dropout 0.1 " +
		"--image_size 256 --learn_sigma True --noise_schedule linear --num_channels 256 --num_head_channels 64 " +
		"--num_res_blocks 2 --resblock_updown True --use_fp16 True --use_scale_shift_norm True"
	// FFHQ 256 model (ffhq_10m.pt), as used by the RAD authors.
	flagsFFHQ = "--attention_resolutions 16 --class_cond False --diffusion_steps 1000 --image_size 256 " +
		"--learn_sigma True --noise_schedule linear --num_channels 128 --num_head_channels 64 --num_res_blocks 1 " +
		"--resblock_updown True --use_fp16 False --use_scale_shift_norm True"
)

var presets = map[string]preset{
	"imagenet64":           {"64x64_diffusion.pt", flagsImageNet64},
	"imagenet128":          {"128x128_diffusion.pt", flagsImageNet128},
	"imagenet256":          {"256x256_diffusion.pt", flagsImageNet256},
	"imagenet256_uncond":   {"256x256_diffusion_uncond.pt", flagsImageNet256Uncond},
	"imagenet512":          {"512x512_diffusion.pt", flagsImageNet512},
	"lsun_bedroom":         {"lsun_bedroom.pt", flagsLSUN},
	"lsun_cat":             {"lsun_cat.pt", flagsLSUN},
	"lsun_horse":           {"lsun_horse.pt", flagsLSUN},
	"lsun_horse_nodropout": {"lsun_horse_nodropout.pt", strings.Replace(flagsLSUN, "--dropout 0.1", "--dropout 0.0", 1)},
	"ffhq_10m":             {"ffhq_10m.pt", flagsFFHQ},
}

// presetAlias maps released file stems and short forms to preset names.
func presetAlias(name string) string {
	n := strings.ToLower(strings.TrimSpace(name))
	n = strings.TrimSuffix(n, ".pt")
	n = strings.ReplaceAll(n, "-", "_")
	if _, ok := presets[n]; ok {
		return n
	}
	for k, p := range presets {
		if strings.TrimSuffix(p.file, ".pt") == n {
			return k
		}
	}
	switch n {
	case "64x64", "imagenet_64", "imagenet64_cond":
		return "imagenet64"
	case "128x128", "imagenet_128", "imagenet128_cond":
		return "imagenet128"
	case "256x256", "imagenet_256", "imagenet256_cond":
		return "imagenet256"
	case "256x256_uncond", "imagenet_256_uncond":
		return "imagenet256_uncond"
	case "512x512", "imagenet_512", "imagenet512_cond":
		return "imagenet512"
	case "ffhq", "ffhq256":
		return "ffhq_10m"
	}
	return n
}

// PresetNames lists the presets, sorted.
func PresetNames() []string {
	out := make([]string, 0, len(presets))
	for k := range presets {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// PresetFlags returns a preset's published flag string. Names are the
// keys of PresetNames or the released file names ("256x256_diffusion_uncond",
// "lsun_bedroom.pt", ...).
func PresetFlags(name string) (string, error) {
	p, ok := presets[presetAlias(name)]
	if !ok {
		return "", fmt.Errorf("radmodel: unknown preset %q (known: %s)", name, strings.Join(PresetNames(), ", "))
	}
	return p.flags, nil
}

// PresetSpec returns a preset's model config and diffusion flags.
func PresetSpec(name string) (Spec, error) {
	f, err := PresetFlags(name)
	if err != nil {
		return Spec{}, err
	}
	sp, err := ParseFlags(f)
	if err != nil {
		return Spec{}, fmt.Errorf("radmodel: preset %q: %w", name, err)
	}
	return sp, nil
}

// Preset returns the model config of a released checkpoint.
func Preset(name string) (Config, error) {
	sp, err := PresetSpec(name)
	return sp.Model, err
}
