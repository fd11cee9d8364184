// Command goget-check proves that a Go program of its own builds and runs
// on github.com/radinpaint/rad as the module proxy would serve it (README,
// "Use it from your Go program"), with no CMake, no build folder and no
// environment variables. scripts/goget-check.sh runs it; scripts/test.sh
// runs that.
//
// It packs the repository's working tree (tracked files and untracked ones
// that git does not ignore) into a module zip with golang.org/x/mod/zip, at
// a pseudo-version, lays out a file:// GOPROXY with it
// (<module>/@v/list, .info, .mod, .zip), makes a fresh module in a
// temporary folder from examples/embed's .go files (go mod init, go get
// github.com/radinpaint/rad@<version>, go build) with a temporary
// GOMODCACHE, then runs it on a crop of data/cimg's parrot photo (or a
// generated picture when that is absent) with the shipped default model
// and checks that the known pixels come back unchanged and the hole
// changed. The other modules come from the local module cache through a
// second file:// GOPROXY entry, with their hashes from the repository's
// go.sum: it runs offline.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"io/fs"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/zip"
)

const modPath = "github.com/radinpaint/rad"

var (
	repo    = flag.String("repo", "../..", "the repository to pack (its working tree)")
	example = flag.String("example", "", "the example's folder (default <repo>/examples/embed)")
	keep    = flag.Bool("keep", false, "keep the temporary folder")
	steps   = flag.Int("steps", 25, "RAD steps for the example (0: the model's default, 100)")
	side    = flag.Int("side", 64, "side of the crop inpainted")
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("goget-check: ")
	flag.Parse()
	root, err := filepath.Abs(*repo)
	check(err)
	if *example == "" {
		*example = filepath.Join(root, "examples", "embed")
	}
	tmp, err := os.MkdirTemp("", "goget-check-")
	check(err)
	if *keep {
		log.Printf("temporary folder %s", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	if err := run(root, tmp); err != nil {
		if !*keep {
			os.RemoveAll(tmp)
		}
		log.Fatal(err)
	}
}

func run(root, tmp string) error {
	t0 := time.Now()
	// 1. The module zip, as the proxy would serve it.
	version, when, err := pseudoVersion(root)
	if err != nil {
		return err
	}
	files, err := moduleFiles(root)
	if err != nil {
		return err
	}
	vdir := filepath.Join(tmp, "proxy", modPath, "@v")
	if err := os.MkdirAll(vdir, 0o755); err != nil {
		return err
	}
	zf, err := os.Create(filepath.Join(vdir, version+".zip"))
	if err != nil {
		return err
	}
	if err := zip.Create(zf, module.Version{Path: modPath, Version: version}, files); err != nil {
		zf.Close()
		return fmt.Errorf("packing the module: %w", err)
	}
	if err := zf.Close(); err != nil {
		return err
	}
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		return err
	}
	info := fmt.Sprintf("{\"Version\":%q,\"Time\":%q}\n", version, when.UTC().Format(time.RFC3339))
	for name, data := range map[string][]byte{
		"list":            []byte(version + "\n"),
		version + ".info": []byte(info),
		version + ".mod":  gomod,
	} {
		if err := os.WriteFile(filepath.Join(vdir, name), data, 0o644); err != nil {
			return err
		}
	}
	st, _ := os.Stat(filepath.Join(vdir, version+".zip"))
	log.Printf("packed %s@%s: %d files, %.1f MB (%.1f s)", modPath, version, len(files), float64(st.Size())/1e6, time.Since(t0).Seconds())

	// 2. A fresh module: the example's code, go mod init, go get, go build.
	cache, err := goEnv("GOMODCACHE")
	if err != nil {
		return err
	}
	app := filepath.Join(tmp, "app")
	if err := os.MkdirAll(app, 0o755); err != nil {
		return err
	}
	srcs, _ := filepath.Glob(filepath.Join(*example, "*.go"))
	if len(srcs) == 0 {
		return fmt.Errorf("no .go files in %s", *example)
	}
	for _, s := range srcs {
		if err := copyFile(s, filepath.Join(app, filepath.Base(s))); err != nil {
			return err
		}
	}
	// the other modules' hashes: the repository's go.sum (no checksum
	// database is reachable offline); this module's is not in it
	if err := copyFile(filepath.Join(root, "go.sum"), filepath.Join(app, "go.sum")); err != nil {
		return err
	}
	env := cleanEnv(
		"GOPROXY=file://"+filepath.ToSlash(filepath.Join(tmp, "proxy"))+",file://"+filepath.ToSlash(filepath.Join(cache, "cache", "download")),
		"GOMODCACHE="+filepath.Join(tmp, "modcache"),
		"GONOSUMDB="+modPath,
		"GOSUMDB=off",
		"GOFLAGS=-mod=mod",
		"GOWORK=off",
		"GOTOOLCHAIN=local",
	)
	t1 := time.Now()
	for _, args := range [][]string{
		{"mod", "init", "example.com/embed"},
		{"get", modPath + "@" + version},
	} {
		if err := goCmd(app, env, args...); err != nil {
			return err
		}
	}
	log.Printf("go get: %.1f s", time.Since(t1).Seconds())
	dir, err := goOut(app, env, "list", "-m", "-f", "{{.Dir}}", modPath)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(dir, filepath.Join(tmp, "modcache")) {
		return fmt.Errorf("%s comes from %s, not from the temporary module cache", modPath, dir)
	}
	t2 := time.Now()
	if err := goCmd(app, env, "build", "-o", "embed", "."); err != nil {
		return fmt.Errorf("go build of a module that imports %s (the user's build): %w", modPath, err)
	}
	bin, _ := os.Stat(filepath.Join(app, "embed"))
	log.Printf("go build: %.1f s (the shim's C++ compile included), binary %.1f MB", time.Since(t2).Seconds(), float64(bin.Size())/1e6)

	// 3. Run it on a real image and check the known pixels.
	img, mask, what, err := input(root)
	if err != nil {
		return err
	}
	if err := writePNG(filepath.Join(app, "in.png"), img); err != nil {
		return err
	}
	if err := writePNG(filepath.Join(app, "mask.png"), mask); err != nil {
		return err
	}
	t3 := time.Now()
	cmd := exec.Command(filepath.Join(app, "embed"), "-image", "in.png", "-mask", "mask.png", "-out", "out.png", "-steps", fmt.Sprint(*steps))
	cmd.Dir = app
	cmd.Env = cleanEnv()
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("running the example: %w", err)
	}
	f, err := os.Open(filepath.Join(app, "out.png"))
	if err != nil {
		return err
	}
	out, err := png.Decode(f)
	f.Close()
	if err != nil {
		return err
	}
	if out.Bounds() != img.Bounds() {
		return fmt.Errorf("result is %v, input %v", out.Bounds(), img.Bounds())
	}
	known, hole, changed := 0, 0, 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			a := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
			o := color.NRGBAModel.Convert(out.At(x, y)).(color.NRGBA)
			if mask.GrayAt(x, y).Y < 128 {
				known++
				if a != o {
					return fmt.Errorf("known pixel (%d,%d) changed: %v -> %v", x, y, a, o)
				}
			} else {
				hole++
				if a != o {
					changed++
				}
			}
		}
	}
	if hole == 0 || changed == 0 {
		return fmt.Errorf("nothing inpainted: %d hole pixels, %d changed", hole, changed)
	}
	log.Printf("ok: %s: %d known pixels unchanged, %d of %d hole pixels regenerated (run %.1f s, all %.1f s)",
		what, known, changed, hole, time.Since(t3).Seconds(), time.Since(t0).Seconds())
	return nil
}

// pseudoVersion is v0.0.0-<HEAD's commit time>-<its hash>, or a fixed one
// outside git.
func pseudoVersion(root string) (string, time.Time, error) {
	out, err := exec.Command("git", "-C", root, "log", "-1", "--format=%H %ct").Output()
	if err != nil {
		t := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
		return module.PseudoVersion("", "", t, "000000000000"), t, nil
	}
	var hash string
	var sec int64
	if _, err := fmt.Sscan(string(out), &hash, &sec); err != nil {
		return "", time.Time{}, fmt.Errorf("git log: %q: %w", out, err)
	}
	t := time.Unix(sec, 0).UTC()
	return module.PseudoVersion("", "", t, hash[:12]), t, nil
}

// moduleFiles are the files git would commit: tracked (and present) and
// untracked but not ignored. zip.Create leaves out nested modules
// (examples/embed, scripts/goget-check).
func moduleFiles(root string) ([]zip.File, error) {
	cmd := exec.Command("git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("git ls-files in %s: %w", root, err)
	}
	var files []zip.File
	seen := map[string]bool{}
	for _, p := range strings.Split(string(out), "\x00") {
		if p == "" || seen[p] {
			continue
		}
		seen[p] = true
		full := filepath.Join(root, filepath.FromSlash(p))
		fi, err := os.Lstat(full)
		if err != nil || !fi.Mode().IsRegular() {
			continue // deleted in the working tree, or a link
		}
		files = append(files, diskFile{path: p, full: full, info: fi})
	}
	return files, nil
}

type diskFile struct {
	path, full string
	info       fs.FileInfo
}

func (f diskFile) Path() string                 { return f.path }
func (f diskFile) Lstat() (fs.FileInfo, error)  { return f.info, nil }
func (f diskFile) Open() (io.ReadCloser, error) { return os.Open(f.full) }

// input is a side x side crop of the parrot photo around its cage (the
// crop with the hole share nearest 20 %), or a generated picture.
func input(root string) (image.Image, *image.Gray, string, error) {
	n := *side
	dir := filepath.Join(root, "data", "cimg")
	if d := os.Getenv("RAD_DATA"); d != "" {
		dir = filepath.Join(d, "cimg")
	}
	photo, err1 := readNetpbm(filepath.Join(dir, "parrot.ppm"))
	hole, err2 := readNetpbm(filepath.Join(dir, "parrot_mask.pgm"))
	if err1 == nil && err2 == nil {
		if photo.Bounds() != hole.Bounds() || photo.Bounds().Dx() < n || photo.Bounds().Dy() < n {
			return nil, nil, "", fmt.Errorf("parrot.ppm %v, parrot_mask.pgm %v: not a pair of at least %dx%d", photo.Bounds(), hole.Bounds(), n, n)
		}
		best, bestD := image.Point{}, 2.0
		for y := 0; y+n <= photo.Bounds().Dy(); y += n / 2 {
			for x := 0; x+n <= photo.Bounds().Dx(); x += n / 2 {
				c := 0
				for j := y; j < y+n; j++ {
					for i := x; i < x+n; i++ {
						if hole.GrayAt(i, j).Y >= 128 {
							c++
						}
					}
				}
				if d := abs(float64(c)/float64(n*n) - 0.2); d < bestD {
					best, bestD = image.Pt(x, y), d
				}
			}
		}
		img := image.NewRGBA(image.Rect(0, 0, n, n))
		mask := image.NewGray(img.Bounds())
		for j := 0; j < n; j++ {
			for i := 0; i < n; i++ {
				img.Set(i, j, photo.At(best.X+i, best.Y+j))
				mask.SetGray(i, j, hole.GrayAt(best.X+i, best.Y+j))
			}
		}
		return img, mask, fmt.Sprintf("parrot.ppm crop %dx%d at %v", n, n, best), nil
	}
	for _, err := range []error{err1, err2} {
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, nil, "", err
		}
	}
	log.Printf("no %s/parrot.ppm (scripts/fetch-data.sh parrot): a generated picture", dir)
	img := image.NewRGBA(image.Rect(0, 0, n, n))
	mask := image.NewGray(img.Bounds())
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			img.Set(x, y, color.RGBA{uint8(255 * x / n), uint8(255 * y / n), 90, 255})
			if x >= n/3 && x < 2*n/3 && y >= n/3 && y < 2*n/3 {
				mask.SetGray(x, y, color.Gray{Y: 255})
			}
		}
	}
	return img, mask, fmt.Sprintf("generated %dx%d picture", n, n), nil
}

// readNetpbm reads a binary PPM (P6) as RGBA or PGM (P5) as Gray, 8 bits.
func readNetpbm(path string) (interface {
	image.Image
	GrayAt(x, y int) color.Gray
}, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	r := bufio.NewReader(bytes.NewReader(data))
	var tok [4]string
	for i := range tok {
		t, err := netpbmToken(r)
		if err != nil {
			return nil, fmt.Errorf("%s: header: %w", path, err)
		}
		tok[i] = t
	}
	magic := tok[0]
	w, err1 := strconv.Atoi(tok[1])
	h, err2 := strconv.Atoi(tok[2])
	maxv, err3 := strconv.Atoi(tok[3])
	if err1 != nil || err2 != nil || err3 != nil || maxv != 255 || w <= 0 || h <= 0 {
		return nil, fmt.Errorf("%s: not an 8-bit netpbm file", path)
	}
	ch := map[string]int{"P6": 3, "P5": 1}[magic]
	pix := make([]byte, w*h*ch)
	if ch == 0 {
		return nil, fmt.Errorf("%s: %s is not P5 or P6", path, magic)
	}
	if _, err := io.ReadFull(r, pix); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if ch == 1 {
		return &image.Gray{Pix: pix, Stride: w, Rect: image.Rect(0, 0, w, h)}, nil
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < w*h; i++ {
		copy(img.Pix[4*i:4*i+3], pix[3*i:3*i+3])
		img.Pix[4*i+3] = 255
	}
	return rgbaGray{img}, nil
}

// netpbmToken is the next header token: whitespace and # comments skipped,
// the one whitespace byte after it consumed.
func netpbmToken(r *bufio.Reader) (string, error) {
	var t []byte
	for {
		c, err := r.ReadByte()
		if err != nil {
			return "", err
		}
		switch {
		case c == '#' && len(t) == 0:
			if _, err := r.ReadString('\n'); err != nil {
				return "", err
			}
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if len(t) > 0 {
				return string(t), nil
			}
		default:
			t = append(t, c)
		}
	}
}

// rgbaGray gives an RGBA picture GrayAt (its luminance).
type rgbaGray struct{ *image.RGBA }

func (g rgbaGray) GrayAt(x, y int) color.Gray {
	return color.GrayModel.Convert(g.At(x, y)).(color.Gray)
}

func writePNG(path string, img image.Image) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func copyFile(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, data, 0o644)
}

// cleanEnv is this process's environment without what a user would have
// to set to build or run against libtorch (CGO_*, LD_LIBRARY_PATH, GO*
// settings of this repository), plus extra.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "CGO_") || k == "LD_LIBRARY_PATH" || k == "GOFLAGS" || k == "GOPROXY" ||
			k == "GOMODCACHE" || k == "GONOSUMDB" || k == "GOSUMDB" || k == "GOWORK" || k == "GOPRIVATE" || k == "GONOPROXY" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

func goEnv(name string) (string, error) {
	out, err := exec.Command("go", "env", name).Output()
	return strings.TrimSpace(string(out)), err
}

func goCmd(dir string, env []string, args ...string) error {
	cmd := exec.Command("go", args...)
	cmd.Dir, cmd.Env = dir, env
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

func goOut(dir string, env []string, args ...string) (string, error) {
	cmd := exec.Command("go", args...)
	cmd.Dir, cmd.Env = dir, env
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out)), nil
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
