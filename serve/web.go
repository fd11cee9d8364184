package serve

import (
	"bytes"
	"embed"
	"image"
	"image/png"
	"io/fs"
	"net/http"
	"strconv"

	"github.com/radinpaint/rad/infer"
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

// DemoInputs is infer.DemoPicture: the generated demo picture and its
// hole, drawn at n x n.
func DemoInputs(n int) (*image.RGBA, *image.Gray) { return infer.DemoPicture(n) }
