package server

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/walkeeper/walkeeper/ids"
)

// httpReadHeaderTimeout bounds slow request headers.
const httpReadHeaderTimeout = 10 * time.Second

// newHTTPServer serves the part of the HTTP API that exists so far:
// GET /v1/status (unauthenticated in Neon too).
func newHTTPServer(id ids.NodeID, log *slog.Logger) *http.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(struct {
			ID ids.NodeID `json:"id"`
		}{id})
	})
	return &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: httpReadHeaderTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}
