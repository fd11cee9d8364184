package main

import (
	"bytes"
	"fmt"
	"image/png"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/radinpaint/rad/serve"
)

// TestServeCommand: radctl serve --random-model answers /healthz and an
// inpainting request, then SIGTERM stops it cleanly; bad flags are errors.
func TestServeCommand(t *testing.T) {
	if _, err := run(t, "serve", "--random-model", "--sampler", "ddpm"); err == nil || !strings.Contains(err.Error(), "--sampler") {
		t.Fatalf("bad --sampler: %v", err)
	}
	if _, err := run(t, "serve", "--random-model", "--steps", "-2"); err == nil || !strings.Contains(err.Error(), "--steps -2") {
		t.Fatalf("bad --steps: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	done := make(chan error, 1)
	var out string
	go func() {
		var err error
		out, err = run(t, "serve", "--random-model", "--addr", addr, "--steps", "3", "--batch-size", "2")
		done <- err
	}()
	url := "http://" + addr
	end := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(end) {
			t.Fatalf("serve did not come up: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	img, mask := serve.DemoInputs(40)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("image", "image.png")
	png.Encode(fw, img)
	fw, _ = mw.CreateFormFile("mask", "mask.png")
	png.Encode(fw, mask)
	mw.Close()
	resp, err := http.Post(url+"/v1/inpaint", mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Model-Calls") != "3" {
		t.Fatalf("inpaint: %d, %s model calls", resp.StatusCode, resp.Header.Get("X-Model-Calls"))
	}
	syscall.Kill(syscall.Getpid(), syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop on SIGTERM")
	}
	if !strings.Contains(out, "shutting down") || !strings.Contains(out, "stopped") {
		t.Fatalf("log: %s", out)
	}
}

// TestServeAccess: radctl serve refuses to start on an address other
// machines reach without a token (0.0.0.0, :port, [::]) and says what to
// do; a short token is refused; with --token-file on 0.0.0.0 it prints the
// page's link, and requests need the token, a known Host and, to change
// state, the page's own origin; --insecure-no-auth starts with a warning.
func TestServeAccess(t *testing.T) {
	t.Setenv("RAD_SERVE_TOKEN", "")
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0"} {
		_, err := run(t, "serve", "--random-model", "--addr", addr)
		if err != nil && strings.Contains(err.Error(), "address family not supported") {
			continue // no IPv6 here
		}
		if err == nil || !strings.Contains(err.Error(), "no token is set") || !strings.Contains(err.Error(), "--token-file") ||
			!strings.Contains(err.Error(), "--insecure-no-auth") {
			t.Fatalf("--addr %s without a token: %v", addr, err)
		}
	}
	dir := t.TempDir()
	short := dir + "/short"
	os.WriteFile(short, []byte("abc\n"), 0o600)
	if _, err := run(t, "serve", "--random-model", "--token-file", short); err == nil || !strings.Contains(err.Error(), "at least 16 characters") {
		t.Fatalf("short token: %v", err)
	}
	token := "3f1e0c9a7b5d2e4f6a8c0b1d"
	file := dir + "/token"
	os.WriteFile(file, []byte(token+"\n"), 0o600)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	done := make(chan error, 1)
	var out string
	go func() {
		var err error
		out, err = run(t, "serve", "--random-model", "--addr", fmt.Sprintf("0.0.0.0:%d", port), "--token-file", file, "--steps", "2")
		done <- err
	}()
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	do := func(method, path string, headers ...string) int {
		req, _ := http.NewRequest(method, url+path, nil)
		for i := 0; i+1 < len(headers); i += 2 {
			if headers[i] == "Host" {
				req.Host = headers[i+1]
			} else {
				req.Header.Set(headers[i], headers[i+1])
			}
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return -1
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	end := time.Now().Add(30 * time.Second)
	for do("GET", "/healthz") != 401 {
		if time.Now().After(end) {
			t.Fatal("serve did not come up")
		}
		time.Sleep(50 * time.Millisecond)
	}
	bearer := "Bearer " + token
	for _, c := range []struct {
		method, path string
		headers      []string
		want         int
	}{
		{"GET", "/healthz", []string{"Authorization", bearer}, 200},
		{"GET", "/metrics", nil, 401},
		{"GET", "/metrics", []string{"Authorization", bearer}, 200},
		{"GET", "/healthz", []string{"Authorization", bearer, "Host", "evil.example"}, 403},
		{"GET", "/healthz", []string{"Authorization", bearer, "Host", fmt.Sprintf("localhost:%d", port)}, 200},
		{"POST", "/v1/jobs", []string{"Authorization", bearer, "Origin", "http://evil.example"}, 403},
		{"POST", "/v1/jobs", []string{"Authorization", bearer, "Origin", url}, 415}, // past the checks: no body
	} {
		if got := do(c.method, c.path, c.headers...); got != c.want {
			t.Fatalf("%s %s %v: %d, want %d", c.method, c.path, c.headers, got, c.want)
		}
	}
	syscall.Kill(syscall.Getpid(), syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop on SIGTERM")
	}
	if !strings.Contains(out, "/?token="+token) {
		t.Fatalf("no page link in the log:\n%s", out)
	}

	go func() {
		var err error
		out, err = run(t, "serve", "--random-model", "--addr", fmt.Sprintf("0.0.0.0:%d", port), "--insecure-no-auth")
		done <- err
	}()
	end = time.Now().Add(30 * time.Second)
	for do("GET", "/healthz") != 200 {
		if time.Now().After(end) {
			t.Fatal("serve --insecure-no-auth did not come up")
		}
		time.Sleep(50 * time.Millisecond)
	}
	syscall.Kill(syscall.Getpid(), syscall.SIGTERM)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "WARNING: serving") {
		t.Fatalf("no warning:\n%s", out)
	}
}
