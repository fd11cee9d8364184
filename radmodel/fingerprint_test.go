package radmodel

import (
	"testing"

	"github.com/radinpaint/rad/torch"
)

func TestFingerprint(t *testing.T) {
	fp := func(m *UNet) string {
		t.Helper()
		s, err := m.Fingerprint()
		if err != nil || len(s) != 64 {
			t.Fatalf("fingerprint %q: %v", s, err)
		}
		return s
	}
	a1, a2, b := loadFixtureModel(t, "pub_a"), loadFixtureModel(t, "pub_a"), loadFixtureModel(t, "pub_b")
	defer a1.Close()
	defer a2.Close()
	defer b.Close()
	base := fp(a1)
	if fp(a2) != base {
		t.Fatal("two loads of one file differ")
	}
	if fp(b) == base {
		t.Fatal("two configs share a fingerprint")
	}
	// Pinned: kept evaluation batches (eval.RunConfig.Parts) are keyed on
	// this value, so a change to what Fingerprint hashes must be
	// deliberate (it invalidates every kept batch) and fail here first.
	const want = "5dfac7f67d36aa11d0b97503c95cfc8945baf2ad122d254279d73c1b0621742e"
	if base != want {
		t.Fatalf("fingerprint of pub_a = %s, want %s", base, want)
	}
	g := torch.NewGenerator(1)
	defer g.Close()
	if err := a1.AddLoRA(DefaultLoRA, g); err != nil {
		t.Fatal(err)
	}
	if fp(a1) == base {
		t.Fatal("adding adapters left the fingerprint")
	}
	// one changed weight changes it
	k := a2.Keys()[len(a2.Keys())-1]
	if err := a2.Param(k).Fill(0.5); err != nil {
		t.Fatal(err)
	}
	if fp(a2) == base {
		t.Fatalf("changing %s left the fingerprint", k)
	}
}
