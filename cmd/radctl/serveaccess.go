package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/radinpaint/rad/serve"
)

// serveMaxSide is radctl serve's default --max-side (radctl infer has no
// limit): the work of one request stays bounded on a CPU.
const serveMaxSide = 512

// serveWorkingSizeFlags are workingSizeFlags with serve's --max-side.
func serveWorkingSizeFlags() []cli.Flag {
	fs := workingSizeFlags()
	for i, f := range fs {
		if f.Names()[0] == "max-side" {
			fs[i] = &cli.IntFlag{Name: "max-side", Value: serveMaxSide, Usage: "scale images whose longer side is above N down to N first, after a crop around the mask (0: no limit; radctl infer's default is 0)"}
		}
	}
	return fs
}

// minTokenLen is the shortest token radctl serve takes.
const minTokenLen = 16

// serveToken reads the access token from --token-file, else
// RAD_SERVE_TOKEN; "" when neither is set.
func serveToken(file string) (string, error) {
	t, from := os.Getenv("RAD_SERVE_TOKEN"), "RAD_SERVE_TOKEN"
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("--token-file: %w", err)
		}
		t, from = string(b), "--token-file "+file
	}
	t = strings.TrimSpace(t)
	if from != "RAD_SERVE_TOKEN" || t != "" {
		if len(t) < minTokenLen || strings.ContainsAny(t, " \t\r\n;,\"\\") {
			return "", fmt.Errorf("%s: the token must be one word of at least %d characters (e.g. openssl rand -hex 24)", from, minTokenLen)
		}
	}
	return t, nil
}

// parseBytes reads a size: bytes, or a number with kB/MB/GB (powers of
// 1000) or KiB/MiB/GiB (of 1024); K/M/G alone are the binary ones.
func parseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		mul    float64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"kB", 1e3}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
		{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40}, {"B", 1}}
	mul := 1.0
	for _, u := range units {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mul = strings.TrimSpace(v), u.mul
			break
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 || v*mul > 1<<62 {
		return 0, fmt.Errorf("%q is not a size", s)
	}
	return int64(v * mul), nil
}

// allowedHosts are the host names requests may name: the loopback
// names, the bound address (every interface's address and the machine's
// name when bound to all), and extra.
func allowedHosts(addr *net.TCPAddr, extra []string) ([]string, error) {
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if addr.IP.IsUnspecified() {
		ifs, err := net.InterfaceAddrs()
		if err != nil {
			return nil, fmt.Errorf("listing the interfaces' addresses: %w", err)
		}
		for _, a := range ifs {
			if n, ok := a.(*net.IPNet); ok {
				hosts = append(hosts, n.IP.String())
			}
		}
		if h, err := os.Hostname(); err == nil {
			hosts = append(hosts, h)
		}
	} else {
		hosts = append(hosts, addr.IP.String())
	}
	for _, h := range extra {
		if h = strings.TrimSpace(h); h == "" || strings.ContainsAny(h, "/ ") {
			return nil, fmt.Errorf("--allowed-host %q: want a host name or address without a port", h)
		}
		hosts = append(hosts, h)
	}
	return hosts, nil
}

// pageHost is the host:port to print in the page's link.
func pageHost(addr *net.TCPAddr) string {
	if addr.IP.IsUnspecified() {
		if h, err := os.Hostname(); err == nil {
			return net.JoinHostPort(h, strconv.Itoa(addr.Port))
		}
		return net.JoinHostPort("127.0.0.1", strconv.Itoa(addr.Port))
	}
	return addr.String()
}

// autoMemoryBudget is --max-memory auto.
func autoMemoryBudget() int64 { return serve.DefaultMemoryBudget() }
