package train

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/radinpaint/rad/radmodel"
	"github.com/radinpaint/rad/torch"
)

// procStatus reads a "Vm..." line of /proc/self/status in bytes.
func procStatus(key string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n << 10
		}
	}
	return -1
}

// resetPeakRSS sets VmHWM back to the current RSS (Linux clear_refs 5).
func resetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// benchStep times one training step (forward, backward, clipping, AdamW,
// EMA) of a random model on a fixed batch (left half of each image a
// hole), and reports the process's peak RSS during the timed steps
// (VmHWM after resetting it; it includes the model, optimizer state and
// libtorch's allocator caches) and the RSS before them. RAD_BENCH_DEVICE=cuda
// runs it on a GPU (bfloat16 autocast) and adds the CUDA allocator's peak
// (since the process started: run one benchmark per process).
func benchStep(b *testing.B, mc radmodel.Config, obj Objective, batch int) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	dev := torch.CPU
	if d := os.Getenv("RAD_BENCH_DEVICE"); d != "" {
		var err error
		if dev, err = torch.ParseDevice(d); err != nil {
			b.Fatal(err)
		}
	}
	m, err := radmodel.NewRandom(mc, dev, torch.Float32, 1)
	if err != nil {
		b.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Objective, cfg.Model, cfg.BatchSize, cfg.Device = obj, mc, batch, dev.String()
	tr, err := newTrainerWith(cfg, nil, nil, m)
	if err != nil {
		b.Fatal(err)
	}
	defer tr.close()
	s := torch.NewNoGradScope()
	defer s.Close()
	g := torch.NewGenerator(2)
	defer g.Close()
	sz := int64(mc.ImageSize)
	x := s.Uniform(g, -1, 1, torch.Float32, torch.CPU, int64(batch), int64(mc.InChannels), sz, sz)
	mask := s.Cat(3, s.Ones(torch.Float32, torch.CPU, int64(batch), 1, sz, sz/2), s.Zeros(torch.Float32, torch.CPU, int64(batch), 1, sz, sz/2))
	if err := s.Err(); err != nil {
		b.Fatal(err)
	}
	mb := microBatch{x: x, m: mask, indices: make([]int, batch)}
	next := func() (microBatch, error) { return mb, nil }
	reset := resetPeakRSS()
	before := procStatus("VmRSS")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, err := tr.trainStep(next)
		if err != nil || r.Skipped {
			b.Fatalf("%+v %v", r, err)
		}
		if dev.IsCUDA() {
			if err := torch.CUDASynchronize(dev.Index); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	if dev.IsCUDA() {
		if ms, err := torch.CUDAMemoryStats(dev.Index); err == nil {
			b.ReportMetric(float64(ms.PeakAllocated)/(1<<20), "peak-CUDA-MiB")
		}
	}
	peak := procStatus("VmHWM")
	if !reset {
		b.Log("VmHWM could not be reset: the peak covers the whole process")
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
	b.ReportMetric(float64(before)/(1<<20), "RSS-before-MiB")
	b.ReportMetric(float64(len(tr.params)), "trained-tensors")
}

// BenchmarkTrainStepPubB: the pub_b fixture config (32x32, 1.2M
// parameters), batch 16 (the paper's batch).
func BenchmarkTrainStepPubB(b *testing.B) {
	mc, err := radmodel.ConfigFromJSON("../testdata/adm/pub_b.json")
	if err != nil {
		b.Fatal(err)
	}
	for _, obj := range []Objective{RADLoRA, RADFull} {
		b.Run(string(obj), func(b *testing.B) { benchStep(b, mc, obj, 16) })
	}
}

// BenchmarkTrainStepFFHQ256: the ffhq_10m preset's shape (256x256),
// random weights, batch 1. Heavy: run with -benchtime=1x.
func BenchmarkTrainStepFFHQ256(b *testing.B) {
	mc, err := radmodel.Preset("ffhq_10m")
	if err != nil {
		b.Fatal(err)
	}
	for _, obj := range []Objective{RADLoRA, RADFull} {
		b.Run(string(obj), func(b *testing.B) { benchStep(b, mc, obj, 1) })
	}
}
