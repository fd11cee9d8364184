package serve

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // decoders of the accepted formats
	_ "image/png"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/radinpaint/rad/infer"
	"github.com/radinpaint/rad/internal/imagefile"
)

// routes is the server's handler tree. Methods are checked by the
// handlers so that a wrong one gets a JSON 405 with Allow.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern, name string, methods string, h http.HandlerFunc) {
		mux.Handle(pattern, s.instrument(name, allow(methods, h)))
	}
	handle("/v1/inpaint", "inpaint", "POST", s.handleInpaint)
	handle("/v1/jobs", "jobs", "POST", s.handleJobCreate)
	handle("/v1/jobs/{id}", "job", "GET, DELETE", s.handleJob)
	handle("/v1/jobs/{id}/events", "events", "GET", s.handleEvents)
	handle("/v1/jobs/{id}/result", "result", "GET", s.handleResult)
	handle("/v1/config", "config", "GET", s.handleConfig)
	handle("/v1/demo/{file}", "demo", "GET", s.handleDemo)
	handle("/healthz", "healthz", "GET", s.handleHealth)
	handle("/metrics", "metrics", "GET", s.metricsHandler().ServeHTTP)
	handle("/v1/", "other", "", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errorf(http.StatusNotFound, "no endpoint %s %s", r.Method, r.URL.Path))
	})
	handle("/", "page", "GET", s.handlePage)
	return mux
}

// allow answers 405 to a method not in methods ("" allows all).
func allow(methods string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if methods != "" {
			ok := false
			for _, m := range strings.Split(methods, ", ") {
				ok = ok || r.Method == m || (m == "GET" && r.Method == "HEAD")
			}
			if !ok {
				w.Header().Set("Allow", methods)
				writeError(w, errorf(http.StatusMethodNotAllowed, "method %s not allowed on %s (use %s)", r.Method, r.URL.Path, methods))
				return
			}
		}
		h(w, r)
	}
}

// recorder notes the status a handler writes; it passes Flush on (SSE).
type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// instrument counts requests by handler and status, times them, and turns
// a panic into a logged 500.
func (s *Server) instrument(name string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.cfg.Log.Printf("serve: panic in %s %s: %v\n%s", r.Method, r.URL.Path, v, debug.Stack())
				if rec.status == 0 {
					writeError(rec, errorf(http.StatusInternalServerError, "internal error"))
				}
			}
			code := rec.status
			if code == 0 {
				code = http.StatusOK
			}
			s.m.requests.WithLabelValues(name, strconv.Itoa(code)).Inc()
			s.m.latency.WithLabelValues(name).Observe(time.Since(start).Seconds())
		}()
		h.ServeHTTP(rec, r)
	})
}

// writeError answers {"error": msg} with the error's status.
func writeError(w http.ResponseWriter, e *apiError) {
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.retryAfter))
	}
	writeJSON(w, e.status, map[string]string{"error": e.msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"cannot encode the answer"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// uploadTimeout bounds the reading of a request's body.
const uploadTimeout = 2 * time.Minute

// params are a request's inputs and options, from JSON or multipart.
type params struct {
	Image      string   `json:"image"` // base64 (a data: URL is accepted)
	Mask       string   `json:"mask"`
	Steps      *int     `json:"steps"`
	Sampler    string   `json:"sampler"`
	Seed       *uint64  `json:"seed"`
	N          *int     `json:"n"`
	Average    *int     `json:"average"`
	Eta        *float64 `json:"eta"`
	SoftMask   bool     `json:"soft_mask"`
	InvertMask bool     `json:"invert_mask"`

	imageData, maskData []byte
}

// parse reads a request's body: multipart/form-data (files image and
// mask, options as fields) or application/json (base64 images).
func (s *Server) parse(w http.ResponseWriter, r *http.Request) (*request, *apiError) {
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxUploadBytes)
	// a slow upload may not hold a connection for ever; the deadline ends
	// with the body (a server-wide ReadTimeout would also cancel the
	// request's context while it samples)
	rc := http.NewResponseController(w)
	if rc.SetReadDeadline(time.Now().Add(uploadTimeout)) == nil {
		defer rc.SetReadDeadline(time.Time{})
	}
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil {
		mt = ""
	}
	var p params
	switch mt {
	case "multipart/form-data":
		if err := r.ParseMultipartForm(s.cfg.MaxUploadBytes); err != nil {
			return nil, s.bodyError(err, "multipart form")
		}
		defer r.MultipartForm.RemoveAll()
		if p.imageData, err = formFile(r, "image"); err != nil {
			return nil, s.bodyError(err, "image")
		}
		if p.maskData, err = formFile(r, "mask"); err != nil {
			return nil, s.bodyError(err, "mask")
		}
		if e := formParams(r.MultipartForm, &p); e != nil {
			return nil, e
		}
	case "application/json":
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			return nil, s.bodyError(err, "JSON body")
		}
		for _, f := range []struct {
			name string
			src  string
			dst  *[]byte
		}{{"image", p.Image, &p.imageData}, {"mask", p.Mask, &p.maskData}} {
			if f.src == "" {
				return nil, errorf(http.StatusBadRequest, "%s: missing (give it as base64 in the JSON field %q)", f.name, f.name)
			}
			src := f.src
			if strings.HasPrefix(src, "data:") {
				if i := strings.Index(src, ","); i >= 0 {
					src = src[i+1:]
				}
			}
			b, err := base64.StdEncoding.DecodeString(src)
			if err != nil {
				return nil, errorf(http.StatusBadRequest, "%s: not valid base64: %v", f.name, err)
			}
			*f.dst = b
		}
	default:
		if ct == "" {
			ct = "none"
		}
		return nil, errorf(http.StatusUnsupportedMediaType, "content type %s: send multipart/form-data (files image and mask) or application/json (base64 fields image and mask)", ct)
	}
	return s.request(&p)
}

// bodyError is a body reading error: 413 when over the limit.
func (s *Server) bodyError(err error, what string) *apiError {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errorf(http.StatusRequestEntityTooLarge, "request body above the limit of %d bytes", s.cfg.MaxUploadBytes)
	}
	if errors.Is(err, http.ErrMissingFile) {
		return errorf(http.StatusBadRequest, "%s: missing (give it as the multipart file %q)", what, what)
	}
	return errorf(http.StatusBadRequest, "%s: %v", what, err)
}

func formFile(r *http.Request, name string) ([]byte, error) {
	f, _, err := r.FormFile(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// formParams reads the options of a multipart form.
func formParams(f *multipart.Form, p *params) *apiError {
	get := func(k string) string {
		if v := f.Value[k]; len(v) > 0 {
			return strings.TrimSpace(v[0])
		}
		return ""
	}
	intField := func(k string, dst **int) *apiError {
		if v := get(k); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				return errorf(http.StatusBadRequest, "%s: %q is not an integer", k, v)
			}
			*dst = &n
		}
		return nil
	}
	boolField := func(k string, dst *bool) *apiError {
		if v := get(k); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				if v != "on" {
					return errorf(http.StatusBadRequest, "%s: %q is not true or false", k, v)
				}
				b = true
			}
			*dst = b
		}
		return nil
	}
	if e := intField("steps", &p.Steps); e != nil {
		return e
	}
	if e := intField("n", &p.N); e != nil {
		return e
	}
	if e := intField("average", &p.Average); e != nil {
		return e
	}
	if v := get("seed"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return errorf(http.StatusBadRequest, "seed: %q is not an unsigned integer", v)
		}
		p.Seed = &n
	}
	if v := get("eta"); v != "" {
		x, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return errorf(http.StatusBadRequest, "eta: %q is not a number", v)
		}
		p.Eta = &x
	}
	p.Sampler = get("sampler")
	if e := boolField("soft_mask", &p.SoftMask); e != nil {
		return e
	}
	return boolField("invert_mask", &p.InvertMask)
}

// request checks the parameters and decodes the images.
func (s *Server) request(p *params) (*request, *apiError) {
	o := s.cfg.Defaults
	o.Progress, o.Preview = nil, nil
	if p.Sampler != "" {
		o.Sampler = infer.Kind(p.Sampler)
	}
	switch o.Sampler {
	case infer.RAD, infer.RADDDIM, infer.RePaint:
	default:
		return nil, errorf(http.StatusBadRequest, "sampler: %q is not rad, rad-ddim or repaint", p.Sampler)
	}
	if p.Steps != nil {
		o.Steps = *p.Steps
	}
	// 0 (the default's default) lets infer choose by the start
	if base := s.ip.BaseSteps(); o.Steps < 0 || o.Steps > base || (p.Steps != nil && o.Steps < 1) {
		return nil, errorf(http.StatusBadRequest, "steps: %d is outside 1..%d (the model's chain)", o.Steps, base)
	}
	if o.Sampler == infer.RePaint {
		o.RePaint = infer.DefaultRePaint
		if p.Steps != nil {
			o.RePaint.Respacing = strconv.Itoa(o.Steps)
		}
	}
	if p.Eta != nil {
		if *p.Eta < 0 || *p.Eta > 1 {
			return nil, errorf(http.StatusBadRequest, "eta: %g is outside 0..1", *p.Eta)
		}
		o.Eta = *p.Eta
	}
	if p.Seed != nil {
		o.Seed = *p.Seed
	}
	o.SoftMask, o.InvertMask = p.SoftMask, p.InvertMask
	n := 1
	if p.N != nil {
		n = *p.N
	}
	if n < 1 || n > s.cfg.MaxN {
		return nil, errorf(http.StatusBadRequest, "n: %d is outside 1..%d", n, s.cfg.MaxN)
	}
	if p.Average != nil {
		// n results of average samples each: at most MaxN samples
		if a := *p.Average; a < 1 || a > s.cfg.MaxN/n { // not n*a: it may overflow
			return nil, errorf(http.StatusBadRequest, "average: %d is outside 1..%d (n x average samples are at most %d)", a, s.cfg.MaxN/n, s.cfg.MaxN)
		}
		o.Average = *p.Average
	}
	img, e := s.decode("image", p.imageData)
	if e != nil {
		return nil, e
	}
	mask, e := s.decode("mask", p.maskData)
	if e != nil {
		return nil, e
	}
	ib, mb := img.Bounds(), mask.Bounds()
	if ib.Dx() != mb.Dx() || ib.Dy() != mb.Dy() {
		return nil, errorf(http.StatusBadRequest, "mask: %dx%d, but the image is %dx%d (they must be the same size)", mb.Dx(), mb.Dy(), ib.Dx(), ib.Dy())
	}
	req := &request{img: img, mask: mask, o: o, n: n}
	if s.cfg.MaxMemory > 0 {
		per, err := s.cfg.SampleBytes(ib.Dx(), ib.Dy(), o)
		if err != nil {
			return nil, errorf(http.StatusBadRequest, "%v", err)
		}
		// an averaged result runs its samples at once
		if k := int64(max(1, o.Average)); per > s.cfg.MaxMemory/k {
			return nil, errorf(http.StatusRequestEntityTooLarge, "a result of %d sample(s) at %dx%d needs about %d MiB, above the service's memory budget of %d MiB: send a smaller image or fewer averaged samples",
				k, ib.Dx(), ib.Dy(), (per*k)>>20, s.cfg.MaxMemory>>20)
		}
		req.bytes = per
	}
	return req, nil
}

// decode reads a PNG, JPEG or Netpbm image within the pixel limit (checked
// on the header, before decoding).
func (s *Server) decode(name string, data []byte) (image.Image, *apiError) {
	if len(data) == 0 {
		return nil, errorf(http.StatusBadRequest, "%s: empty", name)
	}
	_, format, err := imagefile.Header(data, int64(s.cfg.MaxPixels))
	var size *imagefile.SizeError
	switch {
	case errors.Is(err, image.ErrFormat):
		return nil, errorf(http.StatusBadRequest, "%s: not a PNG, JPEG or Netpbm (PPM/PGM) image", name)
	case errors.As(err, &size) && size.Empty():
		return nil, errorf(http.StatusBadRequest, "%s: empty (%dx%d)", name, size.Width, size.Height)
	case size != nil:
		return nil, errorf(http.StatusRequestEntityTooLarge, "%s: %dx%d is %d pixels, above the limit of %d", name, size.Width, size.Height,
			size.Width*size.Height, s.cfg.MaxPixels)
	case err != nil:
		return nil, errorf(http.StatusBadRequest, "%s: unreadable header: %v", name, err)
	}
	switch format {
	case "png", "jpeg", "ppm", "pgm":
	default: // registered by some import, but not served
		return nil, errorf(http.StatusBadRequest, "%s: a %s image; send a PNG, JPEG or Netpbm (PPM/PGM) image", name, strings.ToUpper(format))
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "%s: broken %s: %v", name, strings.ToUpper(format), err)
	}
	return img, nil
}

// parseAndAdmit reads a request's inputs and takes its samples into the
// queue; on failure it has answered the error and returns nil. What can
// be refused without the body is refused before it is read (a full
// queue, a body above the limit, no upload slot within UploadWait); the
// connection is then closed rather than drained.
func (s *Server) parseAndAdmit(w http.ResponseWriter, r *http.Request) (*request, func()) {
	early := func(e *apiError) (*request, func()) {
		w.Header().Set("Connection", "close")
		writeError(w, e)
		return nil, nil
	}
	s.mu.Lock()
	e := s.full(1)
	s.mu.Unlock()
	if e != nil {
		return early(e)
	}
	if r.ContentLength > s.cfg.MaxUploadBytes {
		return early(errorf(http.StatusRequestEntityTooLarge, "request body of %d bytes, above the limit of %d bytes", r.ContentLength, s.cfg.MaxUploadBytes))
	}
	// at most MaxUploads bodies are read and decoded at once
	t := time.NewTimer(s.cfg.UploadWait)
	select {
	case s.uploads <- struct{}{}:
		t.Stop()
	case <-t.C:
		s.m.uploadsRefused.Inc()
		return early(&apiError{status: http.StatusServiceUnavailable, retryAfter: 2,
			msg: fmt.Sprintf("%d uploads are being read: retry in a moment", s.cfg.MaxUploads)})
	case <-r.Context().Done():
		t.Stop()
		return nil, nil
	}
	req, e := s.parse(w, r)
	<-s.uploads
	if e != nil {
		writeError(w, e)
		return nil, nil
	}
	release, e := s.admit(req.n * max(1, req.o.Average)) // every sample, averaged ones too
	if e != nil {
		writeError(w, e)
		return nil, nil
	}
	return req, release
}

// handleInpaint: POST /v1/inpaint answers the PNG (n > 1: JSON list).
func (s *Server) handleInpaint(w http.ResponseWriter, r *http.Request) {
	req, release := s.parseAndAdmit(w, r)
	if req == nil {
		return
	}
	defer release()
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Timeout)
	defer cancel()
	res, err := s.run(ctx, req, nil, nil)
	if err != nil {
		if r.Context().Err() != nil {
			// the client went away: nobody reads an answer
			w.WriteHeader(499)
			return
		}
		writeError(w, s.sampleError(err))
		return
	}
	s.writeResults(w, res)
}

// writeResults answers one PNG, or a JSON list of several, with the stats
// in headers: X-Model-Calls (each sample counts its batch's calls),
// X-Seconds (the longest sample), X-Steps, X-Batch-Size (the largest),
// X-Seed (the first).
func (s *Server) writeResults(w http.ResponseWriter, res []result) {
	// a client that stops reading is cut off after WriteTimeout
	http.NewResponseController(w).SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
	var calls int64
	var secs float64
	batch := 0
	for _, r := range res {
		calls += r.Stats.ModelCalls
		secs = max(secs, r.Stats.Seconds)
		batch = max(batch, r.Stats.BatchSize)
	}
	h := w.Header()
	h.Set("X-Model-Calls", strconv.FormatInt(calls, 10))
	h.Set("X-Seconds", strconv.FormatFloat(secs, 'f', 3, 64))
	h.Set("X-Steps", strconv.Itoa(res[0].Stats.Steps))
	h.Set("X-Batch-Size", strconv.Itoa(batch))
	h.Set("X-Seed", strconv.FormatUint(res[0].Stats.Seed, 10))
	if len(res) == 1 {
		h.Set("Content-Type", "image/png")
		h.Set("Content-Length", strconv.Itoa(len(res[0].PNG)))
		w.Write(res[0].PNG)
		return
	}
	type item struct {
		PNG   string       `json:"png"`
		Stats *infer.Stats `json:"stats"`
	}
	items := make([]item, len(res))
	for i, r := range res {
		items[i] = item{PNG: base64.StdEncoding.EncodeToString(r.PNG), Stats: r.Stats}
	}
	writeJSON(w, http.StatusOK, map[string]any{"images": items})
}

// handleHealth: 200 with the model when it takes work, 503 draining.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	cfg := s.ip.ModelConfig()
	s.mu.Lock()
	pending := s.pending
	s.mu.Unlock()
	running, runningBytes := s.slots.running()
	v := map[string]any{"status": "ok", "model": map[string]any{"image_size": cfg.ImageSize, "in_channels": cfg.InChannels,
		"device": s.ip.Device().String(), "base_steps": s.ip.BaseSteps()},
		"max_batch": s.cfg.MaxBatch, "pending": pending, "running": running}
	if s.cfg.MaxMemory > 0 {
		v["memory_budget"], v["memory_running"] = s.cfg.MaxMemory, runningBytes
	}
	status := http.StatusOK
	if s.draining.Load() {
		v["status"], status = "draining", http.StatusServiceUnavailable
	}
	writeJSON(w, status, v)
}

// handleConfig: what the page needs to know.
func (s *Server) handleConfig(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"demo": s.cfg.Demo, "steps": s.cfg.Defaults.Steps, "sampler": s.cfg.Defaults.Sampler,
		"samplers": []infer.Kind{infer.RAD, infer.RADDDIM, infer.RePaint}, "base_steps": s.ip.BaseSteps(),
		"max_pixels": s.cfg.MaxPixels, "max_upload_bytes": s.cfg.MaxUploadBytes, "max_n": s.cfg.MaxN,
		"model_size": s.ip.ModelConfig().ImageSize,
	})
}
