package train

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"
	"strconv"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"

	"github.com/radinpaint/rad/internal/atomicfile"
)

// point is one step's loss for the curve.
type point struct {
	step int
	loss float64
}

var (
	colBG     = color.RGBA{255, 255, 255, 255}
	colAxis   = color.RGBA{40, 40, 40, 255}
	colGrid   = color.RGBA{228, 228, 228, 255}
	colRaw    = color.RGBA{160, 190, 230, 255}
	colSmooth = color.RGBA{20, 70, 170, 255}
	colText   = color.RGBA{30, 30, 30, 255}
)

// PlotLoss draws the loss over steps (each step's loss in light blue, a
// moving average in dark blue) with axes, ticks and labels, on a log axis
// unless linear. Non-finite and non-positive (on a log axis) losses are
// left out.
func PlotLoss(w io.Writer, steps []int, losses []float64, linear bool, title string) error {
	var pts []point
	for i, l := range losses {
		if math.IsNaN(l) || math.IsInf(l, 0) || (!linear && l <= 0) {
			continue
		}
		pts = append(pts, point{steps[i], l})
	}
	return png.Encode(w, plotImage(pts, linear, title))
}

// writeLossPlot writes the curve to path atomically.
func writeLossPlot(path string, pts []point, linear bool, title string) error {
	img := plotImage(pts, linear, title)
	return atomicfile.Write(path, func(w io.Writer) error { return png.Encode(w, img) })
}

const (
	plotW, plotH                    = 800, 480
	marginL, marginR, marginT, marB = 72, 24, 34, 44
)

func plotImage(all []point, linear bool, title string) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, plotW, plotH))
	draw.Draw(img, img.Bounds(), &image.Uniform{colBG}, image.Point{}, draw.Src)
	var pts []point
	for _, p := range all {
		if !math.IsNaN(p.loss) && !math.IsInf(p.loss, 0) && (linear || p.loss > 0) {
			pts = append(pts, p)
		}
	}
	x0, x1 := marginL, plotW-marginR
	y0, y1 := marginT, plotH-marB // y0 top
	fy := func(v float64) float64 {
		if linear {
			return v
		}
		return math.Log10(v)
	}
	// ranges
	smin, smax := 0.0, 1.0
	vmin, vmax := 0.0, 1.0
	if len(pts) > 0 {
		smin, smax = float64(pts[0].step), float64(pts[len(pts)-1].step)
		vmin, vmax = math.Inf(1), math.Inf(-1)
		for _, p := range pts {
			v := fy(p.loss)
			vmin, vmax = math.Min(vmin, v), math.Max(vmax, v)
		}
	}
	if smax <= smin {
		smax = smin + 1
	}
	if vmax-vmin < 1e-9 {
		pad := math.Max(math.Abs(vmax)*0.1, 0.1)
		vmin, vmax = vmin-pad, vmax+pad
	} else {
		pad := (vmax - vmin) * 0.05
		vmin, vmax = vmin-pad, vmax+pad
	}
	if linear && vmin > 0 && vmin < (vmax-vmin)*0.5 {
		vmin = 0
	}
	px := func(st float64) float64 { return float64(x0) + (st-smin)/(smax-smin)*float64(x1-x0) }
	py := func(v float64) float64 { return float64(y1) - (v-vmin)/(vmax-vmin)*float64(y1-y0) }

	// grid and ticks
	face := basicfont.Face7x13
	for _, t := range niceTicks(smin, smax, 8) {
		x := int(math.Round(px(t)))
		vline(img, x, y0, y1, colGrid)
		vline(img, x, y1, y1+4, colAxis)
		lbl := strconv.FormatFloat(t, 'f', -1, 64)
		text(img, face, x-len(lbl)*7/2, y1+17, lbl)
	}
	var yt []float64
	if linear {
		yt = niceTicks(vmin, vmax, 6)
	} else {
		yt = logTicks(vmin, vmax)
	}
	for _, t := range yt {
		y := int(math.Round(py(t)))
		hline(img, x0, x1, y, colGrid)
		hline(img, x0-4, x0, y, colAxis)
		v := t
		if !linear {
			v = math.Pow(10, t)
		}
		lbl := strconv.FormatFloat(v, 'g', 3, 64)
		text(img, face, x0-8-len(lbl)*7, y+4, lbl)
	}
	// axes
	hline(img, x0, x1, y1, colAxis)
	vline(img, x0, y0, y1, colAxis)
	scale := "log"
	if linear {
		scale = "linear"
	}
	text(img, face, x0, 20, fmt.Sprintf("%s  (loss, %s scale; %d steps)", title, scale, len(pts)))
	text(img, face, (x0+x1)/2-14, plotH-8, "step")

	if len(pts) == 0 {
		text(img, face, (x0+x1)/2-40, (y0+y1)/2, "no data yet")
		return img
	}
	// raw values: per pixel column, the span of the losses falling there
	cols := x1 - x0 + 1
	lo := make([]float64, cols)
	hi := make([]float64, cols)
	has := make([]bool, cols)
	for _, p := range pts {
		c := int(math.Round(px(float64(p.step)))) - x0
		c = max(0, min(cols-1, c))
		v := py(fy(p.loss))
		if !has[c] {
			lo[c], hi[c], has[c] = v, v, true
		} else {
			lo[c], hi[c] = math.Min(lo[c], v), math.Max(hi[c], v)
		}
	}
	prevC, prevY := -1, 0.0
	for c := 0; c < cols; c++ {
		if !has[c] {
			continue
		}
		vline(img, x0+c, int(math.Round(lo[c])), int(math.Round(hi[c])), colRaw)
		mid := (lo[c] + hi[c]) / 2
		if prevC >= 0 && c-prevC > 1 {
			line(img, x0+prevC, int(math.Round(prevY)), x0+c, int(math.Round(mid)), colRaw)
		}
		prevC, prevY = c, mid
	}
	// moving average over a window of ~2% of the points (in plot space)
	win := max(1, len(pts)/50)
	sum := 0.0
	var lastX, lastY int
	for i, p := range pts {
		sum += fy(p.loss)
		if i >= win {
			sum -= fy(pts[i-win].loss)
		}
		n := min(i+1, win)
		x := int(math.Round(px(float64(p.step))))
		y := int(math.Round(py(sum / float64(n))))
		if i > 0 {
			line(img, lastX, lastY, x, y, colSmooth)
			line(img, lastX, lastY+1, x, y+1, colSmooth)
		}
		lastX, lastY = x, y
	}
	return img
}

// niceTicks returns about n round values (1, 2, 5 x 10^k steps) in [lo, hi].
func niceTicks(lo, hi float64, n int) []float64 {
	span := hi - lo
	if span <= 0 || n < 1 {
		return nil
	}
	raw := span / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var out []float64
	for v := math.Ceil(lo/step) * step; v <= hi+step*1e-9; v += step {
		out = append(out, math.Round(v/step)*step)
	}
	return out
}

// logTicks returns log10 positions of 1, 2, 5 x 10^k (or decades only for
// wide ranges) in [lo, hi] (log10 units).
func logTicks(lo, hi float64) []float64 {
	mults := []float64{1, 2, 5}
	if hi-lo > 3 {
		mults = []float64{1}
	}
	var out []float64
	for k := math.Floor(lo); k <= math.Ceil(hi); k++ {
		for _, m := range mults {
			v := k + math.Log10(m)
			if v >= lo && v <= hi {
				out = append(out, v)
			}
		}
	}
	if len(out) < 2 { // a narrow range: linear ticks in log space
		for _, v := range niceTicks(math.Pow(10, lo), math.Pow(10, hi), 5) {
			if v > 0 {
				out = append(out, math.Log10(v))
			}
		}
	}
	return out
}

func hline(img *image.RGBA, xa, xb, y int, c color.RGBA) {
	for x := xa; x <= xb; x++ {
		set(img, x, y, c)
	}
}

func vline(img *image.RGBA, x, ya, yb int, c color.RGBA) {
	if ya > yb {
		ya, yb = yb, ya
	}
	for y := ya; y <= yb; y++ {
		set(img, x, y, c)
	}
}

// line draws a segment (Bresenham).
func line(img *image.RGBA, xa, ya, xb, yb int, c color.RGBA) {
	dx, dy := abs(xb-xa), -abs(yb-ya)
	sx, sy := 1, 1
	if xa > xb {
		sx = -1
	}
	if ya > yb {
		sy = -1
	}
	e := dx + dy
	for {
		set(img, xa, ya, c)
		if xa == xb && ya == yb {
			return
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			xa += sx
		}
		if e2 <= dx {
			e += dx
			ya += sy
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func set(img *image.RGBA, x, y int, c color.RGBA) {
	if image.Pt(x, y).In(img.Rect) {
		img.SetRGBA(x, y, c)
	}
}

func text(img *image.RGBA, face font.Face, x, y int, s string) {
	d := &font.Drawer{Dst: img, Src: image.NewUniform(colText), Face: face, Dot: fixed.P(x, y)}
	d.DrawString(s)
}
