package pretrain

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/coorlog/coorlogprocessor/model/normalize"
)

// Corpus is the training text: the distinct normalised lines of the input
// files, in order of first appearance, with how often each appeared. Log
// corpora repeat a few templates endlessly (32,000 loghub lines are about
// 2,200 distinct normalised lines); training on distinct lines gives rare
// templates the same weight as chatty ones.
type Corpus struct {
	Lines    []string
	Counts   []int
	Files    []string
	RawLines int
}

// maxLineBytes bounds the part of a line that is kept; the rest is skipped
// while reading, so one enormous line cannot exhaust memory (normalize.Line
// reads at most its first normalize.MaxBytes anyway).
const maxLineBytes = 64 << 10

// LoadCorpus reads path: a file, or a directory whose *.log files (not
// recursive, sorted by name) are read. Empty lines are skipped.
func LoadCorpus(ctx context.Context, path string) (*Corpus, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("load corpus: %w", err)
	}
	files := []string{path}
	if st.IsDir() {
		files, err = filepath.Glob(filepath.Join(path, "*.log"))
		if err != nil {
			return nil, fmt.Errorf("load corpus %s: %w", path, err)
		}
		sort.Strings(files)
		if len(files) == 0 {
			return nil, fmt.Errorf("load corpus: no *.log files in %s", path)
		}
	}
	c := &Corpus{Files: files}
	index := map[string]int{}
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("load corpus: %w", err)
		}
		if err := c.readFile(f, index); err != nil {
			return nil, fmt.Errorf("load corpus %s: %w", f, err)
		}
	}
	if len(c.Lines) == 0 {
		return nil, fmt.Errorf("load corpus %s: no non-empty lines", path)
	}
	return c, nil
}

func (c *Corpus) readFile(path string, index map[string]int) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, maxLineBytes)
	for {
		// ReadLine returns at most a buffer's worth; continuation chunks of a
		// longer line are dropped.
		chunk, more, err := r.ReadLine()
		if len(chunk) > 0 {
			c.add(string(chunk), index)
		}
		for more && err == nil {
			_, more, err = r.ReadLine()
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

func (c *Corpus) add(line string, index map[string]int) {
	c.RawLines++
	n := normalize.Line(line)
	if n == "" {
		return
	}
	if i, ok := index[n]; ok {
		c.Counts[i]++
		return
	}
	index[n] = len(c.Lines)
	c.Lines = append(c.Lines, n)
	c.Counts = append(c.Counts, 1)
}

// split puts about valPercent% of the lines in a validation set, chosen by a
// hash of the line so that the split does not depend on file order.
func (c *Corpus) split(valPercent int) (train, val []string) {
	for _, l := range c.Lines {
		h := fnv.New32a()
		h.Write([]byte(l))
		if int(h.Sum32()%100) < valPercent {
			val = append(val, l)
		} else {
			train = append(train, l)
		}
	}
	return train, val
}
