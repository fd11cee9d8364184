package main

import (
	"context"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/radinpaint/rad/infer"
	"github.com/radinpaint/rad/serve"
)

func init() {
	commands = append(commands, &cli.Command{
		Name:  "serve",
		Usage: "serve inpainting over HTTP: JSON/multipart API, jobs with progress events, metrics, a web page",
		Description: "POST /v1/inpaint (image and mask as multipart files or base64 JSON) answers the PNG;\n" +
			"POST /v1/jobs, GET /v1/jobs/{id}/events (Server-Sent Events), GET /v1/jobs/{id}/result,\n" +
			"DELETE /v1/jobs/{id}; GET /healthz, GET /metrics (Prometheus); the page at /.\n" +
			"The model flags are radctl infer's: without --base the shipped default model serves.\n" +
			"Concurrent requests with the same working size and settings are sampled as one batch of up to\n" +
			"--batch-size; --workers batches run at once, --queue more samples wait (then 429). SIGTERM or\n" +
			"Ctrl-C drains: new requests are refused, those in flight finish (within --shutdown-timeout).",
		Flags: append(append(inpainterFlags(),
			&cli.StringFlag{Name: "addr", Value: "127.0.0.1:8080", Usage: "listen address"},
			&cli.BoolFlag{Name: "demo", Usage: "the page opens with the generated demo picture and its mask"},
			&cli.IntFlag{Name: "batch-size", Value: 4, Usage: "most requests sampled together as one batch (the Inpainter's MaxBatch)"},
			&cli.IntFlag{Name: "workers", Value: 1, Usage: "batches sampled at once"},
			&cli.IntFlag{Name: "queue", Value: 32, Usage: "samples that may wait beyond the running ones (then 429 with Retry-After)"},
			&cli.IntFlag{Name: "steps", Value: 100, Usage: "default sampling steps of a request"},
			&cli.StringFlag{Name: "sampler", Value: "rad", Usage: "default sampler of a request: rad, rad-ddim or repaint"},
			&cli.Int64Flag{Name: "max-upload-bytes", Value: 32 << 20, Usage: "largest request body (413 above)"},
			&cli.IntFlag{Name: "max-pixels", Value: 4 << 20, Usage: "largest width x height of an image (413 above)"},
			&cli.IntFlag{Name: "max-n", Value: 8, Usage: "most samples of one request"},
			&cli.DurationFlag{Name: "timeout", Value: 10 * time.Minute, Usage: "longest request or job (504 after)"},
			&cli.DurationFlag{Name: "job-ttl", Value: 10 * time.Minute, Usage: "how long a finished job's result is kept"},
			&cli.DurationFlag{Name: "shutdown-timeout", Value: 2 * time.Minute, Usage: "on SIGTERM, how long work in flight may take to finish"},
		), workingSizeFlags()...),
		Action: runServe,
	})
}

func runServe(c *cli.Context) error {
	def := infer.Options{Steps: c.Int("steps"), Sampler: infer.Kind(c.String("sampler"))}
	if err := workingSize(c, &def); err != nil {
		return err
	}
	switch def.Sampler {
	case infer.RAD, infer.RADDDIM, infer.RePaint:
	default:
		return fmt.Errorf("--sampler %q: want rad, rad-ddim or repaint", def.Sampler)
	}
	if c.Int("batch-size") < 1 || c.Int("workers") < 1 || c.Int("queue") < 0 {
		return fmt.Errorf("--batch-size and --workers must be >= 1, --queue >= 0")
	}
	ln, err := net.Listen("tcp", c.String("addr"))
	if err != nil {
		return err
	}
	defer ln.Close()
	ip, dev, err := inpainterFor(c)
	if err != nil {
		return err
	}
	defer ip.Close()
	queue := c.Int("queue")
	if queue == 0 {
		queue = -1 // serve.Config: no queue
	}
	logger := log.New(c.App.ErrWriter, "radctl serve: ", log.LstdFlags)
	s, err := serve.New(serve.Config{
		Inpainter: ip, MaxBatch: c.Int("batch-size"), Workers: c.Int("workers"), QueueSize: queue,
		MaxUploadBytes: c.Int64("max-upload-bytes"), MaxPixels: c.Int("max-pixels"), MaxN: c.Int("max-n"),
		Timeout: c.Duration("timeout"), JobTTL: c.Duration("job-ttl"), Defaults: def, Demo: c.Bool("demo"), Log: logger,
	})
	if err != nil {
		return err
	}
	cfg := ip.ModelConfig()
	logger.Printf("serving http://%s (model %dx%d on %s, batches of up to %d, %d worker(s))", ln.Addr(), cfg.ImageSize, cfg.ImageSize,
		dev, c.Int("batch-size"), c.Int("workers"))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := s.Run(ctx, ln, c.Duration("shutdown-timeout")); err != nil {
		return err
	}
	logger.Printf("stopped")
	return nil
}
