package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/radinpaint/rad/radmodel"
	"github.com/radinpaint/rad/torch"
)

// modelFlags are the flags that pick a model's config, device and dtype;
// the checkpoint flag is required.
func modelFlags(modelFlag string) []cli.Flag {
	return modelFlagsWith(&cli.StringFlag{Name: modelFlag, Required: true, Usage: "checkpoint: torch.save state dict, TorchScript archive or safetensors"})
}

// modelFlagsWith is modelFlags with the given checkpoint flag.
func modelFlagsWith(checkpoint cli.Flag) []cli.Flag {
	return []cli.Flag{
		checkpoint,
		&cli.StringFlag{Name: "config", Usage: "config JSON (unet_kwargs, script_util_flags or flags object)"},
		&cli.StringFlag{Name: "model-flags", Usage: "guided-diffusion flag string, e.g. \"--attention_resolutions 32,16,8 --class_cond False ...\""},
		&cli.StringFlag{Name: "preset", Usage: "config of a released checkpoint: " + fmt.Sprint(radmodel.PresetNames())},
		&cli.StringFlag{Name: "device", Value: "cpu", Usage: "cpu, cuda or cuda:N"},
		&cli.StringFlag{Name: "dtype", Value: "float32", Usage: "model dtype: float32, or bfloat16/float16 (CUDA)"},
	}
}

// modelSpec resolves the config flags (exactly one of --config,
// --model-flags, --preset; else a config saved in a safetensors file).
func modelSpec(c *cli.Context, modelFlag string) (radmodel.Spec, error) {
	n := 0
	for _, f := range []string{"config", "model-flags", "preset"} {
		if c.String(f) != "" {
			n++
		}
	}
	if n > 1 {
		return radmodel.Spec{}, fmt.Errorf("give one of --config, --model-flags and --preset")
	}
	switch {
	case c.String("config") != "":
		return radmodel.SpecFromJSON(c.String("config"))
	case c.String("model-flags") != "":
		return radmodel.ParseFlags(c.String("model-flags"))
	case c.String("preset") != "":
		return radmodel.PresetSpec(c.String("preset"))
	}
	r, err := radmodel.Inspect(c.String(modelFlag))
	if err != nil {
		return radmodel.Spec{}, err
	}
	if r.SavedConfig != nil {
		return radmodel.Spec{Model: *r.SavedConfig}, nil
	}
	return radmodel.Spec{}, fmt.Errorf("%s carries no config: give --config, --model-flags or --preset (radctl inspect --model %s guesses one)",
		c.String(modelFlag), c.String(modelFlag))
}

// deviceAndDType parses and validates --device and --dtype.
func deviceAndDType(c *cli.Context) (torch.Device, torch.DType, error) {
	dev, err := torch.ParseDevice(c.String("device"))
	if err != nil {
		return dev, 0, err
	}
	if err := dev.Validate(); err != nil {
		return dev, 0, err
	}
	dt, err := torch.ParseDType(c.String("dtype"))
	if err != nil {
		return dev, 0, err
	}
	return dev, dt, nil
}

// loadModel loads the checkpoint named by modelFlag with the config flags.
func loadModel(c *cli.Context, modelFlag string) (*radmodel.UNet, radmodel.Spec, error) {
	spec, err := modelSpec(c, modelFlag)
	if err != nil {
		return nil, spec, err
	}
	dev, dt, err := deviceAndDType(c)
	if err != nil {
		return nil, spec, err
	}
	m, err := radmodel.Load(c.String(modelFlag), spec.Model, dev, dt)
	return m, spec, err
}
