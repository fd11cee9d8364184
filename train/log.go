package train

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"github.com/radinpaint/rad/internal/atomicfile"
)

// Record is one step of the JSONL log (train.jsonl, one line per step).
// Non-finite values are written as null and read back as NaN.
type Record struct {
	// Step counts optimizer steps from 1.
	Step int
	// MSE, VLB and Loss are the step's batch means (Loss = MSE +
	// lambda_vlb VLB), averaged over the accumulated micro-batches.
	MSE, VLB, Loss float64
	// LR is the learning rate; GradNorm the global gradient norm before
	// clipping (NaN when the loss already was non-finite).
	LR, GradNorm float64
	// Skipped marks a step dropped for a non-finite loss or gradient.
	Skipped bool
	// Seconds is the step's wall time.
	Seconds float64
	// BadFiles is the number of corrupt input files skipped so far.
	BadFiles int
	// CommSeconds is the time of the step's collectives (data-parallel
	// runs: the gradient all-reduce and the loss/flag all-reduce).
	CommSeconds float64
}

type recordJSON struct {
	Step     int      `json:"step"`
	MSE      *float64 `json:"mse"`
	VLB      *float64 `json:"vlb"`
	Loss     *float64 `json:"loss"`
	LR       float64  `json:"lr"`
	GradNorm *float64 `json:"grad_norm"`
	Skipped  bool     `json:"skipped"`
	Seconds  float64  `json:"seconds"`
	BadFiles int      `json:"bad_files"`
	Comm     float64  `json:"comm_seconds,omitempty"`
}

func fin(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func unfin(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

// MarshalJSON writes the log line's object.
func (r Record) MarshalJSON() ([]byte, error) {
	return json.Marshal(recordJSON{Step: r.Step, MSE: fin(r.MSE), VLB: fin(r.VLB), Loss: fin(r.Loss), LR: r.LR,
		GradNorm: fin(r.GradNorm), Skipped: r.Skipped, Seconds: math.Round(r.Seconds*1e6) / 1e6, BadFiles: r.BadFiles,
		Comm: math.Round(r.CommSeconds*1e6) / 1e6})
}

// UnmarshalJSON reads a log line.
func (r *Record) UnmarshalJSON(b []byte) error {
	var j recordJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*r = Record{Step: j.Step, MSE: unfin(j.MSE), VLB: unfin(j.VLB), Loss: unfin(j.Loss), LR: j.LR,
		GradNorm: unfin(j.GradNorm), Skipped: j.Skipped, Seconds: j.Seconds, BadFiles: j.BadFiles,
		CommSeconds: j.Comm}
	return nil
}

// ReadLog reads a JSONL training log. A last line cut short by a crash is
// ignored.
func ReadLog(path string) ([]Record, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []Record
	for i, line := range bytes.Split(raw, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var r Record
		if err := json.Unmarshal(line, &r); err != nil {
			if i == bytes.Count(raw, []byte("\n")) { // unterminated last line
				break
			}
			return out, fmt.Errorf("log %s line %d: %w", path, i+1, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// stepLog appends records to the JSONL log, one line a step, flushed.
type stepLog struct {
	f *os.File
	w *bufio.Writer
}

// openLog opens path for appending after keeping only the records of steps
// <= upTo (the ones the checkpoint being resumed covers), which it returns.
// A fresh run (upTo = 0) starts an empty log.
func openLog(path string, upTo int) (*stepLog, []Record, error) {
	var keep []Record
	if upTo > 0 {
		old, err := ReadLog(path)
		if err != nil && !os.IsNotExist(err) {
			return nil, nil, err
		}
		for _, r := range old {
			if r.Step <= upTo {
				keep = append(keep, r)
			}
		}
	}
	err := atomicfile.Write(path, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		for _, r := range keep {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, err
	}
	return &stepLog{f: f, w: bufio.NewWriter(f)}, keep, nil
}

func (l *stepLog) write(r Record) error {
	if l == nil { // a data-parallel run's ranks other than 0 write no log
		return nil
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if _, err := l.w.Write(b); err != nil {
		return err
	}
	return l.w.Flush()
}

func (l *stepLog) close() error {
	if l == nil {
		return nil
	}
	err := l.w.Flush()
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// isTerminal reports whether f is a character device (a terminal).
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progress draws a one-line progress report, at most a few times a second.
type progress struct {
	w          io.Writer
	start      time.Time
	startStep  int
	total      int
	last       time.Time
	avg        float64 // smoothed loss
	n          int
	everDrawn  bool
	lastLength int
}

func newProgress(w io.Writer, startStep, total int) *progress {
	return &progress{w: w, start: time.Now(), startStep: startStep, total: total}
}

func (p *progress) update(r Record, force bool) {
	if p == nil || p.w == nil {
		return
	}
	if !r.Skipped && !math.IsNaN(r.Loss) {
		if p.n == 0 {
			p.avg = r.Loss
		} else {
			p.avg = 0.98*p.avg + 0.02*r.Loss
		}
		p.n++
	}
	now := time.Now()
	if !force && now.Sub(p.last) < 200*time.Millisecond {
		return
	}
	p.last = now
	done := r.Step - p.startStep
	el := now.Sub(p.start).Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(done) / el
	}
	eta := "?"
	if rate > 0 {
		eta = (time.Duration(float64(p.total-r.Step)/rate) * time.Second).Round(time.Second).String()
	}
	line := fmt.Sprintf("step %d/%d  loss %.4g (avg %.4g)  %.2f steps/s  ETA %s", r.Step, p.total, r.Loss, p.avg, rate, eta)
	if r.Skipped {
		line += "  [skipped: non-finite]"
	}
	pad := ""
	if n := p.lastLength - len(line); n > 0 {
		pad = fmt.Sprintf("%*s", n, "")
	}
	p.lastLength = len(line)
	fmt.Fprintf(p.w, "\r%s%s", line, pad)
	p.everDrawn = true
}

func (p *progress) finish() {
	if p != nil && p.w != nil && p.everDrawn {
		fmt.Fprintln(p.w)
	}
}
