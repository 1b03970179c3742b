// Package auth validates Neon storage JWTs: EdDSA (Ed25519) tokens whose
// claims carry a scope and, for tenant-scoped tokens, a tenant id. It owns
// key loading, signature and expiry checks and the safekeeper permission
// table (storage-and-operations §4.2). It knows nothing about the wire
// protocol or HTTP; pgwire and the HTTP API call it.
package auth
