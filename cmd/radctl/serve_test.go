package main

import (
	"bytes"
	"image/png"
	"mime/multipart"
	"net"
	"net/http"
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
