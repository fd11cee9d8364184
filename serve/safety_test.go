package serve

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/image/tiff"

	"github.com/radinpaint/rad/infer"
	"github.com/radinpaint/rad/torch"
)

// get is a GET of path with headers (name, value pairs) on h.
func get(h http.Handler, path string, headers ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("GET", path, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// TestAccessToken: with a token, every API call, /metrics and /healthz
// need it (401 without it or with a wrong one); the page's link
// /?token=... sets an HttpOnly SameSite=Strict cookie and redirects to a
// URL without the token; the cookie then opens the page and the API.
func TestAccessToken(t *testing.T) {
	const token = "0123456789abcdef-secret"
	s, _ := newServer(t, 1, Config{Token: token, AllowedHosts: []string{"example.com"}, CheckOrigin: true})
	for _, p := range []string{"/v1/config", "/metrics", "/healthz", "/v1/demo/image.png", "/v1/jobs/x"} {
		w := get(s, p)
		jsonError(t, p+" without a token", w.Code, w.Header().Get("Content-Type"), w.Body.Bytes(), 401, "needs a token")
		if w.Header().Get("WWW-Authenticate") == "" {
			t.Fatalf("%s: 401 without WWW-Authenticate", p)
		}
		w = get(s, p, "Authorization", "Bearer "+token+"x")
		if w.Code != 401 {
			t.Fatalf("%s with a wrong token: %d", p, w.Code)
		}
		w = get(s, p, "Authorization", "Bearer "+token[:len(token)-1])
		if w.Code != 401 {
			t.Fatalf("%s with a token's prefix: %d", p, w.Code)
		}
	}
	if w := get(s, "/v1/config", "Authorization", "Bearer "+token); w.Code != 200 {
		t.Fatalf("right token: %d %s", w.Code, w.Body)
	}
	w := get(s, "/")
	if w.Code != 401 || !strings.Contains(w.Body.String(), "?token=") {
		t.Fatalf("page without a token: %d %s", w.Code, w.Body)
	}
	if w := get(s, "/?token=wrong-token-0000000"); w.Code != 401 || len(w.Result().Cookies()) != 0 {
		t.Fatalf("page with a wrong token: %d, cookies %v", w.Code, w.Result().Cookies())
	}
	w = get(s, "/?token="+token)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/" {
		t.Fatalf("page link: %d, Location %q", w.Code, w.Header().Get("Location"))
	}
	cs := w.Result().Cookies()
	if len(cs) != 1 || !cs[0].HttpOnly || cs[0].SameSite != http.SameSiteStrictMode || cs[0].Value != token || cs[0].Path != "/" {
		t.Fatalf("cookie %+v", cs)
	}
	cookie := cs[0].Name + "=" + cs[0].Value
	if w := get(s, "/", "Cookie", cookie); w.Code != 200 || !strings.Contains(w.Body.String(), "<html") {
		t.Fatalf("page with the cookie: %d", w.Code)
	}
	if w := get(s, "/healthz", "Cookie", cookie); w.Code != 200 {
		t.Fatalf("API with the cookie: %d %s", w.Code, w.Body)
	}
	if w := get(s, "/healthz", "Cookie", cs[0].Name+"=x"+token); w.Code != 401 {
		t.Fatalf("API with a wrong cookie: %d", w.Code)
	}
	// an inpainting request with the cookie, from the page's own origin
	img, mask := pngBytes(t, testImage(32, 32)), pngBytes(t, boxMask(32, 32, 8, 8, 24, 24))
	body, ct := multipartBody(t, img, mask, map[string]string{"steps": "2"})
	r := httptest.NewRequest("POST", "http://example.com/v1/inpaint", body)
	r.Header.Set("Content-Type", ct)
	r.Header.Set("Cookie", cookie)
	r.Header.Set("Origin", "http://example.com")
	rw := httptest.NewRecorder()
	s.ServeHTTP(rw, r)
	if rw.Code != 200 {
		t.Fatalf("inpaint with the cookie: %d %s", rw.Code, rw.Body)
	}
	if w := get(s, "/metrics", "Authorization", "Bearer "+token); !strings.Contains(w.Body.String(), `rad_requests_denied_total{reason="token"}`) {
		t.Fatal("denials are not counted")
	}
}

// TestAccessHost: a Host that is not allowed gets 403 (DNS rebinding);
// allowed names match without port, case or trailing dot.
func TestAccessHost(t *testing.T) {
	s, _ := newServer(t, 1, Config{AllowedHosts: []string{"localhost", "127.0.0.1", "::1"}})
	for host, want := range map[string]int{
		"localhost:8080": 200, "LOCALHOST.:8080": 200, "127.0.0.1": 200, "[::1]:8080": 200,
		"evil.example:8080": 403, "127.0.0.2:8080": 403, "localhost.evil.example": 403, "": 403,
	} {
		r := httptest.NewRequest("GET", "/v1/config", nil)
		r.Host = host
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Code != want {
			t.Fatalf("Host %q: %d, want %d (%s)", host, w.Code, want, w.Body)
		}
	}
	any, _ := newServer(t, 1, Config{AllowedHosts: []string{"*"}})
	r := httptest.NewRequest("GET", "/v1/config", nil)
	r.Host = "evil.example"
	w := httptest.NewRecorder()
	any.ServeHTTP(w, r)
	if w.Code != 200 {
		t.Fatalf("* allows any host: %d", w.Code)
	}
}

// TestAccessOrigin: a state-changing request from another origin gets 403
// (CSRF: a multipart POST is a CORS simple request); reads from anywhere,
// and requests from the service's own page or from non-browsers, pass.
func TestAccessOrigin(t *testing.T) {
	s, _ := newServer(t, 1, Config{CheckOrigin: true})
	img, mask := pngBytes(t, testImage(32, 32)), pngBytes(t, boxMask(32, 32, 8, 8, 24, 24))
	try := func(method, path string, headers ...string) int {
		body, ct := multipartBody(t, img, mask, map[string]string{"steps": "1"})
		r := httptest.NewRequest(method, "http://127.0.0.1:8080"+path, body)
		r.Header.Set("Content-Type", ct)
		for i := 0; i+1 < len(headers); i += 2 {
			r.Header.Set(headers[i], headers[i+1])
		}
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		return w.Code
	}
	for _, c := range []struct {
		method, path string
		headers      []string
		want         int
	}{
		{"POST", "/v1/inpaint", []string{"Origin", "http://evil.example"}, 403},
		{"POST", "/v1/jobs", []string{"Origin", "http://127.0.0.1:9999"}, 403},
		{"POST", "/v1/inpaint", []string{"Origin", "null"}, 403},
		{"POST", "/v1/inpaint", []string{"Sec-Fetch-Site", "cross-site"}, 403},
		{"POST", "/v1/inpaint", []string{"Sec-Fetch-Site", "same-site"}, 403},
		{"DELETE", "/v1/jobs/abc", []string{"Origin", "https://evil.example"}, 403},
		{"POST", "/v1/inpaint", []string{"Origin", "http://127.0.0.1:8080", "Sec-Fetch-Site", "same-origin"}, 200},
		{"POST", "/v1/inpaint", nil, 200}, // curl, Go clients
		{"DELETE", "/v1/jobs/abc", []string{"Origin", "http://127.0.0.1:8080"}, 404},
		{"GET", "/v1/config", []string{"Origin", "http://evil.example"}, 200},
	} {
		if got := try(c.method, c.path, c.headers...); got != c.want {
			t.Fatalf("%s %s %v: %d, want %d", c.method, c.path, c.headers, got, c.want)
		}
	}
}

// TestMemoryBudget: a sample holds its estimate while it runs; a second
// one that does not fit the rest of the budget waits although slots are
// free; a request that can never fit (a large image, or an average
// whose samples together exceed the budget) gets 413 naming the budget.
func TestMemoryBudget(t *testing.T) {
	per := func(w, h int, o infer.Options) (int64, error) { return int64(w*h) << 10, nil } // 1 KiB a pixel
	budget := int64(32*32) << 10 * 3 / 2                                                   // one 32x32 sample, not two
	s, _ := newServer(t, 4, Config{MaxMemory: budget, SampleBytes: per})
	img, mask := pngBytes(t, testImage(32, 32)), pngBytes(t, boxMask(32, 32, 8, 8, 24, 24))
	start := func() jobView {
		w := post(t, s, "/v1/jobs", img, mask, map[string]string{"steps": "1000"})
		if w.Code != 202 {
			t.Fatalf("job: %d %s", w.Code, w.Body)
		}
		var j jobView
		json.Unmarshal(w.Body.Bytes(), &j)
		return j
	}
	j1 := start()
	waitFor(t, 10*time.Second, "the first job to run", func() bool { n, _ := s.slots.running(); return n == 1 })
	j2 := start()
	time.Sleep(300 * time.Millisecond)
	if n, b := s.slots.running(); n != 1 || b != int64(32*32)<<10 {
		t.Fatalf("running %d samples of %d bytes: the budget admitted the second", n, b)
	}
	s.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("DELETE", "/v1/jobs/"+j1.ID, nil))
	waitFor(t, 10*time.Second, "the second job to run", func() bool {
		w := get(s, "/v1/jobs/"+j2.ID)
		var v jobView
		json.Unmarshal(w.Body.Bytes(), &v)
		return v.State == stateRunning
	})
	s.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("DELETE", "/v1/jobs/"+j2.ID, nil))

	big, bigMask := pngBytes(t, testImage(48, 48)), pngBytes(t, boxMask(48, 48, 8, 8, 24, 24))
	w := post(t, s, "/v1/inpaint", big, bigMask, map[string]string{"steps": "1"})
	jsonError(t, "a sample above the budget", w.Code, w.Header().Get("Content-Type"), w.Body.Bytes(), 413, "above the service's memory budget of 1 MiB")
	w = post(t, s, "/v1/inpaint", img, mask, map[string]string{"steps": "1", "average": "2"})
	jsonError(t, "an average above the budget", w.Code, w.Header().Get("Content-Type"), w.Body.Bytes(), 413, "a result of 2 sample(s) at 32x32 needs about 2 MiB")
	if w := post(t, s, "/v1/inpaint", img, mask, map[string]string{"steps": "1"}); w.Code != 200 {
		t.Fatalf("a sample within the budget: %d %s", w.Code, w.Body)
	}
}

// TestSampleBytes: the Inpainter's estimate grows with the working size,
// stops growing at the tile budget, follows MaxSide, and counts the model's
// own size in model resolution.
func TestSampleBytes(t *testing.T) {
	_, ip := newServer(t, 1, Config{})
	native := infer.Options{Resolution: infer.ResolutionNative}
	est := func(w, h int, o infer.Options) int64 {
		b, err := ip.SampleBytes(w, h, o)
		if err != nil || b <= 0 {
			t.Fatalf("SampleBytes(%d, %d): %d, %v", w, h, b, err)
		}
		return b
	}
	a, b := est(64, 64, native), est(256, 256, native)
	if b < 8*a {
		t.Fatalf("256x256 estimated %d bytes, 64x64 %d: not growing with the pixels", b, a)
	}
	tiled := native
	tiled.MaxTilePixels = 128 * 128
	if t1, t2 := est(1024, 1024, tiled), est(1024, 1024, native); t1 >= t2/4 {
		t.Fatalf("tiles of 128x128: %d bytes, untiled %d", t1, t2)
	}
	capped := native
	capped.MaxSide = 64
	if c := est(1024, 1024, capped); c >= est(1024, 1024, native)/8 {
		t.Fatalf("MaxSide 64 at 1024x1024: %d bytes", c)
	}
	model := infer.Options{Resolution: infer.ResolutionModel}
	if m1, m2 := est(32, 32, model), est(1000, 1000, model); m2-m1 != int64(1000*1000-32*32)*12 {
		t.Fatalf("model resolution: %d and %d bytes: more than the image buffers grow", m1, m2)
	}
	if _, err := ip.SampleBytes(0, 5, native); err == nil {
		t.Fatal("an empty image has an estimate")
	}
}

// TestOutOfMemoryIs503: an allocation failure inside sampling (a real
// libtorch one, through the fault hook) answers 503 with Retry-After, the
// job ends with 503, and the service goes on serving.
func TestOutOfMemoryIs503(t *testing.T) {
	s, _ := newServer(t, 1, Config{})
	s.fault = func() error {
		sc := torch.NewNoGradScope()
		defer sc.Close()
		sc.Empty(torch.Float32, torch.CPU, 1<<40) // 4 TiB
		return sc.Err()
	}
	img, mask := pngBytes(t, testImage(32, 32)), pngBytes(t, boxMask(32, 32, 8, 8, 24, 24))
	w := post(t, s, "/v1/inpaint", img, mask, map[string]string{"steps": "2"})
	jsonError(t, "out of memory", w.Code, w.Header().Get("Content-Type"), w.Body.Bytes(), 503, "out of memory")
	if w.Header().Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
	w = post(t, s, "/v1/jobs", img, mask, map[string]string{"steps": "2"})
	var j jobView
	json.Unmarshal(w.Body.Bytes(), &j)
	waitFor(t, 10*time.Second, "the job to fail", func() bool {
		w := get(s, "/v1/jobs/"+j.ID+"/result")
		return w.Code == 503
	})
	s.fault = nil
	if w := post(t, s, "/v1/inpaint", img, mask, map[string]string{"steps": "2"}); w.Code != 200 {
		t.Fatalf("after the failure: %d %s", w.Code, w.Body)
	}
	if w := get(s, "/metrics"); !strings.Contains(w.Body.String(), `rad_samples_total{outcome="oom"} 2`) {
		t.Fatalf("oom outcome not counted:\n%s", grepLines(w.Body.String(), "rad_samples_total"))
	}
}

// TestFormats: only the documented formats are decoded: GIF and TIFF
// (whose decoders other imports register) are refused, Netpbm is taken.
func TestFormats(t *testing.T) {
	s, _ := newServer(t, 1, Config{})
	src := testImage(32, 32)
	mask := pngBytes(t, boxMask(32, 32, 8, 8, 24, 24))
	var g, tf bytes.Buffer
	if err := gif.Encode(&g, src, nil); err != nil {
		t.Fatal(err)
	}
	if err := tiff.Encode(&tf, src, nil); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"gif": g.Bytes(), "tiff": tf.Bytes()} {
		w := post(t, s, "/v1/inpaint", b, mask, map[string]string{"steps": "1"})
		jsonError(t, name, w.Code, w.Header().Get("Content-Type"), w.Body.Bytes(), 400, "send a PNG, JPEG or Netpbm (PPM/PGM) image")
	}
	var ppm bytes.Buffer
	fmt.Fprintf(&ppm, "P6\n32 32\n255\n")
	for y := 0; y < 32; y++ {
		for x := 0; x < 32; x++ {
			c := src.RGBAAt(x, y)
			ppm.Write([]byte{c.R, c.G, c.B})
		}
	}
	if w := post(t, s, "/v1/inpaint", ppm.Bytes(), mask, map[string]string{"steps": "1"}); w.Code != 200 {
		t.Fatalf("PPM: %d %s", w.Code, w.Body)
	}
}

// TestJobStoreBytes: the job store keeps at most MaxJobBytes of results:
// a new result pushes out the oldest finished job, and a result larger
// than the store ends its job with 413.
func TestJobStoreBytes(t *testing.T) {
	s, _ := newServer(t, 1, Config{})
	img, mask := pngBytes(t, testImage(32, 32)), pngBytes(t, boxMask(32, 32, 8, 8, 24, 24))
	run := func() jobView {
		w := post(t, s, "/v1/jobs", img, mask, map[string]string{"steps": "2", "seed": "7"})
		var j jobView
		json.Unmarshal(w.Body.Bytes(), &j)
		var v jobView
		waitFor(t, 20*time.Second, "the job to end", func() bool {
			json.Unmarshal(get(s, "/v1/jobs/"+j.ID).Body.Bytes(), &v)
			return v.State == stateDone || v.State == stateError
		})
		return v
	}
	a := run()
	s.jobsMu.Lock()
	one := s.jobBytes
	s.cfg.MaxJobBytes = one * 3 / 2 // room for one result, not two
	s.jobsMu.Unlock()
	if a.State != stateDone || one <= 0 {
		t.Fatalf("first job %+v, %d bytes kept", a, one)
	}
	b := run()
	if b.State != stateDone {
		t.Fatalf("second job %+v", b)
	}
	if w := get(s, "/v1/jobs/"+a.ID); w.Code != 404 {
		t.Fatalf("the oldest job is still kept: %d", w.Code)
	}
	if w := get(s, "/v1/jobs/"+b.ID+"/result"); w.Code != 200 {
		t.Fatalf("the newest result: %d", w.Code)
	}
	s.jobsMu.Lock()
	if s.jobBytes != one {
		t.Fatalf("%d bytes kept, want %d", s.jobBytes, one)
	}
	s.cfg.MaxJobBytes = one / 2
	s.jobsMu.Unlock()
	c := run()
	if c.State != stateError || !strings.Contains(c.Error, "above the job store's limit") {
		t.Fatalf("a result above the store: %+v", c)
	}
	if w := get(s, "/v1/jobs/"+c.ID+"/result"); w.Code != 413 {
		t.Fatalf("its result: %d", w.Code)
	}
	s.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("DELETE", "/v1/jobs/"+b.ID, nil))
	s.jobsMu.Lock()
	defer s.jobsMu.Unlock()
	if s.jobBytes != 0 {
		t.Fatalf("%d bytes counted after the delete", s.jobBytes)
	}
}

// TestUploadGate: with every upload slot taken by a slow body, the next
// request gets 503 with Retry-After within the upload wait, before its
// body is read; a body announced above the limit gets 413 at once; the
// slow upload then completes.
func TestUploadGate(t *testing.T) {
	s, _ := newServer(t, 1, Config{MaxUploads: 1, UploadWait: 300 * time.Millisecond, MaxUploadBytes: 1 << 20})
	ts := httptest.NewServer(s)
	defer ts.Close()
	img, mask := pngBytes(t, testImage(32, 32)), pngBytes(t, boxMask(32, 32, 8, 8, 24, 24))
	body, ct := multipartBody(t, img, mask, map[string]string{"steps": "2"})
	full, _ := io.ReadAll(body)
	pr, pw := io.Pipe()
	slow := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest("POST", ts.URL+"/v1/inpaint", pr)
		req.Header.Set("Content-Type", ct)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			slow <- -1
			return
		}
		resp.Body.Close()
		slow <- resp.StatusCode
	}()
	pw.Write(full[:100]) // the slow upload holds the only slot
	waitFor(t, 10*time.Second, "the slow upload to take the slot", func() bool { return len(s.uploads) == 1 })
	start := time.Now()
	req, _ := http.NewRequest("POST", ts.URL+"/v1/inpaint", bytes.NewReader(full))
	req.Header.Set("Content-Type", ct)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	jsonError(t, "no upload slot", resp.StatusCode, resp.Header.Get("Content-Type"), b, 503, "uploads are being read")
	if resp.Header.Get("Retry-After") == "" || time.Since(start) > 5*time.Second {
		t.Fatalf("503 after %v, Retry-After %q", time.Since(start), resp.Header.Get("Retry-After"))
	}
	// announced above the limit: refused before the slot is even sought
	// (Expect: 100-continue: the client sends no body unless asked to)
	req, _ = http.NewRequest("POST", ts.URL+"/v1/inpaint", bytes.NewReader(make([]byte, 2<<20)))
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Expect", "100-continue")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	jsonError(t, "body above the limit", resp.StatusCode, resp.Header.Get("Content-Type"), b, 413, "request body of 2097152 bytes, above the limit of 1048576 bytes")
	pw.Write(full[100:])
	pw.Close()
	if code := <-slow; code != 200 {
		t.Fatalf("the slow upload: %d", code)
	}
}

// TestWriteDeadline: a client that never reads its (large) answer is cut
// off after WriteTimeout; the request then ends and frees its place.
func TestWriteDeadline(t *testing.T) {
	s, _ := newServer(t, 1, Config{WriteTimeout: 300 * time.Millisecond,
		Defaults: infer.Options{Steps: 2, Resolution: infer.ResolutionModel}})
	ts := httptest.NewServer(s)
	defer ts.Close()
	// a noisy 1600x1600 picture: its answer is a PNG of several MB, more
	// than the sockets' buffers hold
	const n = 1600
	img := noiseImage(n, 1)
	m := image.NewGray(img.Rect)
	m.SetGray(10, 10, color.Gray{255})
	body, ct := multipartBody(t, pngBytes(t, img), pngBytes(t, m), nil)
	full, _ := io.ReadAll(body)
	conn, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.(*net.TCPConn).SetReadBuffer(4096)
	fmt.Fprintf(conn, "POST /v1/inpaint HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", ct, len(full))
	conn.Write(full)
	// read only the status line, then stop reading
	br := bufio.NewReaderSize(conn, 16)
	line, err := br.ReadString('\n')
	if err != nil || !strings.Contains(line, "200") {
		t.Fatalf("status line %q, %v", line, err)
	}
	waitFor(t, 30*time.Second, "the request to end", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.pending == 0
	})
}
