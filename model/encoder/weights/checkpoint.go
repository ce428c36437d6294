package weights

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// File is a file of a checkpoint directory other than the weights
// (config.json, vocab.txt, ...).
type File struct {
	Name string
	Data []byte
}

// WriteCheckpoint writes a checkpoint directory: files as given, then vars as
// model.safetensors (float32, the given names as they are). The directory is
// written next to dir and renamed into place, so readers see the old
// checkpoint or the new one, never a mixture; an existing dir is replaced.
func WriteCheckpoint(dir string, files []File, vars map[string]*ts.Tensor) error {
	tensors := make([]f32Tensor, 0, len(vars))
	for name, t := range vars {
		data, shape, err := Values(t)
		if err != nil {
			return fmt.Errorf("tensor %s: %w", name, err)
		}
		tensors = append(tensors, f32Tensor{Name: name, Shape: shape, Data: data})
	}

	parent := filepath.Dir(filepath.Clean(dir))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".tmp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // no-op after the rename

	for _, f := range files {
		write := func(w *bufio.Writer) error { _, err := w.Write(f.Data); return err }
		if err := writeFileSynced(filepath.Join(tmp, f.Name), write); err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
	}
	write := func(w *bufio.Writer) error { return writeSafetensors(w, tensors) }
	if err := writeFileSynced(filepath.Join(tmp, "model.safetensors"), write); err != nil {
		return fmt.Errorf("model.safetensors: %w", err)
	}

	// Swap: a directory cannot be renamed over a non-empty one, so the old
	// one steps aside first and is removed after the new one is in place.
	old := ""
	if _, err := os.Stat(dir); err == nil {
		old = tmp + ".old"
		if err := os.Rename(dir, old); err != nil {
			return fmt.Errorf("move old checkpoint aside: %w", err)
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		if old != "" {
			_ = os.Rename(old, dir) // put the old one back
		}
		return err
	}
	if old != "" {
		_ = os.RemoveAll(old)
	}
	if d, err := os.Open(parent); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

func writeFileSynced(path string, write func(*bufio.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	if err := write(w); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Values copies a tensor's values (detached, as float32, on the CPU)
// into Go memory.
func Values(t *ts.Tensor) ([]float32, []int64, error) {
	if t == nil || t.Ctensor() == nil {
		return nil, nil, fmt.Errorf("nil or freed tensor")
	}
	shape, err := t.Size()
	if err != nil {
		return nil, nil, err
	}
	d, err := t.Detach(false)
	if err != nil {
		return nil, nil, err
	}
	defer d.MustDrop()
	c, err := d.To(gotch.CPU, false)
	if err != nil {
		return nil, nil, err
	}
	defer c.MustDrop()
	f, err := c.Totype(gotch.Float, false)
	if err != nil {
		return nil, nil, err
	}
	defer f.MustDrop()
	g, err := f.Contiguous(false)
	if err != nil {
		return nil, nil, err
	}
	defer g.MustDrop()
	n := int64(1)
	for _, s := range shape {
		n *= s
	}
	out := make([]float32, n)
	if n > 0 {
		if err := g.CopyData(out, uint(n)); err != nil {
			return nil, nil, err
		}
	}
	return out, shape, nil
}
