package imagefile

import (
	"bytes"
	"errors"
	"image"
	"image/png"
	"testing"
)

func TestDecodeBoundsAndErrors(t *testing.T) {
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 4, 3))); err != nil {
		t.Fatal(err)
	}
	img, err := Decode(buf.Bytes(), 12)
	if err != nil || img.Bounds().Dx() != 4 || img.Bounds().Dy() != 3 {
		t.Fatalf("4x3 within 12 pixels: %v %v", img, err)
	}
	var size *SizeError
	if _, err := Decode(buf.Bytes(), 11); !errors.As(err, &size) || size.Width != 4 || size.Height != 3 || size.Empty() {
		t.Fatalf("4x3 over 11 pixels: %v", err)
	}
	if _, _, err := Header([]byte("not an image"), 100); !errors.Is(err, image.ErrFormat) {
		t.Fatalf("garbage: %v", err)
	}
	if _, err := Decode(buf.Bytes()[:buf.Len()-20], 100); err == nil || errors.As(err, &size) {
		t.Fatalf("truncated PNG: %v", err)
	}
}
