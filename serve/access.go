package serve

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// guard is access control in front of every handler (Config.Token,
// AllowedHosts, CheckOrigin), in this order: the Host header (DNS
// rebinding), the origin of a state-changing request (CSRF), the token.
// Each is off at its zero value.
func (s *Server) guard(h http.Handler) http.Handler {
	if s.cfg.Token == "" && s.cfg.AllowedHosts == nil && !s.cfg.CheckOrigin {
		return h
	}
	hosts := map[string]bool{}
	for _, a := range s.cfg.AllowedHosts {
		hosts[normHost(a)] = true
	}
	var tokenSum [32]byte
	cookie := ""
	if s.cfg.Token != "" {
		tokenSum = sha256.Sum256([]byte(s.cfg.Token))
		// the name tells apart the cookies of services on other ports of
		// the same host (cookies do not know ports)
		cookie = "rad-token-" + hex.EncodeToString(tokenSum[:4])
	}
	valid := func(t string) bool {
		sum := sha256.Sum256([]byte(t)) // equal lengths: the compare takes constant time
		return subtle.ConstantTimeCompare(sum[:], tokenSum[:]) == 1
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.AllowedHosts != nil && !hosts["*"] && !hosts[normHost(hostOnly(r.Host))] {
			s.deny(w, r, "host", errorf(http.StatusForbidden, "host %q is not one this service answers to (add it with --allowed-host)", r.Host))
			return
		}
		if s.cfg.CheckOrigin && r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodOptions {
			if !sameOrigin(r) {
				s.deny(w, r, "origin", errorf(http.StatusForbidden, "a %s from another origin (%s) is refused", r.Method,
					firstNonEmpty(r.Header.Get("Origin"), "Sec-Fetch-Site: "+r.Header.Get("Sec-Fetch-Site"))))
				return
			}
		}
		if s.cfg.Token == "" {
			h.ServeHTTP(w, r)
			return
		}
		// the page's link: /?token=... becomes the cookie, and the token
		// leaves the address bar
		if t := r.URL.Query().Get("token"); t != "" && (r.Method == http.MethodGet || r.Method == http.MethodHead) && !isAPI(r.URL.Path) {
			if !valid(t) {
				s.deny(w, r, "token", errorf(http.StatusUnauthorized, "wrong token"))
				return
			}
			http.SetCookie(w, &http.Cookie{Name: cookie, Value: s.cfg.Token, Path: "/", HttpOnly: true,
				SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
			q := r.URL.Query()
			q.Del("token")
			u := url.URL{Path: r.URL.Path, RawQuery: q.Encode()}
			http.Redirect(w, r, u.String(), http.StatusSeeOther)
			return
		}
		ok := false
		if a := r.Header.Get("Authorization"); a != "" {
			if t, found := strings.CutPrefix(a, "Bearer "); found {
				ok = valid(strings.TrimSpace(t))
			}
		} else if c, err := r.Cookie(cookie); err == nil {
			ok = valid(c.Value)
		}
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="radctl serve"`)
			if !isAPI(r.URL.Path) && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
				s.m.denied.WithLabelValues("token").Inc()
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				w.WriteHeader(http.StatusUnauthorized)
				w.Write([]byte(loginPage))
				return
			}
			s.deny(w, r, "token", errorf(http.StatusUnauthorized, "this service needs a token: send \"Authorization: Bearer <token>\" (or open the page through the link radctl serve printed)"))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// deny answers an access-control refusal and counts it.
func (s *Server) deny(w http.ResponseWriter, r *http.Request, reason string, e *apiError) {
	s.m.denied.WithLabelValues(reason).Inc()
	writeError(w, e)
}

const loginPage = `<!doctype html><meta charset="utf-8"><title>radctl serve: token needed</title>
<body style="font-family:sans-serif;max-width:40em;margin:3em auto">
<h1>A token is needed</h1>
<p>This service was started with a token. Open it through the link that
<code>radctl serve</code> printed when it started (it ends in <code>?token=...</code>),
or ask whoever runs it. API clients send <code>Authorization: Bearer &lt;token&gt;</code>.</p>`

// isAPI reports whether a path is the API's (answers in JSON) rather than
// the page's.
func isAPI(path string) bool {
	return strings.HasPrefix(path, "/v1/") || path == "/metrics" || path == "/healthz"
}

// sameOrigin reports whether a request comes from the service's own page,
// or from a client that is not a browser (no Origin, no Sec-Fetch-Site).
func sameOrigin(r *http.Request) bool {
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" || r.Header.Get("Sec-Fetch-Site") == "same-site" {
		return false
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return false // "null" (sandboxed frames, file:) included
	}
	return strings.EqualFold(u.Host, r.Host)
}

// hostOnly is a Host header without its port.
func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}

// normHost is a host name compared case-insensitively, without brackets
// or a trailing dot.
func normHost(h string) string {
	h = strings.TrimSuffix(strings.Trim(strings.ToLower(strings.TrimSpace(h)), "[]"), ".")
	return h
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
