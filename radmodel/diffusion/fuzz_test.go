package diffusion

import (
	"sort"
	"testing"
)

// FuzzSpaceTimesteps: timestep-respacing strings ("250", "10,20,30",
// "ddim50") never panic or hang, and what is accepted is a sorted set of
// distinct steps inside [0, n), as a respaced Base takes it.
func FuzzSpaceTimesteps(f *testing.F) {
	for _, c := range []string{"250", "100", "10,20,30", "ddim25", "ddim1000", "0", "", ",", "ddim", "ddim-3", " 5 , 5 ", "1001"} {
		f.Add(uint16(1000), c)
	}
	base, err := NewNamedBase("linear", 1000)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, n uint16, counts string) {
		steps := int(n%4000) + 1
		ts, err := SpaceTimesteps(steps, counts)
		if err != nil {
			return
		}
		if !sort.IntsAreSorted(ts) {
			t.Fatalf("SpaceTimesteps(%d, %q) = %v: not sorted", steps, counts, ts)
		}
		for i, v := range ts {
			if v < 0 || v >= steps || (i > 0 && ts[i-1] == v) {
				t.Fatalf("SpaceTimesteps(%d, %q) = %v: step %d out of range or repeated", steps, counts, ts, v)
			}
		}
		if steps == 1000 {
			if _, err := base.Respace(counts); err != nil && len(ts) > 0 {
				t.Fatalf("Respace(%q) fails (%v) where SpaceTimesteps gives %d steps", counts, err, len(ts))
			}
		}
	})
}
