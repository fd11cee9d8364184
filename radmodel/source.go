package radmodel

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/radinpaint/rad/torch"
)

// LoadFS is Load on the file name of fsys (an embed.FS, os.DirFS, a zip
// archive's fs.FS): a service can embed its weights with go:embed. Every
// format Load reads is read; errors name the file as name.
func LoadFS(fsys fs.FS, name string, cfg Config, dev torch.Device, dt torch.DType) (*UNet, error) {
	r, size, closeFn, err := openFS(fsys, name)
	if err != nil {
		return nil, err
	}
	defer closeFn()
	return LoadReaderAt(name, r, size, cfg, dev, dt)
}

// LoadReaderAt is Load on the size bytes of r; name names them in errors.
func LoadReaderAt(name string, r io.ReaderAt, size int64, cfg Config, dev torch.Device, dt torch.DType) (*UNet, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("radmodel: load %s: %w", name, err)
	}
	tmp := torch.NewNoGradScope()
	defer tmp.Close()
	sd, _, err := ReadWeightsFrom(tmp, name, r, size)
	if err != nil {
		return nil, err
	}
	return FromStateDict(sd, cfg, dev, dt, name)
}

// LoadAdapterFS is LoadAdapter on the file name of fsys.
func (m *UNet) LoadAdapterFS(fsys fs.FS, name string, o ApplyOpts) (AdapterMeta, error) {
	raw, err := fs.ReadFile(fsys, name)
	if err != nil {
		return AdapterMeta{}, fmt.Errorf("adapter %s: %w", name, err)
	}
	return m.LoadAdapterBytes(name, raw, o)
}

// ReadWeightsFrom is ReadWeights on the size bytes of r (name names them
// in errors). Safetensors are read from memory; a torch.save file or a
// TorchScript archive, whose readers need a file, is copied to a private
// temporary file that is removed before ReadWeightsFrom returns.
func ReadWeightsFrom(s *torch.Scope, name string, r io.ReaderAt, size int64) (*torch.StateDict, torch.FileKind, error) {
	kind, err := torch.DetectReaderAt(r, size)
	if err != nil {
		return nil, kind, fmt.Errorf("radmodel: checkpoint %s: cannot read: %w", name, err)
	}
	sec := io.NewSectionReader(r, 0, size)
	switch kind {
	case torch.KindSafetensors:
		raw, err := io.ReadAll(sec)
		if err != nil {
			return nil, kind, fmt.Errorf("radmodel: checkpoint %s: cannot read: %w", name, err)
		}
		sd, err := torch.LoadSafetensorsBytes(s, name, raw)
		if err != nil {
			return nil, kind, fmt.Errorf("radmodel: checkpoint %s (%s): %w", name, kind, unprefix(err, name))
		}
		return sd, kind, nil
	case torch.KindTorchZip, torch.KindTorchLegacy, torch.KindTorchScript:
	default:
		head := make([]byte, 16)
		n, _ := r.ReadAt(head, 0)
		return nil, kind, fmt.Errorf("radmodel: checkpoint %s: %s, not a model file (want a torch.save state dict, "+
			"a TorchScript archive or safetensors)", name, sniffBytes(head[:n]))
	}
	f, err := os.CreateTemp("", "radmodel-weights-*")
	if err != nil {
		return nil, kind, fmt.Errorf("radmodel: checkpoint %s: no temporary file for the %s reader: %w", name, kind, err)
	}
	path := f.Name()
	defer os.Remove(path)
	_, err = io.Copy(f, sec)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, kind, fmt.Errorf("radmodel: checkpoint %s: cannot copy to a temporary file: %w", name, err)
	}
	sd, kind, err := ReadWeights(s, path)
	if err != nil {
		return nil, kind, &renamed{msg: strings.ReplaceAll(err.Error(), path, name), err: err}
	}
	return sd, kind, nil
}

// renamed is an error whose message names the caller's name instead of a
// temporary file's path; errors.Is and errors.As still see the cause.
type renamed struct {
	msg string
	err error
}

func (e *renamed) Error() string { return e.msg }
func (e *renamed) Unwrap() error { return e.err }

// openFS opens name of fsys as an io.ReaderAt: directly when the file is
// one (os.DirFS, embed.FS files implement io.ReaderAt), else read into
// memory.
func openFS(fsys fs.FS, name string) (io.ReaderAt, int64, func(), error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, 0, nil, fmt.Errorf("radmodel: checkpoint %s: %w", name, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, nil, fmt.Errorf("radmodel: checkpoint %s: %w", name, err)
	}
	if st.IsDir() {
		f.Close()
		return nil, 0, nil, fmt.Errorf("radmodel: checkpoint %s is a directory", name)
	}
	if ra, ok := f.(io.ReaderAt); ok {
		return ra, st.Size(), func() { f.Close() }, nil
	}
	raw, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		return nil, 0, nil, fmt.Errorf("radmodel: checkpoint %s: %w", name, err)
	}
	return bytes.NewReader(raw), int64(len(raw)), func() {}, nil
}
