package serve

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Job states.
const (
	stateQueued    = "queued"
	stateRunning   = "running"
	stateDone      = "done"
	stateError     = "error"
	stateCancelled = "cancelled"
)

// job is one asynchronous request. Its fields after id are guarded by
// the server's jobsMu.
type job struct {
	id      string
	n       int
	created time.Time
	cancel  context.CancelFunc

	state    string
	step     int
	total    int
	err      *apiError
	results  []result
	preview  string // data: URL of the latest preview PNG
	previews int    // previews so far
	finished time.Time
	bytes    int64         // the results' bytes, counted in the store's
	changed  chan struct{} // closed (and replaced) at every change
}

// jobView is a job's state as JSON.
type jobView struct {
	ID         string  `json:"id"`
	State      string  `json:"state"`
	Step       int     `json:"step"`
	Total      int     `json:"total"`
	N          int     `json:"n"`
	Error      string  `json:"error,omitempty"`
	Result     string  `json:"result,omitempty"`
	Events     string  `json:"events"`
	ModelCalls int64   `json:"model_calls,omitempty"`
	Seconds    float64 `json:"seconds,omitempty"`
}

// view is j's state; the caller holds jobsMu.
func (j *job) view() jobView {
	v := jobView{ID: j.id, State: j.state, Step: j.step, Total: j.total, N: j.n, Events: "/v1/jobs/" + j.id + "/events"}
	if j.err != nil {
		v.Error = j.err.msg
	}
	if j.state == stateDone {
		v.Result = "/v1/jobs/" + j.id + "/result"
		for _, r := range j.results {
			v.ModelCalls += r.Stats.ModelCalls
			v.Seconds = max(v.Seconds, r.Stats.Seconds)
		}
	}
	return v
}

func (j *job) final() bool {
	return j.state == stateDone || j.state == stateError || j.state == stateCancelled
}

// notify wakes the job's watchers; the caller holds jobsMu.
func (j *job) notify() {
	close(j.changed)
	j.changed = make(chan struct{})
}

func newID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// handleJobCreate: POST /v1/jobs takes the inputs of /v1/inpaint and
// answers 202 with the job's id at once; it runs in the background.
func (s *Server) handleJobCreate(w http.ResponseWriter, r *http.Request) {
	req, release := s.parseAndAdmit(w, r)
	if req == nil {
		return
	}
	ctx, cancel := context.WithTimeout(s.base, s.cfg.Timeout)
	j := &job{id: newID(), n: req.n, created: time.Now(), cancel: cancel, state: stateQueued, changed: make(chan struct{})}
	s.jobsMu.Lock()
	if len(s.jobs) >= s.cfg.MaxJobs && !s.evictOldest(nil) {
		s.jobsMu.Unlock()
		cancel()
		release()
		writeError(w, &apiError{status: http.StatusTooManyRequests, retryAfter: 5,
			msg: fmt.Sprintf("%d jobs are kept, at most %d: fetch or delete finished ones", len(s.jobs), s.cfg.MaxJobs)})
		return
	}
	s.jobs[j.id] = j
	v := j.view()
	s.jobsMu.Unlock()
	go func() {
		defer release()
		defer cancel()
		res, err := s.run(ctx, req, func(i, total int) {
			s.jobsMu.Lock()
			if !j.final() {
				j.state, j.step, j.total = stateRunning, i, total
				j.notify()
			}
			s.jobsMu.Unlock()
		}, func(png []byte) {
			url := "data:image/png;base64," + base64.StdEncoding.EncodeToString(png)
			s.jobsMu.Lock()
			if !j.final() {
				j.preview = url
				j.previews++
				j.notify()
			}
			s.jobsMu.Unlock()
		})
		s.jobsMu.Lock()
		defer s.jobsMu.Unlock()
		j.finished = time.Now()
		switch {
		case j.state == stateCancelled:
		case err != nil:
			j.state, j.err = stateError, s.sampleError(err)
			if j.err.status == 499 {
				j.state, j.err = stateCancelled, errorf(http.StatusGone, "the job was cancelled")
			}
		default:
			var n int64
			for _, r := range res {
				n += int64(len(r.PNG))
			}
			if n > s.cfg.MaxJobBytes {
				j.state, j.err = stateError, errorf(http.StatusRequestEntityTooLarge,
					"the result is %d bytes, above the job store's limit of %d bytes: use POST /v1/inpaint, or fewer results per job", n, s.cfg.MaxJobBytes)
				break
			}
			j.state, j.results, j.bytes = stateDone, res, n
			j.step = j.total
			s.jobBytes += n
			// the oldest finished jobs make room
			for s.jobBytes > s.cfg.MaxJobBytes && s.evictOldest(j) {
			}
		}
		j.notify()
	}()
	w.Header().Set("Location", "/v1/jobs/"+j.id)
	writeJSON(w, http.StatusAccepted, v)
}

// evictOldest forgets the finished job that finished first, other than
// keep; the caller holds jobsMu.
func (s *Server) evictOldest(keep *job) bool {
	var old *job
	for _, j := range s.jobs {
		if j != keep && j.final() && (old == nil || j.finished.Before(old.finished)) {
			old = j
		}
	}
	if old != nil {
		s.forget(old)
	}
	return old != nil
}

// forget removes a job from the store; the caller holds jobsMu.
func (s *Server) forget(j *job) {
	delete(s.jobs, j.id)
	s.jobBytes -= j.bytes
	j.bytes = 0
}

// janitor forgets finished jobs after the TTL.
func (s *Server) janitor() {
	every := min(s.cfg.JobTTL/4, 30*time.Second)
	t := time.NewTicker(max(every, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			s.jobsMu.Lock()
			for _, j := range s.jobs {
				if j.final() && now.Sub(j.finished) > s.cfg.JobTTL {
					s.forget(j)
				}
			}
			s.jobsMu.Unlock()
		}
	}
}

// lookup finds the job of the path's {id}, or answers 404.
func (s *Server) lookup(w http.ResponseWriter, r *http.Request) *job {
	id := r.PathValue("id")
	s.jobsMu.Lock()
	j := s.jobs[id]
	s.jobsMu.Unlock()
	if j == nil {
		writeError(w, errorf(http.StatusNotFound, "no job %q (finished jobs expire after %v)", id, s.cfg.JobTTL))
	}
	return j
}

// handleJob: GET the job's state; DELETE cancels a running job (it ends
// as cancelled) or forgets a finished one.
func (s *Server) handleJob(w http.ResponseWriter, r *http.Request) {
	j := s.lookup(w, r)
	if j == nil {
		return
	}
	s.jobsMu.Lock()
	defer s.jobsMu.Unlock()
	if r.Method == http.MethodDelete {
		if j.final() {
			s.forget(j)
		} else {
			j.state, j.err, j.finished = stateCancelled, errorf(http.StatusGone, "the job was cancelled"), time.Now()
			j.cancel()
			j.notify()
		}
	}
	writeJSON(w, http.StatusOK, j.view())
}

// handleResult: the PNG of a done job (n > 1: a JSON list; ?i=k the k-th
// PNG); 409 while it runs, the job's error status after a failure.
func (s *Server) handleResult(w http.ResponseWriter, r *http.Request) {
	j := s.lookup(w, r)
	if j == nil {
		return
	}
	s.jobsMu.Lock()
	state, jerr, res := j.state, j.err, j.results
	s.jobsMu.Unlock()
	switch state {
	case stateDone:
	case stateError, stateCancelled:
		writeError(w, jerr)
		return
	default:
		writeError(w, errorf(http.StatusConflict, "job %s is %s: wait for its done event", j.id, state))
		return
	}
	if q := r.URL.Query().Get("i"); q != "" {
		i, err := strconv.Atoi(q)
		if err != nil || i < 0 || i >= len(res) {
			writeError(w, errorf(http.StatusBadRequest, "i: %q is not in 0..%d", q, len(res)-1))
			return
		}
		res = res[i : i+1]
	}
	s.writeResults(w, res)
}

// handleEvents: GET /v1/jobs/{id}/events is a Server-Sent Events stream:
// "progress" events {"step": i, "total": N} (coalesced: a slow reader
// skips steps), about ten of them with "preview": a data: URL of a
// low-resolution PNG of the result to be (at most 96 pixels a side), then
// one "done" event (the job's state with its result URL) or "error" event
// ({"error": ..., "status": ...}), and the stream ends. A comment line
// keeps an idle stream open.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	j := s.lookup(w, r)
	if j == nil {
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		writeError(w, errorf(http.StatusInternalServerError, "streaming unsupported"))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	// every event must reach the client within WriteTimeout: a reader
	// that stops reading is cut off (the job goes on)
	rc := http.NewResponseController(w)
	flush := func() {
		rc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
		fl.Flush()
	}
	send := func(event string, v any) {
		b, _ := json.Marshal(v)
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b)
		flush()
	}
	rc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
	fmt.Fprint(w, "retry: 2000\n\n")
	flush()
	ping := time.NewTicker(15 * time.Second)
	defer ping.Stop()
	last, lastPreview := -1, 0
	for {
		s.jobsMu.Lock()
		v, final, changed := j.view(), j.final(), j.changed
		preview, previews := j.preview, j.previews
		var status int
		if j.err != nil {
			status = j.err.status
		}
		s.jobsMu.Unlock()
		if (v.Step != last || previews != lastPreview) && v.Total > 0 && v.State != stateDone {
			ev := map[string]any{"step": v.Step, "total": v.Total}
			if previews != lastPreview {
				ev["preview"] = preview
				lastPreview = previews
			}
			send("progress", ev)
			last = v.Step
		}
		if final {
			if v.State == stateDone {
				send("done", v)
			} else {
				send("error", map[string]any{"error": v.Error, "status": status, "state": v.State})
			}
			return
		}
		select {
		case <-changed:
		case <-ping.C:
			rc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
			fmt.Fprint(w, ": ping\n\n")
			flush()
		case <-r.Context().Done():
			return
		}
	}
}
