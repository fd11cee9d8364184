// Package imagefile decodes image files within a pixel budget: the header
// is read and its size checked before any pixel memory is allocated, so a
// small file claiming a huge image is refused. The inference CLI, the
// training data pipeline and the service share it. Formats are those
// registered with package image (PNG and JPEG here; Netpbm where package
// infer is linked).
package imagefile

import (
	"bytes"
	"fmt"
	"image"
	_ "image/jpeg" // registers JPEG with image.Decode
	_ "image/png"  // registers PNG with image.Decode
)

// SizeError is an image whose header gives no pixels or more than Max.
type SizeError struct {
	Width, Height int
	Max           int64
}

func (e *SizeError) Error() string {
	return fmt.Sprintf("image of %dx%d pixels: out of range (1 to %d pixels)", e.Width, e.Height, e.Max)
}

// Empty reports whether the header gave no pixels at all.
func (e *SizeError) Empty() bool { return e.Width < 1 || e.Height < 1 }

// Header reads raw's image header and checks its size against maxPixels:
// the header's error (image.ErrFormat for an unknown format), or a
// *SizeError.
func Header(raw []byte, maxPixels int64) (image.Config, string, error) {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(raw))
	if err != nil {
		return cfg, format, err
	}
	if cfg.Width < 1 || cfg.Height < 1 || int64(cfg.Width)*int64(cfg.Height) > maxPixels {
		return cfg, format, &SizeError{Width: cfg.Width, Height: cfg.Height, Max: maxPixels}
	}
	return cfg, format, nil
}

// Decode is Header, then the decode of the pixels.
func Decode(raw []byte, maxPixels int64) (image.Image, error) {
	if _, _, err := Header(raw, maxPixels); err != nil {
		return nil, err
	}
	img, _, err := image.Decode(bytes.NewReader(raw))
	return img, err
}
