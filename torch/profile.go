package torch

// #include <stdlib.h>
// #include "radtorch.h"
import "C"

import (
	"fmt"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"unsafe"
)

// ProfileRow is one operator of a profile: how many times it ran, its
// total (inclusive) and self (exclusive of the ops it called) time.
type ProfileRow struct {
	Name            string
	Calls           int64
	TotalUs, SelfUs float64
}

// Profile runs f under libtorch's CPU operator profiler (the one behind
// torch.autograd.profiler.profile) and returns every aten operator that
// ran, sorted by self time, largest first. The profiler is thread-local:
// Profile locks the calling goroutine to its OS thread while f runs, so
// f's ops must run on the calling goroutine.
func Profile(recordShapes bool, f func() error) ([]ProfileRow, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	shapes := 0
	if recordShapes {
		shapes = 1
	}
	if err := goErr(C.rt_profile_start(C.int(shapes))); err != nil {
		return nil, fmt.Errorf("profiler: %w", err)
	}
	ferr := f()
	var out *C.char
	if err := goErr(C.rt_profile_stop(&out)); err != nil {
		return nil, fmt.Errorf("profiler: %w", err)
	}
	text := C.GoString(out)
	C.free(unsafe.Pointer(out))
	if ferr != nil {
		return nil, ferr
	}
	var rows []ProfileRow
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 4 {
			continue
		}
		calls, _ := strconv.ParseInt(f[1], 10, 64)
		total, _ := strconv.ParseFloat(f[2], 64)
		self, _ := strconv.ParseFloat(f[3], 64)
		rows = append(rows, ProfileRow{Name: f[0], Calls: calls, TotalUs: total, SelfUs: self})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].SelfUs > rows[j].SelfUs })
	return rows, nil
}
