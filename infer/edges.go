package infer

import (
	"math"
	"sort"
)

// Edge continuation for guided starts (Options.Init = InitEdges;
// docs/DESIGN.md §4.8). The membrane fill is the smoothest surface that
// meets the hole's border: a straight edge that crosses the hole (a
// horizon, a trunk, a table's rim) comes out as a blur whose width is the
// hole's. Structure propagation (the classical fix: find where edges enter
// the hole, join the ends that belong together, fill each side from its
// own border) keeps it sharp:
//
//  1. edge ends: border pixels of the known region where the colour has a
//     strong, coherent gradient (the structure tensor of the known pixels
//     around it) whose isophote points into the hole, one per few pixels;
//     each with the mean colours on its two sides;
//  2. pairs: two ends whose isophotes point at each other along the
//     segment joining them (within edgeMaxAngle), the segment inside the
//     hole, and whose side colours agree crosswise (one end's left side is
//     the other's right); the best pairs first, no end twice, no two
//     segments crossing;
//  3. each segment is drawn as two pinned rows of pixels, one per side,
//     with the side colours blended from one end to the other; the
//     membrane is then solved with those pixels as extra boundary values.
//
// Nothing under the hole is read: ends, sides and colours come from the
// known pixels only.

// edge-detection constants, for images in [-1, 1]
const (
	edgeMinContrast = 0.15 // mean |left - right| over channels of an end
	edgeMinCoherent = 0.6  // (l1 - l2) / (l1 + l2) of the structure tensor
	edgeMaxAngle    = 25.0 // degrees between an end's isophote and the segment
	edgeMaxColour   = 0.35 // crosswise side mismatch over the two contrasts
	edgeMaxLines    = 16
	edgeMaxEnds     = 256  // the strongest ends kept: pairing is quadratic
	edgeSpacing     = 4    // pixels between two ends (non-maximum suppression)
	edgeWindow      = 3    // half-size of the window around an end
	edgeTrail       = 10.0 // pixels behind an end the edge must persist
	edgeFalloff     = 12.0 // Gaussian sigma, in pixels, from a segment back to the membrane
)

// edgeEnd is where an edge of the known region meets the hole.
type edgeEnd struct {
	x, y        float64   // the border pixel
	ex, ey      float64   // the isophote, unit, pointing into the hole
	left, right []float64 // mean side colours (left of the isophote: (-ey, ex))
	contrast    float64
}

// edgeSegment joins two ends across the hole.
type edgeSegment struct{ a, b edgeEnd }

// edgeEnds finds the edge ends on the border of the known region of x
// [C,h,w] (known[i]: pixel i is known).
func edgeEnds(x []float32, known []bool, c, w, h int) []edgeEnd {
	at := func(ch, i int) float64 { return float64(x[ch*w*h+i]) }
	var cands []edgeEnd
	var score []float64 // per candidate: contrast x coherence
	for y := 0; y < h; y++ {
		for xx := 0; xx < w; xx++ {
			i := y*w + xx
			if !known[i] || !touchesHole(known, xx, y, w, h) {
				continue
			}
			// structure tensor of the known pixels around it, and the
			// direction into the hole
			var jxx, jxy, jyy, dx, dy, mx, my, ms float64
			for wy := max(0, y-edgeWindow); wy <= min(h-1, y+edgeWindow); wy++ {
				for wx := max(0, xx-edgeWindow); wx <= min(w-1, xx+edgeWindow); wx++ {
					j := wy*w + wx
					if !known[j] {
						dx += float64(wx - xx)
						dy += float64(wy - y)
						continue
					}
					if !knownAround(known, wx, wy, w, h) {
						continue
					}
					var mag float64
					for ch := 0; ch < c; ch++ {
						// Sobel: the orientation of a digital line, not
						// its staircase
						p := func(ox, oy int) float64 { return at(ch, j+oy*w+ox) }
						gx := (p(1, -1) + 2*p(1, 0) + p(1, 1) - p(-1, -1) - 2*p(-1, 0) - p(-1, 1)) / 8
						gy := (p(-1, 1) + 2*p(0, 1) + p(1, 1) - p(-1, -1) - 2*p(0, -1) - p(1, -1)) / 8
						jxx += gx * gx
						jxy += gx * gy
						jyy += gy * gy
						mag += gx*gx + gy*gy
					}
					// where the edge runs: the gradient-weighted centroid
					mag = math.Sqrt(mag)
					mx += mag * float64(wx)
					my += mag * float64(wy)
					ms += mag
				}
			}
			tr, det := jxx+jyy, jxx*jyy-jxy*jxy
			disc := math.Sqrt(math.Max(0, tr*tr/4-det))
			l1, l2 := tr/2+disc, tr/2-disc
			if l1 <= 0 || (l1-l2)/(l1+l2) < edgeMinCoherent {
				continue
			}
			// the gradient is the eigenvector of l1; the isophote is
			// perpendicular to it
			nx, ny := jxy, l1-jxx
			if math.Abs(nx)+math.Abs(ny) < 1e-12 {
				nx, ny = l1-jyy, jxy
			}
			nn := math.Hypot(nx, ny)
			ex, ey := -ny/nn, nx/nn
			dn := math.Hypot(dx, dy)
			if dn == 0 {
				continue
			}
			dx, dy = dx/dn, dy/dn
			if ex*dx+ey*dy < 0 {
				ex, ey = -ex, -ey
			}
			if ex*dx+ey*dy < 0.5 { // runs along the border, not into the hole
				continue
			}
			// the end: the border pixel projected onto the edge's line
			// (through the centroid, along the isophote), so that the
			// ends of one edge agree to a fraction of a pixel
			px, py := float64(xx), float64(y)
			if ms > 0 {
				cx, cy := mx/ms, my/ms
				t := (px-cx)*ex + (py-cy)*ey
				px, py = cx+t*ex, cy+t*ey
			}
			left, right := make([]float64, c), make([]float64, c)
			var nl, nr int
			for wy := max(0, y-edgeWindow); wy <= min(h-1, y+edgeWindow); wy++ {
				for wx := max(0, xx-edgeWindow); wx <= min(w-1, xx+edgeWindow); wx++ {
					j := wy*w + wx
					if !known[j] {
						continue
					}
					side := (float64(wx)-px)*(-ey) + (float64(wy)-py)*ex
					if math.Abs(side) < 1 {
						continue
					}
					for ch := 0; ch < c; ch++ {
						if side > 0 {
							left[ch] += at(ch, j)
						} else {
							right[ch] += at(ch, j)
						}
					}
					if side > 0 {
						nl++
					} else {
						nr++
					}
				}
			}
			if nl == 0 || nr == 0 {
				continue
			}
			var contrast float64
			for ch := 0; ch < c; ch++ {
				left[ch] /= float64(nl)
				right[ch] /= float64(nr)
				contrast += math.Abs(left[ch]-right[ch]) / float64(c)
			}
			if contrast < edgeMinContrast || !edgePersists(x, known, c, w, h, px, py, ex, ey, left, right) {
				continue
			}
			score = append(score, contrast*(l1-l2)/(l1+l2))
			cands = append(cands, edgeEnd{x: px, y: py, ex: ex, ey: ey, left: left, right: right, contrast: contrast})
		}
	}
	// non-maximum suppression: the strongest end of each neighbourhood
	order := make([]int, len(cands))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return score[order[a]] > score[order[b]] })
	var ends []edgeEnd
	for _, k := range order {
		e := cands[k]
		ok := true
		for _, f := range ends {
			if math.Hypot(e.x-f.x, e.y-f.y) < edgeSpacing {
				ok = false
				break
			}
		}
		if ok {
			ends = append(ends, e)
			if len(ends) == edgeMaxEnds {
				break
			}
		}
	}
	return ends
}

// edgePersists reports whether the edge of an end (at px, py, isophote
// ex, ey into the hole, side colours left and right) runs straight back
// into the known region: at 2..edgeTrail pixels behind the end, the
// colours 2 px either side of the line still differ the same way, with
// at least 70 % of the contrast on average and the same sign at 80 % of
// the points. Texture (grass, leaves) has strong, coherent gradients at
// one place but no straight edge behind them; this keeps its segments
// out.
func edgePersists(x []float32, known []bool, c, w, h int, px, py, ex, ey float64, left, right []float64) bool {
	at := func(qx, qy float64) (int, bool) {
		ix, iy := int(math.Round(qx)), int(math.Round(qy))
		if ix < 0 || iy < 0 || ix >= w || iy >= h || !known[iy*w+ix] {
			return 0, false
		}
		return iy*w + ix, true
	}
	var ref, sum float64
	for ch := 0; ch < c; ch++ {
		ref += math.Abs(left[ch] - right[ch])
	}
	n, same := 0, 0
	for s := 2.0; s <= edgeTrail; s++ {
		qx, qy := px-s*ex, py-s*ey
		il, okl := at(qx-2*ey, qy+2*ex)
		ir, okr := at(qx+2*ey, qy-2*ex)
		if !okl || !okr {
			continue
		}
		var dot, d float64
		for ch := 0; ch < c; ch++ {
			diff := float64(x[ch*w*h+il] - x[ch*w*h+ir])
			dot += diff * (left[ch] - right[ch])
			d += math.Abs(diff)
		}
		n++
		sum += d
		if dot > 0 {
			same++
		}
	}
	return n >= 4 && sum/float64(n) >= 0.7*ref && float64(same) >= 0.8*float64(n)
}

// knownAround reports whether pixel (x, y) and its 8 neighbours are
// inside the image and known.
func knownAround(known []bool, x, y, w, h int) bool {
	if x < 1 || y < 1 || x+1 >= w || y+1 >= h {
		return false
	}
	for oy := -1; oy <= 1; oy++ {
		for ox := -1; ox <= 1; ox++ {
			if !known[(y+oy)*w+x+ox] {
				return false
			}
		}
	}
	return true
}

// touchesHole reports whether pixel (x, y) has a 4-neighbour in the hole.
func touchesHole(known []bool, x, y, w, h int) bool {
	return (x > 0 && !known[y*w+x-1]) || (x+1 < w && !known[y*w+x+1]) ||
		(y > 0 && !known[(y-1)*w+x]) || (y+1 < h && !known[(y+1)*w+x])
}

// edgeSegments pairs the ends that continue each other across the hole.
func edgeSegments(ends []edgeEnd, known []bool, w, h int) []edgeSegment {
	type pair struct {
		a, b int
		cost float64
	}
	minCos := math.Cos(edgeMaxAngle * math.Pi / 180)
	var pairs []pair
	for a := range ends {
		for b := a + 1; b < len(ends); b++ {
			ea, eb := ends[a], ends[b]
			ux, uy := eb.x-ea.x, eb.y-ea.y
			l := math.Hypot(ux, uy)
			if l < 2 {
				continue
			}
			ux, uy = ux/l, uy/l
			ca, cb := ea.ex*ux+ea.ey*uy, -(eb.ex*ux + eb.ey*uy)
			if ca < minCos || cb < minCos {
				continue
			}
			// walking from a to b, a's left side is b's right side
			var mis float64
			for ch := range ea.left {
				mis += (math.Abs(ea.left[ch]-eb.right[ch]) + math.Abs(ea.right[ch]-eb.left[ch])) / float64(len(ea.left))
			}
			mis /= ea.contrast + eb.contrast
			if mis > edgeMaxColour || !segmentInHole(ea, eb, known, w, h) {
				continue
			}
			pairs = append(pairs, pair{a, b, mis + (2 - ca - cb)})
		}
	}
	sort.SliceStable(pairs, func(i, j int) bool { return pairs[i].cost < pairs[j].cost })
	used := make([]bool, len(ends))
	var segs []edgeSegment
	for _, p := range pairs {
		if used[p.a] || used[p.b] || len(segs) == edgeMaxLines {
			continue
		}
		s := edgeSegment{ends[p.a], ends[p.b]}
		crosses := false
		for _, t := range segs {
			if segmentsCross(s, t) {
				crosses = true
				break
			}
		}
		if crosses {
			continue
		}
		used[p.a], used[p.b] = true, true
		segs = append(segs, s)
	}
	return segs
}

// segmentInHole reports whether the segment from a to b runs through the
// hole: at least 90 % of its inner points (1 px apart, the two ends' own
// pixels left out) are hole pixels.
func segmentInHole(a, b edgeEnd, known []bool, w, h int) bool {
	l := math.Hypot(b.x-a.x, b.y-a.y)
	n, in := 0, 0
	for s := 1.5; s < l-1.5; s++ {
		t := s / l
		px, py := int(math.Round(a.x+t*(b.x-a.x))), int(math.Round(a.y+t*(b.y-a.y)))
		n++
		if px >= 0 && py >= 0 && px < w && py < h && !known[py*w+px] {
			in++
		}
	}
	return n > 0 && float64(in) >= 0.9*float64(n)
}

// segmentDistance is the distance from (x, y) to the segment s.
func segmentDistance(s edgeSegment, x, y float64) float64 {
	vx, vy := s.b.x-s.a.x, s.b.y-s.a.y
	t := ((x-s.a.x)*vx + (y-s.a.y)*vy) / (vx*vx + vy*vy)
	t = math.Max(0, math.Min(1, t))
	return math.Hypot(x-s.a.x-t*vx, y-s.a.y-t*vy)
}

// segmentsCross reports whether two segments intersect away from their ends.
func segmentsCross(s, t edgeSegment) bool {
	orient := func(ax, ay, bx, by, cx, cy float64) float64 { return (bx-ax)*(cy-ay) - (by-ay)*(cx-ax) }
	d1 := orient(t.a.x, t.a.y, t.b.x, t.b.y, s.a.x, s.a.y)
	d2 := orient(t.a.x, t.a.y, t.b.x, t.b.y, s.b.x, s.b.y)
	d3 := orient(s.a.x, s.a.y, s.b.x, s.b.y, t.a.x, t.a.y)
	d4 := orient(s.a.x, s.a.y, s.b.x, s.b.y, t.b.x, t.b.y)
	return d1*d2 < 0 && d3*d4 < 0
}

// edgeFill is the membrane fill of x [C,h,w] with the edges that cross the
// hole continued (see the top of this file); it returns the fill and the
// number of segments drawn.
func edgeFill(x []float32, known []bool, c, w, h int) ([]float32, int) {
	segs := edgeSegments(edgeEnds(x, known, c, w, h), known, w, h)
	if len(segs) == 0 {
		return harmonicFill(x, known, c, w, h), 0
	}
	px := make([]float32, len(x))
	copy(px, x)
	pinned := make([]bool, len(known))
	copy(pinned, known)
	for _, s := range segs {
		l := math.Hypot(s.b.x-s.a.x, s.b.y-s.a.y)
		ux, uy := (s.b.x-s.a.x)/l, (s.b.y-s.a.y)/l
		lx, ly := -uy, ux // left of the walk from a to b
		for d := 0.0; d <= l; d += 0.5 {
			t := d / l
			qx, qy := s.a.x+d*ux, s.a.y+d*uy
			for _, side := range []float64{1, -1} {
				ix, iy := int(math.Round(qx+side*lx)), int(math.Round(qy+side*ly))
				if ix < 0 || iy < 0 || ix >= w || iy >= h || known[iy*w+ix] {
					continue
				}
				i := iy*w + ix
				for ch := 0; ch < c; ch++ {
					var v float64
					if side > 0 { // a's left, b's right
						v = (1-t)*s.a.left[ch] + t*s.b.right[ch]
					} else {
						v = (1-t)*s.a.right[ch] + t*s.b.left[ch]
					}
					px[ch*w*h+i] = float32(v)
				}
				pinned[i] = true
			}
		}
	}
	// known pixels are the input's: only hole pixels were pinned
	out := harmonicFill(px, pinned, c, w, h)
	// back to the membrane away from the segments
	mem := harmonicFill(x, known, c, w, h)
	for i, k := range known {
		if k {
			continue
		}
		qx, qy := float64(i%w), float64(i/w)
		d := math.Inf(1)
		for _, s := range segs {
			d = math.Min(d, segmentDistance(s, qx, qy))
		}
		f := float32(math.Exp(-d * d / (2 * edgeFalloff * edgeFalloff)))
		for ch := 0; ch < c; ch++ {
			j := ch*w*h + i
			out[j] = mem[j] + f*(out[j]-mem[j])
		}
	}
	return out, len(segs)
}
