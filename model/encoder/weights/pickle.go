package weights

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"strings"
)

// unpickle is a small pickle machine for exactly the opcodes and globals
// torch.save emits in data.pkl (torchbin.go). It executes nothing: globals
// are only names, and a REDUCE of anything but the few known constructors
// (reduce, in torchbin.go) yields an opaque value. Every length and index is
// checked against the input, so a corrupt file is an error, never a panic.

type pyGlobal struct{ module, name string }

type pyTuple []any

type pyList struct{ items []any }

// pyDict keeps insertion order, as OrderedDict does.
type pyDict struct {
	keys []any
	vals map[any]any
}

func newPyDict() *pyDict { return &pyDict{vals: map[any]any{}} }

func (d *pyDict) set(k, v any) error {
	switch k.(type) {
	case string, int64, bool, nil, float64:
	default:
		return fmt.Errorf("unsupported dict key type %T", k)
	}
	if _, ok := d.vals[k]; !ok {
		d.keys = append(d.keys, k)
	}
	d.vals[k] = v
	return nil
}

type pyOpaque struct{ of pyGlobal }

type pyMark struct{}

// unpickle runs the pickle program in data and returns its result.
func unpickle(data []byte) (any, error) {
	m := &unpickler{r: bytes.NewReader(data), memo: map[int64]any{}}
	return m.run()
}

type unpickler struct {
	r     *bytes.Reader
	stack []any
	memo  map[int64]any
}

func (u *unpickler) push(v any) { u.stack = append(u.stack, v) }

func (u *unpickler) pop() (any, error) {
	if len(u.stack) == 0 {
		return nil, errors.New("stack underflow")
	}
	v := u.stack[len(u.stack)-1]
	u.stack = u.stack[:len(u.stack)-1]
	if _, isMark := v.(pyMark); isMark {
		return nil, errors.New("unexpected MARK")
	}
	return v, nil
}

func (u *unpickler) top() (any, error) {
	if len(u.stack) == 0 {
		return nil, errors.New("stack underflow")
	}
	return u.stack[len(u.stack)-1], nil
}

// popMark pops everything above the last MARK, and the MARK.
func (u *unpickler) popMark() ([]any, error) {
	for i := len(u.stack) - 1; i >= 0; i-- {
		if _, ok := u.stack[i].(pyMark); ok {
			items := append([]any(nil), u.stack[i+1:]...)
			u.stack = u.stack[:i]
			return items, nil
		}
	}
	return nil, errors.New("no MARK on the stack")
}

func (u *unpickler) bytesN(n int64) ([]byte, error) {
	if n < 0 || n > int64(u.r.Len()) {
		return nil, fmt.Errorf("length %d runs past the end of the pickle", n)
	}
	b := make([]byte, n)
	_, err := io.ReadFull(u.r, b)
	return b, err
}

func (u *unpickler) uint(n int) (uint64, error) {
	b, err := u.bytesN(int64(n))
	if err != nil {
		return 0, err
	}
	var buf [8]byte
	copy(buf[:], b)
	return binary.LittleEndian.Uint64(buf[:]), nil
}

func (u *unpickler) line() (string, error) {
	var sb strings.Builder
	for {
		c, err := u.r.ReadByte()
		if err != nil {
			return "", errors.New("unterminated line")
		}
		if c == '\n' {
			return sb.String(), nil
		}
		sb.WriteByte(c)
	}
}

func (u *unpickler) run() (any, error) {
	for {
		op, err := u.r.ReadByte()
		if err != nil {
			return nil, errors.New("pickle ends without STOP: truncated")
		}
		if err := u.step(op); err != nil {
			if errors.Is(err, errStop) {
				return u.pop()
			}
			return nil, fmt.Errorf("opcode 0x%02x at byte %d: %w", op, int(u.r.Size())-u.r.Len()-1, err)
		}
	}
}

var errStop = errors.New("STOP")

func (u *unpickler) step(op byte) error {
	switch op {
	case 0x80: // PROTO
		_, err := u.uint(1)
		return err
	case 0x95: // FRAME
		_, err := u.uint(8)
		return err
	case '.': // STOP
		return errStop
	case '(': // MARK
		u.push(pyMark{})
	case ')': // EMPTY_TUPLE
		u.push(pyTuple{})
	case '}': // EMPTY_DICT
		u.push(newPyDict())
	case ']': // EMPTY_LIST
		u.push(&pyList{})
	case 'N':
		u.push(nil)
	case 0x88: // NEWTRUE
		u.push(true)
	case 0x89: // NEWFALSE
		u.push(false)
	case 'K', 'M', 'J': // BININT1, BININT2, BININT
		n := map[byte]int{'K': 1, 'M': 2, 'J': 4}[op]
		v, err := u.uint(n)
		if err != nil {
			return err
		}
		if op == 'J' {
			u.push(int64(int32(uint32(v))))
		} else {
			u.push(int64(v))
		}
	case 0x8a: // LONG1
		n, err := u.uint(1)
		if err != nil {
			return err
		}
		b, err := u.bytesN(int64(n))
		if err != nil {
			return err
		}
		v, err := decodeLong(b)
		if err != nil {
			return err
		}
		u.push(v)
	case 'G': // BINFLOAT (big-endian)
		b, err := u.bytesN(8)
		if err != nil {
			return err
		}
		u.push(math.Float64frombits(binary.BigEndian.Uint64(b)))
	case 'X', 0x8c, 0x8d, 'T', 'U', 'B', 'C', 0x8e: // strings and bytes
		n := map[byte]int{'X': 4, 0x8c: 1, 0x8d: 8, 'T': 4, 'U': 1, 'B': 4, 'C': 1, 0x8e: 8}[op]
		l, err := u.uint(n)
		if err != nil {
			return err
		}
		if l > math.MaxInt32 {
			return fmt.Errorf("string of %d bytes", l)
		}
		b, err := u.bytesN(int64(l))
		if err != nil {
			return err
		}
		u.push(string(b))
	case 'c': // GLOBAL "module\nname\n"
		mod, err := u.line()
		if err != nil {
			return err
		}
		name, err := u.line()
		if err != nil {
			return err
		}
		u.push(pyGlobal{mod, name})
	case 0x93: // STACK_GLOBAL
		name, err := u.pop()
		if err != nil {
			return err
		}
		mod, err := u.pop()
		if err != nil {
			return err
		}
		ms, ok1 := mod.(string)
		ns, ok2 := name.(string)
		if !ok1 || !ok2 {
			return errors.New("STACK_GLOBAL needs two strings")
		}
		u.push(pyGlobal{ms, ns})
	case 'q', 'r', 0x94: // BINPUT, LONG_BINPUT, MEMOIZE
		var idx int64
		switch op {
		case 'q', 'r':
			n := 1
			if op == 'r' {
				n = 4
			}
			v, err := u.uint(n)
			if err != nil {
				return err
			}
			idx = int64(v)
		default:
			idx = int64(len(u.memo))
		}
		v, err := u.top()
		if err != nil {
			return err
		}
		u.memo[idx] = v
	case 'h', 'j': // BINGET, LONG_BINGET
		n := 1
		if op == 'j' {
			n = 4
		}
		idx, err := u.uint(n)
		if err != nil {
			return err
		}
		v, ok := u.memo[int64(idx)]
		if !ok {
			return fmt.Errorf("memo %d not set", idx)
		}
		u.push(v)
	case 't': // TUPLE
		items, err := u.popMark()
		if err != nil {
			return err
		}
		u.push(pyTuple(items))
	case 0x85, 0x86, 0x87: // TUPLE1..3
		n := int(op-0x85) + 1
		if len(u.stack) < n {
			return errors.New("stack underflow")
		}
		items := append(pyTuple(nil), u.stack[len(u.stack)-n:]...)
		for _, it := range items {
			if _, isMark := it.(pyMark); isMark {
				return errors.New("unexpected MARK")
			}
		}
		u.stack = u.stack[:len(u.stack)-n]
		u.push(items)
	case 'a': // APPEND
		v, err := u.pop()
		if err != nil {
			return err
		}
		l, err := u.top()
		if err != nil {
			return err
		}
		if pl, ok := l.(*pyList); ok {
			pl.items = append(pl.items, v)
		}
	case 'e': // APPENDS
		items, err := u.popMark()
		if err != nil {
			return err
		}
		l, err := u.top()
		if err != nil {
			return err
		}
		if pl, ok := l.(*pyList); ok {
			pl.items = append(pl.items, items...)
		}
	case 's': // SETITEM
		v, err := u.pop()
		if err != nil {
			return err
		}
		k, err := u.pop()
		if err != nil {
			return err
		}
		d, err := u.top()
		if err != nil {
			return err
		}
		if pd, ok := d.(*pyDict); ok {
			return pd.set(k, v)
		}
		return fmt.Errorf("SETITEM on %T", d)
	case 'u': // SETITEMS
		items, err := u.popMark()
		if err != nil {
			return err
		}
		if len(items)%2 != 0 {
			return errors.New("SETITEMS with an odd number of items")
		}
		d, err := u.top()
		if err != nil {
			return err
		}
		pd, ok := d.(*pyDict)
		if !ok {
			return fmt.Errorf("SETITEMS on %T", d)
		}
		for i := 0; i < len(items); i += 2 {
			if err := pd.set(items[i], items[i+1]); err != nil {
				return err
			}
		}
	case 'b': // BUILD: object state (OrderedDict's _metadata); ignored
		if _, err := u.pop(); err != nil {
			return err
		}
		if _, err := u.top(); err != nil {
			return err
		}
	case '0': // POP
		_, err := u.pop()
		return err
	case '1': // POP_MARK
		_, err := u.popMark()
		return err
	case '2': // DUP
		v, err := u.top()
		if err != nil {
			return err
		}
		u.push(v)
	case 'Q': // BINPERSID
		pid, err := u.pop()
		if err != nil {
			return err
		}
		s, err := storageFromPID(pid)
		if err != nil {
			return err
		}
		u.push(s)
	case 'R', 0x81: // REDUCE, NEWOBJ
		args, err := u.pop()
		if err != nil {
			return err
		}
		fn, err := u.pop()
		if err != nil {
			return err
		}
		tup, ok := args.(pyTuple)
		if !ok {
			return fmt.Errorf("call arguments are %T, want a tuple", args)
		}
		g, ok := fn.(pyGlobal)
		if !ok {
			return fmt.Errorf("call of %T", fn)
		}
		v, err := reduce(g, tup)
		if err != nil {
			return err
		}
		u.push(v)
	default:
		return errors.New("unsupported pickle opcode")
	}
	return nil
}

// decodeLong decodes a little-endian two's-complement integer (LONG1).
func decodeLong(b []byte) (int64, error) {
	if len(b) == 0 {
		return 0, nil
	}
	be := make([]byte, len(b))
	for i := range b {
		be[len(b)-1-i] = b[i]
	}
	v := new(big.Int).SetBytes(be)
	if b[len(b)-1]&0x80 != 0 {
		v.Sub(v, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	if !v.IsInt64() {
		return 0, errors.New("integer does not fit in int64")
	}
	return v.Int64(), nil
}
