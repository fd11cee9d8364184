package infer

import (
	"context"
	"fmt"
	"image"
	"time"
)

// Crop defaults (IOPaint's "crop" strategy).
const (
	// DefaultCropMargin is the context kept on every side of a hole.
	DefaultCropMargin = 128
	// CropTrigger is the longer side above which Crop's auto mode crops.
	CropTrigger = 800
	// CropMaxCover is the share of the image above which auto mode
	// inpaints the whole image instead of its regions.
	CropMaxCover = 0.5
)

// holeRegions returns the regions of a mask's holes (levels > 0): each
// 8-connected hole's bounding box grown by margin and clipped to w x h,
// overlapping or touching regions merged, in reading order of their
// corners.
func holeRegions(levels []float32, w, h, margin int) []image.Rectangle {
	seen := make([]bool, w*h)
	var boxes []image.Rectangle
	stack := []int{}
	for start, v := range levels {
		if v <= 0 || seen[start] {
			continue
		}
		box := image.Rect(start%w, start/w, start%w+1, start/w+1)
		seen[start] = true
		stack = append(stack[:0], start)
		for len(stack) > 0 {
			i := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			x, y := i%w, i/w
			box = box.Union(image.Rect(x, y, x+1, y+1))
			for dy := -1; dy <= 1; dy++ {
				for dx := -1; dx <= 1; dx++ {
					nx, ny := x+dx, y+dy
					if nx < 0 || ny < 0 || nx >= w || ny >= h {
						continue
					}
					j := ny*w + nx
					if !seen[j] && levels[j] > 0 {
						seen[j] = true
						stack = append(stack, j)
					}
				}
			}
		}
		boxes = append(boxes, image.Rect(box.Min.X-margin, box.Min.Y-margin, box.Max.X+margin, box.Max.Y+margin).Intersect(image.Rect(0, 0, w, h)))
	}
	// merge until no two regions overlap
	for merged := true; merged; {
		merged = false
		for i := 0; i < len(boxes) && !merged; i++ {
			for j := i + 1; j < len(boxes); j++ {
				if boxes[i].Overlaps(boxes[j]) {
					boxes[i] = boxes[i].Union(boxes[j])
					boxes = append(boxes[:j], boxes[j+1:]...)
					merged = true
					break
				}
			}
		}
	}
	return boxes
}

// inpaintCrops is Inpaint by regions (Options.Crop); ok is false when the
// image is to be inpainted whole.
func (ip *Inpainter) inpaintCrops(ctx context.Context, img, mask image.Image, o Options) (*image.RGBA, *Stats, bool, error) {
	if _, err := ParseSwitch(string(o.Crop)); err != nil {
		return nil, nil, false, fmt.Errorf("inpaint: crop: %w", err)
	}
	if o.CropMargin < 0 {
		return nil, nil, false, fmt.Errorf("inpaint: crop margin %d must be >= 0 (0: %d)", o.CropMargin, DefaultCropMargin)
	}
	if o.Crop == SwitchOff || img == nil || mask == nil {
		return nil, nil, false, nil
	}
	ib, mb := img.Bounds(), mask.Bounds()
	w, h := ib.Dx(), ib.Dy()
	if mb.Dx() != w || mb.Dy() != h || w < 1 || h < 1 {
		return nil, nil, false, nil // Inpaint's own checks answer
	}
	if o.Crop == SwitchAuto && max(w, h) <= CropTrigger {
		return nil, nil, false, nil
	}
	margin := o.CropMargin
	if margin == 0 {
		margin = DefaultCropMargin
	}
	levels := maskLevels(mask, o.InvertMask, o.SoftMask)
	boxes := holeRegions(levels, w, h, margin)
	if len(boxes) == 0 {
		return nil, nil, false, nil
	}
	area := 0
	for _, b := range boxes {
		area += b.Dx() * b.Dy()
	}
	if o.Crop == SwitchAuto && float64(area) > CropMaxCover*float64(w*h) {
		return nil, nil, false, nil
	}
	start := time.Now()
	orig := toRGBA(img)
	if ip.model.Config().InChannels == 1 {
		orig = grayOf(orig)
	}
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	copy(out.Pix, orig.Pix)
	var total *Stats
	calls := int64(0)
	for _, b := range boxes {
		sub := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
		sm := image.NewGray(sub.Bounds())
		for y := 0; y < b.Dy(); y++ {
			copy(sub.Pix[y*sub.Stride:y*sub.Stride+4*b.Dx()], orig.Pix[(b.Min.Y+y)*orig.Stride+4*b.Min.X:(b.Min.Y+y)*orig.Stride+4*b.Max.X])
			for x := 0; x < b.Dx(); x++ {
				sm.Pix[y*sm.Stride+x] = uint8(levels[(b.Min.Y+y)*w+b.Min.X+x]*255 + 0.5)
			}
		}
		ro := o
		ro.Crop, ro.InvertMask = SwitchOff, false
		res, st, err := ip.inpaintWhole(ctx, sub, sm, ro)
		if err != nil {
			return nil, nil, true, err
		}
		for y := 0; y < b.Dy(); y++ {
			for x := 0; x < b.Dx(); x++ {
				if levels[(b.Min.Y+y)*w+b.Min.X+x] > 0 {
					copy(out.Pix[(b.Min.Y+y)*out.Stride+4*(b.Min.X+x):], res.Pix[y*res.Stride+4*x:y*res.Stride+4*x+4])
				}
			}
		}
		calls += st.ModelCalls
		if total == nil || st.WorkWidth*st.WorkHeight > total.WorkWidth*total.WorkHeight {
			total = st
		}
	}
	total.ModelCalls, total.Regions = calls, len(boxes)
	total.Width, total.Height = w, h
	var hole float64
	for _, v := range levels {
		hole += float64(v)
	}
	total.HoleFraction = hole / float64(len(levels))
	total.Seconds = time.Since(start).Seconds()
	return out, total, true, nil
}
