package train

import (
	"context"
	"testing"
)

// TestRADObjectivesLearn: rad-full from random init, and rad-lora (spatial
// and scalar embedding) on a random base, lower RAD's masked MSE on a tiny
// problem (mean of the first 20 steps against the last 20), as the adm
// objective does in TestADMLossFalls.
func TestRADObjectivesLearn(t *testing.T) {
	model := tinyModel(t)
	model.Dropout = 0
	dataDir := shapesData(t, 32, 16)
	base := saveRandomBase(t, model)
	for _, tc := range []struct {
		name   string
		obj    Objective
		scalar bool
		ratio  float64
	}{
		{"rad-full", RADFull, false, 0.5},
		{"rad-lora", RADLoRA, false, 0.8},
		{"rad-lora-scalar", RADLoRA, true, 0.8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, model, dataDir, tc.obj)
			cfg.Steps, cfg.BatchSize, cfg.LR, cfg.ScalarEmbedding = 80, 4, 1e-3, tc.scalar
			if tc.obj == RADLoRA {
				cfg.Base = base
			}
			res, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			mse := make([]float64, len(res.Records))
			for i, r := range res.Records {
				mse[i] = r.MSE
			}
			first, last := mean(mse[:20]), mean(mse[len(mse)-20:])
			t.Logf("%s masked MSE: first 20 steps %.4f, last 20 %.4f (%.1f s)", tc.name, first, last, res.Seconds)
			if !(last < tc.ratio*first) {
				t.Fatalf("masked MSE did not fall: first 20 steps %.4f, last 20 %.4f (want < %.1f x)", first, last, tc.ratio)
			}
		})
	}
}
