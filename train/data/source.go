package data

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/radinpaint/rad/internal/imagefile"
)

// Source is an indexed collection of images. Load must be safe to call
// from several goroutines at once, and return a fresh or read-only image
// (the pipeline never writes into it).
type Source interface {
	// Len is the number of images.
	Len() int
	// Load decodes image i (0 <= i < Len()).
	Load(i int) (image.Image, error)
	// Name names image i for messages (a path, or a file and an index).
	Name(i int) string
}

// maxPixels bounds the size of an image the pipeline decodes (an RGBA
// copy of it takes 4 bytes a pixel): larger files are treated as corrupt
// rather than exhausting memory.
const maxPixels = 1 << 27

// Open opens path as a Source: a folder is read with NewFolder, any other
// file with NewIDX.
func Open(path string) (Source, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	if st.IsDir() {
		return NewFolder(path)
	}
	return NewIDX(path)
}

// Folder is every PNG and JPEG file (by extension, case-insensitive: .png,
// .jpg, .jpeg) under a folder and its subfolders, in the sorted order of
// their slash-separated relative paths. Symbolic links to folders are not
// followed.
type Folder struct {
	dir   string
	paths []string // relative, slash-separated, sorted

	// decoded images kept for reuse, up to cacheBudget pixels in all:
	// small folders (a few photos cut into many patches) are decoded once
	mu          sync.Mutex
	cache       map[int]image.Image
	cachePixels int64
}

// cacheBudget is the most pixels a Folder keeps decoded (about 200 MB of
// 8-bit RGB).
const cacheBudget = 64 << 20

// IsImageFile reports whether a file name has a PNG or JPEG extension.
func IsImageFile(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".png", ".jpg", ".jpeg":
		return true
	}
	return false
}

// NewFolder lists the images under dir. It is an error when there is none.
func NewFolder(dir string) (*Folder, error) {
	var paths []string
	// A folder given as a symbolic link is listed through it (WalkDir does
	// not follow a link, the root included); links below it are followed
	// for files only.
	root := dir
	if r, err := filepath.EvalSymlinks(dir); err == nil {
		root = r
	}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() || d.Type()&fs.ModeSymlink != 0 {
			if IsImageFile(d.Name()) {
				rel, err := filepath.Rel(root, p)
				if err != nil {
					return err
				}
				paths = append(paths, filepath.ToSlash(rel))
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("data: listing images in folder %q: %w", dir, err)
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("data: no PNG or JPEG images (.png, .jpg, .jpeg) in folder %q", dir)
	}
	sort.Strings(paths)
	return &Folder{dir: dir, paths: paths}, nil
}

// Len is the number of image files.
func (f *Folder) Len() int { return len(f.paths) }

// Name is the path of image i (the folder joined with its relative path).
func (f *Folder) Name(i int) string { return filepath.Join(f.dir, filepath.FromSlash(f.paths[i])) }

// String names the folder.
func (f *Folder) String() string { return fmt.Sprintf("folder %q", f.dir) }

// Load reads and decodes image i. Decoded images are kept (read-only,
// shared between callers) while they fit in the cache's budget.
func (f *Folder) Load(i int) (image.Image, error) {
	f.mu.Lock()
	img, ok := f.cache[i]
	f.mu.Unlock()
	if ok {
		return img, nil
	}
	name := f.Name(i)
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	img, err = decode(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	px := int64(img.Bounds().Dx()) * int64(img.Bounds().Dy())
	f.mu.Lock()
	if _, ok := f.cache[i]; !ok && f.cachePixels+px <= cacheBudget {
		if f.cache == nil {
			f.cache = map[int]image.Image{}
		}
		f.cache[i] = img
		f.cachePixels += px
	}
	f.mu.Unlock()
	return img, nil
}

func decode(b []byte) (image.Image, error) { return imagefile.Decode(b, maxPixels) }

// IDX is a set of 8-bit grayscale images in the IDX format of MNIST and
// Fashion-MNIST (magic 0x00000803: unsigned bytes, 3 dimensions: count,
// rows, columns, big-endian), gzip-compressed or not. The file is read
// into memory whole.
type IDX struct {
	name          string
	n, rows, cols int
	pix           []byte
}

// idxImagesMagic is the IDX magic of 3-dimensional unsigned-byte data.
const idxImagesMagic = 0x00000803

// NewIDX reads an IDX image file such as Fashion-MNIST's
// train-images-idx3-ubyte.gz.
func NewIDX(path string) (*IDX, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	return ReadIDX(f, path)
}

// ReadIDX reads IDX images from r (gzip-compressed or not); name is used
// in messages.
func ReadIDX(r io.Reader, name string) (*IDX, error) {
	br, closer, err := idxReader(r, name)
	if err != nil {
		return nil, err
	}
	defer closer()
	var hdr [16]byte
	if _, err := io.ReadFull(br, hdr[:4]); err != nil {
		return nil, fmt.Errorf("data: %s: reading IDX header: %w", name, noEOF(err))
	}
	if m := binary.BigEndian.Uint32(hdr[:4]); m != idxImagesMagic {
		return nil, fmt.Errorf("data: %s: IDX magic number 0x%08x, want 0x%08x (unsigned-byte images: count, rows, columns)", name, m, idxImagesMagic)
	}
	if _, err := io.ReadFull(br, hdr[4:]); err != nil {
		return nil, fmt.Errorf("data: %s: reading IDX dimensions: %w", name, noEOF(err))
	}
	n := int64(binary.BigEndian.Uint32(hdr[4:]))
	rows := int64(binary.BigEndian.Uint32(hdr[8:]))
	cols := int64(binary.BigEndian.Uint32(hdr[12:]))
	if n == 0 || rows == 0 || cols == 0 || rows*cols > maxPixels || n*rows*cols > 1<<34 {
		return nil, fmt.Errorf("data: %s: IDX dimensions %d x %d x %d out of range", name, n, rows, cols)
	}
	pix := make([]byte, n*rows*cols)
	if k, err := io.ReadFull(br, pix); err != nil {
		return nil, fmt.Errorf("data: %s: IDX data truncated: %d of %d bytes: %w", name, k, len(pix), noEOF(err))
	}
	return &IDX{name: name, n: int(n), rows: int(rows), cols: int(cols), pix: pix}, nil
}

// idxReader reads r, gunzipped when it starts with gzip's magic; closer
// releases the decompressor.
func idxReader(r io.Reader, name string) (*bufio.Reader, func(), error) {
	br := bufio.NewReader(r)
	if head, err := br.Peek(2); err == nil && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("data: %s: %w", name, err)
		}
		return bufio.NewReader(zr), func() { zr.Close() }, nil
	}
	return br, func() {}, nil
}

// idxLabelsMagic is the IDX magic of 1-dimensional unsigned-byte data.
const idxLabelsMagic = 0x00000801

// ReadIDXLabels reads an IDX label file such as Fashion-MNIST's
// train-labels-idx1-ubyte.gz (gzip-compressed or not).
func ReadIDXLabels(path string) ([]uint8, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	br, closer, err := idxReader(f, path)
	if err != nil {
		return nil, err
	}
	defer closer()
	var hdr [8]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return nil, fmt.Errorf("data: %s: reading IDX label header: %w", path, noEOF(err))
	}
	if m := binary.BigEndian.Uint32(hdr[:4]); m != idxLabelsMagic {
		return nil, fmt.Errorf("data: %s: IDX magic number 0x%08x, want 0x%08x (unsigned-byte labels)", path, m, idxLabelsMagic)
	}
	n := binary.BigEndian.Uint32(hdr[4:])
	if n == 0 || n > 1<<28 {
		return nil, fmt.Errorf("data: %s: %d labels out of range", path, n)
	}
	out := make([]uint8, n)
	if k, err := io.ReadFull(br, out); err != nil {
		return nil, fmt.Errorf("data: %s: IDX labels truncated: %d of %d: %w", path, k, n, noEOF(err))
	}
	return out, nil
}

func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Len is the number of images.
func (d *IDX) Len() int { return d.n }

// Dims returns the images' width and height.
func (d *IDX) Dims() (w, h int) { return d.cols, d.rows }

// Name is "file[i]".
func (d *IDX) Name(i int) string { return fmt.Sprintf("%s[%d]", d.name, i) }

// String names the file.
func (d *IDX) String() string { return fmt.Sprintf("IDX file %q", d.name) }

// Load returns image i as an *image.Gray sharing the file's memory (read
// only).
func (d *IDX) Load(i int) (image.Image, error) {
	if i < 0 || i >= d.n {
		return nil, fmt.Errorf("%s: index out of range [0, %d)", d.Name(i), d.n)
	}
	sz := d.rows * d.cols
	return &image.Gray{Pix: d.pix[i*sz : (i+1)*sz : (i+1)*sz], Stride: d.cols, Rect: image.Rect(0, 0, d.cols, d.rows)}, nil
}
