package eval

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/radinpaint/rad/internal/atomicfile"
)

// Value is a metric: a float64 written to JSON as a number, or null when
// it is not finite (NaN: not measured, such as the LPIPS-style distance
// of a feature network without feature maps).
type Value float64

// MarshalJSON implements json.Marshaler.
func (v Value) MarshalJSON() ([]byte, error) {
	f := float64(v)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, f, 'g', -1, 64), nil
}

// UnmarshalJSON implements json.Unmarshaler (null reads as NaN).
func (v *Value) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*v = Value(math.NaN())
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("eval: metric value %s: %w", b, err)
	}
	*v = Value(f)
	return nil
}

// Finite reports whether v is a number (not NaN or infinite).
func (v Value) Finite() bool { return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) }

// Row is the metrics of one mask kind over a set of images.
type Row struct {
	// Masks is the mask kind.
	Masks string `json:"masks"`
	// Images is the number of images (the first Images of the run); Subset
	// tells a RunConfig.Subset row from a full one.
	Images int  `json:"images"`
	Subset bool `json:"subset"`
	// HoleFraction is the masks' mean hole fraction.
	HoleFraction Value `json:"hole_fraction"`
	// FID and KID (mean and standard deviation over KIDSubsets subsets of
	// KIDSubsetSize vectors) of the inpainted images' features against
	// the real images'.
	FID           Value `json:"fid"`
	KIDMean       Value `json:"kid_mean"`
	KIDStd        Value `json:"kid_std"`
	KIDSubsets    int   `json:"kid_subsets"`
	KIDSubsetSize int   `json:"kid_subset_size"`
	// LPIPS is the mean LPIPS-style distance (PerceptualDistance) to the
	// originals; null without feature maps.
	LPIPS Value `json:"lpips_style"`
	// PSNR (dB) and SSIM over the hole (HolePSNR, HoleSSIM), means over
	// the images.
	PSNR Value `json:"psnr_hole"`
	SSIM Value `json:"ssim_hole"`
	// SecondsPerImage is the sampling wall time per image (a batch's
	// time shared by its images: it falls with the batch size);
	// CallsPerImage the network evaluations each image went through (a
	// batched model call counts once for every image in it: RAD 100,
	// RePaint 2,410, mean fill 0).
	SecondsPerImage Value `json:"seconds_per_image"`
	CallsPerImage   Value `json:"calls_per_image"`
}

// RunInfo records a run's settings.
type RunInfo struct {
	Method          string  `json:"method"`
	Steps           int     `json:"steps,omitempty"`
	Eta             float64 `json:"eta,omitempty"`
	ScalarEmbedding bool    `json:"scalar_embedding"`
	JumpLength      int     `json:"repaint_jump_length,omitempty"`
	JumpNSample     int     `json:"repaint_jump_n_sample,omitempty"`
	// Resample is RePaint's time travel over RAD's process (passes per
	// jump of JumpLength steps; RunConfig.Resample), 0 when off.
	Resample       int      `json:"resample,omitempty"`
	CallsPerRun    int      `json:"calls_per_run"`
	DiffusionSteps int      `json:"diffusion_steps,omitempty"`
	NoiseSchedule  string   `json:"noise_schedule,omitempty"`
	TimestepOffset float64  `json:"timestep_offset"`
	Model          string   `json:"model"`
	ModelConfig    string   `json:"model_config,omitempty"`
	Device         string   `json:"device"`
	Data           string   `json:"data"`
	Images         int      `json:"images"`
	ImageShape     []int    `json:"image_shape"`
	Offset         int      `json:"offset"`
	Subset         int      `json:"subset,omitempty"`
	Masks          []string `json:"masks"`
	MaskSeed       uint64   `json:"mask_seed"`
	Seed           uint64   `json:"seed"`
	SeedRule       string   `json:"seed_rule"`
	BatchSize      int      `json:"batch_size"`
	Features       string   `json:"features"`
	FIDName        string   `json:"fid_name"`
	KIDName        string   `json:"kid_name"`
	KIDSubsets     int      `json:"kid_subsets"`
	KIDSubsetSize  string   `json:"kid_subset_size"`
	KIDSeed        uint64   `json:"kid_seed"`
}

// Report is a Run's result.
type Report struct {
	Config RunInfo `json:"config"`
	// Rows: one per mask kind over all images, then one per kind over the
	// subset (RunConfig.Subset).
	Rows []Row `json:"rows"`
	// Seconds is the whole run's wall time (sampling, metrics, files).
	Seconds float64 `json:"seconds"`
	// Reused is the number of image results (all mask kinds) read back
	// from RunConfig.Parts instead of sampled in this run; their seconds
	// per image are the ones measured when they were sampled.
	Reused int `json:"reused_images,omitempty"`
}

func newReport(cfg *RunConfig, sm *sampler) *Report {
	fid, kid := "FID", "KID"
	if cfg.FeaturesName != "" {
		fid, kid = "FID-"+cfg.FeaturesName, "KID-"+cfg.FeaturesName
	}
	info := RunInfo{
		Method: string(cfg.Method), ScalarEmbedding: cfg.ScalarEmbedding, CallsPerRun: sm.callsPerRun(),
		Model: cfg.ModelName, Device: sm.dev.String(), Data: cfg.DataName,
		Images: cfg.Images.N, ImageShape: cfg.Images.Shape()[1:], Offset: cfg.IndexOffset, Subset: cfg.Subset,
		MaskSeed: cfg.MaskSeed, Seed: cfg.Seed, BatchSize: cfg.BatchSize,
		SeedRule: "the image at data set index j gets masks.Generate(kind, size, mask_seed, j) and its noise from a generator seeded seed+j",
		Features: cfg.FeaturesDesc, FIDName: fid, KIDName: kid, KIDSubsets: cfg.KIDSubsets,
		KIDSubsetSize: "min(1000, images/2), at least 2", KIDSeed: cfg.KIDSeed,
	}
	if cfg.KIDSubsetSize > 0 {
		info.KIDSubsetSize = strconv.Itoa(cfg.KIDSubsetSize)
	}
	for _, k := range cfg.Masks {
		info.Masks = append(info.Masks, string(k))
	}
	if cfg.Model != nil {
		info.ModelConfig = cfg.Model.Config().Short()
	}
	if cfg.Method != MethodMeanFill {
		info.Steps, info.DiffusionSteps, info.NoiseSchedule, info.TimestepOffset = cfg.Steps, cfg.DiffusionSteps, cfg.NoiseSchedule, cfg.TimestepOffset
	}
	switch cfg.Method {
	case MethodRADDDIM:
		info.Eta = cfg.Eta
	case MethodRePaint:
		info.JumpLength, info.JumpNSample = cfg.JumpLength, cfg.JumpNSample
		info.ScalarEmbedding = true // RePaint is defined on the scalar embedding
	}
	if cfg.Resample > 1 { // RAD's process only (RunConfig.check)
		info.Resample, info.JumpLength = cfg.Resample, cfg.JumpLength
	}
	return &Report{Config: info}
}

// Write writes dir/report.json and dir/report.md.
func (r *Report) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("eval: report: %w", err)
	}
	p := filepath.Join(dir, "report.json")
	if err := atomicfile.WriteBytes(p, append(b, '\n')); err != nil {
		return fmt.Errorf("eval: write %s: %w", p, err)
	}
	p = filepath.Join(dir, "report.md")
	if err := atomicfile.WriteBytes(p, []byte(r.Markdown())); err != nil {
		return fmt.Errorf("eval: write %s: %w", p, err)
	}
	return nil
}

// fmtValue formats v with f, or "n/a" when it is not finite.
func fmtValue(f string, v Value) string {
	if !v.Finite() {
		return "n/a"
	}
	return fmt.Sprintf(f, float64(v))
}

// Table is the Markdown table of the rows: one per mask kind (and subset).
func (r *Report) Table() string {
	var b strings.Builder
	c := r.Config
	fmt.Fprintf(&b, "| masks | images | %s | %s (mean ± std) | LPIPS-style | PSNR hole (dB) | SSIM hole | s/image | calls/image |\n", c.FIDName, c.KIDName)
	b.WriteString("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, row := range r.Rows {
		name := row.Masks
		if row.Subset {
			name = fmt.Sprintf("%s (first %d)", row.Masks, row.Images)
		}
		kid := "n/a"
		if row.KIDMean.Finite() {
			kid = fmt.Sprintf("%.4g ± %.2g", float64(row.KIDMean), float64(row.KIDStd))
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s | %s | %s | %s |\n", name, row.Images,
			fmtValue("%.2f", row.FID), kid, fmtValue("%.4f", row.LPIPS), fmtValue("%.2f", row.PSNR),
			fmtValue("%.4f", row.SSIM), fmtValue("%.3g", row.SecondsPerImage), fmtValue("%.0f", row.CallsPerImage))
	}
	return b.String()
}

// Markdown is the report as a Markdown document: the settings and Table.
func (r *Report) Markdown() string {
	var b bytes.Buffer
	c := r.Config
	method := c.Method
	if c.ScalarEmbedding && c.Method != string(MethodRePaint) && c.Method != string(MethodMeanFill) {
		method += " (scalar timestep embedding)"
	}
	fmt.Fprintf(&b, "# Inpainting evaluation: %s\n\n", method)
	if c.Model != "" {
		fmt.Fprintf(&b, "- model: %s\n", c.Model)
	}
	if c.ModelConfig != "" {
		fmt.Fprintf(&b, "- model config: %s\n", c.ModelConfig)
	}
	switch c.Method {
	case string(MethodRePaint):
		fmt.Fprintf(&b, "- sampler: RePaint, %d respaced steps of %d (%s), jump length %d, %d resamplings: %d model calls\n",
			c.Steps, c.DiffusionSteps, c.NoiseSchedule, c.JumpLength, c.JumpNSample, c.CallsPerRun)
	case string(MethodMeanFill):
		b.WriteString("- method: mean fill (hole = the mean of the image's known pixels, per channel; no model call)\n")
	default:
		fmt.Fprintf(&b, "- sampler: %s, %d respaced steps of %d (%s), timestep offset %g", c.Method, c.Steps, c.DiffusionSteps, c.NoiseSchedule, c.TimestepOffset)
		if c.Method == string(MethodRADDDIM) {
			fmt.Fprintf(&b, ", eta %g", c.Eta)
		}
		if c.Resample > 1 {
			fmt.Fprintf(&b, ", resampled (RePaint's jumps of %d steps, %d passes)", c.JumpLength, c.Resample)
		}
		fmt.Fprintf(&b, ", %s timestep embedding; %d model calls\n", map[bool]string{true: "scalar", false: "spatial (per-pixel)"}[c.ScalarEmbedding], c.CallsPerRun)
	}
	fmt.Fprintf(&b, "- data: %s, %d images from index %d, %v\n", c.Data, c.Images, c.Offset, c.ImageShape)
	fmt.Fprintf(&b, "- masks: %s, mask seed %d; sampler seed %d (%s)\n", strings.Join(c.Masks, ", "), c.MaskSeed, c.Seed, c.SeedRule)
	fmt.Fprintf(&b, "- features: %s; %s over %d subsets of %s vectors (seed %d)\n", c.Features, c.KIDName, c.KIDSubsets, c.KIDSubsetSize, c.KIDSeed)
	fmt.Fprintf(&b, "- device: %s, batch size %d; run time %.1f s", c.Device, c.BatchSize, r.Seconds)
	if r.Reused > 0 {
		fmt.Fprintf(&b, " (resumed: %d image results kept from an earlier run)", r.Reused)
	}
	b.WriteString("\n\n")
	b.WriteString(r.Table())
	b.WriteString("\nPSNR and SSIM are over hole pixels only; s/image is the batched sampling time divided by the images;\n" +
		"calls/image counts the network evaluations each image went through.\n")
	return b.String()
}

// write writes the kind's grid, per-image CSV and (cfg.SaveImages) results.
func (kr *kindResult) write(cfg *RunConfig) error {
	if cfg.GridImages > 0 {
		g, err := GridImage(cfg.Images, kr.masks, kr.results, cfg.GridImages)
		if err != nil {
			return err
		}
		if err := writePNG(filepath.Join(cfg.Out, "grid-"+string(kr.kind)+".png"), g); err != nil {
			return err
		}
	}
	var b bytes.Buffer
	b.WriteString("index,hole_fraction,psnr_hole,ssim_hole,lpips_style,seconds,calls\n")
	for i := range kr.psnr {
		lp := math.NaN()
		if kr.lpips != nil {
			lp = kr.lpips[i]
		}
		fmt.Fprintf(&b, "%d,%.6g,%.6g,%.6g,%.6g,%.6g,%g\n", cfg.IndexOffset+i, kr.holeFrac[i], kr.psnr[i], kr.ssim[i], lp, kr.seconds[i], kr.calls[i])
	}
	p := filepath.Join(cfg.Out, "per-image-"+string(kr.kind)+".csv")
	if err := atomicfile.WriteBytes(p, b.Bytes()); err != nil {
		return fmt.Errorf("eval: write %s: %w", p, err)
	}
	if cfg.SaveImages {
		for i := 0; i < kr.results.N; i++ {
			p := filepath.Join(cfg.Out, "images", string(kr.kind), fmt.Sprintf("%05d.png", cfg.IndexOffset+i))
			if err := writePNG(p, kr.results.Picture(i)); err != nil {
				return err
			}
		}
	}
	return nil
}
