package server

import (
	"log/slog"
	"net/http"
	"time"
)

// httpReadHeaderTimeout bounds slow request headers.
const httpReadHeaderTimeout = 10 * time.Second

// newHTTPServer serves the HTTP API (package httpapi) on --listen-http.
func newHTTPServer(api http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           api,
		ReadHeaderTimeout: httpReadHeaderTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}
