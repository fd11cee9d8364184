// Command curve draws quality against training steps as a PNG (gonum/plot):
// one line with points (and error bars where a spread is given) per series,
// and horizontal reference lines for methods that do not train (RePaint,
// Cfg. 1).
//
//	go run ./eval/cmd/curve -out docs/fmnist-base-fid.png -title "..." -y "FID-FMNIST" \
//	    -series "base=curve.csv" [-series NAME=FILE ...] [-hline "RePaint=12.3"] [-logx]
//
// A series file is CSV with a header: step,value[,spread]. Rows whose value
// is not a number are skipped.
package main

import (
	"encoding/csv"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/radinpaint/rad/internal/atomicfile"
)

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	var series, hlines multi
	out := flag.String("out", "", "output PNG")
	title := flag.String("title", "", "plot title")
	ylab := flag.String("y", "value", "y axis label")
	xlab := flag.String("x", "training steps", "x axis label")
	logx := flag.Bool("logx", false, "logarithmic x axis")
	flag.Var(&series, "series", "NAME=FILE.csv (step,value[,spread]); repeatable")
	flag.Var(&hlines, "hline", "NAME=VALUE: a horizontal reference line; repeatable")
	flag.Parse()
	if *out == "" || len(series) == 0 {
		fmt.Fprintln(os.Stderr, "curve: -out and at least one -series are required")
		os.Exit(2)
	}
	if err := run(*out, *title, *xlab, *ylab, *logx, series, hlines); err != nil {
		fmt.Fprintln(os.Stderr, "curve:", err)
		os.Exit(1)
	}
}

// readSeries reads step,value[,spread] rows.
func readSeries(path string) (plotter.XYs, []float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	var xys plotter.XYs
	var spread []float64
	for i, row := range rows {
		if i == 0 || len(row) < 2 {
			continue // header
		}
		x, err1 := strconv.ParseFloat(strings.TrimSpace(row[0]), 64)
		y, err2 := strconv.ParseFloat(strings.TrimSpace(row[1]), 64)
		if err1 != nil || err2 != nil || math.IsNaN(y) || math.IsInf(y, 0) {
			continue
		}
		s := 0.0
		if len(row) > 2 {
			s, _ = strconv.ParseFloat(strings.TrimSpace(row[2]), 64)
		}
		xys = append(xys, plotter.XY{X: x, Y: y})
		spread = append(spread, s)
	}
	if len(xys) == 0 {
		return nil, nil, fmt.Errorf("%s: no rows", path)
	}
	return xys, spread, nil
}

// shortTicks are a ticker's ticks labelled without trailing zeros (steps
// are whole numbers).
type shortTicks struct{ plot.Ticker }

func (t shortTicks) Ticks(min, max float64) []plot.Tick {
	ts := t.Ticker.Ticks(min, max)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = strconv.FormatFloat(ts[i].Value, 'g', 6, 64)
		}
	}
	return ts
}

type errBars struct {
	plotter.XYs
	plotter.YErrors
}

func run(out, title, xlab, ylab string, logx bool, series, hlines []string) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xlab
	p.Y.Label.Text = ylab
	p.Add(plotter.NewGrid())
	if logx {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	} else {
		p.X.Tick.Marker = shortTicks{plot.DefaultTicks{}}
	}
	xmin, xmax := math.Inf(1), math.Inf(-1)
	for i, s := range series {
		name, path, ok := strings.Cut(s, "=")
		if !ok {
			return fmt.Errorf("-series %q: want NAME=FILE", s)
		}
		xys, spread, err := readSeries(path)
		if err != nil {
			return err
		}
		for _, v := range xys {
			xmin, xmax = math.Min(xmin, v.X), math.Max(xmax, v.X)
		}
		l, pts, err := plotter.NewLinePoints(xys)
		if err != nil {
			return err
		}
		c := plotutil.Color(i)
		l.Color, pts.Color, pts.Shape = c, c, draw.CircleGlyph{}
		p.Add(l, pts)
		p.Legend.Add(name, l, pts)
		var errs plotter.YErrors
		anySpread := false
		for _, s := range spread {
			errs = append(errs, struct{ Low, High float64 }{s, s})
			anySpread = anySpread || s > 0
		}
		if anySpread {
			eb, err := plotter.NewYErrorBars(errBars{xys, errs})
			if err != nil {
				return err
			}
			eb.Color = c
			p.Add(eb)
		}
	}
	for i, h := range hlines {
		name, v, ok := strings.Cut(h, "=")
		y, err := strconv.ParseFloat(v, 64)
		if !ok || err != nil {
			return fmt.Errorf("-hline %q: want NAME=VALUE", h)
		}
		l, err := plotter.NewLine(plotter.XYs{{X: xmin, Y: y}, {X: xmax, Y: y}})
		if err != nil {
			return err
		}
		l.Color = plotutil.Color(len(series) + i)
		l.Dashes = []vg.Length{vg.Points(6), vg.Points(4)}
		p.Add(l)
		p.Legend.Add(name, l)
	}
	// room above the data for the legend, and no line on the frame
	if r := p.Y.Max - p.Y.Min; r > 0 {
		p.Y.Max += 0.3 * r
		p.Y.Min -= 0.05 * r
	}
	p.Legend.Top = true
	return atomicfile.Write(out, func(w io.Writer) error {
		c := vgimg.NewWith(vgimg.UseWH(8*vg.Inch, 4.8*vg.Inch), vgimg.UseDPI(100))
		p.Draw(draw.New(c))
		_, err := vgimg.PngCanvas{Canvas: c}.WriteTo(w)
		return err
	})
}
