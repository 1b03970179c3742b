package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/walkeeper/walkeeper/timeline"
)

// apiError is an error with the HTTP status it is answered with.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func errorf(status int, format string, args ...any) error {
	return &apiError{status: status, msg: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) error {
	return errorf(http.StatusBadRequest, format, args...)
}

// statusOf maps an error to its HTTP status: an apiError carries its own;
// a missing or deleted timeline is 404 (Neon maps NotFound and Deleted so);
// everything else is 500.
func statusOf(err error) int {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		return ae.status
	case errors.Is(err, timeline.ErrNotFound), errors.Is(err, timeline.ErrDeleted), errors.Is(err, timeline.ErrCancelled):
		return http.StatusNotFound
	default:
		return http.StatusInternalServerError
	}
}

// errorBody is Neon's HttpErrorBody.
type errorBody struct {
	Msg string `json:"msg"`
}

// writeError answers err as {"msg": …} with its status.
func writeError(w http.ResponseWriter, err error) {
	writeJSON(w, statusOf(err), errorBody{Msg: err.Error()})
}

// writeJSON answers v as JSON without HTML escaping (as serde_json).
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		fmt.Fprintf(&buf, "{\"msg\":%q}\n", "encoding response: "+err.Error())
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// maxBody bounds request bodies; the largest is a membership configuration.
const maxBody = 1 << 20

// readJSON decodes the request body into v; a malformed body is 400.
func readJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, maxBody))
	if err := dec.Decode(v); err != nil {
		return badRequest("Failed to parse json request: %v", err)
	}
	return nil
}

// ensureNoBody refuses a request with a body (Neon's ensure_no_body).
func ensureNoBody(r *http.Request) error {
	var b [1]byte
	if n, _ := r.Body.Read(b[:]); n > 0 {
		return badRequest("Unexpected payload in request body")
	}
	return nil
}
