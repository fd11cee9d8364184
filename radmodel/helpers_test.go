package radmodel

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/radinpaint/rad/internal/tensortest"
	"github.com/radinpaint/rad/torch"
)

const fixtureDir = "../testdata/adm"

var fixtureNames = []string{"pub_a", "pub_b", "pub_c"}

func fixture(name string) string { return filepath.Join(fixtureDir, name) }

// fixtureJSON is the part of NAME.json the tests read.
type fixtureJSON struct {
	ScriptUtilFlags  json.RawMessage `json:"script_util_flags"`
	UnetKwargs       json.RawMessage `json:"unet_kwargs"`
	ParamCount       int64           `json:"param_count"`
	StateDictEntries int             `json:"state_dict_entries"`
	AttentionBlocks  []struct {
		Module   string `json:"module"`
		Channels int    `json:"channels"`
		NumHeads int    `json:"num_heads"`
		Order    string `json:"order"`
	} `json:"attention_blocks"`
}

func readFixtureJSON(t testing.TB, name string) fixtureJSON {
	t.Helper()
	raw, err := os.ReadFile(fixture(name + ".json"))
	if err != nil {
		t.Fatal(err)
	}
	var f fixtureJSON
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

func fixtureConfig(t testing.TB, name string) Config {
	t.Helper()
	c, err := ConfigFromJSON(fixture(name + ".json"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// maxAbsDiff and noErr are the shared helpers (internal/tensortest).
var (
	maxAbsDiff = tensortest.MaxAbsDiff
	noErr      = tensortest.NoErr
)

// fixtureIO reads NAME.io.pt into s.
func fixtureIO(t testing.TB, s *torch.Scope, name string) *torch.StateDict {
	t.Helper()
	io, err := torch.LoadPT(s, fixture(name+".io.pt"))
	if err != nil {
		t.Fatal(err)
	}
	return io
}
