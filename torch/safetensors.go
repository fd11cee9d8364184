package torch

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/radinpaint/rad/internal/atomicfile"
)

var stNames = map[DType]string{
	Float64: "F64", Float32: "F32", Float16: "F16", BFloat16: "BF16",
	Int64: "I64", Int32: "I32", Int16: "I16", Int8: "I8", Uint8: "U8", Bool: "BOOL",
}

func stDType(name string) (DType, bool) {
	for d, n := range stNames {
		if n == name {
			return d, true
		}
	}
	return 0, false
}

type stEntry struct {
	DType       string   `json:"dtype"`
	Shape       []int64  `json:"shape"`
	DataOffsets [2]int64 `json:"data_offsets"`
}

// maxHeader bounds the JSON header, as the reference implementation does.
const maxHeader = 100 << 20

// LoadSafetensors reads a safetensors file into tensors owned by s (on the
// CPU, in header order sorted by data offset). The header's __metadata__
// goes to Meta as strings.
func LoadSafetensors(s *Scope, path string) (*StateDict, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors %s: %w", path, err)
	}
	return LoadSafetensorsBytes(s, path, raw)
}

// LoadSafetensorsBytes is LoadSafetensors on the bytes of a file (e.g.
// embedded with go:embed); path names it in errors. The tensors are
// copies: raw may be reused afterwards.
func LoadSafetensorsBytes(s *Scope, path string, raw []byte) (*StateDict, error) {
	if len(raw) < 8 {
		return nil, fmt.Errorf("safetensors %s: file of %d bytes has no header", path, len(raw))
	}
	hlen := binary.LittleEndian.Uint64(raw[:8])
	if hlen > maxHeader || 8+hlen > uint64(len(raw)) {
		return nil, fmt.Errorf("safetensors %s: header length %d exceeds the file (%d bytes): truncated or not safetensors", path, hlen, len(raw))
	}
	var hdr map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(raw[8 : 8+hlen]))
	if err := dec.Decode(&hdr); err != nil {
		return nil, fmt.Errorf("safetensors %s: bad header: %w", path, err)
	}
	data := raw[8+hlen:]
	d := newStateDict()
	type item struct {
		name string
		e    stEntry
	}
	var items []item
	for k, v := range hdr {
		if k == "__metadata__" {
			var m map[string]string
			if err := json.Unmarshal(v, &m); err != nil {
				return nil, fmt.Errorf("safetensors %s: bad __metadata__: %w", path, err)
			}
			for mk, mv := range m {
				d.Meta[mk] = mv
			}
			continue
		}
		var e stEntry
		if err := json.Unmarshal(v, &e); err != nil {
			return nil, fmt.Errorf("safetensors %s: tensor %q: %w", path, k, err)
		}
		items = append(items, item{k, e})
	}
	sort.Slice(items, func(i, j int) bool {
		if items[i].e.DataOffsets[0] != items[j].e.DataOffsets[0] {
			return items[i].e.DataOffsets[0] < items[j].e.DataOffsets[0]
		}
		return items[i].name < items[j].name
	})
	mark := len(s.ts)
	fail := func(err error) (*StateDict, error) {
		for _, t := range s.ts[mark:] {
			t.Free()
		}
		return nil, err
	}
	for _, it := range items {
		dt, ok := stDType(it.e.DType)
		if !ok {
			return fail(fmt.Errorf("safetensors %s: tensor %q has unsupported dtype %q", path, it.name, it.e.DType))
		}
		n := int64(dt.Size())
		for _, v := range it.e.Shape {
			if v < 0 {
				return fail(fmt.Errorf("safetensors %s: tensor %q has negative shape %v", path, it.name, it.e.Shape))
			}
			n *= v
		}
		b, e := it.e.DataOffsets[0], it.e.DataOffsets[1]
		if b < 0 || e < b || e > int64(len(data)) || e-b != n {
			return fail(fmt.Errorf("safetensors %s: tensor %q: offsets [%d,%d) do not fit shape %v %s in %d data bytes",
				path, it.name, b, e, it.e.Shape, dt, len(data)))
		}
		t := FromBytes(s, data[b:e], dt, it.e.Shape...)
		if err := s.Err(); err != nil {
			return fail(fmt.Errorf("safetensors %s: tensor %q: %w", path, it.name, err))
		}
		d.put(it.name, t)
	}
	return d, nil
}

// SaveSafetensors writes named tensors (any device; copied to the host one
// at a time) and string metadata as a safetensors file, atomically.
func SaveSafetensors(path string, names []string, ts []*Tensor, meta map[string]string) error {
	return SaveSafetensorsWith(path, names, ts, meta, nil)
}

// SaveSafetensorsWith is SaveSafetensors with a hook that may wrap the
// file's writer (tests use it to slow a save down).
func SaveSafetensorsWith(path string, names []string, ts []*Tensor, meta map[string]string,
	wrap func(io.Writer) io.Writer) error {
	hdr, err := safetensorsHeader(names, ts, meta)
	if err != nil {
		return fmt.Errorf("safetensors %s: %w", path, err)
	}
	return atomicfile.Write(path, func(w io.Writer) error {
		if wrap != nil {
			w = wrap(w)
		}
		return writeSafetensors(w, hdr, names, ts)
	})
}

// safetensorsHeader is the length-prefixed JSON header, padded with spaces
// to 8 bytes as the reference writer does.
func safetensorsHeader(names []string, ts []*Tensor, meta map[string]string) ([]byte, error) {
	if len(names) != len(ts) {
		return nil, fmt.Errorf("%d names for %d tensors", len(names), len(ts))
	}
	hdr := map[string]any{}
	if len(meta) > 0 {
		hdr["__metadata__"] = meta
	}
	var off int64
	for i, t := range ts {
		if !t.Valid() {
			return nil, fmt.Errorf("tensor %q is nil or freed", names[i])
		}
		if _, dup := hdr[names[i]]; dup || names[i] == "__metadata__" {
			return nil, fmt.Errorf("duplicate or reserved name %q", names[i])
		}
		name, ok := stNames[t.DType()]
		if !ok {
			return nil, fmt.Errorf("tensor %q: unsupported dtype %s", names[i], t.DType())
		}
		n := t.Numel() * int64(t.DType().Size())
		hdr[names[i]] = stEntry{DType: name, Shape: t.Shape(), DataOffsets: [2]int64{off, off + n}}
		off += n
	}
	hj, err := json.Marshal(hdr)
	if err != nil {
		return nil, err
	}
	for len(hj)%8 != 0 {
		hj = append(hj, ' ')
	}
	out := make([]byte, 8, 8+len(hj))
	binary.LittleEndian.PutUint64(out, uint64(len(hj)))
	return append(out, hj...), nil
}

// writeSafetensors streams the header and every tensor's bytes.
func writeSafetensors(w io.Writer, hdr []byte, names []string, ts []*Tensor) error {
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	for i, t := range ts {
		b, err := t.Bytes()
		if err != nil {
			return fmt.Errorf("tensor %q: %w", names[i], err)
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}
