package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/radinpaint/rad/radmodel/masks"
)

func init() {
	commands = append(commands, &cli.Command{
		Name:  "masks",
		Usage: "write a seeded set of masks as PNGs (white = hole)",
		Description: "perlin: the training masks (hole fraction uniform on [0, 1]); box, extreme, wide: the\n" +
			"evaluation masks of the LaMa protocol (sizes given for 256 x 256 and scaled); thin: strokes\n" +
			"4-8 px wide covering about 10% (wires, scratches; absolute pixels); mixed: the default model's\n" +
			"training masks (perlin, strokes, wide).\n" +
			"Files are DIR/00000.png, DIR/00001.png, ...; the same seed gives the same files.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "kind", Value: "perlin", Usage: "perlin, box, extreme, wide, thin or mixed"},
			&cli.IntFlag{Name: "n", Value: 100, Usage: "number of masks"},
			&cli.IntFlag{Name: "size", Value: 256, Usage: "mask width and height"},
			&cli.Uint64Flag{Name: "seed", Value: 0, Usage: "random seed"},
			&cli.StringFlag{Name: "out", Required: true, Usage: "output folder"},
		},
		Action: func(c *cli.Context) error {
			kind := masks.Kind(c.String("kind"))
			if _, err := masks.Generate(kind, c.Int("size"), 0, 0); err != nil {
				return err
			}
			if err := masks.WriteSet(c.String("out"), kind, c.Int("size"), c.Uint64("seed"), c.Int("n")); err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "wrote %d %s masks of %dx%d to %s\n", c.Int("n"), kind, c.Int("size"), c.Int("size"), c.String("out"))
			return nil
		},
	})
}
