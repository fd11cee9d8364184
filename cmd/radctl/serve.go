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
			"Ctrl-C drains: new requests are refused, those in flight finish (within --shutdown-timeout).\n\n" +
			"Access (README, \"Running the service safely\"): with --token-file FILE (or RAD_SERVE_TOKEN) every\n" +
			"request needs \"Authorization: Bearer <token>\" or the page's cookie, which the printed link\n" +
			"(/?token=...) sets; /metrics and /healthz too. Requests naming another Host than the bound\n" +
			"address, a loopback name or an --allowed-host get 403, and so do state-changing requests from\n" +
			"another origin. Binding to an address other machines reach (0.0.0.0, :8080, [::]:8080, a LAN\n" +
			"address) without a token is refused unless --insecure-no-auth. Memory: a sample is admitted\n" +
			"only while the estimates of the samples running fit --max-memory; bodies are read at most\n" +
			"--max-uploads at once. serve scales images above --max-side (default " + fmt.Sprint(serveMaxSide) + ") down.",
		Flags: append(append(inpainterFlags(),
			&cli.StringFlag{Name: "addr", Value: "127.0.0.1:8080", Usage: "listen address"},
			&cli.BoolFlag{Name: "demo", Usage: "the page opens with the generated demo picture and its mask"},
			&cli.IntFlag{Name: "batch-size", Value: 4, Usage: "most requests sampled together as one batch (the Inpainter's MaxBatch)"},
			&cli.IntFlag{Name: "workers", Value: 1, Usage: "batches sampled at once"},
			&cli.IntFlag{Name: "queue", Value: 32, Usage: "samples that may wait beyond the running ones (then 429 with Retry-After)"},
			&cli.IntFlag{Name: "steps", Value: 0, Usage: fmt.Sprintf("default sampling steps of a request (0: %d from a guided start, %d from noise)", infer.DefaultGuidedSteps, infer.DefaultSteps)},
			&cli.StringFlag{Name: "sampler", Value: "rad", Usage: "default sampler of a request: rad, rad-ddim or repaint"},
			&cli.Int64Flag{Name: "max-upload-bytes", Value: 32 << 20, Usage: "largest request body (413 above)"},
			&cli.IntFlag{Name: "max-pixels", Value: 4 << 20, Usage: "largest width x height of an image (413 above)"},
			&cli.IntFlag{Name: "max-n", Value: 8, Usage: "most samples of one request"},
			&cli.DurationFlag{Name: "timeout", Value: 10 * time.Minute, Usage: "longest request or job (504 after)"},
			&cli.DurationFlag{Name: "job-ttl", Value: 10 * time.Minute, Usage: "how long a finished job's result is kept"},
			&cli.DurationFlag{Name: "shutdown-timeout", Value: 2 * time.Minute, Usage: "on SIGTERM, how long work in flight may take to finish"},
			&cli.StringFlag{Name: "token-file", Usage: "file holding the access token (at least 16 characters; e.g. openssl rand -hex 24 > FILE); RAD_SERVE_TOKEN sets it too"},
			&cli.StringSliceFlag{Name: "allowed-host", Usage: "a host name (no port) requests may name in Host, beside the loopback names and the bound address (repeatable; * allows any)"},
			&cli.BoolFlag{Name: "insecure-no-auth", Usage: "serve without a token on an address other machines reach (anyone who reaches it may use it)"},
			&cli.StringFlag{Name: "max-memory", Value: "auto", Usage: "memory budget of the samples running at once, e.g. 6GiB, 800MB or bytes (auto: on the CPU 80% of the cgroup's memory.max, else of the machine's memory, less what the loaded model holds; on CUDA none; 0: none)"},
			&cli.IntFlag{Name: "max-uploads", Value: 4, Usage: "request bodies read and decoded at once (others wait --upload-wait, then 503)"},
			&cli.DurationFlag{Name: "upload-wait", Value: 10 * time.Second, Usage: "how long a request waits for an upload slot before 503"},
			&cli.StringFlag{Name: "max-job-bytes", Value: "256MiB", Usage: "bytes of job results kept (the oldest finished jobs are forgotten first)"},
			&cli.DurationFlag{Name: "write-timeout", Value: 2 * time.Minute, Usage: "longest write of one answer or event to a client"},
		), serveWorkingSizeFlags()...),
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
	if def.Steps < 0 {
		return fmt.Errorf("--steps %d: want 0 (by the start: %d guided, %d from noise) or a number of steps", def.Steps, infer.DefaultGuidedSteps, infer.DefaultSteps)
	}
	if c.Int("batch-size") < 1 || c.Int("workers") < 1 || c.Int("queue") < 0 || c.Int("max-uploads") < 1 {
		return fmt.Errorf("--batch-size, --workers and --max-uploads must be >= 1, --queue >= 0")
	}
	token, err := serveToken(c.String("token-file"))
	if err != nil {
		return err
	}
	jobBytes, err := parseBytes(c.String("max-job-bytes"))
	if err != nil || jobBytes < 1 {
		return fmt.Errorf("--max-job-bytes %q: want a size such as 256MiB", c.String("max-job-bytes"))
	}
	memFlag := c.String("max-memory")
	var budget int64
	if memFlag != "auto" {
		if budget, err = parseBytes(memFlag); err != nil {
			return fmt.Errorf("--max-memory %q: want auto, 0 or a size such as 6GiB", memFlag)
		}
	}
	ln, err := net.Listen("tcp", c.String("addr"))
	if err != nil {
		return err
	}
	defer ln.Close()
	logger := log.New(c.App.ErrWriter, "radctl serve: ", log.LstdFlags)
	addr := ln.Addr().(*net.TCPAddr)
	if !addr.IP.IsLoopback() && token == "" {
		if !c.Bool("insecure-no-auth") {
			return fmt.Errorf("--addr %s: other machines can reach %s, and no token is set: give --token-file FILE (e.g. openssl rand -hex 24 > FILE) or RAD_SERVE_TOKEN, "+
				"bind to 127.0.0.1, or pass --insecure-no-auth to serve anyone who reaches it", c.String("addr"), addr)
		}
		logger.Printf("WARNING: serving %s without a token (--insecure-no-auth): anyone who reaches it may use it", addr)
	}
	hosts, err := allowedHosts(addr, c.StringSlice("allowed-host"))
	if err != nil {
		return err
	}
	ip, dev, err := inpainterFor(c)
	if err != nil {
		return err
	}
	defer ip.Close()
	if memFlag == "auto" {
		if dev.IsCUDA() {
			// the estimate counts activations, which live on the GPU there:
			// the host's memory says nothing about them
			logger.Printf("--max-memory auto: no budget on %s (give --max-memory the GPU memory the service may use)", dev)
		} else {
			budget = autoMemoryBudget()
		}
	}
	queue := c.Int("queue")
	if queue == 0 {
		queue = -1 // serve.Config: no queue
	}
	s, err := serve.New(serve.Config{
		Inpainter: ip, MaxBatch: c.Int("batch-size"), Workers: c.Int("workers"), QueueSize: queue,
		MaxUploadBytes: c.Int64("max-upload-bytes"), MaxPixels: c.Int("max-pixels"), MaxN: c.Int("max-n"),
		Timeout: c.Duration("timeout"), JobTTL: c.Duration("job-ttl"), Defaults: def, Demo: c.Bool("demo"), Log: logger,
		MaxJobBytes: jobBytes, MaxMemory: budget, MaxUploads: c.Int("max-uploads"), UploadWait: c.Duration("upload-wait"),
		WriteTimeout: c.Duration("write-timeout"), Token: token, AllowedHosts: hosts, CheckOrigin: true,
	})
	if err != nil {
		return err
	}
	cfg := ip.ModelConfig()
	mem := "no memory budget"
	if budget > 0 {
		mem = fmt.Sprintf("memory budget %d MiB", budget>>20)
	}
	logger.Printf("serving http://%s (model %dx%d on %s, batches of up to %d, %d worker(s), %s, max side %d)", ln.Addr(), cfg.ImageSize, cfg.ImageSize,
		dev, c.Int("batch-size"), c.Int("workers"), mem, def.MaxSide)
	if token != "" {
		logger.Printf("open the page at http://%s/?token=%s", pageHost(addr), token)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := s.Run(ctx, ln, c.Duration("shutdown-timeout")); err != nil {
		return err
	}
	logger.Printf("stopped")
	return nil
}
