// Command radctl is RAD's command-line tool: version and device report,
// ADM forward passes, masks, training and inpainting.
package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/radinpaint/rad/torch"
)

// version is the project version (set with -ldflags "-X main.version=...").
var version = "0.1.0-dev"

func main() {
	app := &cli.App{
		Name:    "radctl",
		Usage:   "region-aware diffusion inpainting over libtorch",
		Version: version,
		Before: func(*cli.Context) error {
			return torch.CheckABI()
		},
		Commands: commands,
		ExitErrHandler: func(c *cli.Context, err error) {
			if err != nil {
				fmt.Fprintln(os.Stderr, "radctl:", err)
				os.Exit(1)
			}
		},
	}
	rawArgs = os.Args[1:]
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "radctl:", err)
		os.Exit(1)
	}
}

// commands is filled by each command's file.
var commands []*cli.Command
