package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/radinpaint/rad/torch"
)

func init() {
	commands = append(commands, &cli.Command{
		Name:  "forward",
		Usage: "run the ADM forward pass on inputs from a .pt file",
		Description: "IN is a torch.save dict with x [B,C,H,W] float32, t [B] int64 or float, optional y [B]\n" +
			"int64 and optional tau [B,1,H,W] (then RAD's spatial noise embedding is used with that\n" +
			"timestep map instead of t). OUT is a torch.load-able dict with out.",
		Flags: append(modelFlags("model"),
			&cli.StringFlag{Name: "input", Required: true, Usage: "input .pt dict (x, t, optional y, tau)"},
			&cli.StringFlag{Name: "output", Required: true, Usage: "output .pt (dict with out)"},
		),
		Action: func(c *cli.Context) error {
			m, _, err := loadModel(c, "model")
			if err != nil {
				return err
			}
			defer m.Close()
			s := torch.NewNoGradScope().SetInference(true)
			defer s.Close()
			in, err := torch.LoadPT(s, c.String("input"))
			if err != nil {
				return err
			}
			x, t, y, tau := in.Get("x"), in.Get("t"), in.Get("y"), in.Get("tau")
			if x == nil {
				return fmt.Errorf("%s has no tensor x", c.String("input"))
			}
			if tau != nil {
				t = tau
			} else if t == nil {
				return fmt.Errorf("%s has neither t nor tau", c.String("input"))
			}
			out := m.Forward(s, x, t, y)
			if err := s.Err(); err != nil {
				return fmt.Errorf("forward on %s: %w", c.String("input"), err)
			}
			if err := torch.SavePT(c.String("output"), []string{"out"}, []*torch.Tensor{out}); err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "out %v -> %s\n", out.Shape(), c.String("output"))
			return nil
		},
	})
	commands = append(commands, &cli.Command{
		Name:  "inspect",
		Usage: "report a checkpoint's config (inferred from its shapes), parameter count and keys",
		Flags: []cli.Flag{&cli.StringFlag{Name: "model", Required: true, Usage: "checkpoint to inspect"}},
		Action: func(c *cli.Context) error {
			r, err := radmodelInspect(c.String("model"))
			if err != nil {
				return err
			}
			fmt.Fprint(c.App.Writer, r)
			return nil
		},
	})
}
