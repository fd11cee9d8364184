package main

import (
	"fmt"
	"runtime"

	"github.com/urfave/cli/v2"

	"github.com/radinpaint/rad/torch"
)

func init() {
	commands = append(commands, &cli.Command{
		Name:  "version",
		Usage: "print the project and libtorch versions and the devices",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print JSON"}},
		Action: func(c *cli.Context) error {
			info := versionInfo()
			if c.Bool("json") {
				return printJSON(c, info)
			}
			fmt.Fprintf(c.App.Writer, "radctl %s (%s, %s/%s)\n", info.Version, info.Go, runtime.GOOS, runtime.GOARCH)
			fmt.Fprintf(c.App.Writer, "libtorch %s (shim ABI %d), %d CPU threads\n", info.Libtorch, info.ABI, info.Threads)
			fmt.Fprintf(c.App.Writer, "CUDA available: %v\n", info.CUDA)
			for _, d := range info.Devices {
				fmt.Fprintf(c.App.Writer, "  %s\n", d)
			}
			return nil
		},
	})
}

type versionReport struct {
	Version  string   `json:"version"`
	Go       string   `json:"go"`
	Libtorch string   `json:"libtorch"`
	ABI      int      `json:"abi"`
	Threads  int      `json:"threads"`
	CUDA     bool     `json:"cuda_available"`
	Devices  []string `json:"devices"`
}

func versionInfo() versionReport {
	r := versionReport{
		Version: version, Go: runtime.Version(), Libtorch: torch.Version(), ABI: torch.ABIVersion,
		Threads: torch.NumThreads(), CUDA: torch.CUDAAvailable(), Devices: []string{"cpu"},
	}
	for i := 0; i < torch.CUDADeviceCount(); i++ {
		name, err := torch.CUDADeviceName(i)
		if err != nil {
			name = err.Error()
		}
		r.Devices = append(r.Devices, fmt.Sprintf("cuda:%d %s", i, name))
	}
	return r
}
