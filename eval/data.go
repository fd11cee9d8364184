package eval

import (
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/radinpaint/rad/train/data"
)

// LoadImages reads images offset, offset+1, ..., offset+n-1 of the data
// set at path (an IDX file such as Fashion-MNIST's
// t10k-images-idx3-ubyte.gz, or a folder of PNG and JPEG files, in
// train/data's order) as Images [n, channels, size, size] in [-1, 1],
// prepared by train/data's Transform as the training sees them (resize of
// the shorter side, centred crop, no flip; gray for one channel). n <= 0
// reads every image from offset on. Errors name the file.
func LoadImages(path string, size, channels, offset, n int) (Images, error) {
	if size < 1 || (channels != 1 && channels != 3) {
		return Images{}, fmt.Errorf("eval: load images: size %d and %d channels (want size >= 1, 1 or 3 channels)", size, channels)
	}
	if offset < 0 {
		return Images{}, fmt.Errorf("eval: load images from %s: offset %d < 0", path, offset)
	}
	src, err := data.Open(path)
	if err != nil {
		return Images{}, err
	}
	avail := src.Len() - offset
	if n <= 0 {
		n = avail
	}
	if n < 1 || n > avail {
		return Images{}, fmt.Errorf("eval: %s has %d images: cannot take %d from index %d", path, src.Len(), n, offset)
	}
	per := channels * size * size
	im := Images{N: n, C: channels, H: size, W: size, Data: make([]float32, n*per)}
	workers := min(runtime.GOMAXPROCS(0), 8, n)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += workers {
				img, err := src.Load(offset + i)
				if err == nil {
					err = data.Transform(im.Data[i*per:(i+1)*per], img, size, channels, data.Aug{})
				}
				if err != nil {
					errs[w] = fmt.Errorf("eval: %s: %w", src.Name(offset+i), err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return Images{}, err
	}
	return im, nil
}
