package acceptor

import "github.com/walkeeper/walkeeper/walproto"

// wireCodec is the walproto encoding of one protocol version. A parsed
// AppendRequest aliases its input.
type wireCodec struct{ version uint32 }

func (c wireCodec) parse(b []byte) (walproto.ProposerMessage, error) {
	return walproto.ParseProposerMessage(c.version, b)
}

func (c wireCodec) appendReply(dst []byte, m walproto.AcceptorMessage) []byte {
	return walproto.AppendAcceptorMessage(dst, c.version, m)
}
