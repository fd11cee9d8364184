package train

import (
	"fmt"
	"image/color"
	"io"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/radinpaint/rad/internal/atomicfile"
)

// point is one step's loss for the curve.
type point struct {
	step int
	loss float64
}

var (
	colRaw    = color.RGBA{160, 190, 230, 255}
	colSmooth = color.RGBA{20, 70, 170, 255}
)

// plot size: 8 x 4.8 inches at 100 dpi, 800 x 480 pixels
const plotW, plotH = 8 * vg.Inch, 4.8 * vg.Inch

// PlotLoss draws the loss over steps as a PNG (each step's loss in light
// blue, a moving average in dark blue) with axes, ticks and labels, on a
// log axis unless linear. Non-finite and non-positive (on a log axis)
// losses are left out.
func PlotLoss(w io.Writer, steps []int, losses []float64, linear bool, title string) error {
	pts := make([]point, 0, len(losses))
	for i, l := range losses {
		pts = append(pts, point{steps[i], l})
	}
	return writeLossPNG(w, pts, linear, title)
}

// writeLossPlot writes the curve to path atomically.
func writeLossPlot(path string, pts []point, linear bool, title string) error {
	return atomicfile.Write(path, func(w io.Writer) error { return writeLossPNG(w, pts, linear, title) })
}

func writeLossPNG(w io.Writer, pts []point, linear bool, title string) error {
	p, err := lossPlot(pts, linear, title)
	if err != nil {
		return err
	}
	c := vgimg.NewWith(vgimg.UseWH(plotW, plotH), vgimg.UseDPI(100))
	p.Draw(draw.New(c))
	_, err = vgimg.PngCanvas{Canvas: c}.WriteTo(w)
	return err
}

// lossPlot builds the plot of the drawable points of all.
func lossPlot(all []point, linear bool, title string) (*plot.Plot, error) {
	var raw plotter.XYs
	for _, q := range all {
		if !math.IsNaN(q.loss) && !math.IsInf(q.loss, 0) && (linear || q.loss > 0) {
			raw = append(raw, plotter.XY{X: float64(q.step), Y: q.loss})
		}
	}
	scale := "log"
	if linear {
		scale = "linear"
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s  (loss, %s scale; %d steps)", title, scale, len(raw))
	p.X.Label.Text = "step"
	p.Y.Label.Text = "loss"
	p.Add(plotter.NewGrid())
	if len(raw) == 0 {
		p.Title.Text += ": no data yet"
		return p, nil
	}
	if !linear {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	rl, err := plotter.NewLine(raw)
	if err != nil {
		return nil, err
	}
	rl.Color = colRaw
	sl, err := plotter.NewLine(movingAverage(raw, linear))
	if err != nil {
		return nil, err
	}
	sl.Color, sl.Width = colSmooth, vg.Points(1.5)
	p.Add(rl, sl)
	p.Legend.Add("loss", rl)
	p.Legend.Add(fmt.Sprintf("moving average (%d steps)", window(len(raw))), sl)
	p.Legend.Top = true
	p.Legend.TextStyle.Font.Size = vg.Points(9)
	p.Legend.ThumbnailWidth = vg.Points(16)
	return p, nil
}

// window is the moving average's length: ~2% of the points.
func window(n int) int { return max(1, n/50) }

// movingAverage averages the losses over the last window(n) points, in the
// plot's space (of log10 loss on a log axis).
func movingAverage(xy plotter.XYs, linear bool) plotter.XYs {
	f, inv := math.Log10, func(v float64) float64 { return math.Pow(10, v) }
	if linear {
		f, inv = func(v float64) float64 { return v }, func(v float64) float64 { return v }
	}
	win := window(len(xy))
	out := make(plotter.XYs, len(xy))
	sum := 0.0
	for i, q := range xy {
		sum += f(q.Y)
		if i >= win {
			sum -= f(xy[i-win].Y)
		}
		out[i] = plotter.XY{X: q.X, Y: inv(sum / float64(min(i+1, win)))}
	}
	return out
}
