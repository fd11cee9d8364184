package serve

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"log"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/radinpaint/rad/infer"
	"github.com/radinpaint/rad/radmodel"
	"github.com/radinpaint/rad/torch"
)

// the tests' model: radctl's --random-model (a random-weight 32x32 ADM of
// the fixture pub_a's shape), made once and only read.
var (
	modelOnce sync.Once
	model     *radmodel.UNet
	modelErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if model != nil {
		model.Close()
	}
	os.Exit(code)
}

func tinyModel(t testing.TB) *radmodel.UNet {
	t.Helper()
	modelOnce.Do(func() {
		spec, err := radmodel.ParseFlags("--image_size 32 --num_channels 32 --num_res_blocks 1 --channel_mult 1,1,2 " +
			"--attention_resolutions 16 --num_heads 2 --use_scale_shift_norm True --learn_sigma True")
		if err != nil {
			modelErr = err
			return
		}
		model, modelErr = radmodel.NewRandom(spec.Model, torch.CPU, torch.Float32, 1102)
	})
	if modelErr != nil {
		t.Fatal(modelErr)
	}
	return model
}

// newServer is a Server on the tiny model with the Inpainter batching up
// to maxBatch calls; cfg's other fields are kept (Defaults.Steps 10
// unless set). It is closed with the test.
func newServer(t testing.TB, maxBatch int, cfg Config) (*Server, *infer.Inpainter) {
	t.Helper()
	return newServerWindow(t, maxBatch, 30*time.Millisecond, cfg)
}

// newServerWindow is newServer with the batcher's window.
func newServerWindow(t testing.TB, maxBatch int, window time.Duration, cfg Config) (*Server, *infer.Inpainter) {
	t.Helper()
	ip, err := infer.New(infer.Config{Model: tinyModel(t), DiffusionSteps: 1000, NoiseSchedule: "linear",
		MaxBatch: maxBatch, BatchWindow: window})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Inpainter, cfg.MaxBatch = ip, maxBatch
	if cfg.Defaults.Steps == 0 {
		cfg.Defaults.Steps = 10
	}
	if cfg.Log == nil {
		cfg.Log = log.New(io.Discard, "", 0)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		ip.Close()
	})
	return s, ip
}

// testImage is a w x h picture with gradients; boxMask a white box.
func testImage(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.SetRGBA(x, y, color.RGBA{uint8(5 * x), uint8(7 * y), uint8(3*x + 2*y), 255})
		}
	}
	return img
}

func boxMask(w, h, x0, y0, x1, y1 int) *image.Gray {
	m := image.NewGray(image.Rect(0, 0, w, h))
	for y := y0; y < y1; y++ {
		for x := x0; x < x1; x++ {
			m.SetGray(x, y, color.Gray{255})
		}
	}
	return m
}

func pngBytes(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// multipartBody is a form with files image and mask and the fields.
func multipartBody(t testing.TB, img, mask []byte, fields map[string]string) (io.Reader, string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for name, data := range map[string][]byte{"image": img, "mask": mask} {
		if data == nil {
			continue
		}
		fw, err := mw.CreateFormFile(name, name+".png")
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(data)
	}
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	mw.Close()
	return &b, mw.FormDataContentType()
}

// post sends a multipart inpainting request to the handler.
func post(t testing.TB, h http.Handler, path string, img, mask []byte, fields map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	body, ct := multipartBody(t, img, mask, fields)
	r := httptest.NewRequest("POST", path, body)
	r.Header.Set("Content-Type", ct)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// jsonError checks an error answer: status, JSON content type, and an
// error message containing want.
func jsonError(t testing.TB, name string, code int, ct string, body []byte, status int, want string) {
	t.Helper()
	var e struct{ Error string }
	if err := json.Unmarshal(body, &e); err != nil || !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s: answer %d %q is not a JSON error: %s", name, code, ct, body)
	}
	if code != status || !strings.Contains(e.Error, want) {
		t.Fatalf("%s: got %d %q, want %d with %q", name, code, e.Error, status, want)
	}
}

// decodePNG reads an answer's PNG as RGBA.
func decodePNG(t testing.TB, b []byte) *image.RGBA {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("answer is not a PNG: %v", err)
	}
	out := image.NewRGBA(img.Bounds())
	for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y++ {
		for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x++ {
			out.Set(x, y, img.At(x, y))
		}
	}
	return out
}

// knownEqual fails unless out has in's size and equals it wherever mask
// is not a hole (luminance < 128).
func knownEqual(t testing.TB, out, in *image.RGBA, mask *image.Gray) {
	t.Helper()
	if out.Rect.Size() != in.Rect.Size() {
		t.Fatalf("answer is %v, input %v", out.Rect.Size(), in.Rect.Size())
	}
	holes, changed := 0, 0
	for y := 0; y < in.Rect.Dy(); y++ {
		for x := 0; x < in.Rect.Dx(); x++ {
			if mask.GrayAt(x, y).Y < 128 {
				if out.RGBAAt(x, y) != in.RGBAAt(x, y) {
					t.Fatalf("known pixel (%d,%d) is %v, input %v", x, y, out.RGBAAt(x, y), in.RGBAAt(x, y))
				}
			} else {
				holes++
				if out.RGBAAt(x, y) != in.RGBAAt(x, y) {
					changed++
				}
			}
		}
	}
	if holes > 0 && changed == 0 {
		t.Fatalf("no hole pixel changed")
	}
}

// waitFor polls cond for up to d.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(d)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func atoi(s string) int {
	var n int
	fmt.Sscan(s, &n)
	return n
}
