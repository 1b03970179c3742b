package pgwire

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/walkeeper/walkeeper/ids"
)

// ErrStartupOptions is wrapped by every StartupMessage parameter error.
var ErrStartupOptions = errors.New("bad startup options")

// ProtocolKind says how a START_REPLICATION reader wants WAL
// (Neon utils::postgres_client::PostgresClientProtocol).
type ProtocolKind int

const (
	// ProtocolVanilla is the plain PostgreSQL replication protocol.
	ProtocolVanilla ProtocolKind = iota
	// ProtocolInterpreted is Neon's shard-aware interpreted-records protocol.
	ProtocolInterpreted
)

// Protocol is the parsed "protocol=<json>" startup option.
type Protocol struct {
	Kind ProtocolKind
	// Format is "bincode" or "protobuf" (interpreted only).
	Format string
	// Zstd says records are zstd-compressed at ZstdLevel (interpreted only).
	Zstd      bool
	ZstdLevel int8
}

// ShardParams are the shard_count, shard_number and shard_stripe_size
// options of an interpreted-protocol reader.
type ShardParams struct {
	Count      uint8
	Number     uint8
	StripeSize uint32 // in 8 KiB pages
}

// StartupOptions is what walkeeper takes from a StartupMessage: the
// "options" keys and application_name. Everything else is ignored.
type StartupOptions struct {
	TTID        ids.TTID
	HasTenant   bool
	HasTimeline bool
	// AppName is application_name ("" when absent).
	AppName string
	// Protocol defaults to vanilla.
	Protocol Protocol
	// Shard is set iff Protocol is interpreted.
	Shard            *ShardParams
	AvailabilityZone string
}

// IsRecovery reports whether the client is a walproposer recovery or a peer
// safekeeper, which IDENTIFY_SYSTEM answers with the flush LSN.
func (o *StartupOptions) IsRecovery() bool {
	return o.AppName == "wal_proposer_recovery" || strings.HasPrefix(o.AppName, "safekeeper")
}

// SplitOptions splits the "options" parameter as PostgreSQL's pg_split_opts
// does: on ASCII whitespace not preceded by an unescaped backslash. Empty
// tokens are dropped and escapes are kept as they are (raw tokens).
func SplitOptions(s string) []string {
	var out []string
	start, escaped := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isASCIISpace(c) && !escaped {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
		escaped = c == '\\' && !escaped
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

// isASCIISpace is Rust's u8::is_ascii_whitespace (no vertical tab).
func isASCIISpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'
}

// ParseStartupParams interprets a StartupMessage's parameters. Missing
// tenant or timeline ids are not an error here; queries report them.
func ParseStartupParams(params map[string]string) (StartupOptions, error) {
	var o StartupOptions
	o.AppName = params["application_name"]
	raw, ok := params["options"]
	if !ok {
		return o, nil
	}
	var count, number *uint8
	var stripe *uint32
	for _, tok := range SplitOptions(raw) {
		key, value, ok := strings.Cut(tok, "=")
		if !ok {
			continue
		}
		var err error
		switch key {
		case "protocol":
			o.Protocol, err = ParseProtocol(value)
		case "tenant_id", "ztenantid":
			o.TTID.Tenant, err = ids.Parse(value)
			o.HasTenant = err == nil
		case "timeline_id", "ztimelineid":
			o.TTID.Timeline, err = ids.Parse(value)
			o.HasTimeline = err == nil
		case "availability_zone":
			o.AvailabilityZone = value
		case "shard_count":
			count, err = parseUint8(value)
		case "shard_number":
			number, err = parseUint8(value)
		case "shard_stripe_size":
			var v uint64
			if v, err = parseUint(value, 32); err == nil {
				s := uint32(v)
				stripe = &s
			}
		default:
			continue
		}
		if err != nil {
			return o, fmt.Errorf("%w: failed to parse %s: %v", ErrStartupOptions, key, err)
		}
	}
	switch o.Protocol.Kind {
	case ProtocolVanilla:
		if count != nil || number != nil || stripe != nil {
			return o, fmt.Errorf("%w: Shard params specified for vanilla protocol", ErrStartupOptions)
		}
	case ProtocolInterpreted:
		if count == nil || number == nil || stripe == nil {
			return o, fmt.Errorf("%w: Shard params were not specified", ErrStartupOptions)
		}
		if *count >= 2 && *stripe == 0 {
			return o, fmt.Errorf("%w: shard_stripe_size 0 with %d shards", ErrStartupOptions, *count)
		}
		o.Shard = &ShardParams{Count: *count, Number: *number, StripeSize: *stripe}
	}
	return o, nil
}

// parseUint parses a decimal like Rust's FromStr for unsigned integers
// (one optional leading '+').
func parseUint(s string, bits int) (uint64, error) {
	s = strings.TrimPrefix(s, "+")
	if s == "" || s[0] == '+' || s[0] == '-' {
		return 0, strconv.ErrSyntax
	}
	return strconv.ParseUint(s, 10, bits)
}

func parseUint8(s string) (*uint8, error) {
	v, err := parseUint(s, 8)
	if err != nil {
		return nil, err
	}
	u := uint8(v)
	return &u, nil
}

// protocolJSON is the adjacently tagged serde form of the protocol option.
type protocolJSON struct {
	Type string          `json:"type"`
	Args json.RawMessage `json:"args"`
}

type interpretedArgs struct {
	Format      *string `json:"format"`
	Compression *struct {
		Zstd *struct {
			Level *int8 `json:"level"`
		} `json:"zstd"`
	} `json:"compression"`
}

// ParseProtocol parses `{"type":"vanilla"}` or
// `{"type":"interpreted","args":{"format":"protobuf","compression":{"zstd":{"level":1}}}}`.
func ParseProtocol(s string) (Protocol, error) {
	var p protocolJSON
	if err := json.Unmarshal([]byte(s), &p); err != nil {
		return Protocol{}, err
	}
	switch p.Type {
	case "vanilla":
		return Protocol{Kind: ProtocolVanilla}, nil
	case "interpreted":
	default:
		return Protocol{}, fmt.Errorf("unknown protocol type %q", p.Type)
	}
	var a interpretedArgs
	if err := json.Unmarshal(p.Args, &a); err != nil {
		return Protocol{}, fmt.Errorf("interpreted args: %v", err)
	}
	if a.Format == nil || (*a.Format != "bincode" && *a.Format != "protobuf") {
		return Protocol{}, errors.New("interpreted args: format must be bincode or protobuf")
	}
	out := Protocol{Kind: ProtocolInterpreted, Format: *a.Format}
	if c := a.Compression; c != nil {
		if c.Zstd == nil || c.Zstd.Level == nil {
			return Protocol{}, errors.New("interpreted args: compression must be {\"zstd\":{\"level\":N}}")
		}
		out.Zstd, out.ZstdLevel = true, *c.Zstd.Level
	}
	return out, nil
}
