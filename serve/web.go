package serve

import (
	"bytes"
	"embed"
	"image"
	"image/color"
	"image/png"
	"io/fs"
	"net/http"
	"strconv"
)

// web is the page: HTML, JS and CSS, no external resources.
//
//go:embed web
var web embed.FS

var static = func() http.Handler {
	sub, err := fs.Sub(web, "web")
	if err != nil {
		panic(err)
	}
	return http.FileServer(http.FS(sub))
}()

// handlePage serves the page at / and its files; other paths are 404.
func (s *Server) handlePage(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/", "/index.html", "/app.js", "/style.css":
		w.Header().Set("Cache-Control", "no-cache")
		static.ServeHTTP(w, r)
	default:
		writeError(w, errorf(http.StatusNotFound, "no page %s", r.URL.Path))
	}
}

// handleDemo: GET /v1/demo/image.png and mask.png, the generated demo
// picture (192 x 192: sky, ground, a sun) and its box hole.
func (s *Server) handleDemo(w http.ResponseWriter, r *http.Request) {
	img, mask := DemoInputs(192)
	var pic image.Image
	switch r.PathValue("file") {
	case "image.png":
		pic = img
	case "mask.png":
		pic = mask
	default:
		writeError(w, errorf(http.StatusNotFound, "no demo file %q (image.png or mask.png)", r.PathValue("file")))
		return
	}
	var b bytes.Buffer
	png.Encode(&b, pic)
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	w.Write(b.Bytes())
}

// DemoInputs is the generated n x n demo picture (sky, ground, a sun; the
// one radctl infer --demo uses, drawn at n) and a box hole over its middle.
func DemoInputs(n int) (*image.RGBA, *image.Gray) {
	img := image.NewRGBA(image.Rect(0, 0, n, n))
	mask := image.NewGray(image.Rect(0, 0, n, n))
	for py := 0; py < n; py++ {
		for px := 0; px < n; px++ {
			x, y := px*32/n, py*32/n
			c := color.RGBA{uint8(90 + 4*y), uint8(140 + 3*y), 235, 255}
			if y > 20 {
				c = color.RGBA{60, uint8(120 + 2*x), 50, 255}
			}
			if (x-8)*(x-8)+(y-8)*(y-8) < 16 {
				c = color.RGBA{250, 220, 60, 255}
			}
			img.SetRGBA(px, py, c)
			if x >= 12 && x < 24 && y >= 10 && y < 26 {
				mask.SetGray(px, py, color.Gray{255})
			}
		}
	}
	return img, mask
}
