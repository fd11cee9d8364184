package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/radinpaint/rad/radmodel"
	"github.com/radinpaint/rad/torch"
)

func init() {
	commands = append(commands, &cli.Command{
		Name:  "convert",
		Usage: "write a checkpoint (torch.save, TorchScript or safetensors) as safetensors with its config, in float32, float16 or bfloat16",
		Description: "Loads --model with its config (saved in the file, or --config / --model-flags / --preset),\n" +
			"checks every key and shape, and writes --out atomically: the weights in --to (float16\n" +
			"halves a float32 file; how the shipped models were made) with the config in the metadata,\n" +
			"so radctl infer --base OUT needs no config flags.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "model", Required: true, Usage: "checkpoint: torch.save state dict, TorchScript archive or safetensors"},
			&cli.StringFlag{Name: "config", Usage: "config JSON (unet_kwargs, script_util_flags or flags object)"},
			&cli.StringFlag{Name: "model-flags", Usage: "guided-diffusion flag string"},
			&cli.StringFlag{Name: "preset", Usage: "config of a released checkpoint: " + fmt.Sprint(radmodel.PresetNames())},
			&cli.StringFlag{Name: "out", Required: true, Usage: "output safetensors file"},
			&cli.StringFlag{Name: "to", Value: "float16", Usage: "stored dtype: float32, float16 or bfloat16"},
			&cli.StringFlag{Name: "resolution", Usage: "record the sizes the model runs at (inference's auto resolution, docs/DESIGN.md §6.1): native, model or auto (decided by its attention resolutions); default: keep the file's"},
		},
		Action: runConvert,
	})
}

func runConvert(c *cli.Context) error {
	dt, err := torch.ParseDType(c.String("to"))
	if err != nil {
		return fmt.Errorf("--to: %w", err)
	}
	if dt != torch.Float32 && dt != torch.Float16 && dt != torch.BFloat16 {
		return fmt.Errorf("--to %s: want float32, float16 or bfloat16", dt)
	}
	in, out := c.String("model"), c.String("out")
	if a, b := absPath(in), absPath(out); a == b {
		return fmt.Errorf("--out %s is the input file: write elsewhere", out)
	}
	spec, err := modelSpec(c, "model")
	if err != nil {
		return err
	}
	if c.IsSet("resolution") {
		if spec.Model.Resolution, err = parseResolutionFlag(c.String("resolution")); err != nil {
			return fmt.Errorf("--resolution: %w", err)
		}
	}
	m, err := radmodel.Load(in, spec.Model, torch.CPU, torch.Float32)
	if err != nil {
		return err
	}
	defer m.Close()
	if err := m.SaveSafetensorsAs(out, dt); err != nil {
		return err
	}
	st, err := os.Stat(out)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "%s: %s, %d parameters as %s, %.1f MB\n", out, m.Config().Short(), m.NumParams(), dt, float64(st.Size())/1e6)
	return nil
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return filepath.Clean(a)
	}
	return p
}
