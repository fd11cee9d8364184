package eval

import (
	"fmt"
	"math"

	"github.com/radinpaint/rad/torch"
)

// Images is a batch of images [N, C, H, W], row-major float32. Pictures
// are in [-1, 1] (the project's convention); masks have C = 1 and are 1 on
// hole pixels and 0 on known ones.
type Images struct {
	N, C, H, W int
	Data       []float32
}

// NewImages wraps data (row-major [n, c, h, w], not copied) as Images.
func NewImages(data []float32, n, c, h, w int) (Images, error) {
	if n < 0 || c <= 0 || h <= 0 || w <= 0 || len(data) != n*c*h*w {
		return Images{}, fmt.Errorf("eval: images: %d values for [%d, %d, %d, %d]", len(data), n, c, h, w)
	}
	return Images{N: n, C: c, H: h, W: w, Data: data}, nil
}

// ImagesFromTensor copies a [N, C, H, W] tensor (any float dtype and
// device) into Images.
func ImagesFromTensor(t *torch.Tensor) (Images, error) { return imagesFromTensor(t, "images") }

func imagesFromTensor(t *torch.Tensor, what string) (Images, error) {
	if !t.Valid() {
		return Images{}, fmt.Errorf("eval: %s: nil or freed tensor", what)
	}
	sh := t.Shape()
	if len(sh) != 4 || sh[1] < 1 || sh[2] < 1 || sh[3] < 1 {
		return Images{}, fmt.Errorf("eval: %s: tensor of shape %v, want [N, C, H, W]", what, sh)
	}
	v, err := t.Float32s()
	if err != nil {
		return Images{}, fmt.Errorf("eval: %s: %w", what, err)
	}
	return Images{N: int(sh[0]), C: int(sh[1]), H: int(sh[2]), W: int(sh[3]), Data: v}, nil
}

// Shape is [N, C, H, W].
func (im Images) Shape() []int { return []int{im.N, im.C, im.H, im.W} }

// plane returns channel c of image i.
func (im Images) plane(i, c int) []float32 {
	p := im.H * im.W
	o := (i*im.C + c) * p
	return im.Data[o : o+p : o+p]
}

// checkTriple checks that pred and target have one shape and mask is its
// [N, 1, H, W] companion.
func checkTriple(op string, pred, target, mask Images) error {
	for _, x := range []struct {
		name string
		im   Images
	}{{"prediction", pred}, {"target", target}, {"mask", mask}} {
		if len(x.im.Data) != x.im.N*x.im.C*x.im.H*x.im.W {
			return fmt.Errorf("eval: %s: %s has %d values for shape %v", op, x.name, len(x.im.Data), x.im.Shape())
		}
	}
	if pred.N != target.N || pred.C != target.C || pred.H != target.H || pred.W != target.W {
		return fmt.Errorf("eval: %s: prediction %v and target %v differ in shape", op, pred.Shape(), target.Shape())
	}
	if mask.N != pred.N || mask.C != 1 || mask.H != pred.H || mask.W != pred.W {
		return fmt.Errorf("eval: %s: mask %v for images %v, want [%d, 1, %d, %d]", op, mask.Shape(), pred.Shape(), pred.N, pred.H, pred.W)
	}
	return nil
}

// isHole is the mask threshold: a pixel is a hole when its mask value is
// at least 0.5.
func isHole(m float32) bool { return m >= 0.5 }

// HolePSNR returns each image's PSNR in dB over its hole: the mean squared
// error is taken over the pixels whose mask is 1 (>= 0.5) and all
// channels, on the [0, 1] scale (differences of [-1, 1] values halved), and
// PSNR = 10 log10(1 / MSE). Identical holes give +Inf; an image with no
// hole pixel gives NaN.
func HolePSNR(pred, target, mask Images) ([]float64, error) {
	if err := checkTriple("hole psnr", pred, target, mask); err != nil {
		return nil, err
	}
	out := make([]float64, pred.N)
	for i := range out {
		m := mask.plane(i, 0)
		var sum float64
		var cnt int
		for c := 0; c < pred.C; c++ {
			p, t := pred.plane(i, c), target.plane(i, c)
			for k, mv := range m {
				if !isHole(mv) {
					continue
				}
				e := (float64(p[k]) - float64(t[k])) / 2
				sum += e * e
				cnt++
			}
		}
		if cnt == 0 {
			out[i] = math.NaN()
			continue
		}
		out[i] = 10 * math.Log10(1/(sum/float64(cnt)))
	}
	return out, nil
}

// SSIM window and constants (Wang et al. 2004) on the [0, 1] scale.
const (
	ssimWindow = 11
	ssimSigma  = 1.5
	ssimC1     = 0.01 * 0.01
	ssimC2     = 0.03 * 0.03
)

// ssimKernel is the normalised 1-D Gaussian of the SSIM window.
var ssimKernel = func() []float64 {
	k := make([]float64, ssimWindow)
	r := ssimWindow / 2
	var sum float64
	for i := range k {
		x := float64(i - r)
		k[i] = math.Exp(-x * x / (2 * ssimSigma * ssimSigma))
		sum += k[i]
	}
	for i := range k {
		k[i] /= sum
	}
	return k
}()

// HoleSSIM returns each image's SSIM averaged over its hole: the SSIM map
// (Gaussian window 11 x 11, sigma 1.5, C1 = 0.01^2, C2 = 0.03^2, images
// mapped from [-1, 1] to [0, 1]) is computed per channel, averaged over
// channels, and its mean taken over the pixels whose mask is 1 (>= 0.5).
// Local statistics near the border extend the image by mirror reflection
// (d c b a | a b c d, scipy.ndimage's "reflect"), so the map has the
// image's size. Identical images give 1; an image with no hole pixel gives
// NaN.
func HoleSSIM(pred, target, mask Images) ([]float64, error) {
	if err := checkTriple("hole ssim", pred, target, mask); err != nil {
		return nil, err
	}
	h, w := pred.H, pred.W
	p := h * w
	out := make([]float64, pred.N)
	x, y := make([]float64, p), make([]float64, p)
	prod := make([]float64, p)
	mx, my := make([]float64, p), make([]float64, p)
	sxx, syy, sxy := make([]float64, p), make([]float64, p), make([]float64, p)
	tmp := make([]float64, p)
	acc := make([]float64, p)
	for i := range out {
		m := mask.plane(i, 0)
		holes := 0
		for _, mv := range m {
			if isHole(mv) {
				holes++
			}
		}
		if holes == 0 {
			out[i] = math.NaN()
			continue
		}
		for k := range acc {
			acc[k] = 0
		}
		for c := 0; c < pred.C; c++ {
			pp, tp := pred.plane(i, c), target.plane(i, c)
			for k := range x {
				x[k] = (float64(pp[k]) + 1) / 2
				y[k] = (float64(tp[k]) + 1) / 2
			}
			gaussBlur(mx, x, tmp, h, w)
			gaussBlur(my, y, tmp, h, w)
			for k := range prod {
				prod[k] = x[k] * x[k]
			}
			gaussBlur(sxx, prod, tmp, h, w)
			for k := range prod {
				prod[k] = y[k] * y[k]
			}
			gaussBlur(syy, prod, tmp, h, w)
			for k := range prod {
				prod[k] = x[k] * y[k]
			}
			gaussBlur(sxy, prod, tmp, h, w)
			for k := range acc {
				if !isHole(m[k]) {
					continue
				}
				ux, uy := mx[k], my[k]
				vx, vy, cxy := sxx[k]-ux*ux, syy[k]-uy*uy, sxy[k]-ux*uy
				acc[k] += ((2*ux*uy + ssimC1) * (2*cxy + ssimC2)) /
					((ux*ux + uy*uy + ssimC1) * (vx + vy + ssimC2))
			}
		}
		var sum float64
		for k, v := range acc {
			if isHole(m[k]) {
				sum += v
			}
		}
		out[i] = sum / float64(holes*pred.C)
	}
	return out, nil
}

// gaussBlur filters the h x w plane src with the separable SSIM Gaussian
// into dst (tmp is scratch of the same size), reflecting at the borders.
func gaussBlur(dst, src, tmp []float64, h, w int) {
	r := ssimWindow / 2
	for yy := 0; yy < h; yy++ {
		row := src[yy*w : (yy+1)*w]
		for xx := 0; xx < w; xx++ {
			var v float64
			for k, g := range ssimKernel {
				v += g * row[reflect(xx+k-r, w)]
			}
			tmp[yy*w+xx] = v
		}
	}
	for yy := 0; yy < h; yy++ {
		for xx := 0; xx < w; xx++ {
			var v float64
			for k, g := range ssimKernel {
				v += g * tmp[reflect(yy+k-r, h)*w+xx]
			}
			dst[yy*w+xx] = v
		}
	}
}

// reflect maps an index outside [0, n) back into it by mirror reflection
// about the edges (d c b a | a b c d | d c b a), periodically.
func reflect(i, n int) int {
	period := 2 * n
	i %= period
	if i < 0 {
		i += period
	}
	if i >= n {
		i = period - 1 - i
	}
	return i
}

// HolePSNRTensor is HolePSNR on tensors: pred and target [N, C, H, W] in
// [-1, 1], mask [N, 1, H, W].
func HolePSNRTensor(pred, target, mask *torch.Tensor) ([]float64, error) {
	p, t, m, err := imagesOf(pred, target, mask)
	if err != nil {
		return nil, err
	}
	return HolePSNR(p, t, m)
}

// HoleSSIMTensor is HoleSSIM on tensors: pred and target [N, C, H, W] in
// [-1, 1], mask [N, 1, H, W].
func HoleSSIMTensor(pred, target, mask *torch.Tensor) ([]float64, error) {
	p, t, m, err := imagesOf(pred, target, mask)
	if err != nil {
		return nil, err
	}
	return HoleSSIM(p, t, m)
}

func imagesOf(pred, target, mask *torch.Tensor) (p, t, m Images, err error) {
	if p, err = imagesFromTensor(pred, "prediction"); err != nil {
		return
	}
	if t, err = imagesFromTensor(target, "target"); err != nil {
		return
	}
	m, err = imagesFromTensor(mask, "mask")
	return
}
