package eval

import (
	"fmt"
	"strings"
	"testing"

	"github.com/radinpaint/rad/infer"
	"github.com/radinpaint/rad/radmodel/masks"
	"github.com/radinpaint/rad/torch"
)

// TestPartKeyStable pins a batch key to its value when resumable
// evaluation was introduced: kept batches of long evaluations stay valid
// only while the key's bytes do not change, so any change to what
// partKeyOf hashes (or how) must be deliberate and fail here first.
func TestPartKeyStable(t *testing.T) {
	x0 := []float32{-1, -0.25, 0, 0.5, 1, 3.5e-8}
	m := []float32{0, 1, 1, 0, 0, 1}
	labels := []int64{0, 9, -3}
	got := partKeyOf("model abc on cpu; method rad", masks.Box, 100, 2, x0, m, labels)
	const want = "dcfdeddc9fc16e501fc8eae28b67021416de5da2ef76128d1545385fd0b0f7bb"
	if got != want {
		t.Fatalf("partKeyOf = %s, want %s (kept parts would go stale)", got, want)
	}
	if partKeyOf("model abc on cpu; method rad", masks.Wide, 100, 2, x0, m, labels) == got {
		t.Fatal("the mask kind does not change the key")
	}
	m[1] = 0.5
	if partKeyOf("model abc on cpu; method rad", masks.Box, 100, 2, x0, m, labels) == got {
		t.Fatal("a mask value does not change the key")
	}
}

// TestPartKeyHasSamplerVersion: the key of every kept batch names the
// sampling code's version (infer.SamplerVersion, which TestSamplerVersion
// forces to change with the code), so a resumed evaluation resamples
// the batches older code made.
func TestPartKeyHasSamplerVersion(t *testing.T) {
	base, err := partsKeyBase(&RunConfig{Method: "rad", Steps: 100}, &sampler{dev: torch.CPU})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(base, fmt.Sprintf("sampler code %d;", infer.SamplerVersion)) {
		t.Fatalf("key base %q does not name the sampler code's version", base)
	}
	// a plain run's key is what it always was; a resampled run's names
	// the passes and resample.go's version
	for _, r := range []int{0, 1} {
		if b, _ := partsKeyBase(&RunConfig{Method: "rad", Steps: 100, Resample: r}, &sampler{dev: torch.CPU}); b != base {
			t.Fatalf("resample %d: key base %q, want the plain %q", r, b, base)
		}
	}
	rb, err := partsKeyBase(&RunConfig{Method: "rad", Steps: 100, Resample: 3}, &sampler{dev: torch.CPU})
	if err != nil || !strings.HasSuffix(rb, fmt.Sprintf("; resample 3 (code %d)", infer.ResampleVersion)) {
		t.Fatalf("resampled key base %q (%v)", rb, err)
	}
}
