package torch

// #include <stdlib.h>
// #include "radtorch.h"
import "C"

import (
	"fmt"
	"os"
	"unsafe"
)

// Module is a loaded TorchScript archive (torch.jit.save / torch.jit.trace).
// Close it when done.
type Module struct {
	h    C.rt_module
	Path string
}

// LoadModule loads a TorchScript archive onto dev, in eval mode.
func LoadModule(path string, dev Device) (*Module, error) {
	if err := CheckABI(); err != nil {
		return nil, err
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("torchscript %s: %w", path, err)
	}
	cp := C.CString(path)
	defer C.free(unsafe.Pointer(cp))
	var h C.rt_module
	if err := goErr(C.rt_module_load(cp, C.int(dev.Type), C.int(dev.Index), &h)); err != nil {
		return nil, fmt.Errorf("torchscript %s: %w", path, err)
	}
	return &Module{h: h, Path: path}, nil
}

// Close frees the module.
func (m *Module) Close() {
	if m.h != nil {
		C.rt_module_free(m.h)
		m.h = nil
	}
}

// Named returns the module's parameters (and buffers, if withBuffers) in
// registration order, as handles owned by s that share the module's data.
func (m *Module) Named(s *Scope, withBuffers bool) ([]string, []*Tensor, error) {
	if m.h == nil {
		return nil, nil, fmt.Errorf("torchscript %s: module is closed", m.Path)
	}
	var names **C.char
	var ts *C.rt_tensor
	var n C.int64_t
	if err := goErr(C.rt_module_named(m.h, cbool(withBuffers), &names, &ts, &n)); err != nil {
		return nil, nil, fmt.Errorf("torchscript %s: %w", m.Path, err)
	}
	defer C.rt_free_names(names, n)
	defer C.rt_free_ptr(unsafe.Pointer(ts))
	cn := unsafe.Slice(names, int(n))
	ch := unsafe.Slice(ts, int(n))
	outN := make([]string, n)
	outT := make([]*Tensor, n)
	for i := range outN {
		outN[i] = C.GoString(cn[i])
		outT[i] = s.track(ch[i])
	}
	return outN, outT, nil
}

// ready reports whether a forward may run: s has no error, the inputs are
// valid and the module is open (else the error is recorded in s).
func (m *Module) ready(s *Scope, inputs []*Tensor) bool {
	if !s.ok("torchscript forward", inputs...) {
		return false
	}
	if m.h == nil {
		s.err = fmt.Errorf("torchscript %s: module is closed", m.Path)
		return false
	}
	return true
}

// Forward runs the module's forward on tensor inputs, under s's mode.
func (m *Module) Forward(s *Scope, inputs ...*Tensor) *Tensor {
	if !m.ready(s, inputs) {
		return nil
	}
	hs := handles(inputs)
	var h C.rt_tensor
	e := C.rt_module_forward(C.int(s.mode), m.h, handlePtr(hs), C.int64_t(len(hs)), &h)
	return s.call("torchscript forward "+m.Path, e, h, inputs...)
}

// ForwardAll runs the module's forward like Forward, for modules whose
// output is a tensor or (possibly nested) tuples and lists of tensors: it
// returns every tensor of the output in order (one for a plain tensor).
// On error it records it in s and returns nil.
func (m *Module) ForwardAll(s *Scope, inputs ...*Tensor) []*Tensor {
	if !m.ready(s, inputs) {
		return nil
	}
	hs := handles(inputs)
	var outs *C.rt_tensor
	var n C.int64_t
	e := C.rt_module_forward_multi(C.int(s.mode), m.h, handlePtr(hs), C.int64_t(len(hs)), &outs, &n)
	if e != nil {
		s.call("torchscript forward "+m.Path, e, nil, inputs...)
		return nil
	}
	defer C.rt_free_ptr(unsafe.Pointer(outs))
	ch := unsafe.Slice(outs, int(n))
	res := make([]*Tensor, n)
	for i := range res {
		res[i] = s.track(ch[i])
	}
	return res
}
