package infer

import (
	"bufio"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"os"

	"github.com/radinpaint/rad/internal/imagefile"
)

// Netpbm: PPM (P6 binary, P3 plain) and PGM (P5 binary, P2 plain) with
// maxval 1..65535. Binary samples of maxval > 255 are two bytes, big-endian.
// Comments (# to the end of the line) may stand between any two header
// tokens; the plain formats also accept them between samples. A binary
// header ends with exactly one whitespace byte after maxval. Samples are
// scaled to the full range of the image type: maxval <= 255 gives
// *image.Gray or *image.RGBA (opaque), larger maxvals *image.Gray16 or
// *image.RGBA64. Data after the first image is ignored.
//
// The decoders are registered with image.RegisterFormat ("ppm": P6, P3;
// "pgm": P5, P2), so image.Decode reads these files wherever this package
// is linked. They never panic on any input, and allocate in proportion
// to the data actually present, not to the sizes a header claims.

// maxNetpbmPixels bounds width x height (256 Mpixels).
const maxNetpbmPixels = 1 << 28

func init() {
	image.RegisterFormat("ppm", "P6", DecodeNetpbm, DecodeNetpbmConfig)
	image.RegisterFormat("ppm", "P3", DecodeNetpbm, DecodeNetpbmConfig)
	image.RegisterFormat("pgm", "P5", DecodeNetpbm, DecodeNetpbmConfig)
	image.RegisterFormat("pgm", "P2", DecodeNetpbm, DecodeNetpbmConfig)
}

// MaxImagePixels bounds the images ReadImage and DecodeImage decode
// (width x height, 64 M pixels): a small file whose header claims a huge
// image is refused before any pixel memory is allocated.
const MaxImagePixels = 1 << 26

// ReadImage reads a PNG, JPEG or Netpbm (PPM/PGM) file; errors name the
// file.
func ReadImage(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, err := DecodeImage(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return img, nil
}

// DecodeImage reads a PNG, JPEG or Netpbm (PPM/PGM) image from r, at most
// MaxImagePixels pixels.
func DecodeImage(r io.Reader) (image.Image, error) {
	raw, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	img, err := imagefile.Decode(raw, MaxImagePixels)
	var size *imagefile.SizeError
	if err != nil && !errors.As(err, &size) {
		return nil, fmt.Errorf("not a readable PNG, JPEG or Netpbm (PPM/PGM) image: %w", err)
	}
	return img, err
}

// netpbmHeader is a parsed header.
type netpbmHeader struct {
	magic  byte // '2', '3', '5' or '6'
	w, h   int
	maxval int
}

func (h netpbmHeader) channels() int {
	if h.magic == '3' || h.magic == '6' {
		return 3
	}
	return 1
}

func (h netpbmHeader) binary() bool { return h.magic == '5' || h.magic == '6' }

func (h netpbmHeader) wide() bool { return h.maxval > 255 }

func (h netpbmHeader) String() string {
	return fmt.Sprintf("%dx%d P%c image, maxval %d", h.w, h.h, h.magic, h.maxval)
}

var errNetpbmEOF = errors.New("unexpected end of data")

func isNetpbmSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// netpbmInt reads one unsigned decimal token, skipping whitespace and
// comments before it, and leaves the byte after it unread. It fails on
// values above limit. errNetpbmEOF means the data ended before a digit.
func netpbmInt(br *bufio.Reader, limit int) (int, error) {
	for {
		c, err := br.ReadByte()
		if err != nil {
			return 0, errNetpbmEOF
		}
		if isNetpbmSpace(c) {
			continue
		}
		if c == '#' {
			for c != '\n' && c != '\r' {
				if c, err = br.ReadByte(); err != nil {
					return 0, errNetpbmEOF
				}
			}
			continue
		}
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("unexpected %q where a number should be", c)
		}
		v := int(c - '0')
		for {
			c, err := br.ReadByte()
			if err != nil {
				return v, nil // the caller decides whether the end may follow
			}
			if c < '0' || c > '9' {
				br.UnreadByte()
				return v, nil
			}
			v = 10*v + int(c-'0')
			if v > limit {
				return 0, fmt.Errorf("number above %d", limit)
			}
		}
	}
}

// readNetpbmHeader reads the header up to and including the single
// whitespace byte before a binary raster.
func readNetpbmHeader(br *bufio.Reader) (netpbmHeader, error) {
	var h netpbmHeader
	var magic [2]byte
	if _, err := io.ReadFull(br, magic[:]); err != nil {
		return h, fmt.Errorf("netpbm: truncated header: no magic number")
	}
	if magic[0] != 'P' || (magic[1] != '2' && magic[1] != '3' && magic[1] != '5' && magic[1] != '6') {
		return h, fmt.Errorf("netpbm: bad magic %q (want P2, P3, P5 or P6)", magic[:])
	}
	h.magic = magic[1]
	field := func(name string, limit int) (int, error) {
		// the token must be separated from the one before it
		c, err := br.ReadByte()
		if err != nil {
			return 0, fmt.Errorf("netpbm: truncated header: P%c ends before its %s", h.magic, name)
		}
		if !isNetpbmSpace(c) && c != '#' {
			return 0, fmt.Errorf("netpbm: bad header: unexpected %q before the %s", c, name)
		}
		br.UnreadByte()
		v, err := netpbmInt(br, limit)
		if err == errNetpbmEOF {
			return 0, fmt.Errorf("netpbm: truncated header: P%c ends before its %s", h.magic, name)
		}
		if err != nil {
			return 0, fmt.Errorf("netpbm: bad %s: %v", name, err)
		}
		return v, nil
	}
	var err error
	if h.w, err = field("width", maxNetpbmPixels); err != nil {
		return h, err
	}
	if h.h, err = field("height", maxNetpbmPixels); err != nil {
		return h, err
	}
	if h.maxval, err = field("maxval", 65535); err != nil {
		return h, err
	}
	switch {
	case h.w < 1 || h.h < 1:
		return h, fmt.Errorf("netpbm: bad size %dx%d", h.w, h.h)
	case int64(h.w)*int64(h.h) > maxNetpbmPixels:
		return h, fmt.Errorf("netpbm: %dx%d is above %d pixels", h.w, h.h, maxNetpbmPixels)
	case h.maxval < 1:
		return h, fmt.Errorf("netpbm: bad maxval %d (want 1..65535)", h.maxval)
	}
	// exactly one whitespace byte after maxval
	c, err := br.ReadByte()
	switch {
	case err != nil && h.binary():
		return h, fmt.Errorf("netpbm: truncated: %s has no data", h)
	case err == nil && !h.binary() && c == '#':
		br.UnreadByte() // a comment before the first plain sample
	case err == nil && !isNetpbmSpace(c):
		return h, fmt.Errorf("netpbm: bad header: unexpected %q after maxval", c)
	}
	return h, nil
}

// DecodeNetpbmConfig reads a PPM/PGM header.
func DecodeNetpbmConfig(r io.Reader) (image.Config, error) {
	h, err := readNetpbmHeader(bufio.NewReader(r))
	if err != nil {
		return image.Config{}, err
	}
	var m color.Model
	switch {
	case h.channels() == 1 && h.wide():
		m = color.Gray16Model
	case h.channels() == 1:
		m = color.GrayModel
	case h.wide():
		m = color.RGBA64Model
	default:
		m = color.RGBAModel
	}
	return image.Config{ColorModel: m, Width: h.w, Height: h.h}, nil
}

// DecodeNetpbm reads a PPM/PGM image (P6, P5, P3, P2).
func DecodeNetpbm(r io.Reader) (image.Image, error) {
	br := bufio.NewReader(r)
	h, err := readNetpbmHeader(br)
	if err != nil {
		return nil, err
	}
	n := h.w * h.h * h.channels()
	var samples []uint16
	if h.binary() {
		per := 1
		if h.wide() {
			per = 2
		}
		// ReadAll grows with the data present: a header claiming a huge
		// size costs nothing unless the data is there
		data, err := io.ReadAll(io.LimitReader(br, int64(n*per)))
		if err != nil {
			return nil, fmt.Errorf("netpbm: reading %s: %w", h, err)
		}
		if len(data) < n*per {
			return nil, fmt.Errorf("netpbm: truncated: %s needs %d bytes of data, has %d", h, n*per, len(data))
		}
		samples = make([]uint16, n)
		for i := range samples {
			if per == 2 {
				samples[i] = uint16(data[2*i])<<8 | uint16(data[2*i+1])
			} else {
				samples[i] = uint16(data[i])
			}
		}
	} else {
		samples = make([]uint16, 0, min(n, 1<<16))
		for len(samples) < n {
			v, err := netpbmInt(br, 65535)
			if err == errNetpbmEOF {
				return nil, fmt.Errorf("netpbm: truncated: %s has %d of %d samples", h, len(samples), n)
			}
			if err != nil {
				return nil, fmt.Errorf("netpbm: %s, sample %d: %v", h, len(samples), err)
			}
			samples = append(samples, uint16(v))
		}
	}
	for i, v := range samples {
		if int(v) > h.maxval {
			return nil, fmt.Errorf("netpbm: %s: sample %d is %d, above maxval", h, i, v)
		}
	}
	return netpbmImage(h, samples), nil
}

// netpbmImage scales the samples to the image type's full range.
func netpbmImage(h netpbmHeader, s []uint16) image.Image {
	mv := uint32(h.maxval)
	r := image.Rect(0, 0, h.w, h.h)
	if !h.wide() {
		to8 := func(v uint16) uint8 { return uint8((uint32(v)*255 + mv/2) / mv) }
		if h.channels() == 1 {
			img := image.NewGray(r)
			for i, v := range s {
				img.Pix[i] = to8(v)
			}
			return img
		}
		img := image.NewRGBA(r)
		for i := 0; i < h.w*h.h; i++ {
			img.Pix[4*i], img.Pix[4*i+1], img.Pix[4*i+2], img.Pix[4*i+3] = to8(s[3*i]), to8(s[3*i+1]), to8(s[3*i+2]), 255
		}
		return img
	}
	to16 := func(v uint16) (uint8, uint8) {
		w := (uint32(v)*65535 + mv/2) / mv
		return uint8(w >> 8), uint8(w)
	}
	if h.channels() == 1 {
		img := image.NewGray16(r)
		for i, v := range s {
			img.Pix[2*i], img.Pix[2*i+1] = to16(v)
		}
		return img
	}
	img := image.NewRGBA64(r)
	for i := 0; i < h.w*h.h; i++ {
		p := img.Pix[8*i : 8*i+8]
		p[0], p[1] = to16(s[3*i])
		p[2], p[3] = to16(s[3*i+1])
		p[4], p[5] = to16(s[3*i+2])
		p[6], p[7] = 0xff, 0xff
	}
	return img
}
