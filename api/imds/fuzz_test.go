package imds

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// FuzzHandler sends the handler what a guest controls, a path and a
// token, and checks it never panics and answers only with the statuses
// it documents.
func FuzzHandler(f *testing.F) {
	for _, seed := range []struct{ path, token string }{
		{"/latest/meta-data/instance-id", ""},
		{"/latest/meta-data/public-keys/0/openssh-key", "AAAA"},
		{"/latest/dynamic/instance-identity/document", "forged"},
		{"/latest/meta-data/network/interfaces/macs/02:11:22:33:44:55/", ""},
		{"/latest/api/token", ""},
		{"//latest/..//meta-data", "\x00"},
	} {
		f.Add(seed.path, seed.token)
	}
	h := New(&source{md: testInstance()}, "us-east-1", "i-0123456789abcdef0")
	f.Fuzz(func(t *testing.T, path, token string) {
		for _, method := range []string{"GET", "PUT"} {
			req := httptest.NewRequest(method, "/", nil)
			req.URL = &url.URL{Path: path}
			if token != "" {
				req.Header["X-Aws-Ec2-Metadata-Token"] = []string{token}
				req.Header["X-Aws-Ec2-Metadata-Token-Ttl-Seconds"] = []string{token}
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			switch w.Code {
			case http.StatusOK, http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusMethodNotAllowed:
			default:
				t.Fatalf("%s %q with token %q: status %d", method, path, token, w.Code)
			}
		}
	})
}
