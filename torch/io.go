package torch

// #include <stdlib.h>
// #include "radtorch.h"
import "C"

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"unsafe"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/pytorch"
	"github.com/nlpodyssey/gopickle/types"
	"github.com/radinpaint/rad/internal/atomicfile"
)

// StateDict is an ordered set of named tensors read from a file, with any
// non-tensor values (numbers, strings, bools) kept in Meta.
type StateDict struct {
	Keys    []string
	Tensors map[string]*Tensor
	Meta    map[string]any
}

func newStateDict() *StateDict {
	return &StateDict{Tensors: map[string]*Tensor{}, Meta: map[string]any{}}
}

// Get returns the tensor named k, or nil.
func (d *StateDict) Get(k string) *Tensor { return d.Tensors[k] }

func (d *StateDict) put(k string, t *Tensor) {
	if _, dup := d.Tensors[k]; !dup {
		d.Keys = append(d.Keys, k)
	}
	d.Tensors[k] = t
}

// FileKind is what a file holds, judged from its first bytes.
type FileKind int

const (
	KindUnknown     FileKind = iota
	KindTorchZip             // torch.save zip archive
	KindTorchLegacy          // torch.save legacy (pickle) format
	KindTorchScript          // TorchScript archive (zip with constants.pkl)
	KindSafetensors          // safetensors
)

func (k FileKind) String() string {
	return [...]string{"unknown", "torch.save zip", "torch.save legacy", "TorchScript", "safetensors"}[k]
}

// DetectFile tells which kind of tensor file path is.
func DetectFile(path string) (FileKind, error) {
	f, err := os.Open(path)
	if err != nil {
		return KindUnknown, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return KindUnknown, err
	}
	k, err := DetectReaderAt(f, st.Size())
	if err != nil {
		return k, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// DetectReaderAt tells which kind of tensor file the size bytes of r are
// (e.g. a file of an fs.FS or embedded bytes, through bytes.Reader).
func DetectReaderAt(r io.ReaderAt, size int64) (FileKind, error) {
	head := make([]byte, 16)
	n, err := r.ReadAt(head, 0)
	if err != nil && err != io.EOF {
		return KindUnknown, err
	}
	head = head[:n]
	switch {
	case bytes.HasPrefix(head, []byte("PK\x03\x04")):
		zr, err := zip.NewReader(r, size)
		if err != nil {
			return KindUnknown, fmt.Errorf("corrupt or truncated zip archive: %w", err)
		}
		for _, zf := range zr.File {
			if strings.HasSuffix(zf.Name, "/constants.pkl") || zf.Name == "constants.pkl" {
				return KindTorchScript, nil
			}
		}
		return KindTorchZip, nil
	case len(head) >= 9 && head[8] == '{':
		// before the pickle test: a safetensors header length whose low
		// byte is 0x80 starts like a pickle (a legacy torch.save file has
		// its magic number's bytes at 8, never '{')
		return KindSafetensors, nil
	case len(head) > 0 && head[0] == 0x80:
		return KindTorchLegacy, nil
	}
	return KindUnknown, nil
}

// LoadPT reads a torch.save file (zip or legacy format; a state dict, an
// OrderedDict or a plain dict, nested dicts flattened with ".") into
// tensors owned by s, on the CPU. Tensors keep their stored dtype.
func LoadPT(s *Scope, path string) (d *StateDict, err error) {
	kind, err := DetectFile(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	switch kind {
	case KindTorchZip, KindTorchLegacy:
	case KindTorchScript:
		return nil, fmt.Errorf("checkpoint %s: is a TorchScript archive, not a torch.save file (load it with LoadModule)", path)
	default:
		return nil, fmt.Errorf("checkpoint %s: not a torch.save file (no zip or pickle header)", path)
	}
	var obj any
	func() {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("checkpoint %s: malformed file: %v", path, r)
			}
		}()
		obj, err = pytorch.LoadWithUnpickler(path, newUnpickler)
	}()
	if err != nil {
		if !strings.HasPrefix(err.Error(), "checkpoint ") {
			err = fmt.Errorf("checkpoint %s: %w", path, err)
		}
		return nil, err
	}
	d = newStateDict()
	mark := len(s.ts)
	if err := flatten(s, d, "", obj); err != nil {
		for _, t := range s.ts[mark:] {
			t.Free()
		}
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return d, nil
}

func joinKey(prefix string, k any) (string, error) {
	var ks string
	switch v := k.(type) {
	case string:
		ks = v
	case int:
		ks = fmt.Sprint(v)
	default:
		return "", fmt.Errorf("key %v under %q is not a string", k, prefix)
	}
	if prefix == "" {
		return ks, nil
	}
	return prefix + "." + ks, nil
}

func flatten(s *Scope, d *StateDict, prefix string, obj any) error {
	switch v := obj.(type) {
	case *types.OrderedDict:
		for e := v.List.Front(); e != nil; e = e.Next() {
			ent := e.Value.(*types.OrderedDictEntry)
			k, err := joinKey(prefix, ent.Key)
			if err != nil {
				return err
			}
			if err := flatten(s, d, k, ent.Value); err != nil {
				return err
			}
		}
	case *types.Dict:
		for _, ent := range *v {
			k, err := joinKey(prefix, ent.Key)
			if err != nil {
				return err
			}
			if err := flatten(s, d, k, ent.Value); err != nil {
				return err
			}
		}
	case *pytorch.Tensor:
		t, err := fromPickled(s, v)
		if err != nil {
			return fmt.Errorf("tensor %q: %w", prefix, err)
		}
		d.put(prefix, t)
	case nil, string, int, int64, float64, bool:
		if prefix == "" {
			return fmt.Errorf("file holds a single %T, not a dict", v)
		}
		d.Meta[prefix] = v
	default:
		if prefix == "" {
			return fmt.Errorf("file holds a %T, not a dict of tensors", v)
		}
		d.Meta[prefix] = fmt.Sprintf("%T", v)
	}
	return nil
}

// newUnpickler knows the helper that torch::jit::pickle_save (and so
// SavePT) writes around typed containers.
func newUnpickler(r io.Reader) pickle.Unpickler {
	u := pickle.NewUnpickler(r)
	u.FindClass = func(module, name string) (any, error) {
		if module == "torch.jit._pickle" && name == "restore_type_tag" {
			return restoreTypeTag{}, nil
		}
		return nil, fmt.Errorf("class not found: %s.%s", module, name)
	}
	return u
}

// restoreTypeTag returns its first argument (the type tag is not needed).
type restoreTypeTag struct{}

func (restoreTypeTag) Call(args ...any) (any, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("restore_type_tag: no arguments")
	}
	return args[0], nil
}

// fromPickled copies a gopickle tensor (storage, offset, sizes, strides)
// into a contiguous libtorch tensor.
func fromPickled(s *Scope, pt *pytorch.Tensor) (*Tensor, error) {
	shape := make([]int64, len(pt.Size))
	for i, v := range pt.Size {
		shape[i] = int64(v)
	}
	switch st := pt.Source.(type) {
	case *pytorch.FloatStorage:
		return strided(s, st.Data, pt, shape, Float32, Float32)
	case *pytorch.HalfStorage:
		return strided(s, st.Data, pt, shape, Float32, Float16)
	case *pytorch.BFloat16Storage:
		return strided(s, st.Data, pt, shape, Float32, BFloat16)
	case *pytorch.DoubleStorage:
		return strided(s, st.Data, pt, shape, Float64, Float64)
	case *pytorch.LongStorage:
		return strided(s, st.Data, pt, shape, Int64, Int64)
	case *pytorch.IntStorage:
		return strided(s, st.Data, pt, shape, Int32, Int32)
	case *pytorch.ShortStorage:
		return strided(s, st.Data, pt, shape, Int16, Int16)
	case *pytorch.CharStorage:
		return strided(s, st.Data, pt, shape, Int8, Int8)
	case *pytorch.ByteStorage:
		return strided(s, st.Data, pt, shape, Uint8, Uint8)
	case *pytorch.BoolStorage:
		return strided(s, st.Data, pt, shape, Bool, Bool)
	}
	return nil, fmt.Errorf("unsupported storage type %T", pt.Source)
}

func strided[E Element](s *Scope, data []E, pt *pytorch.Tensor, shape []int64, _ DType, want DType) (*Tensor, error) {
	numel := 1
	for _, v := range pt.Size {
		if v < 0 {
			return nil, fmt.Errorf("negative size in %v", pt.Size)
		}
		numel *= v
	}
	if len(pt.Stride) != len(pt.Size) {
		return nil, fmt.Errorf("stride %v does not match size %v", pt.Stride, pt.Size)
	}
	// highest element index touched
	last := pt.StorageOffset
	for i, v := range pt.Size {
		if v > 0 {
			last += (v - 1) * pt.Stride[i]
		}
	}
	if numel > 0 && (pt.StorageOffset < 0 || last >= len(data)) {
		return nil, fmt.Errorf("size %v, stride %v, offset %d exceed the storage of %d elements (truncated file?)",
			pt.Size, pt.Stride, pt.StorageOffset, len(data))
	}
	contiguous := true
	exp := 1
	for i := len(pt.Size) - 1; i >= 0; i-- {
		if pt.Size[i] != 1 && pt.Stride[i] != exp {
			contiguous = false
			break
		}
		exp *= pt.Size[i]
	}
	var flat []E
	if contiguous || numel == 0 {
		flat = data[pt.StorageOffset : pt.StorageOffset+numel]
	} else {
		flat = make([]E, numel)
		idx := make([]int, len(pt.Size))
		for n := 0; n < numel; n++ {
			off := pt.StorageOffset
			for i, v := range idx {
				off += v * pt.Stride[i]
			}
			flat[n] = data[off]
			for i := len(idx) - 1; i >= 0; i-- {
				idx[i]++
				if idx[i] < pt.Size[i] {
					break
				}
				idx[i] = 0
			}
		}
	}
	t := FromSlice(s, flat, shape...)
	if t != nil && t.DType() != want {
		u := s.To(t, want)
		t.Free()
		t = u
	}
	if err := s.Err(); err != nil {
		return nil, err
	}
	return t, nil
}

// SavePT writes {names[i]: ts[i]} as a torch.save file that Python's
// torch.load reads (tensors are saved contiguous, on the CPU). The file is
// written atomically.
func SavePT(path string, names []string, ts []*Tensor) error {
	if len(names) != len(ts) {
		return fmt.Errorf("save %s: %d names for %d tensors", path, len(names), len(ts))
	}
	for i, t := range ts {
		if !t.Valid() {
			return fmt.Errorf("save %s: tensor %q is nil or freed", path, names[i])
		}
	}
	cn := make([]*C.char, len(names))
	for i, n := range names {
		cn[i] = C.CString(n)
	}
	defer func() {
		for _, p := range cn {
			C.free(unsafe.Pointer(p))
		}
	}()
	hs := handles(ts)
	var buf *C.char
	var n C.size_t
	var np **C.char
	if len(cn) > 0 {
		np = &cn[0]
	}
	if err := goErr(C.rt_pickle_save(np, handlePtr(hs), C.int64_t(len(hs)), &buf, &n)); err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	defer C.rt_free_ptr(unsafe.Pointer(buf))
	data := unsafe.Slice((*byte)(unsafe.Pointer(buf)), int(n))
	return atomicfile.WriteBytes(path, data)
}

// SaveStateDict writes d with SavePT, keys in d's order.
func SaveStateDict(path string, d *StateDict) error {
	ts := make([]*Tensor, len(d.Keys))
	for i, k := range d.Keys {
		ts[i] = d.Tensors[k]
	}
	return SavePT(path, d.Keys, ts)
}

// SortedKeys returns d's keys in lexical order.
func (d *StateDict) SortedKeys() []string {
	ks := append([]string(nil), d.Keys...)
	sort.Strings(ks)
	return ks
}
