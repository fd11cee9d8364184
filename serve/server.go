package serve

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"log"
	"math"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/radinpaint/rad/infer"
	"github.com/radinpaint/rad/torch"
)

// Config of a Server. Zero values take the defaults named.
type Config struct {
	// Inpainter serves the requests; its Config.MaxBatch batches them.
	Inpainter *infer.Inpainter
	// MaxBatch is the Inpainter's Config.MaxBatch (default 1): the samples
	// that one batch holds.
	MaxBatch int
	// Workers is the number of batches sampled at once (default 1): at
	// most Workers x MaxBatch samples run, the rest wait.
	Workers int
	// QueueSize is the number of samples that may wait beyond the running
	// ones (default 32, < 0: none); a request that would exceed it gets
	// 429.
	QueueSize int
	// MaxUploadBytes bounds a request body (default 32 MiB; 413 above).
	MaxUploadBytes int64
	// MaxPixels bounds the width x height of an image (default 4 Mpx;
	// 413 above).
	MaxPixels int
	// MaxN bounds the samples of one request (default 8).
	MaxN int
	// Timeout bounds one request or job (default 10 minutes; 504).
	Timeout time.Duration
	// JobTTL is how long a finished job's result is kept (default 10
	// minutes); MaxJobs bounds the jobs kept at once (default 256) and
	// MaxJobBytes the bytes of their results (default 256 MiB): the
	// oldest finished jobs are forgotten first, and a job whose result
	// alone is larger ends with 413.
	JobTTL      time.Duration
	MaxJobs     int
	MaxJobBytes int64
	// MaxMemory is the memory budget of the samples running at once, in
	// bytes (0: none): a sample holds its estimate (SampleBytes) while it
	// runs, a sample that does not fit the rest of the budget waits, and a
	// request that could never fit gets 413.
	MaxMemory int64
	// SampleBytes estimates one sample's memory (nil: the Inpainter's
	// SampleBytes, an upper estimate from the model's config).
	SampleBytes func(w, h int, o infer.Options) (int64, error)
	// MaxUploads bounds the request bodies read and decoded at once
	// (default 4): the bytes of uploads in flight are at most MaxUploads x
	// MaxUploadBytes plus their decoded pixels. A request that finds them
	// all taken waits for at most UploadWait (default 10 s), then gets 503
	// with Retry-After before its body is read.
	MaxUploads int
	UploadWait time.Duration
	// WriteTimeout bounds the writing of one answer or one event to a
	// client (default 2 minutes): a client that stops reading is cut off.
	WriteTimeout time.Duration
	// Access control (zero values: off, for library users and tests;
	// radctl serve turns them on). Token, when set, is required on every
	// request: "Authorization: Bearer <token>" or the cookie the page
	// gets by opening /?token=<token> (401 otherwise). AllowedHosts, when
	// not nil, lists the host names (no port) a request's Host may name
	// (403 otherwise: DNS rebinding); "*" allows any. CheckOrigin refuses
	// (403) a request that changes state (not GET or HEAD) from another
	// origin than the service's own (CSRF): an Origin header naming
	// another host, or Sec-Fetch-Site cross-site.
	Token        string
	AllowedHosts []string
	CheckOrigin  bool
	// Defaults are the options of a request that sets none: Steps (0: infer
	// chooses by the start, Options.SamplingSteps),
	// Sampler (rad), and the working size (Resolution, MaxSide,
	// MaxTilePixels), which requests cannot change.
	Defaults infer.Options
	// Demo makes the page open with the generated demo picture and mask.
	Demo bool
	// Registry receives the metrics (nil: a new registry with the Go and
	// process collectors).
	Registry *prometheus.Registry
	// Log receives errors and panics (nil: log.Default()).
	Log *log.Logger
}

// Server is the HTTP service. Make it with New; it is an http.Handler.
type Server struct {
	cfg     Config
	ip      *infer.Inpainter
	handler http.Handler
	reg     *prometheus.Registry
	m       *metrics

	slots    *slotPool     // a slot per running sample, and its memory
	uploads  chan struct{} // a token per body being read and decoded
	fault    func() error  // tests: an error sample returns before sampling
	jobBytes int64         // bytes of the kept jobs' results (jobsMu)
	mu       sync.Mutex
	pending  int // samples admitted: running or waiting
	draining atomic.Bool
	work     sync.WaitGroup // admitted requests and jobs
	avgSecs  atomic.Uint64  // float64 bits: recent seconds per sample

	base   context.Context // jobs run under it
	cancel context.CancelFunc

	jobsMu sync.Mutex
	jobs   map[string]*job
	stop   chan struct{}
	closed sync.Once
}

// New makes a Server. Close it to cancel its jobs and stop its janitor.
func New(cfg Config) (*Server, error) {
	if cfg.Inpainter == nil {
		return nil, fmt.Errorf("serve: no inpainter")
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&cfg.MaxBatch, 1)
	def(&cfg.Workers, 1)
	if cfg.QueueSize == 0 {
		cfg.QueueSize = 32
	}
	cfg.QueueSize = max(cfg.QueueSize, 0)
	def(&cfg.MaxPixels, 4<<20)
	def(&cfg.MaxN, 8)
	def(&cfg.MaxJobs, 256)
	def(&cfg.MaxUploads, 4)
	if cfg.MaxJobBytes <= 0 {
		cfg.MaxJobBytes = 256 << 20
	}
	if cfg.UploadWait <= 0 {
		cfg.UploadWait = 10 * time.Second
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 2 * time.Minute
	}
	if cfg.MaxMemory < 0 {
		cfg.MaxMemory = 0
	}
	if cfg.SampleBytes == nil {
		cfg.SampleBytes = cfg.Inpainter.SampleBytes
	}
	if cfg.MaxUploadBytes <= 0 {
		cfg.MaxUploadBytes = 32 << 20
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Minute
	}
	if cfg.JobTTL <= 0 {
		cfg.JobTTL = 10 * time.Minute
	}
	if cfg.Defaults.Sampler == "" {
		cfg.Defaults.Sampler = infer.RAD
	}
	if cfg.Log == nil {
		cfg.Log = log.Default()
	}
	if cfg.MaxN > cfg.Workers*cfg.MaxBatch+cfg.QueueSize {
		cfg.MaxN = cfg.Workers*cfg.MaxBatch + cfg.QueueSize
	}
	reg := cfg.Registry
	if reg == nil {
		reg = newRegistry()
	}
	s := &Server{cfg: cfg, ip: cfg.Inpainter, reg: reg, slots: newSlotPool(cfg.Workers*cfg.MaxBatch, cfg.MaxMemory),
		uploads: make(chan struct{}, cfg.MaxUploads), jobs: map[string]*job{}, stop: make(chan struct{})}
	s.avgSecs.Store(math.Float64bits(1))
	s.base, s.cancel = context.WithCancel(context.Background())
	m, err := newMetrics(reg, s)
	if err != nil {
		return nil, err
	}
	s.m = m
	s.handler = s.guard(s.routes())
	go s.janitor()
	return s, nil
}

// ServeHTTP serves the API, the metrics and the page.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Drain refuses new work (503) from now on; the work in flight goes on.
func (s *Server) Drain() { s.draining.Store(true) }

// Wait waits for the admitted requests and jobs to finish, or ctx.
func (s *Server) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { s.work.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close cancels the jobs still running and stops the janitor.
func (s *Server) Close() {
	s.closed.Do(func() {
		s.Drain()
		s.cancel()
		close(s.stop)
	})
}

// Run serves on ln until ctx is done, then shuts down gracefully: new
// connections are refused and new requests on open ones get 503, the
// requests and jobs in flight finish (for at most grace), then the rest
// is cancelled. It closes s.
func (s *Server) Run(ctx context.Context, ln net.Listener, grace time.Duration) error {
	hs := &http.Server{Handler: s, ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute,
		MaxHeaderBytes: 64 << 10, ErrorLog: s.cfg.Log}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		s.Close()
		return err
	case <-ctx.Done():
	}
	s.cfg.Log.Printf("shutting down: refusing new work, finishing the work in flight (for at most %v)", grace)
	s.Drain()
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := hs.Shutdown(sctx)
	if werr := s.Wait(sctx); err == nil {
		err = werr
	}
	s.Close()
	if err != nil {
		hs.Close()
		return fmt.Errorf("shutdown: work cancelled after %v: %w", grace, err)
	}
	return nil
}

// apiError is an error with its HTTP status (and Retry-After seconds).
type apiError struct {
	status     int
	msg        string
	retryAfter int
}

func (e *apiError) Error() string { return e.msg }

func errorf(status int, format string, a ...any) *apiError {
	return &apiError{status: status, msg: fmt.Sprintf(format, a...)}
}

// admit takes n samples into the queue, or says why not (429 when full,
// 503 when draining). release gives them back.
func (s *Server) admit(n int) (release func(), err *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.full(n); e != nil {
		return nil, e
	}
	s.pending += n
	s.work.Add(1)
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			s.pending -= n
			s.mu.Unlock()
			s.work.Done()
		})
	}, nil
}

// full says why n more samples cannot be admitted now, or nil (s.mu
// held).
func (s *Server) full(n int) *apiError {
	if s.draining.Load() {
		return &apiError{status: http.StatusServiceUnavailable, msg: "the server is shutting down", retryAfter: 5}
	}
	running := s.slots.size
	if s.pending+n > running+s.cfg.QueueSize {
		ra := s.retryAfter(s.pending + n - running)
		return &apiError{status: http.StatusTooManyRequests, retryAfter: ra,
			msg: fmt.Sprintf("the queue is full (%d samples running or waiting, at most %d): retry after %d s", s.pending, running+s.cfg.QueueSize, ra)}
	}
	return nil
}

// retryAfter is the seconds until about waiting samples have run: the
// recent seconds per sample (tiles and all) times the rounds they need.
func (s *Server) retryAfter(waiting int) int {
	secs := math.Float64frombits(s.avgSecs.Load()) * math.Ceil(float64(max(waiting, 1))/float64(s.slots.size))
	return int(math.Min(math.Max(math.Ceil(secs), 1), 300))
}

// request is one parsed inpainting request.
type request struct {
	img, mask image.Image
	o         infer.Options
	n         int
	bytes     int64 // one sample's estimated memory
}

// result is one sample's answer.
type result struct {
	PNG   []byte
	Stats *infer.Stats
}

// run samples the request's n samples (seeds infer.ResultSeed(seed, k,
// average): seed, seed+1, ... without averaging) through
// the queue; progress sees the steps of all samples together, preview
// about ten low-resolution PNGs of the first sample's run.
func (s *Server) run(ctx context.Context, req *request, progress func(i, total int), preview func(png []byte)) ([]result, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out := make([]result, req.n)
	errs := make([]error, req.n)
	var pmu sync.Mutex
	steps := make([]int, req.n)
	var wg sync.WaitGroup
	for k := 0; k < req.n; k++ {
		o := req.o
		o.Seed = infer.ResultSeed(req.o.Seed, k, req.o.Average)
		if progress != nil {
			k := k
			o.Progress = func(i, total int) {
				pmu.Lock()
				steps[k] = i
				sum := 0
				for _, v := range steps {
					sum += v
				}
				pmu.Unlock()
				progress(sum, total*req.n)
			}
		}
		if preview != nil && k == 0 {
			o.PreviewEvery = max(1, o.SamplingSteps()/10)
			if o.Sampler == infer.RePaint {
				o.PreviewEvery *= 10 // about ten model calls per step
			}
			o.Preview = func(_, _ int, img *image.RGBA) {
				var b bytes.Buffer
				if png.Encode(&b, img) == nil {
					preview(b.Bytes())
				}
			}
		}
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			defer func() {
				if v := recover(); v != nil {
					s.cfg.Log.Printf("serve: panic in a sample: %v", v)
					errs[k] = fmt.Errorf("internal error: %v", v)
				}
				if errs[k] != nil {
					cancel()
				}
			}()
			img, st, err := s.sample(ctx, req.img, req.mask, o, req.bytes)
			if err != nil {
				errs[k] = err
				return
			}
			var b bytes.Buffer
			if err := png.Encode(&b, img); err != nil {
				errs[k] = err
				return
			}
			out[k] = result{PNG: b.Bytes(), Stats: st}
		}(k)
	}
	wg.Wait()
	// the first error that is not another sample's cancellation
	var first error
	for _, err := range errs {
		if err != nil && (first == nil || errors.Is(first, context.Canceled) && !errors.Is(err, context.Canceled)) {
			first = err
		}
	}
	if first != nil {
		return nil, first
	}
	return out, nil
}

// sample runs one Inpaint call once a slot is free.
func (s *Server) sample(ctx context.Context, img, mask image.Image, o infer.Options, bytes int64) (*image.RGBA, *infer.Stats, error) {
	// an averaged result runs its samples at once: it holds a slot and
	// the memory of each
	need := min(max(1, o.Average), s.slots.size)
	bytes *= int64(max(1, o.Average))
	s.m.queue.Inc()
	if err := s.slots.acquire(ctx, need, bytes); err != nil {
		s.m.queue.Dec()
		s.m.samples.WithLabelValues(outcome(err)).Inc()
		return nil, nil, err
	}
	s.m.queue.Dec()
	defer s.slots.release(need, bytes)
	s.m.running.Inc()
	defer s.m.running.Dec()
	start := time.Now()
	var (
		out *image.RGBA
		st  *infer.Stats
		err error
	)
	if s.fault != nil {
		err = s.fault()
	}
	if err == nil {
		out, st, err = s.ip.Inpaint(ctx, img, mask, o)
	}
	s.m.samples.WithLabelValues(outcome(err)).Inc()
	if err != nil {
		return nil, nil, err
	}
	if st.ModelCalls > 0 {
		s.m.batch.Observe(float64(st.BatchSize))
		secs := time.Since(start).Seconds()
		old := math.Float64frombits(s.avgSecs.Load())
		s.avgSecs.Store(math.Float64bits(0.8*old + 0.2*secs))
	}
	return out, st, nil
}

func outcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, torch.ErrOutOfMemory):
		return "oom"
	}
	return "error"
}

// sampleError maps a sampling error to its answer.
func (s *Server) sampleError(err error) *apiError {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.Is(err, context.DeadlineExceeded):
		return errorf(http.StatusGatewayTimeout, "inpainting took longer than the timeout (%v)", s.cfg.Timeout)
	case errors.Is(err, context.Canceled):
		return errorf(499, "cancelled")
	case errors.Is(err, torch.ErrOutOfMemory):
		// the process is fine: the allocation failed and was freed
		s.cfg.Log.Printf("serve: inpaint: out of memory: %v", err)
		return &apiError{status: http.StatusServiceUnavailable, retryAfter: 30,
			msg: "out of memory while inpainting: retry later, or send a smaller image (lower the service's --max-memory if this repeats)"}
	}
	s.cfg.Log.Printf("serve: inpaint: %v", err)
	return errorf(http.StatusInternalServerError, "inpainting failed: %v", err)
}
