package libmemcached

import (
	"bytes"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"reflect"
	"strconv"
)

// Value flags of pylibmc 1.6 (observed from python3-pylibmc 1.6.3 and checked
// by the interop tests). FlagCompressed combines with the others. pylibmc
// 1.5 (Debian 11) differs: it pickles str (FlagPickle) and writes bools with
// flag 16, which 1.6 and this package read as text ("1", "0"), so text does
// not cross between Go and pylibmc 1.5; bytes and integers do.
const (
	FlagBytes      uint32 = 0  // bytes, as is
	FlagPickle     uint32 = 1  // a Python pickle: not decodable in Go
	FlagBool       uint32 = 2  // "1" or "0" (pylibmc writes bools so, and reads them back as int)
	FlagInteger    uint32 = 4  // decimal ASCII, any size, may be negative
	FlagCompressed uint32 = 8  // zlib stream of the value
	FlagText       uint32 = 16 // UTF-8 text
)

var (
	// ErrUnsupportedFlags means a value's flags name an encoding the codec
	// cannot decode, such as a Python pickle (flag 1). Get still returns the
	// raw item.
	ErrUnsupportedFlags = errors.New("memcached: unsupported value flags")
	// ErrUnsupportedType means the codec cannot encode a Go value, or decode
	// into the given destination.
	ErrUnsupportedType = errors.New("memcached: unsupported type")
	// ErrCorruptValue means a stored value does not match its flags: bad zlib
	// data, a decompressed size over the limit, a malformed number.
	ErrCorruptValue = errors.New("memcached: corrupt value")
)

// Codec turns Go values into memcached values and flags and back. It is used
// by SetValue and GetValue; compression (WithCompression) is applied around
// it by the client, so a Codec never sees FlagCompressed.
type Codec interface {
	Encode(v any) (value []byte, flags uint32, err error)
	Decode(value []byte, flags uint32, dst any) error
}

// PylibmcCodec is the default Codec: pylibmc's value format, so Go and
// Python share values. It encodes string as text, []byte as bytes, every
// signed and unsigned integer type and *big.Int as integer, and bool as
// bool. It decodes into *string, *[]byte, *int, *int64, *uint64, *big.Int,
// *bool and *any (string, []byte, int64 or *big.Int when it does not fit,
// bool). Pickles are refused with ErrUnsupportedFlags.
type PylibmcCodec struct{}

// Encode implements Codec.
func (PylibmcCodec) Encode(v any) ([]byte, uint32, error) {
	switch x := v.(type) {
	case string:
		return []byte(x), FlagText, nil
	case []byte:
		return x, FlagBytes, nil
	case bool:
		if x {
			return []byte("1"), FlagBool, nil
		}
		return []byte("0"), FlagBool, nil
	case int, int8, int16, int32, int64:
		return strconv.AppendInt(nil, toInt64(x), 10), FlagInteger, nil
	case uint, uint8, uint16, uint32, uint64:
		return strconv.AppendUint(nil, toUint64(x), 10), FlagInteger, nil
	case *big.Int:
		if x == nil {
			break
		}
		return []byte(x.String()), FlagInteger, nil
	}
	return nil, 0, fmt.Errorf("%w: cannot encode %T; the pylibmc codec encodes string, []byte, bool, signed and unsigned integers and *big.Int (use WithCodec for others)", ErrUnsupportedType, v)
}

// Decode implements Codec.
func (PylibmcCodec) Decode(value []byte, flags uint32, dst any) error {
	switch flags {
	case FlagBytes, FlagText:
		switch d := dst.(type) {
		case *string:
			*d = string(value)
		case *[]byte:
			*d = append([]byte(nil), value...)
		case *any:
			if flags == FlagText {
				*d = string(value)
			} else {
				*d = append([]byte(nil), value...)
			}
		default:
			return decodeTypeError(flags, dst, "*string, *[]byte or *any")
		}
		return nil
	case FlagBool:
		// pylibmc 1.6 writes Python bools with flag 2 as "1"/"0" (and reads
		// flag 2 back as int). Python 2 era pylibmc wrote small ints with it.
		var b bool
		switch string(value) {
		case "1":
			b = true
		case "0":
		default:
			switch dst.(type) {
			case *bool:
				return fmt.Errorf("%w: bool value %q", ErrCorruptValue, truncate(value))
			}
			return decodeInteger(value, dst)
		}
		switch d := dst.(type) {
		case *bool:
			*d = b
		case *any:
			*d = b
		case *int, *int64, *uint64, *big.Int:
			return decodeInteger(value, dst)
		default:
			return decodeTypeError(flags, dst, "*bool, an integer or *any")
		}
		return nil
	case FlagInteger:
		return decodeInteger(value, dst)
	case FlagPickle:
		return fmt.Errorf("%w: flags %d is a Python pickle, which Go cannot decode (read it raw with Get, or plug a Codec that handles it)", ErrUnsupportedFlags, flags)
	}
	return fmt.Errorf("%w: flags %d", ErrUnsupportedFlags, flags)
}

func decodeTypeError(flags uint32, dst any, want string) error {
	return fmt.Errorf("%w: a value with flags %d decodes into %s, not %T", ErrUnsupportedType, flags, want, dst)
}

func truncate(b []byte) []byte {
	if len(b) > 32 {
		return b[:32]
	}
	return b
}

// decodeInteger parses pylibmc's decimal integers (memcached's decr may
// leave trailing spaces).
func decodeInteger(value []byte, dst any) error {
	s := string(bytes.TrimRight(value, " "))
	n, ok := new(big.Int).SetString(s, 10)
	if !ok {
		return fmt.Errorf("%w: integer value %q", ErrCorruptValue, truncate(value))
	}
	overflow := func() error {
		return fmt.Errorf("%w: integer %s does not fit in %T", ErrUnsupportedType, s, dst)
	}
	switch d := dst.(type) {
	case *int64:
		if !n.IsInt64() {
			return overflow()
		}
		*d = n.Int64()
	case *int:
		if !n.IsInt64() || n.Int64() > math.MaxInt || n.Int64() < math.MinInt {
			return overflow()
		}
		*d = int(n.Int64())
	case *uint64:
		if !n.IsUint64() {
			return overflow()
		}
		*d = n.Uint64()
	case *big.Int:
		d.Set(n)
	case *any:
		if n.IsInt64() {
			*d = n.Int64()
		} else {
			*d = n
		}
	default:
		return decodeTypeError(FlagInteger, dst, "*int, *int64, *uint64, *big.Int or *any")
	}
	return nil
}

// compression holds WithCompression's settings.
type compression struct {
	minLen, level int
}

// DefaultMaxDecompressedSize bounds what a compressed value may inflate to:
// 32 times memcached's default 1 MiB item size. A larger result is
// ErrCorruptValue, so a hostile value cannot exhaust memory.
const DefaultMaxDecompressedSize = 32 << 20

// inflate decompresses a zlib stream, refusing to produce more than limit bytes.
func inflate(value []byte, limit int) ([]byte, error) {
	r, err := zlib.NewReader(bytes.NewReader(value))
	if err != nil {
		return nil, fmt.Errorf("%w: zlib: %v", ErrCorruptValue, err)
	}
	defer r.Close()
	out, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("%w: zlib: %v", ErrCorruptValue, err)
	}
	if len(out) > limit {
		return nil, fmt.Errorf("%w: decompresses to more than %d bytes", ErrCorruptValue, limit)
	}
	return out, nil
}

// toInt64 and toUint64 read a value of a Go integer type (signed and
// unsigned respectively; the caller has switched on its type).
func toInt64(v any) int64 { return reflect.ValueOf(v).Int() }

func toUint64(v any) uint64 { return reflect.ValueOf(v).Uint() }
