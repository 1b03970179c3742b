package pgwal

// MajorVersion turns PG_VERSION_NUM (150004) into the major version (15);
// a value that already is a major version is returned unchanged.
func MajorVersion(pgVersion uint32) uint32 {
	if pgVersion >= 10000 {
		return pgVersion / 10000
	}
	return pgVersion
}

// PageMagic returns XLOG_PAGE_MAGIC for a PostgreSQL version given as
// PG_VERSION_NUM or as a major version. ok is false for unsupported versions.
// The values come from each version's access/xlog_internal.h.
func PageMagic(pgVersion uint32) (magic uint16, ok bool) {
	switch MajorVersion(pgVersion) {
	case 14:
		return 0xD10D, true
	case 15:
		return 0xD110, true
	case 16:
		return 0xD113, true
	case 17:
		return 0xD116, true
	}
	return 0, false
}

// isKnownMagic reports whether m is XLOG_PAGE_MAGIC of a supported version.
func isKnownMagic(m uint16) bool {
	switch m {
	case 0xD10D, 0xD110, 0xD113, 0xD116:
		return true
	}
	return false
}
