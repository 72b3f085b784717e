package bedrock

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// The AWS event-stream framing (application/vnd.amazon.eventstream) of
// converse-stream answers. A frame is:
//
//	total length  uint32 BE (the whole frame, these 4 bytes included)
//	header length uint32 BE
//	prelude CRC   uint32 BE, CRC-32 (IEEE) of the 8 bytes above
//	headers       header length bytes
//	payload       the rest
//	message CRC   uint32 BE, CRC-32 of everything before it
//
// A header is: name length uint8, name, value type uint8, value.

// maxFrame bounds a frame: AWS caps a payload at 16 MiB and headers at
// 128 KiB. A larger length is corruption, not something to allocate.
const maxFrame = 16<<20 + 128<<10 + 16

// minFrame is a frame with no headers and no payload.
const minFrame = 16

// Errors of the frame decoder.
var (
	errTruncatedFrame = errors.New("event stream: the body ended inside a frame")
	errPreludeCRC     = errors.New("event stream: prelude checksum mismatch")
	errMessageCRC     = errors.New("event stream: message checksum mismatch")
)

// frame is one decoded message. Its payload is valid until the next call
// to frameReader.next.
type frame struct {
	headers map[string]string
	payload []byte
}

// frameReader decodes frames from a body as they arrive; a frame may span
// any number of reads.
type frameReader struct {
	r   io.Reader
	pre [12]byte
	buf []byte
}

// next returns the next frame, io.EOF at a clean end (between frames), and
// an error for a corrupt or cut-off frame.
func (d *frameReader) next() (frame, error) {
	n, err := io.ReadFull(d.r, d.pre[:])
	switch {
	case err == io.EOF && n == 0:
		return frame{}, io.EOF
	case errors.Is(err, io.ErrUnexpectedEOF):
		return frame{}, errTruncatedFrame
	case err != nil:
		return frame{}, err
	}
	total := binary.BigEndian.Uint32(d.pre[0:4])
	hlen := binary.BigEndian.Uint32(d.pre[4:8])
	if crc32.ChecksumIEEE(d.pre[:8]) != binary.BigEndian.Uint32(d.pre[8:12]) {
		return frame{}, errPreludeCRC
	}
	if total < minFrame || total > maxFrame || hlen > total-minFrame {
		return frame{}, fmt.Errorf("event stream: invalid frame lengths (total %d, headers %d)", total, hlen)
	}
	rest := int(total) - len(d.pre)
	if cap(d.buf) < rest {
		d.buf = make([]byte, rest)
	}
	d.buf = d.buf[:rest]
	if _, err := io.ReadFull(d.r, d.buf); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return frame{}, errTruncatedFrame
		}
		return frame{}, err
	}
	body := d.buf[:rest-4]
	crc := crc32.Update(crc32.ChecksumIEEE(d.pre[:]), crc32.IEEETable, body)
	if crc != binary.BigEndian.Uint32(d.buf[rest-4:]) {
		return frame{}, errMessageCRC
	}
	headers, err := parseHeaders(body[:hlen])
	if err != nil {
		return frame{}, err
	}
	return frame{headers: headers, payload: body[hlen:]}, nil
}

// Header value types.
const (
	hdrTrue = iota
	hdrFalse
	hdrByte
	hdrInt16
	hdrInt32
	hdrInt64
	hdrBytes
	hdrString
	hdrTimestamp
	hdrUUID
)

// parseHeaders returns the string headers; values of the other types are
// skipped (by their size), as nothing here needs them.
func parseHeaders(b []byte) (map[string]string, error) {
	h := make(map[string]string, 3)
	bad := errors.New("event stream: malformed headers")
	for len(b) > 0 {
		nlen := int(b[0])
		if nlen == 0 || len(b) < 1+nlen+1 {
			return nil, bad
		}
		name := string(b[1 : 1+nlen])
		typ := b[1+nlen]
		b = b[2+nlen:]
		var size int
		switch typ {
		case hdrTrue, hdrFalse:
			size = 0
		case hdrByte:
			size = 1
		case hdrInt16:
			size = 2
		case hdrInt32:
			size = 4
		case hdrInt64, hdrTimestamp:
			size = 8
		case hdrUUID:
			size = 16
		case hdrBytes, hdrString:
			if len(b) < 2 {
				return nil, bad
			}
			vlen := int(binary.BigEndian.Uint16(b))
			if len(b) < 2+vlen {
				return nil, bad
			}
			if typ == hdrString {
				h[name] = string(b[2 : 2+vlen])
			}
			b = b[2+vlen:]
			continue
		default:
			return nil, fmt.Errorf("event stream: unknown header value type %d", typ)
		}
		if len(b) < size {
			return nil, bad
		}
		b = b[size:]
	}
	return h, nil
}
