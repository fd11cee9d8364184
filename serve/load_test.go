package serve

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
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

	"github.com/radinpaint/rad/infer"
	"github.com/radinpaint/rad/torch"
)

// rssBytes is this process's resident set size (Linux), or 0.
func rssBytes() int64 { return residentBytes() }

// noiseImage is an n x n opaque picture of seeded noise: its PNG hardly
// compresses.
func noiseImage(n int, seed uint32) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, n, n))
	for i := range img.Pix {
		seed = seed*1664525 + 1013904223
		img.Pix[i] = uint8(seed >> 24)
	}
	for i := 3; i < len(img.Pix); i += 4 {
		img.Pix[i] = 255
	}
	return img
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

// peakRSS resets the process's peak resident set size (Linux clear_refs)
// and returns a function that reads it back, in bytes (0 where /proc
// cannot tell).
func peakRSS() func() int64 {
	if os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) != nil {
		return func() int64 { return 0 }
	}
	return func() int64 { return procField("/proc/self/status", "VmHWM:") }
}

// TestLoadUploads: 200 clients at once, each uploading an 8 MB PNG (a
// noisy 1,700 x 1,700 picture, encoded once), against a service with 4
// upload slots, a queue of 2 and a memory budget of one sample; one
// client in ten asks for an average of 2 samples, which the budget can
// never hold (those read get 413). Every answer is 200, 413 (the average), 429 (queue full)
// or 503 (no upload slot within 2 s); none fails. The clients send
// "Expect: 100-continue", so a request refused before its body is read
// costs no upload. Afterwards the service answers normally, nothing is
// pending, the live tensors are back at their baseline, and the peak
// resident memory of the whole test process (clients included) grew by
// less than 1 GiB (measured: see the log line).
func TestLoadUploads(t *testing.T) {
	if testing.Short() {
		t.Skip("load test skipped with -short")
	}
	const clients, side = 200, 1700
	_, probe := newServer(t, 1, Config{})
	one, err := probe.SampleBytes(side, side, infer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := newServer(t, 1, Config{QueueSize: 2, MaxUploads: 4, UploadWait: 2 * time.Second,
		MaxMemory: one * 3 / 2, Defaults: infer.Options{Steps: 2}})
	ts := httptest.NewServer(s)
	defer ts.Close()

	img := noiseImage(side, 7)
	var enc bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.NoCompression}).Encode(&enc, img); err != nil {
		t.Fatal(err)
	}
	body, ct := multipartBody(t, enc.Bytes(), pngBytes(t, boxMask(side, side, 600, 600, 1100, 1100)), map[string]string{"steps": "2"})
	plain, _ := io.ReadAll(body)
	body, ctAvg := multipartBody(t, enc.Bytes(), pngBytes(t, boxMask(side, side, 600, 600, 1100, 1100)), map[string]string{"steps": "2", "average": "2"})
	avg, _ := io.ReadAll(body)
	t.Logf("PNG of %.1f MB, request bodies of %.1f MB", float64(enc.Len())/1e6, float64(len(plain))/1e6)
	enc = bytes.Buffer{}
	img = nil

	small := func() {
		w := post(t, s, "/v1/inpaint", pngBytes(t, testImage(32, 32)), pngBytes(t, boxMask(32, 32, 8, 8, 24, 24)), map[string]string{"steps": "2"})
		if w.Code != 200 {
			t.Fatalf("a small request: %d %s", w.Code, w.Body)
		}
	}
	small() // warm up (lazily made tensors), then the baseline
	runtime.GC()
	liveBefore := torch.LiveTensors()
	peak := peakRSS()
	before := peak()
	tr := &http.Transport{ExpectContinueTimeout: time.Minute, MaxIdleConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 3 * time.Minute}
	var mu sync.Mutex
	codes := map[int]int{}
	var failures []string
	start := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			b, typ := plain, ct
			if c%10 == 9 {
				b, typ = avg, ctAvg
			}
			req, _ := http.NewRequest("POST", ts.URL+"/v1/inpaint", bytes.NewReader(b))
			req.Header.Set("Content-Type", typ)
			req.Header.Set("Expect", "100-continue")
			resp, err := client.Do(req)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failures = append(failures, err.Error())
				return
			}
			out, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			codes[resp.StatusCode]++
			switch {
			case err != nil:
				failures = append(failures, err.Error())
			case resp.StatusCode == 200:
				if len(out) < 1000 {
					failures = append(failures, "a 200 without its PNG")
				}
			case resp.StatusCode == 413 && c%10 == 9, resp.StatusCode == 429, resp.StatusCode == 503:
				if resp.StatusCode != 413 && resp.Header.Get("Retry-After") == "" {
					failures = append(failures, fmt.Sprintf("%d without Retry-After", resp.StatusCode))
				}
			default:
				failures = append(failures, fmt.Sprintf("client %d: %d: %.200s", c, resp.StatusCode, out))
			}
		}(c)
	}
	wg.Wait()
	took := time.Since(start)
	grew := peak() - before
	if len(failures) > 0 {
		t.Fatalf("%d failures (answers %v), first: %s", len(failures), codes, failures[0])
	}
	if codes[200] == 0 || codes[200]+codes[413]+codes[429]+codes[503] != clients {
		t.Fatalf("answers %v", codes)
	}
	waitFor(t, 10*time.Second, "the queue to empty", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.pending == 0 && len(s.uploads) == 0
	})
	small()
	runtime.GC()
	if live := torch.LiveTensors(); live != liveBefore {
		t.Fatalf("live tensors %d after the load, %d before", live, liveBefore)
	}
	if before > 0 && grew > 1<<30 {
		t.Fatalf("peak RSS grew by %d MB", grew>>20)
	}
	t.Logf("%d clients in %.1f s: answers %v; peak RSS %d MB -> %d MB (+%d MB, bound 1024 MB)", clients, took.Seconds(), codes,
		before>>20, (before+grew)>>20, grew>>20)
}
