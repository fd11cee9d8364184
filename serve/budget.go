package serve

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// MemoryLimit is the memory this process may use: the cgroup's limit
// (v2 memory.max, v1 memory.limit_in_bytes) where one is set, else the
// machine's memory (MemTotal), else 0 when neither can be read.
func MemoryLimit() int64 {
	for _, f := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		if b, err := os.ReadFile(f); err == nil {
			if v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && v > 0 && v < 1<<60 {
				return v
			}
		}
	}
	return meminfo("MemTotal:")
}

// DefaultMemoryBudget is the memory budget radctl serve takes by default:
// 80% of MemoryLimit less what the process holds now (the loaded model,
// the runtime), and at least 256 MiB; 0 when the limit is unknown.
func DefaultMemoryBudget() int64 {
	limit := MemoryLimit()
	if limit <= 0 {
		return 0
	}
	return max(limit/10*8-residentBytes(), 256<<20)
}

// meminfo is a /proc/meminfo field in bytes, or 0.
func meminfo(field string) int64 { return procField("/proc/meminfo", field) }

// residentBytes is this process's resident set size (VmRSS), or 0.
func residentBytes() int64 { return procField("/proc/self/status", "VmRSS:") }

// procField reads a "Name: N kB" line of a /proc file, in bytes.
func procField(file, field string) int64 {
	f, err := os.Open(file)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
