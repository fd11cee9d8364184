package eval

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/radinpaint/rad/train/data"
)

// idxLabelsMagic is the IDX magic of 1-dimensional unsigned-byte data.
const idxLabelsMagic = 0x00000801

// ReadIDXLabels reads an IDX label file such as Fashion-MNIST's
// train-labels-idx1-ubyte.gz (gzip-compressed or not).
func ReadIDXLabels(path string) ([]uint8, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	defer f.Close()
	return readIDXLabels(f, path)
}

func readIDXLabels(r io.Reader, name string) ([]uint8, error) {
	br := bufio.NewReader(r)
	if head, err := br.Peek(2); err == nil && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("eval: %s: %w", name, err)
		}
		defer zr.Close()
		br = bufio.NewReader(zr)
	}
	var hdr [8]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return nil, fmt.Errorf("eval: %s: reading IDX label header: %w", name, unexpectedEOF(err))
	}
	if m := binary.BigEndian.Uint32(hdr[:4]); m != idxLabelsMagic {
		return nil, fmt.Errorf("eval: %s: IDX magic number 0x%08x, want 0x%08x (unsigned-byte labels)", name, m, idxLabelsMagic)
	}
	n := binary.BigEndian.Uint32(hdr[4:])
	if n == 0 || n > 1<<28 {
		return nil, fmt.Errorf("eval: %s: %d labels out of range", name, n)
	}
	out := make([]uint8, n)
	if k, err := io.ReadFull(br, out); err != nil {
		return nil, fmt.Errorf("eval: %s: IDX labels truncated: %d of %d: %w", name, k, n, unexpectedEOF(err))
	}
	return out, nil
}

func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

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
