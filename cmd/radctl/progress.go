package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// progress draws a one-line progress bar on a terminal (stderr only when
// it is a character device); elsewhere it stays silent.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	label string
	start time.Time
	last  time.Time
	on    bool
}

func newProgress(label string) *progress {
	p := &progress{w: os.Stderr, label: label, start: time.Now()}
	if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		p.on = true
	}
	return p
}

// update draws i of total (rate-limited to 10 per second, always the last).
func (p *progress) update(i, total int, extra string) {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if i < total && now.Sub(p.last) < 100*time.Millisecond {
		return
	}
	p.last = now
	el := now.Sub(p.start).Seconds()
	rate := float64(i) / el
	eta := "?"
	if rate > 0 {
		eta = (time.Duration(float64(total-i)/rate) * time.Second).Round(time.Second).String()
	}
	const width = 30
	fill := width * i / max(total, 1)
	fmt.Fprintf(p.w, "\r%s [%s%s] %d/%d %.2f it/s ETA %s %s", p.label, strings.Repeat("#", fill),
		strings.Repeat(".", width-fill), i, total, rate, eta, extra)
	if i >= total {
		fmt.Fprintln(p.w)
	}
}
