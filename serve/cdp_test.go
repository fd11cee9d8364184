package serve

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// browser drives a headless Chromium over the DevTools protocol on a pipe
// (--remote-debugging-pipe: JSON messages ended by NUL on file
// descriptors 3 and 4), so the test needs no WebSocket client and no
// module beyond the standard library.
type browser struct {
	cmd     *exec.Cmd
	w       io.WriteCloser
	mu      sync.Mutex
	next    int
	pending map[int]chan cdpReply
	session string
	dead    chan struct{}
}

type cdpReply struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// chromiumPath finds Chromium, or "".
func chromiumPath() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// startBrowser starts Chromium headless with a w x h window and attaches
// to a new blank page. It is stopped with the test.
func startBrowser(t *testing.T, bin string, w, h int) *browser {
	t.Helper()
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--headless", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu",
		"--no-first-run", "--no-default-browser-check", "--disable-extensions", "--disable-dev-shm-usage",
		"--mute-audio", "--hide-scrollbars", "--force-device-scale-factor=1",
		fmt.Sprintf("--window-size=%d,%d", w, h), "--user-data-dir="+t.TempDir(), "about:blank")
	cmd.ExtraFiles = []*os.File{inR, outW} // fd 3: its input, fd 4: its output
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	inR.Close()
	outW.Close()
	b := &browser{cmd: cmd, w: inW, pending: map[int]chan cdpReply{}, dead: make(chan struct{})}
	go b.read(outR)
	t.Cleanup(func() {
		inW.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	var target struct{ TargetID string }
	b.call(t, "Target.createTarget", map[string]any{"url": "about:blank"}, &target)
	var att struct{ SessionID string }
	b.call(t, "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &att)
	b.session = att.SessionID
	b.call(t, "Emulation.setDeviceMetricsOverride", map[string]any{"width": w, "height": h, "deviceScaleFactor": 1, "mobile": false}, nil)
	b.call(t, "Page.enable", nil, nil)
	return b
}

// read dispatches the replies (events are ignored).
func (b *browser) read(r io.Reader) {
	defer close(b.dead)
	br := bufio.NewReaderSize(r, 1<<20)
	for {
		msg, err := br.ReadBytes(0)
		if err != nil {
			return
		}
		var m struct {
			ID int `json:"id"`
			cdpReply
		}
		if json.Unmarshal(msg[:len(msg)-1], &m) != nil || m.ID == 0 {
			continue
		}
		b.mu.Lock()
		ch := b.pending[m.ID]
		delete(b.pending, m.ID)
		b.mu.Unlock()
		if ch != nil {
			ch <- m.cdpReply
		}
	}
}

// call sends a command (on the page's session once attached) and decodes
// its result into out.
func (b *browser) call(t *testing.T, method string, params any, out any) {
	t.Helper()
	if err := b.try(method, params, out); err != nil {
		t.Fatal(err)
	}
}

func (b *browser) try(method string, params any, out any) error {
	b.mu.Lock()
	b.next++
	id := b.next
	ch := make(chan cdpReply, 1)
	b.pending[id] = ch
	b.mu.Unlock()
	msg := map[string]any{"id": id, "method": method}
	if params != nil {
		msg["params"] = params
	}
	if b.session != "" {
		msg["sessionId"] = b.session
	}
	data, _ := json.Marshal(msg)
	if _, err := b.w.Write(append(data, 0)); err != nil {
		return fmt.Errorf("%s: %v", method, err)
	}
	select {
	case r := <-ch:
		if r.Error != nil {
			return fmt.Errorf("%s: %s (%d)", method, r.Error.Message, r.Error.Code)
		}
		if out != nil {
			return json.Unmarshal(r.Result, out)
		}
		return nil
	case <-b.dead:
		return fmt.Errorf("%s: the browser exited", method)
	case <-time.After(60 * time.Second):
		return fmt.Errorf("%s: no answer in 60 s", method)
	}
}

// eval runs a JS expression in the page (awaiting a promise) and decodes
// its value into out.
func (b *browser) eval(t *testing.T, expr string, out any) {
	t.Helper()
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception *struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	b.call(t, "Runtime.evaluate", map[string]any{"expression": expr, "awaitPromise": true, "returnByValue": true}, &r)
	if r.ExceptionDetails != nil {
		msg := r.ExceptionDetails.Text
		if r.ExceptionDetails.Exception != nil {
			msg = r.ExceptionDetails.Exception.Description
		}
		t.Fatalf("%s: %s", expr, msg)
	}
	if out != nil {
		if err := json.Unmarshal(r.Result.Value, out); err != nil {
			t.Fatalf("%s: value %s: %v", expr, r.Result.Value, err)
		}
	}
}

// waitJS polls a JS condition.
func (b *browser) waitJS(t *testing.T, d time.Duration, expr string) {
	t.Helper()
	end := time.Now().Add(d)
	for {
		var ok bool
		b.eval(t, "!!("+expr+")", &ok)
		if ok {
			return
		}
		if time.Now().After(end) {
			var status string
			b.eval(t, `(document.getElementById("status")||{}).textContent || ""`, &status)
			t.Fatalf("timed out after %v waiting for %s (page status %q)", d, expr, status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// mouse sends one mouse event at (x, y) in CSS pixels.
func (b *browser) mouse(t *testing.T, typ string, x, y float64, buttons int) {
	t.Helper()
	p := map[string]any{"type": typ, "x": x, "y": y, "button": "none", "buttons": buttons}
	if typ != "mouseMoved" {
		p["button"], p["clickCount"] = "left", 1
	}
	b.call(t, "Input.dispatchMouseEvent", p, nil)
}

// click clicks the centre of the element of a CSS selector.
func (b *browser) click(t *testing.T, selector string) {
	t.Helper()
	var r struct{ X, Y float64 }
	b.eval(t, fmt.Sprintf(`(() => { const r = document.querySelector(%q).getBoundingClientRect(); return {x: r.x + r.width/2, y: r.y + r.height/2}; })()`, selector), &r)
	b.mouse(t, "mouseMoved", r.X, r.Y, 0)
	b.mouse(t, "mousePressed", r.X, r.Y, 1)
	b.mouse(t, "mouseReleased", r.X, r.Y, 0)
}

// setFile puts a file into the file input of a selector (as a user's
// file dialog would).
func (b *browser) setFile(t *testing.T, selector, path string) {
	t.Helper()
	var doc struct {
		Root struct {
			NodeID int `json:"nodeId"`
		} `json:"root"`
	}
	b.call(t, "DOM.getDocument", nil, &doc)
	var q struct {
		NodeID int `json:"nodeId"`
	}
	b.call(t, "DOM.querySelector", map[string]any{"nodeId": doc.Root.NodeID, "selector": selector}, &q)
	b.call(t, "DOM.setFileInputFiles", map[string]any{"nodeId": q.NodeID, "files": []string{path}}, nil)
}

// screenshot is a PNG of the page.
func (b *browser) screenshot(t *testing.T) []byte {
	t.Helper()
	var r struct {
		Data []byte `json:"data"`
	}
	b.call(t, "Page.captureScreenshot", map[string]any{"format": "png"}, &r)
	return r.Data
}
