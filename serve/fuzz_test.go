package serve

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzParseRequest feeds the request parser arbitrary bodies as multipart
// or JSON (the fields, the base64, the images inside): it never panics,
// every refusal is a 4xx with a message, and every accepted request is
// within the limits (n and n x average within MaxN, the image and mask of
// one size within MaxPixels).
func FuzzParseRequest(f *testing.F) {
	s, _ := newServer(f, 1, Config{MaxUploadBytes: 1 << 20, MaxPixels: 64 * 64, MaxN: 4})
	img, mask := pngBytes(f, testImage(16, 16)), pngBytes(f, boxMask(16, 16, 4, 4, 12, 12))
	mp, ct := multipartBody(f, img, mask, map[string]string{"steps": "3", "n": "2", "average": "2", "seed": "5", "eta": "0.5", "sampler": "rad-ddim"})
	mpBody, _ := io.ReadAll(mp)
	boundary := strings.TrimPrefix(ct, "multipart/form-data; boundary=")
	b64 := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	f.Add(true, boundary, mpBody)
	f.Add(false, "", []byte(fmt.Sprintf(`{"image": %q, "mask": %q, "n": 2, "average": 2}`, b64(img), b64(mask))))
	f.Add(false, "", []byte(fmt.Sprintf(`{"image": "data:image/png;base64,%s", "mask": %q, "n": 2, "average": 9223372036854775807}`, b64(img), b64(mask))))
	f.Add(false, "", []byte(fmt.Sprintf(`{"image": %q, "mask": %q, "steps": -1, "soft_mask": true}`, b64(img), b64(img))))
	f.Add(false, "", []byte(`{"image": "!!", "mask": ""}`))
	f.Add(true, boundary, []byte("--"+boundary+"\r\nContent-Disposition: form-data; name=\"n\"\r\n\r\n99999999999999999999\r\n--"+boundary+"--\r\n"))
	f.Fuzz(func(t *testing.T, multipart bool, boundary string, body []byte) {
		ct := "application/json"
		if multipart {
			ct = "multipart/form-data; boundary=" + boundary
		}
		r := httptest.NewRequest("POST", "/v1/inpaint", strings.NewReader(string(body)))
		r.Header.Set("Content-Type", ct)
		w := httptest.NewRecorder()
		req, e := s.parse(w, r)
		if e != nil {
			if e.status < 400 || e.status >= 500 || e.msg == "" {
				t.Fatalf("refusal %d %q", e.status, e.msg)
			}
			return
		}
		if req.n < 1 || req.n > s.cfg.MaxN || req.n*max(1, req.o.Average) > s.cfg.MaxN {
			t.Fatalf("accepted n %d x average %d (max %d)", req.n, req.o.Average, s.cfg.MaxN)
		}
		ib, mb := req.img.Bounds(), req.mask.Bounds()
		if ib.Dx() != mb.Dx() || ib.Dy() != mb.Dy() || ib.Dx()*ib.Dy() > s.cfg.MaxPixels || ib.Empty() {
			t.Fatalf("accepted image %v and mask %v", ib, mb)
		}
		if req.o.Steps < 1 || req.o.Steps > s.ip.BaseSteps() {
			t.Fatalf("accepted steps %d", req.o.Steps)
		}
	})
}
