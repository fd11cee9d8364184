package torch

import "testing"

// Profile sees the aten ops that ran, with their call counts, and self
// times within their totals.
func TestProfile(t *testing.T) {
	s := NewNoGradScope()
	defer s.Close()
	x := s.Ones(Float32, CPU, 1, 2, 8, 8)
	w := s.Ones(Float32, CPU, 2, 2, 3, 3)
	rows, err := Profile(false, func() error {
		for i := 0; i < 3; i++ {
			s.Add(s.Conv2d(x, w, nil, ConvOpts{Padding: 1}), x)
		}
		return s.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]int64{}
	for _, r := range rows {
		calls[r.Name] = r.Calls
		if r.SelfUs > r.TotalUs+1e-6 || r.SelfUs < 0 {
			t.Fatalf("%s: self %v us, total %v us", r.Name, r.SelfUs, r.TotalUs)
		}
	}
	if calls["aten::conv2d"] != 3 || calls["aten::add"] != 3 {
		t.Fatalf("profile counts %v", calls)
	}
	// nothing is recorded once the profiler is off
	if _, err := Profile(false, func() error { return nil }); err != nil {
		t.Fatal(err)
	}
}
