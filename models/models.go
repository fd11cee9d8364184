package models

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"

	"github.com/radinpaint/rad/radmodel"
	"github.com/radinpaint/rad/radmodel/diffusion"
	"github.com/radinpaint/rad/torch"
)

var (
	//go:embed photo.safetensors
	photo []byte
	//go:embed fmnist-base.safetensors
	fmnistBase []byte
	//go:embed fmnist-rad.safetensors
	fmnistRAD []byte
	//go:embed fmnist-cfg2.safetensors
	fmnistCfg2 []byte
	//go:embed fmnist-classifier.safetensors
	fmnistClassifier []byte
)

// The shipped models' diffusion chain (all were trained on it).
const (
	DiffusionSteps = diffusion.DefaultSteps
	NoiseSchedule  = "linear"
)

// Photo is the default natural-photo RAD model (fp16 weights, placed on
// dev with model dtype dt; float32 is the usual choice on the CPU).
func Photo(dev torch.Device, dt torch.DType) (*radmodel.UNet, error) {
	return radmodel.LoadSafetensorsBytes("models/photo.safetensors", photo, dev, dt)
}

// FMNISTBase is the Fashion-MNIST ADM (1 channel, 32 x 32) that the RAD
// adapters of the evaluation were trained on.
func FMNISTBase(dev torch.Device, dt torch.DType) (*radmodel.UNet, error) {
	return radmodel.LoadSafetensorsBytes("models/fmnist-base.safetensors", fmnistBase, dev, dt)
}

// Adapter names of FMNISTAdapter.
const (
	// AdapterRAD is RAD's LoRA adapter (the per-pixel timestep map).
	AdapterRAD = "rad"
	// AdapterCfg2 is the paper's ablation Cfg. 2: the same training with
	// the scalar timestep embedding; sample it with the scalar embedding.
	AdapterCfg2 = "cfg2"
)

// FMNISTAdapter attaches one of the Fashion-MNIST LoRA adapters (AdapterRAD
// or AdapterCfg2) to m, a model made by FMNISTBase; the adapter's record of
// its base file is checked against the shipped base.
func FMNISTAdapter(m *radmodel.UNet, name string) (radmodel.AdapterMeta, error) {
	var raw []byte
	switch name {
	case AdapterRAD:
		raw = fmnistRAD
	case AdapterCfg2:
		raw = fmnistCfg2
	default:
		return radmodel.AdapterMeta{}, fmt.Errorf("models: no Fashion-MNIST adapter %q (want %q or %q)", name, AdapterRAD, AdapterCfg2)
	}
	sum := sha256.Sum256(fmnistBase)
	return m.LoadAdapterBytes("models/fmnist-"+name+".safetensors", raw, radmodel.ApplyOpts{BaseSHA256: hex.EncodeToString(sum[:])})
}

// FMNISTClassifierBytes is the stand-in feature network of the evaluation
// (a small CNN classifier of Fashion-MNIST, fp16 safetensors in package
// eval's format): eval.LoadClassifierBytes reads it.
func FMNISTClassifierBytes() []byte { return fmnistClassifier }
