package eval

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/radinpaint/rad/train/data"
)

// ReadIDXLabels reads an IDX label file such as Fashion-MNIST's
// train-labels-idx1-ubyte.gz (gzip-compressed or not): data.ReadIDXLabels.
func ReadIDXLabels(path string) ([]uint8, error) { return data.ReadIDXLabels(path) }

// LabeledSet is a set of gray images [N, 1, Size, Size] in [-1, 1] with
// their class labels.
type LabeledSet struct {
	N, Size int
	Images  []float32 // [N, 1, Size, Size]
	Labels  []int64   // [N]
}

// Image returns image i's Size*Size values (sharing Images).
func (d *LabeledSet) Image(i int) []float32 {
	p := d.Size * d.Size
	return d.Images[i*p : (i+1)*p : (i+1)*p]
}

// LoadLabeledIDX reads IDX images and labels (the first limit of them;
// limit <= 0: all) and makes each image size x size gray in [-1, 1] with
// train/data's Transform (the diffusion training's resize and centre
// crop: Fashion-MNIST's 28 x 28 become 32 x 32 by a Catmull-Rom resize).
func LoadLabeledIDX(imagesPath, labelsPath string, size, limit int) (*LabeledSet, error) {
	src, err := data.NewIDX(imagesPath)
	if err != nil {
		return nil, err
	}
	labels, err := ReadIDXLabels(labelsPath)
	if err != nil {
		return nil, err
	}
	if len(labels) != src.Len() {
		return nil, fmt.Errorf("eval: %s has %d images, %s %d labels", imagesPath, src.Len(), labelsPath, len(labels))
	}
	n := src.Len()
	if limit > 0 && limit < n {
		n = limit
	}
	set := &LabeledSet{N: n, Size: size, Images: make([]float32, n*size*size), Labels: make([]int64, n)}
	for i := 0; i < n; i++ {
		set.Labels[i] = int64(labels[i])
	}
	workers := min(runtime.GOMAXPROCS(0), 8)
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += workers {
				img, err := src.Load(i)
				if err == nil {
					err = data.Transform(set.Image(i), img, size, 1, data.Aug{})
				}
				if err != nil {
					errs[w] = fmt.Errorf("eval: %s: %w", src.Name(i), err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return set, nil
}

// FashionMNISTFile returns the path of one of Fashion-MNIST's files in dir
// ("train-images-idx3-ubyte", "t10k-labels-idx1-ubyte", ...): with .gz if
// that exists, else without.
func FashionMNISTFile(dir, name string) string {
	p := filepath.Join(dir, name+".gz")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return filepath.Join(dir, name)
}

// LoadFashionMNIST reads split "train" or "t10k" of Fashion-MNIST from
// dir as size x size images (see LoadLabeledIDX).
func LoadFashionMNIST(dir, split string, size, limit int) (*LabeledSet, error) {
	if split != "train" && split != "t10k" {
		return nil, fmt.Errorf("eval: Fashion-MNIST split %q, want train or t10k", split)
	}
	return LoadLabeledIDX(FashionMNISTFile(dir, split+"-images-idx3-ubyte"),
		FashionMNISTFile(dir, split+"-labels-idx1-ubyte"), size, limit)
}
