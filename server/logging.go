package server

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
)

// ErrLogFormat is returned for a --log-format other than plain or json.
var ErrLogFormat = errors.New("unknown log format")

// newLogger builds the process logger: logfmt-style text ("plain") or JSON
// lines, at info level, to out (stdout by default, as Neon logs).
func newLogger(format string, out io.Writer) (*slog.Logger, error) {
	if out == nil {
		out = os.Stdout
	}
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	switch format {
	case "plain", "":
		return slog.New(slog.NewTextHandler(out, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(out, opts)), nil
	}
	return nil, fmt.Errorf("%w %q (want plain or json)", ErrLogFormat, format)
}
