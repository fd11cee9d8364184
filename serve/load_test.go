package serve

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/radinpaint/rad/torch"
)

// rssBytes is this process's resident set size (Linux), or 0.
func rssBytes() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// metricValue is the value of one sample line of a Prometheus text page.
func metricValue(page, name string) float64 {
	for _, l := range strings.Split(page, "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return -1
}

// TestLoad: 64 requests from 16 clients over TCP on 127.0.0.1 against the
// tiny model (3 steps; two image sizes, the same working size), batches
// of up to 8, one worker, 4 more samples queued. Every answer is 200 or
// 429 (with Retry-After), none fails; batches form (the metrics' batch
// size histogram has samples above 1); afterwards the live tensors are
// back at their baseline and the RSS grew by less than 200 MB. The run is
// bounded by a 2-minute context.
func TestLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test skipped with -short")
	}
	s, ip := newServer(t, 8, Config{Workers: 1, QueueSize: 4})
	ts := httptest.NewServer(s)
	defer ts.Close()
	type input struct {
		img, mask []byte
		w, h      int
	}
	inputs := []input{
		{pngBytes(t, testImage(32, 32)), pngBytes(t, boxMask(32, 32, 8, 8, 24, 24)), 32, 32},
		{pngBytes(t, testImage(48, 40)), pngBytes(t, boxMask(48, 40, 10, 8, 30, 30)), 48, 40},
	}
	client := &http.Client{Timeout: time.Minute}
	do := func(ctx context.Context, in input, seed int) (int, http.Header, []byte, error) {
		body, ct := multipartBody(t, in.img, in.mask, map[string]string{"steps": "3", "seed": strconv.Itoa(seed)})
		req, _ := http.NewRequestWithContext(ctx, "POST", ts.URL+"/v1/inpaint", body)
		req.Header.Set("Content-Type", ct)
		resp, err := client.Do(req)
		if err != nil {
			return 0, nil, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, b, err
	}
	// warm up, then the baseline
	for _, in := range inputs {
		if code, _, b, err := do(context.Background(), in, 0); err != nil || code != 200 {
			t.Fatalf("warm-up: %d %v %s", code, err, b)
		}
	}
	runtime.GC()
	liveBefore, rssBefore, callsBefore := torch.LiveTensors(), rssBytes(), ip.ModelCalls()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const clients, perClient = 16, 4
	var mu sync.Mutex
	codes := map[int]int{}
	batches := map[string]int{}
	var failures []string
	start := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for k := 0; k < perClient; k++ {
				in := inputs[(c+k)%2]
				code, h, b, err := do(ctx, in, 100*c+k)
				mu.Lock()
				codes[code]++
				switch {
				case err != nil:
					failures = append(failures, err.Error())
				case code == 200:
					batches[h.Get("X-Batch-Size")]++
					img := decodePNG(t, b)
					if img.Rect.Dx() != in.w || img.Rect.Dy() != in.h {
						failures = append(failures, fmt.Sprintf("answer %v for a %dx%d input", img.Rect, in.w, in.h))
					}
				case code == 429:
					if h.Get("Retry-After") == "" {
						failures = append(failures, "429 without Retry-After")
					}
				default:
					failures = append(failures, fmt.Sprintf("%d: %s", code, b))
				}
				mu.Unlock()
			}
		}(c)
	}
	wg.Wait()
	took := time.Since(start)
	if len(failures) > 0 {
		t.Fatalf("%d failures, first: %s", len(failures), failures[0])
	}
	if codes[200]+codes[429] != clients*perClient || codes[200] == 0 {
		t.Fatalf("answers %v", codes)
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	page := w.Body.String()
	count, ones := metricValue(page, "rad_batch_size_count"), metricValue(page, `rad_batch_size_bucket{le="1"}`)
	if count <= ones {
		t.Fatalf("no batch above 1 sample: %v of %v samples alone", ones, count)
	}
	waitFor(t, 10*time.Second, "the queue to empty", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.pending == 0
	})
	runtime.GC()
	liveAfter, rssAfter := torch.LiveTensors(), rssBytes()
	if liveAfter != liveBefore {
		t.Fatalf("live tensors %d after the run, %d before", liveAfter, liveBefore)
	}
	if rssBefore > 0 && rssAfter-rssBefore > 200<<20 {
		t.Fatalf("RSS grew from %d MB to %d MB", rssBefore>>20, rssAfter>>20)
	}
	var bs []string
	for k, v := range batches {
		bs = append(bs, fmt.Sprintf("%s:%d", k, v))
	}
	sort.Strings(bs)
	t.Logf("%d requests from %d clients in %.1f s: %d x 200, %d x 429; answers by batch size %v; %d model calls; "+
		"live tensors %d -> %d; RSS %d MB -> %d MB", clients*perClient, clients, took.Seconds(), codes[200], codes[429], bs,
		ip.ModelCalls()-callsBefore, liveBefore, liveAfter, rssBefore>>20, rssAfter>>20)
}
