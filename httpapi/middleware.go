package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/walkeeper/walkeeper/auth"
	"github.com/walkeeper/walkeeper/ids"
)

// RequestIDHeader is echoed from the request or generated.
const RequestIDHeader = "X-Request-Id"

// maxRequestIDLen bounds an echoed request id; a longer one is replaced.
const maxRequestIDLen = 200

type claimsKey struct{}

// recorder remembers the status written, for the request log.
type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(s int) {
	if r.status == 0 {
		r.status = s
	}
	r.ResponseWriter.WriteHeader(s)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Flush lets long responses (profiles) stream.
func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// wrap adds the request id, authentication for non-open routes, error
// answers and one log line per request.
func (a *API) wrap(acc access, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get(RequestIDHeader)
		if id == "" || len(id) > maxRequestIDLen {
			id = newRequestID()
		}
		w.Header().Set(RequestIDHeader, id)
		rec := &recorder{ResponseWriter: w}
		claims, err := a.authenticate(acc, r)
		if err == nil {
			err = h(rec, r.WithContext(context.WithValue(r.Context(), claimsKey{}, claims)))
		}
		if err != nil {
			if rec.status != 0 {
				a.log.Warn("HTTP request failed after the response started", "err", err, "request_id", id)
			} else {
				writeError(rec, err)
			}
		}
		attrs := []any{"method", r.Method, "path", r.URL.Path, "status", rec.status,
			"elapsed_ms", time.Since(start).Milliseconds(), "request_id", id}
		if err != nil {
			attrs = append(attrs, "err", err)
		}
		a.log.Info("HTTP request", attrs...)
	})
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// authenticate checks the Bearer token of a non-open route when auth is
// configured: missing, malformed or invalid → 401. The claims are kept on
// the request for the scope check.
func (a *API) authenticate(acc access, r *http.Request) (*auth.Claims, error) {
	if acc == open || a.cfg.Auth == nil {
		return nil, nil
	}
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, errorf(http.StatusUnauthorized, "missing authorization header")
	}
	token, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || token == "" {
		return nil, errorf(http.StatusUnauthorized, "malformed authorization header")
	}
	claims, err := a.cfg.Auth.Validate(token)
	if err != nil {
		return nil, errorf(http.StatusUnauthorized, "malformed jwt token: %v", err)
	}
	return claims, nil
}

func claimsOf(r *http.Request) *auth.Claims {
	c, _ := r.Context().Value(claimsKey{}).(*auth.Claims)
	return c
}

// permit checks the token's scope (§4.2): for a tenant when tenant is
// given, node-wide (safekeeperdata only) otherwise. Without auth
// everything is permitted. A failure is 403.
func (a *API) permit(r *http.Request, tenant *ids.TenantID) error {
	if a.cfg.Auth == nil {
		return nil
	}
	c := claimsOf(r)
	if c == nil { // an open route asking for a scope: not authenticated
		return errorf(http.StatusUnauthorized, "missing authorization header")
	}
	var err error
	if tenant != nil {
		err = c.CheckTenant(*tenant)
	} else {
		err = c.CheckNodeWide()
	}
	if errors.Is(err, auth.ErrForbidden) {
		return errorf(http.StatusForbidden, "%v", err)
	}
	return err
}
