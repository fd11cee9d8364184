package bench

import (
	"context"
	"testing"

	"github.com/radinpaint/rad/infer"
	"github.com/radinpaint/rad/radmodel"
	"github.com/radinpaint/rad/torch"
)

// tinyModel is a random-weight 16x16 ADM with attention and learned
// variance.
func tinyModel(t *testing.T) (*radmodel.UNet, radmodel.Spec) {
	t.Helper()
	spec, err := radmodel.ParseFlags("--image_size 16 --num_channels 32 --num_res_blocks 1 --channel_mult 1,2 " +
		"--attention_resolutions 8 --num_heads 1 --learn_sigma True")
	if err != nil {
		t.Fatal(err)
	}
	m, err := radmodel.NewRandom(spec.Model, torch.CPU, torch.Float32, 1)
	if err != nil {
		t.Fatal(err)
	}
	return m, spec
}

// Run times both samplers the same number of times with their exact model
// calls, and measures the embedding cost and the sampler's own math.
func TestRun(t *testing.T) {
	m, spec := tinyModel(t)
	defer m.Close()
	seen := map[string]int{}
	r, err := Run(context.Background(), m, spec, "tiny", Options{Steps: 5, Runs: 2, Forwards: 2,
		RePaint:  infer.RePaintOpts{Respacing: "8", JumpLength: 2, JumpNSample: 2},
		Progress: func(sampler string, i, total int) { seen[sampler]++ }})
	if err != nil {
		t.Fatal(err)
	}
	if r.Runs != 2 || len(r.Rows) != 2 || r.Rows[0].ModelCalls != 5 || r.Rows[1].ModelCalls != 14 {
		t.Fatalf("report %+v", r)
	}
	// every timed run reports all its calls: 2 runs of 5 and 2 of 14
	if seen["rad"] != 10 || seen["repaint"] != 28 {
		t.Fatalf("progress calls %v", seen)
	}
	if r.ScalarMs <= 0 || r.SpatialMs <= 0 || r.MathMsPerStep <= 0 || r.WallRatio <= 0 {
		t.Fatalf("report %+v", r)
	}
}

// ForwardProfile sees the forward's operators: its convolutions, every run.
func TestForwardProfile(t *testing.T) {
	m, _ := tinyModel(t)
	defer m.Close()
	for _, spatial := range []bool{false, true} {
		rows, err := ForwardProfile(m, spatial, 3)
		if err != nil {
			t.Fatal(err)
		}
		calls := map[string]int64{}
		for _, r := range rows {
			calls[r.Name] = r.Calls
		}
		// 3 runs of the forward's conv2d calls (at least the input and output convs)
		if c := calls["aten::conv2d"]; c < 6 || c%3 != 0 {
			t.Fatalf("spatial %v: %d conv2d calls over 3 runs (%v)", spatial, c, calls)
		}
	}
}
