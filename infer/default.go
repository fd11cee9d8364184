package infer

import (
	"github.com/radinpaint/rad/models"
	"github.com/radinpaint/rad/radmodel"
	"github.com/radinpaint/rad/torch"
)

// NewDefault is an Inpainter on the shipped default model (models.Photo:
// RAD trained on natural-photo patches, fully convolutional, so images run
// at their own resolution with Options.Resolution left at auto), on dev in
// float32. maxBatch > 1 batches concurrent calls as Config.MaxBatch does.
// The caller closes both the Inpainter and the model:
//
//	ip, m, err := infer.NewDefault(torch.CPU, 1)
//	if err != nil { ... }
//	defer m.Close()
//	defer ip.Close()
//	out, stats, err := ip.Inpaint(ctx, img, mask, infer.Options{Seed: 1})
func NewDefault(dev torch.Device, maxBatch int) (*Inpainter, *radmodel.UNet, error) {
	m, err := models.Photo(dev, torch.Float32)
	if err != nil {
		return nil, nil, err
	}
	ip, err := New(Config{Model: m, DiffusionSteps: models.DiffusionSteps, NoiseSchedule: models.NoiseSchedule, MaxBatch: maxBatch})
	if err != nil {
		m.Close()
		return nil, nil, err
	}
	return ip, m, nil
}
