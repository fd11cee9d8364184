package serve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/radinpaint/rad/infer"
)

// TestInpaintHappyPath: multipart and JSON requests answer a PNG of the
// input's size whose known pixels are the input's, with stats headers;
// n = 2 answers a JSON list of two different samples.
func TestInpaintHappyPath(t *testing.T) {
	s, _ := newServer(t, 1, Config{})
	img := testImage(48, 40) // not the model's size: resized for it and pasted back
	mask := boxMask(48, 40, 10, 8, 30, 28)
	w := post(t, s, "/v1/inpaint", pngBytes(t, img), pngBytes(t, mask), map[string]string{"steps": "8", "seed": "5"})
	if w.Code != 200 || w.Header().Get("Content-Type") != "image/png" {
		t.Fatalf("multipart: %d %s", w.Code, w.Body)
	}
	if w.Header().Get("X-Model-Calls") != "8" || w.Header().Get("X-Steps") != "8" || w.Header().Get("X-Seed") != "5" || w.Header().Get("X-Seconds") == "" {
		t.Fatalf("stats headers %v", w.Header())
	}
	first := decodePNG(t, w.Body.Bytes())
	knownEqual(t, first, img, mask)

	// JSON with base64 (one as a data: URL): the same seed, the same answer
	body, _ := json.Marshal(map[string]any{"image": base64.StdEncoding.EncodeToString(pngBytes(t, img)),
		"mask": "data:image/png;base64," + base64.StdEncoding.EncodeToString(pngBytes(t, mask)), "steps": 8, "seed": 5})
	r := httptest.NewRequest("POST", "/v1/inpaint", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	w = httptest.NewRecorder()
	s.ServeHTTP(w, r)
	if w.Code != 200 {
		t.Fatalf("json: %d %s", w.Code, w.Body)
	}
	if !bytes.Equal(decodePNG(t, w.Body.Bytes()).Pix, first.Pix) {
		t.Fatalf("JSON and multipart answers differ for the same seed")
	}

	// n = 2: a JSON list, seeds 5 and 6
	w = post(t, s, "/v1/inpaint", pngBytes(t, img), pngBytes(t, mask), map[string]string{"steps": "8", "seed": "5", "n": "2"})
	if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("n=2: %d %s", w.Code, w.Body)
	}
	var list struct {
		Images []struct {
			PNG   []byte `json:"png"`
			Stats struct {
				Seed uint64 `json:"seed"`
			} `json:"stats"`
		} `json:"images"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &list); err != nil || len(list.Images) != 2 {
		t.Fatalf("n=2: %v %d images", err, len(list.Images))
	}
	a, b := decodePNG(t, list.Images[0].PNG), decodePNG(t, list.Images[1].PNG)
	knownEqual(t, a, img, mask)
	knownEqual(t, b, img, mask)
	if list.Images[0].Stats.Seed != 5 || list.Images[1].Stats.Seed != 6 || !bytes.Equal(a.Pix, first.Pix) || bytes.Equal(a.Pix, b.Pix) {
		t.Fatalf("n=2: seeds %d, %d; first equals n=1's: %v; the two equal: %v", list.Images[0].Stats.Seed, list.Images[1].Stats.Seed,
			bytes.Equal(a.Pix, first.Pix), bytes.Equal(a.Pix, b.Pix))
	}

	// average = 2: the mean of seeds 5 and 6, not either one
	w = post(t, s, "/v1/inpaint", pngBytes(t, img), pngBytes(t, mask), map[string]string{"steps": "8", "seed": "5", "average": "2"})
	if w.Code != 200 {
		t.Fatalf("average=2: %d %s", w.Code, w.Body)
	}
	avg := decodePNG(t, w.Body.Bytes())
	knownEqual(t, avg, img, mask)
	if bytes.Equal(avg.Pix, a.Pix) || bytes.Equal(avg.Pix, b.Pix) {
		t.Fatalf("average=2 equals one of its samples")
	}
	// n = 2 of average = 2: seeds 5-6 and 7-8, no shared sample
	w = post(t, s, "/v1/inpaint", pngBytes(t, img), pngBytes(t, mask), map[string]string{"steps": "8", "seed": "5", "n": "2", "average": "2"})
	if err := json.Unmarshal(w.Body.Bytes(), &list); w.Code != 200 || err != nil || len(list.Images) != 2 || list.Images[1].Stats.Seed != 7 {
		t.Fatalf("n=2 average=2: %d %v %s", w.Code, err, w.Body)
	}
	if !bytes.Equal(decodePNG(t, list.Images[0].PNG).Pix, avg.Pix) {
		t.Fatalf("n=2 average=2: the first result differs from average=2's")
	}

	// soft and inverted masks are accepted; an inverted all-white mask
	// keeps everything
	w = post(t, s, "/v1/inpaint", pngBytes(t, img), pngBytes(t, boxMask(48, 40, 0, 0, 48, 40)), map[string]string{"invert_mask": "true"})
	if w.Code != 200 || w.Header().Get("X-Model-Calls") != "0" || !bytes.Equal(decodePNG(t, w.Body.Bytes()).Pix, img.Pix) {
		t.Fatalf("inverted all-keep mask: %d, %s model calls", w.Code, w.Header().Get("X-Model-Calls"))
	}
	w = post(t, s, "/v1/inpaint", pngBytes(t, img), pngBytes(t, mask), map[string]string{"soft_mask": "true", "sampler": "rad-ddim", "eta": "0.5"})
	if w.Code != 200 {
		t.Fatalf("soft mask, rad-ddim: %d %s", w.Code, w.Body)
	}
	knownEqual(t, decodePNG(t, w.Body.Bytes()), img, mask)
}

// TestEmptyMask: a mask without a hole answers the input, byte for byte,
// with no model call.
func TestEmptyMask(t *testing.T) {
	s, ip := newServer(t, 1, Config{})
	img := testImage(20, 17)
	w := post(t, s, "/v1/inpaint", pngBytes(t, img), pngBytes(t, boxMask(20, 17, 0, 0, 0, 0)), nil)
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if !bytes.Equal(decodePNG(t, w.Body.Bytes()).Pix, img.Pix) || w.Header().Get("X-Model-Calls") != "0" || ip.ModelCalls() != 0 {
		t.Fatalf("empty mask: the answer is not the input, or %d model calls", ip.ModelCalls())
	}
}

// TestBadInputs: every bad request gets a 4xx JSON error that names what
// is wrong, and no model call.
func TestBadInputs(t *testing.T) {
	s, ip := newServer(t, 1, Config{MaxUploadBytes: 64 << 10, MaxPixels: 100 * 100})
	img, mask := pngBytes(t, testImage(32, 32)), pngBytes(t, boxMask(32, 32, 8, 8, 24, 24))
	big := pngBytes(t, testImage(120, 100))
	noise := make([]byte, 100<<10)
	for i := range noise {
		noise[i] = byte(i*7919 + i>>8)
	}
	cases := []struct {
		name      string
		img, mask []byte
		fields    map[string]string
		status    int
		want      string
	}{
		{"not an image", []byte("hello, this is text"), mask, nil, 400, "image: not a PNG, JPEG or Netpbm"},
		{"truncated PNG", img[:len(img)/2], mask, nil, 400, "image: broken PNG"},
		{"truncated header", img[:20], mask, nil, 400, "image: unreadable header"},
		{"mask of another size", img, pngBytes(t, boxMask(31, 32, 0, 0, 4, 4)), nil, 400, "mask: 31x32, but the image is 32x32"},
		{"no mask", img, nil, nil, 400, "mask: missing"},
		{"no image", nil, mask, nil, 400, "image: missing"},
		{"too many pixels", big, pngBytes(t, boxMask(120, 100, 0, 0, 4, 4)), nil, 413, "image: 120x100 is 12000 pixels, above the limit of 10000"},
		{"too many bytes", noise, mask, nil, 413, "above the limit of 65536 bytes"},
		{"steps", img, mask, map[string]string{"steps": "0"}, 400, "steps: 0 is outside 1..1000"},
		{"steps not a number", img, mask, map[string]string{"steps": "ten"}, 400, `steps: "ten" is not an integer`},
		{"sampler", img, mask, map[string]string{"sampler": "ddpm"}, 400, `sampler: "ddpm" is not rad, rad-ddim or repaint`},
		{"n", img, mask, map[string]string{"n": "99"}, 400, "n: 99 is outside 1..8"},
		{"seed", img, mask, map[string]string{"seed": "-1"}, 400, "seed"},
		{"average", img, mask, map[string]string{"n": "2", "average": "5"}, 400, "average: 5 is outside 1..4 (n x average samples are at most 8)"},
		{"average zero", img, mask, map[string]string{"average": "0"}, 400, "average: 0 is outside 1..8"},
		// n x average overflows int64: still a 400, never an allocation panic
		{"average overflow", img, mask, map[string]string{"n": "2", "average": "9223372036854775807"}, 400, "average: 9223372036854775807 is outside 1..4"},
		{"soft mask", img, mask, map[string]string{"soft_mask": "maybe"}, 400, "soft_mask"},
	}
	for _, c := range cases {
		w := post(t, s, "/v1/inpaint", c.img, c.mask, c.fields)
		jsonError(t, c.name, w.Code, w.Header().Get("Content-Type"), w.Body.Bytes(), c.status, c.want)
	}
	raw := []struct {
		name, method, path, ct, body string
		status                       int
		want                         string
	}{
		{"wrong method", "GET", "/v1/inpaint", "", "", 405, "method GET not allowed on /v1/inpaint (use POST)"},
		{"wrong method on jobs", "PUT", "/v1/jobs", "", "", 405, "use POST"},
		{"no content type", "POST", "/v1/inpaint", "", "x", 415, "content type none"},
		{"wrong content type", "POST", "/v1/inpaint", "text/plain", "x", 415, "content type text/plain"},
		{"broken JSON", "POST", "/v1/inpaint", "application/json", `{"image": `, 400, "JSON body"},
		{"unknown JSON field", "POST", "/v1/inpaint", "application/json", `{"imag": "x"}`, 400, `unknown field "imag"`},
		{"bad base64", "POST", "/v1/inpaint", "application/json", `{"image": "***", "mask": "AAAA"}`, 400, "image: not valid base64"},
		{"JSON without mask", "POST", "/v1/jobs", "application/json", `{"image": "AAAA"}`, 400, "mask: missing"},
		{"broken multipart", "POST", "/v1/inpaint", "multipart/form-data; boundary=zz", "--zz\r\nnonsense", 400, "multipart form"},
		{"unknown endpoint", "GET", "/v1/nothing", "", "", 404, "no endpoint GET /v1/nothing"},
		{"unknown job", "GET", "/v1/jobs/abc/result", "", "", 404, `no job "abc"`},
		{"unknown page", "GET", "/nothing.html", "", "", 404, "no page /nothing.html"},
	}
	for _, c := range raw {
		r := httptest.NewRequest(c.method, c.path, strings.NewReader(c.body))
		if c.ct != "" {
			r.Header.Set("Content-Type", c.ct)
		}
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		jsonError(t, c.name, w.Code, w.Header().Get("Content-Type"), w.Body.Bytes(), c.status, c.want)
	}
	if ip.ModelCalls() != 0 {
		t.Fatalf("bad inputs made %d model calls", ip.ModelCalls())
	}
}

// TestPanicIsA500: a panicking handler answers a JSON 500 and is counted;
// the process goes on.
func TestPanicIsA500(t *testing.T) {
	s, _ := newServer(t, 1, Config{})
	h := s.instrument("boom", http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/boom", nil))
	jsonError(t, "panic", w.Code, w.Header().Get("Content-Type"), w.Body.Bytes(), 500, "internal error")
}

// sseEvent is one Server-Sent Event.
type sseEvent struct{ name, data string }

// readEvents reads an event stream to its end.
func readEvents(t testing.TB, body io.Reader) []sseEvent {
	t.Helper()
	var out []sseEvent
	var cur sseEvent
	sc := bufio.NewScanner(body)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur.name != "" || cur.data != "" {
				out = append(out, cur)
			}
			cur = sseEvent{}
		case strings.HasPrefix(line, "event: "):
			cur.name = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			cur.data += line[len("data: "):]
		}
	}
	return out
}

// TestJobs: a job answers 202 with its id; its event stream has progress
// events "step i of N" and then done; the result is the PNG; DELETE
// forgets a finished job; finished jobs expire.
func TestJobs(t *testing.T) {
	s, _ := newServer(t, 1, Config{JobTTL: 300 * time.Millisecond})
	ts := httptest.NewServer(s)
	defer ts.Close()
	img, mask := testImage(32, 32), boxMask(32, 32, 8, 8, 24, 24)
	body, ct := multipartBody(t, pngBytes(t, img), pngBytes(t, mask), map[string]string{"steps": "12"})
	resp, err := http.Post(ts.URL+"/v1/jobs", ct, body)
	if err != nil {
		t.Fatal(err)
	}
	var j jobView
	json.NewDecoder(resp.Body).Decode(&j)
	resp.Body.Close()
	if resp.StatusCode != 202 || j.ID == "" || j.Events != "/v1/jobs/"+j.ID+"/events" {
		t.Fatalf("create: %d %+v", resp.StatusCode, j)
	}
	resp, err = http.Get(ts.URL + j.Events)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events content type %q", resp.Header.Get("Content-Type"))
	}
	evs := readEvents(t, resp.Body)
	resp.Body.Close()
	if len(evs) < 2 || evs[len(evs)-1].name != "done" || evs[0].name != "progress" {
		t.Fatalf("events %v", evs)
	}
	var p struct{ Step, Total int }
	json.Unmarshal([]byte(evs[0].data), &p)
	if p.Total != 12 || p.Step < 1 {
		t.Fatalf("first progress %s", evs[0].data)
	}
	// previews: low-resolution PNGs of the result to be, as data: URLs
	previews := 0
	for _, e := range evs {
		var pv struct{ Preview string }
		json.Unmarshal([]byte(e.data), &pv)
		if b64, ok := strings.CutPrefix(pv.Preview, "data:image/png;base64,"); ok {
			raw, err := base64.StdEncoding.DecodeString(b64)
			if err != nil {
				t.Fatal(err)
			}
			if pi := decodePNG(t, raw); pi.Rect.Dx() > 96 || pi.Rect.Dy() > 96 {
				t.Fatalf("preview %v", pi.Rect)
			}
			previews++
		}
	}
	if previews == 0 {
		t.Fatalf("no preview among %d events", len(evs))
	}
	var done jobView
	json.Unmarshal([]byte(evs[len(evs)-1].data), &done)
	if done.State != "done" || done.Result != "/v1/jobs/"+j.ID+"/result" || done.ModelCalls != 12 {
		t.Fatalf("done event %s", evs[len(evs)-1].data)
	}
	resp, err = http.Get(ts.URL + done.Result)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Model-Calls") != "12" {
		t.Fatalf("result: %d %s", resp.StatusCode, b)
	}
	knownEqual(t, decodePNG(t, b), img, mask)
	// the stream of a finished job says done at once
	resp, _ = http.Get(ts.URL + j.Events)
	evs = readEvents(t, resp.Body)
	resp.Body.Close()
	if len(evs) != 1 || evs[0].name != "done" {
		t.Fatalf("events of a finished job: %v", evs)
	}
	// expiry
	waitFor(t, 5*time.Second, "the job to expire", func() bool {
		resp, _ := http.Get(ts.URL + "/v1/jobs/" + j.ID)
		resp.Body.Close()
		return resp.StatusCode == 404
	})
	// DELETE forgets a finished job
	w := post(t, s, "/v1/jobs", pngBytes(t, img), pngBytes(t, mask), map[string]string{"steps": "3"})
	json.Unmarshal(w.Body.Bytes(), &j)
	waitFor(t, 10*time.Second, "the job", func() bool {
		w := httptest.NewRecorder()
		s.ServeHTTP(w, httptest.NewRequest("GET", "/v1/jobs/"+j.ID, nil))
		return strings.Contains(w.Body.String(), `"state":"done"`)
	})
	for _, want := range []int{200, 404} {
		w := httptest.NewRecorder()
		s.ServeHTTP(w, httptest.NewRequest("DELETE", "/v1/jobs/"+j.ID, nil))
		if w.Code != want {
			t.Fatalf("DELETE: %d, want %d", w.Code, want)
		}
	}
}

// TestJobCancel: DELETE on a running job stops its sampling within a step
// or two; its stream ends with an error event (cancelled) and its result
// is 410.
func TestJobCancel(t *testing.T) {
	s, ip := newServer(t, 1, Config{})
	ts := httptest.NewServer(s)
	defer ts.Close()
	w := post(t, s, "/v1/jobs", pngBytes(t, testImage(32, 32)), pngBytes(t, boxMask(32, 32, 8, 8, 24, 24)), map[string]string{"steps": "1000"})
	var j jobView
	json.Unmarshal(w.Body.Bytes(), &j)
	resp, err := http.Get(ts.URL + j.Events)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	waitFor(t, 10*time.Second, "sampling", func() bool { return ip.ModelCalls() >= 3 })
	req, _ := http.NewRequest("DELETE", ts.URL+"/v1/jobs/"+j.ID, nil)
	dr, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	dr.Body.Close()
	at := ip.ModelCalls()
	evs := readEvents(t, resp.Body)
	if len(evs) == 0 || evs[len(evs)-1].name != "error" || !strings.Contains(evs[len(evs)-1].data, `"state":"cancelled"`) {
		t.Fatalf("events after DELETE: %v", evs)
	}
	time.Sleep(300 * time.Millisecond)
	if calls := ip.ModelCalls(); calls > at+1 {
		t.Fatalf("sampling went on after DELETE: %d model calls, %d at the DELETE", calls, at)
	}
	rr := httptest.NewRecorder()
	s.ServeHTTP(rr, httptest.NewRequest("GET", "/v1/jobs/"+j.ID+"/result", nil))
	jsonError(t, "result of a cancelled job", rr.Code, rr.Header().Get("Content-Type"), rr.Body.Bytes(), 410, "cancelled")
}

// TestQueueFull: beyond the running samples and the queue, a request gets
// 429 with Retry-After; a request still waiting is 409 on its result.
func TestQueueFull(t *testing.T) {
	s, ip := newServer(t, 1, Config{QueueSize: 1})
	img, mask := pngBytes(t, testImage(32, 32)), pngBytes(t, boxMask(32, 32, 8, 8, 24, 24))
	var ids []string
	for i := 0; i < 2; i++ { // one runs, one waits
		w := post(t, s, "/v1/jobs", img, mask, map[string]string{"steps": "1000"})
		var j jobView
		json.Unmarshal(w.Body.Bytes(), &j)
		if w.Code != 202 {
			t.Fatalf("job %d: %d %s", i, w.Code, w.Body)
		}
		ids = append(ids, j.ID)
	}
	defer func() {
		for _, id := range ids {
			s.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("DELETE", "/v1/jobs/"+id, nil))
		}
	}()
	w := post(t, s, "/v1/inpaint", img, mask, nil)
	jsonError(t, "full queue", w.Code, w.Header().Get("Content-Type"), w.Body.Bytes(), 429, "the queue is full")
	if ra := w.Header().Get("Retry-After"); atoi(ra) < 1 {
		t.Fatalf("Retry-After %q", ra)
	}
	w = httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest("GET", "/v1/jobs/"+ids[1]+"/result", nil))
	jsonError(t, "result of a waiting job", w.Code, w.Header().Get("Content-Type"), w.Body.Bytes(), 409, "queued")
	waitFor(t, 5*time.Second, "sampling", func() bool { return ip.ModelCalls() > 0 })
	w = httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	if !strings.Contains(w.Body.String(), "rad_queue_depth 1\n") {
		t.Fatalf("metrics do not show the waiting sample:\n%s", grepLines(w.Body.String(), "rad_queue"))
	}
}

// TestAverageAdmission: a request is admitted for every sample it runs,
// averaged ones included: with 1 running slot and a queue of 2, one job of
// average 2 fills running and queue but one (it waits for both its slots
// at once), so a request of average 2 more gets 429, and one of a single
// sample is admitted.
func TestAverageAdmission(t *testing.T) {
	s, ip := newServer(t, 1, Config{QueueSize: 2, MaxN: 3})
	img, mask := pngBytes(t, testImage(32, 32)), pngBytes(t, boxMask(32, 32, 8, 8, 24, 24))
	w := post(t, s, "/v1/jobs", img, mask, map[string]string{"steps": "1000", "average": "2"})
	var j jobView
	json.Unmarshal(w.Body.Bytes(), &j)
	if w.Code != 202 {
		t.Fatalf("job: %d %s", w.Code, w.Body)
	}
	defer s.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("DELETE", "/v1/jobs/"+j.ID, nil))
	w = post(t, s, "/v1/jobs", img, mask, map[string]string{"steps": "1000", "average": "2"})
	jsonError(t, "average 2 beyond the queue", w.Code, w.Header().Get("Content-Type"), w.Body.Bytes(), 429, "the queue is full (2 samples running or waiting")
	w = post(t, s, "/v1/jobs", img, mask, map[string]string{"steps": "1000"})
	if w.Code != 202 {
		t.Fatalf("one sample more: %d %s", w.Code, w.Body)
	}
	var j2 jobView
	json.Unmarshal(w.Body.Bytes(), &j2)
	defer s.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("DELETE", "/v1/jobs/"+j2.ID, nil))
	_ = ip
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestClientDisconnect: a client that goes away cancels its sampling
// within a step or two.
func TestClientDisconnect(t *testing.T) {
	s, ip := newServer(t, 4, Config{})
	ts := httptest.NewServer(s)
	defer ts.Close()
	ctx, cancel := context.WithCancel(context.Background())
	body, ct := multipartBody(t, pngBytes(t, testImage(32, 32)), pngBytes(t, boxMask(32, 32, 8, 8, 24, 24)), map[string]string{"steps": "1000"})
	req, _ := http.NewRequestWithContext(ctx, "POST", ts.URL+"/v1/inpaint", body)
	req.Header.Set("Content-Type", ct)
	errc := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	waitFor(t, 10*time.Second, "sampling", func() bool { return ip.ModelCalls() >= 3 })
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("client: %v", err)
	}
	time.Sleep(200 * time.Millisecond) // the server notices the closed connection
	at := ip.ModelCalls()
	time.Sleep(300 * time.Millisecond)
	if calls := ip.ModelCalls(); calls > at+1 || at > 900 {
		t.Fatalf("sampling went on after the client left: %d model calls, then %d", at, calls)
	}
	waitFor(t, 5*time.Second, "the request to end", func() bool {
		w := httptest.NewRecorder()
		s.ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
		return strings.Contains(w.Body.String(), `rad_samples_total{outcome="cancelled"} 1`)
	})
}

// TestBatchCancelOne: requests that wait together share a batch; one
// whose client leaves is dropped from the answers and the others get
// theirs, with the known pixels exact.
func TestBatchCancelOne(t *testing.T) {
	s, ip := newServerWindow(t, 4, 500*time.Millisecond, Config{}) // the three requests surely meet
	ts := httptest.NewServer(s)
	defer ts.Close()
	img, mask := testImage(32, 32), boxMask(32, 32, 8, 8, 24, 24)
	ctx0, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	codes := make([]int, 3)
	batch := make([]string, 3)
	bodies := make([][]byte, 3)
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			ctx := context.Background()
			if i == 0 {
				ctx = ctx0
			}
			body, ct := multipartBody(t, pngBytes(t, img), pngBytes(t, mask), map[string]string{"steps": "60", "seed": string(rune('0' + i))})
			req, _ := http.NewRequestWithContext(ctx, "POST", ts.URL+"/v1/inpaint", body)
			req.Header.Set("Content-Type", ct)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				codes[i] = -1
				return
			}
			defer resp.Body.Close()
			codes[i], batch[i] = resp.StatusCode, resp.Header.Get("X-Batch-Size")
			bodies[i], _ = io.ReadAll(resp.Body)
		}(i)
	}
	waitFor(t, 10*time.Second, "sampling", func() bool { return ip.ModelCalls() >= 5 })
	cancel()
	wg.Wait()
	if codes[0] != -1 {
		t.Fatalf("the cancelled request answered %d", codes[0])
	}
	for i := 1; i < 3; i++ {
		if codes[i] != 200 || batch[i] != "3" {
			t.Fatalf("request %d: %d, batch size %q: %s", i, codes[i], batch[i], bodies[i])
		}
		knownEqual(t, decodePNG(t, bodies[i]), img, mask)
	}
	if ip.ModelCalls() != 60 {
		t.Fatalf("%d model calls for one batch of 60 steps", ip.ModelCalls())
	}
}

// TestTimeout: a request over the timeout gets 504.
func TestTimeout(t *testing.T) {
	s, _ := newServer(t, 1, Config{Timeout: 150 * time.Millisecond})
	w := post(t, s, "/v1/inpaint", pngBytes(t, testImage(32, 32)), pngBytes(t, boxMask(32, 32, 8, 8, 24, 24)), map[string]string{"steps": "1000"})
	jsonError(t, "timeout", w.Code, w.Header().Get("Content-Type"), w.Body.Bytes(), 504, "longer than the timeout")
}

// TestGracefulShutdown: when Run's context ends, the request in flight
// finishes with 200, new connections are refused, and Run returns.
func TestGracefulShutdown(t *testing.T) {
	s, ip := newServer(t, 1, Config{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ctx, stop := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- s.Run(ctx, ln, 30*time.Second) }()
	img, mask := pngBytes(t, testImage(32, 32)), pngBytes(t, boxMask(32, 32, 8, 8, 24, 24))
	type answer struct {
		code int
		err  error
	}
	inflight := make(chan answer, 1)
	go func() {
		body, ct := multipartBody(t, img, mask, map[string]string{"steps": "40"})
		resp, err := http.Post(url+"/v1/inpaint", ct, body)
		if err != nil {
			inflight <- answer{err: err}
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		inflight <- answer{code: resp.StatusCode}
	}()
	waitFor(t, 10*time.Second, "sampling", func() bool { return ip.ModelCalls() >= 2 })
	stop()
	waitFor(t, 5*time.Second, "draining", func() bool { return s.draining.Load() })
	w := post(t, s, "/v1/inpaint", img, mask, nil) // a request on a connection still open
	jsonError(t, "during shutdown", w.Code, w.Header().Get("Content-Type"), w.Body.Bytes(), 503, "shutting down")
	hw := httptest.NewRecorder()
	s.ServeHTTP(hw, httptest.NewRequest("GET", "/healthz", nil))
	if hw.Code != 503 {
		t.Fatalf("healthz while draining: %d", hw.Code)
	}
	time.Sleep(50 * time.Millisecond)
	if c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Fatalf("a new connection was accepted during shutdown")
	}
	if a := <-inflight; a.err != nil || a.code != 200 {
		t.Fatalf("the request in flight: %d %v", a.code, a.err)
	}
	if err := <-runErr; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if ip.ModelCalls() != 40 {
		t.Fatalf("%d model calls, want the in-flight request's 40", ip.ModelCalls())
	}
}

// TestHealthMetricsPage: /healthz reports the model, /metrics is the
// Prometheus text format with the service's metrics, / is the page.
func TestHealthMetricsPage(t *testing.T) {
	s, _ := newServer(t, 1, Config{})
	post(t, s, "/v1/inpaint", pngBytes(t, testImage(32, 32)), pngBytes(t, boxMask(32, 32, 8, 8, 24, 24)), nil)
	get := func(path string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		s.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		return w
	}
	w := get("/healthz")
	var h struct {
		Status string
		Model  struct {
			ImageSize int `json:"image_size"`
		}
	}
	json.Unmarshal(w.Body.Bytes(), &h)
	if w.Code != 200 || h.Status != "ok" || h.Model.ImageSize != 32 {
		t.Fatalf("healthz: %d %s", w.Code, w.Body)
	}
	w = get("/metrics")
	m := w.Body.String()
	for _, want := range []string{`rad_http_requests_total{code="200",handler="inpaint"} 1`, `rad_http_requests_total{code="200",handler="healthz"} 1`,
		"rad_http_request_duration_seconds_bucket{handler=\"inpaint\"", "rad_queue_depth 0", "rad_batch_size_count 1",
		"rad_model_calls_total 10", "rad_live_tensors ", "rad_samples_total{outcome=\"ok\"} 1", "go_goroutines", "process_resident_memory_bytes"} {
		if !strings.Contains(m, want) {
			t.Fatalf("metrics lack %q:\n%s", want, grepLines(m, "rad_"))
		}
	}
	if !strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain") {
		t.Fatalf("metrics content type %q", w.Header().Get("Content-Type"))
	}
	for path, want := range map[string]string{"/": "<title>RAD inpainting</title>", "/app.js": "EventSource", "/style.css": ".stack"} {
		w := get(path)
		if w.Code != 200 || !strings.Contains(w.Body.String(), want) {
			t.Fatalf("%s: %d, lacks %q", path, w.Code, want)
		}
	}
	if w := get("/v1/demo/image.png"); w.Code != 200 || w.Header().Get("Content-Type") != "image/png" {
		t.Fatalf("demo image: %d", w.Code)
	}
}

// A service whose default steps are 0 (radctl serve's default) lets infer
// choose by the start: the default guided start takes
// infer.DefaultGuidedSteps; a request's own steps win; /v1/config says 0.
func TestDefaultStepsByStart(t *testing.T) {
	s, _ := newServer(t, 1, Config{})
	s.cfg.Defaults.Steps = 0
	img, mask := pngBytes(t, testImage(32, 32)), pngBytes(t, boxMask(32, 32, 8, 8, 24, 24))
	w := post(t, s, "/v1/inpaint", img, mask, map[string]string{"seed": "1"})
	if w.Code != 200 || w.Header().Get("X-Steps") != fmt.Sprint(infer.DefaultGuidedSteps) ||
		w.Header().Get("X-Model-Calls") != fmt.Sprint(infer.DefaultGuidedSteps) {
		t.Fatalf("default: %d, X-Steps %q, X-Model-Calls %q", w.Code, w.Header().Get("X-Steps"), w.Header().Get("X-Model-Calls"))
	}
	w = post(t, s, "/v1/inpaint", img, mask, map[string]string{"seed": "1", "steps": "3"})
	if w.Code != 200 || w.Header().Get("X-Steps") != "3" {
		t.Fatalf("steps 3: %d, X-Steps %q", w.Code, w.Header().Get("X-Steps"))
	}
	var cfg map[string]any
	if err := json.Unmarshal(get(s, "/v1/config").Body.Bytes(), &cfg); err != nil || cfg["steps"] != 0.0 {
		t.Fatalf("config: %v, steps %v", err, cfg["steps"])
	}
}
