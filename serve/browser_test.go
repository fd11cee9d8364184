package serve

import (
	"encoding/base64"
	"fmt"
	"image"
	"image/color"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/radinpaint/rad/infer"
	"github.com/radinpaint/rad/torch"
)

// fetchB64 is the JS that reads a URL (or blob: URL) as base64.
const fetchB64 = `fetch(%s).then(r => r.arrayBuffer()).then(b => { const u = new Uint8Array(b); let s = ""; for (let i = 0; i < u.length; i++) s += String.fromCharCode(u[i]); return btoa(s); })`

// TestBrowser drives the page in a headless Chromium, on a service with
// access control on (token, Host, Origin): come in through the token link
// (the cookie then carries the page's requests and event stream), open an image with
// the file input, paint a stroke on the canvas with the mouse, set the
// steps, press Inpaint, wait for the result image; it has the input's
// size, the mask the page sent has the stroke, and every pixel outside it
// equals the input's. Without Chromium the test is skipped, except in CI
// (CI=true), where it fails.
//
// RAD_SERVE_SCREENSHOT=path saves a screenshot of the page with its result
// there; RAD_SERVE_MODEL=default serves the shipped model for it (the test
// otherwise uses the tiny random model, whose fill is noise).
// browserToken is the service's token in TestBrowser.
const browserToken = "browser-test-token-0123456789"

func TestBrowser(t *testing.T) {
	bin := chromiumPath()
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true but no chromium on PATH: scripts/setup.sh installs it when CI=true (or RAD_BROWSER_TESTS=1)")
		}
		t.Skip("chromium not installed (apt-get install chromium, or run scripts/setup.sh with RAD_BROWSER_TESTS=1); CI runs this test")
	}
	steps := "4"
	var s *Server
	if os.Getenv("RAD_SERVE_MODEL") == "default" {
		ip, m, err := infer.NewDefault(torch.CPU, 1)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		defer ip.Close()
		if s, err = New(Config{Inpainter: ip}); err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		steps = "100"
	} else {
		// with access control as radctl serve sets it: the page comes in
		// through its token link, then lives on the cookie
		s, _ = newServer(t, 1, Config{Token: browserToken, AllowedHosts: []string{"127.0.0.1"}, CheckOrigin: true})
	}
	ts := httptest.NewServer(s)
	defer ts.Close()
	// the test's own API calls, with the token and the served host
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Host = "127.0.0.1"
		r.Header.Set("Authorization", "Bearer "+browserToken)
		s.ServeHTTP(w, r)
	})

	// the input: the demo picture, 160 x 120
	demo, _ := DemoInputs(160)
	in := image.NewRGBA(image.Rect(0, 0, 160, 120))
	for y := 0; y < 120; y++ {
		for x := 0; x < 160; x++ {
			in.SetRGBA(x, y, demo.RGBAAt(x, y+20))
		}
	}
	path := filepath.Join(t.TempDir(), "input.png")
	if err := os.WriteFile(path, pngBytes(t, in), 0o644); err != nil {
		t.Fatal(err)
	}

	b := startBrowser(t, bin, 1280, 720)
	b.call(t, "Page.navigate", map[string]any{"url": ts.URL + "/?token=" + browserToken}, nil)
	b.waitJS(t, 20*time.Second, `document.readyState === "complete" && document.getElementById("model").textContent !== ""`)
	b.setFile(t, "#file", path)
	b.waitJS(t, 10*time.Second, `document.getElementById("view").width === 160 && !document.getElementById("stack").hidden`)

	// a stroke across the sun and the sky: from 20% to 75% of the width at
	// 30% of the height, brush 40 (CSS pixels)
	b.eval(t, `(() => { const s = document.getElementById("size"); s.value = 40; s.dispatchEvent(new Event("input")); })()`, nil)
	var r struct{ X, Y, Width, Height float64 }
	b.eval(t, `(() => { const r = document.getElementById("mask").getBoundingClientRect(); return {x: r.x, y: r.y, width: r.width, height: r.height}; })()`, &r)
	if r.Width < 160 {
		t.Fatalf("the canvas is shown %v CSS pixels wide for a 160-pixel image", r.Width)
	}
	y := r.Y + 0.3*r.Height
	b.mouse(t, "mouseMoved", r.X+0.2*r.Width, y, 0)
	b.mouse(t, "mousePressed", r.X+0.2*r.Width, y, 1)
	for i := 1; i <= 10; i++ {
		b.mouse(t, "mouseMoved", r.X+(0.2+0.055*float64(i))*r.Width, y+float64(i%3), 1)
	}
	b.mouse(t, "mouseReleased", r.X+0.75*r.Width, y, 0)

	b.eval(t, `document.getElementById("steps").value = `+steps, nil)
	b.eval(t, `document.getElementById("average").value = 2`, nil)
	b.click(t, "#run")
	b.waitJS(t, 5*time.Minute, `document.getElementById("result").dataset.ready === "1"`)

	var resB64, maskB64 string
	b.eval(t, fmt.Sprintf(fetchB64, `document.getElementById("result").src`), &resB64)
	b.eval(t, fmt.Sprintf(fetchB64, `URL.createObjectURL(window.lastMask)`), &maskB64)
	resPNG, _ := base64.StdEncoding.DecodeString(resB64)
	maskPNG, _ := base64.StdEncoding.DecodeString(maskB64)
	out, maskRGBA := decodePNG(t, resPNG), decodePNG(t, maskPNG)
	if out.Rect.Dx() != 160 || out.Rect.Dy() != 120 {
		t.Fatalf("result is %v, the input 160x120", out.Rect)
	}
	mask := image.NewGray(maskRGBA.Rect)
	holes := 0
	for y := 0; y < 120; y++ {
		for x := 0; x < 160; x++ {
			v := maskRGBA.RGBAAt(x, y).R
			mask.SetGray(x, y, color.Gray{v})
			if v >= 128 {
				holes++
			}
		}
	}
	// the stroke: about 0.55 x 160 long, 40 x 160 / width pixels thick
	if holes < 500 || holes > 160*120/2 || mask.GrayAt(80, 36).Y != 255 || mask.GrayAt(80, 100).Y != 0 {
		t.Fatalf("the mask the page sent has %d hole pixels (centre of the stroke %d)", holes, mask.GrayAt(80, 36).Y)
	}
	knownEqual(t, out, in, mask)
	// the page asked for the mean of 2 samples (seed 0): the API's answer
	// to the same request, not its one-sample answer
	for _, avg := range []string{"2", "1"} {
		w := post(t, api, "/v1/inpaint", pngBytes(t, in), maskPNG, map[string]string{"steps": steps, "seed": "0", "average": avg})
		if w.Code != 200 {
			t.Fatalf("average %s: %d %s", avg, w.Code, w.Body)
		}
		api, off := decodePNG(t, w.Body.Bytes()), 0
		for i := range api.Pix {
			if d := int(api.Pix[i]) - int(out.Pix[i]); d > 2 || d < -2 {
				off++
			}
		}
		if (avg == "2") != (off == 0) {
			t.Fatalf("the page's result differs from the API's average=%s answer in %d bytes", avg, off)
		}
	}

	var status string
	b.eval(t, `document.getElementById("status").textContent`, &status)
	shot := b.screenshot(t)
	if dst := os.Getenv("RAD_SERVE_SCREENSHOT"); dst != "" {
		if err := os.WriteFile(dst, shot, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("result %v, %d hole pixels painted, page status %q, screenshot %d bytes", out.Rect.Size(), holes, status, len(shot))
}
