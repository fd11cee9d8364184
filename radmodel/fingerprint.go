package radmodel

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// Fingerprint is a SHA-256 (hex) over the model's config, dtype and the
// name, shape and bytes of every weight, LoRA adapters (and their scale)
// included: two models with one fingerprint compute the same function on
// the same device type. Evaluation caches key their results on it. It
// copies every weight to the host once.
func (m *UNet) Fingerprint() (string, error) {
	h := sha256.New()
	cj, err := json.Marshal(m.cfg)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(h, "radmodel %s %s\n", cj, m.dt)
	keys, ts, err := m.weights()
	if err != nil {
		return "", err
	}
	if m.lora != nil {
		fmt.Fprintf(h, "lora %+v scale %v\n", m.lora.cfg, m.lora.scale)
		an, at := m.adapterTensors()
		keys, ts = append(keys, an...), append(ts, at...)
	}
	var n [8]byte
	for i, k := range keys {
		b, err := ts[i].Bytes()
		if err != nil {
			return "", fmt.Errorf("radmodel: fingerprint: %s: %w", k, err)
		}
		fmt.Fprintf(h, "%s %v %s ", k, ts[i].Shape(), ts[i].DType())
		binary.LittleEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
