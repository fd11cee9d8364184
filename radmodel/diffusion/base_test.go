package diffusion

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/radinpaint/rad/torch"
)

const fixtures = "../../testdata/adm"

// loadRef reads guided-diffusion's numbers (diffusion.pt) into s.
func loadRef(t *testing.T, s *torch.Scope) *torch.StateDict {
	t.Helper()
	d, err := torch.LoadPT(s, filepath.Join(fixtures, "diffusion.pt"))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func f64s(t *testing.T, x *torch.Tensor) []float64 {
	t.Helper()
	if x == nil {
		t.Fatal("nil tensor")
	}
	v, err := x.Float64s()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func chains(t *testing.T) map[string]*Base {
	full, err := NewNamedBase("linear", 1000)
	if err != nil {
		t.Fatal(err)
	}
	r100, err := full.Respace("100")
	if err != nil {
		t.Fatal(err)
	}
	return map[string]*Base{"full": full, "r100": r100}
}

func TestTablesMatchGuidedDiffusion(t *testing.T) {
	s := torch.NewNoGradScope()
	defer s.Close()
	ref := loadRef(t, s)
	for name, b := range chains(t) {
		for table, got := range b.Tables() {
			want := f64s(t, ref.Get(name+"/"+table))
			if len(want) != len(got) {
				t.Fatalf("%s/%s: %d values, want %d", name, table, len(got), len(want))
			}
			for i := range got {
				if math.Abs(got[i]-want[i]) > 1e-12*math.Abs(want[i]) {
					t.Fatalf("%s/%s[%d] = %.17g, want %.17g", name, table, i, got[i], want[i])
				}
			}
		}
		tm := f64s(t, ref.Get(name+"/timestep_map"))
		for i := range tm {
			if float64(b.TimestepMap[i]) != tm[i] {
				t.Fatalf("%s timestep_map[%d] = %d, want %v", name, i, b.TimestepMap[i], tm[i])
			}
		}
	}
}

func TestSpaceTimesteps(t *testing.T) {
	got, err := SpaceTimesteps(1000, "ddim50")
	if err != nil || len(got) != 50 || got[1] != 20 {
		t.Fatalf("ddim50: %v %v", got, err)
	}
	got, err = SpaceTimesteps(300, "10,15,20")
	if err != nil || len(got) != 45 || got[0] != 0 || got[9] != 99 || got[10] != 100 || got[44] != 299 {
		t.Fatalf("10,15,20: %v %v", got, err)
	}
	if _, err := SpaceTimesteps(10, "20"); err == nil {
		t.Fatal("20 steps out of 10 accepted")
	}
	if _, err := SpaceTimesteps(1000, "ddim999"); err == nil {
		t.Fatal("ddim999 of 1000 accepted")
	}
	cos := CosineBetas(1000)
	if cos[999] != 0.999 || cos[0] <= 0 || cos[0] > 1e-4 {
		t.Fatalf("cosine ends %v %v", cos[0], cos[999])
	}
	if _, err := NamedBetas("quadratic", 10); err == nil {
		t.Fatal("unknown schedule accepted")
	}
}
