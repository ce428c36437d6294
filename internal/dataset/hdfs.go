package dataset

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// HDFS session synthesis. The shared hdfs-sessions files hold block sessions
// as event numbers (template EN of loghub/HDFS_templates.csv). A detector that
// reads raw lines needs raw lines, so each event is rendered in the wording of
// the real HDFS log (loghub/HDFS_2k.log; HDFS_templates.csv has only
// fragments), with the component and level the real system uses, one block
// id per session, a pipeline of three datanodes, sizes and timestamps.

// HDFSOptions controls LoadHDFS.
type HDFSOptions struct {
	// AnomalyRate is the share of anomalous sessions in the output. The full
	// HDFS data set has 16,838 anomalous blocks of 575,061 (2.9%); the shared
	// normal file has only 4,855 sessions, so the anomalous file is
	// subsampled to reach this rate. 0 means DefaultAnomalyRate.
	AnomalyRate float64
	// MaxNormal caps the number of normal sessions (0 = all).
	MaxNormal int
	// Seed drives the subsampling, the interleaving and every rendered value.
	Seed uint64
}

// DefaultAnomalyRate is the anomaly share of the real HDFS data set.
const DefaultAnomalyRate = 0.03

// HDFS data file names inside the hdfs-sessions directory.
const (
	HDFSNormalFile   = "hdfs_train"
	HDFSAbnormalFile = "hdfs_test_abnormal"
)

// ReadEventSequences parses one session a line of space-separated event
// numbers. Empty lines are skipped; a non-number is an error with its line.
func ReadEventSequences(r io.Reader) ([][]int, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var out [][]int
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		seq := make([]int, len(f))
		for i, tok := range f {
			v, err := strconv.Atoi(tok)
			if err != nil || v < 1 || v > 30 {
				return nil, &LineError{Line: n, Err: fmt.Errorf("event %q is not an HDFS event number 1..30", tok)}
			}
			seq[i] = v
		}
		out = append(out, seq)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading event sequences: %w", err)
	}
	return out, nil
}

func readSeqFile(path string) ([][]int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening HDFS sessions: %w", err)
	}
	defer f.Close()
	seqs, err := ReadEventSequences(f)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return seqs, nil
}

// LoadHDFS reads dir/hdfs_train (normal) and dir/hdfs_test_abnormal
// (anomalous), subsamples the anomalous sessions to opt.AnomalyRate,
// interleaves both in a seeded order and renders raw lines.
func LoadHDFS(dir string, opt HDFSOptions) ([]Session, error) {
	if opt.AnomalyRate == 0 {
		opt.AnomalyRate = DefaultAnomalyRate
	}
	if opt.AnomalyRate < 0 || opt.AnomalyRate >= 1 {
		return nil, fmt.Errorf("anomaly rate %v: must be in (0, 1)", opt.AnomalyRate)
	}
	normal, err := readSeqFile(filepath.Join(dir, HDFSNormalFile))
	if err != nil {
		return nil, err
	}
	abnormal, err := readSeqFile(filepath.Join(dir, HDFSAbnormalFile))
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(opt.Seed, 0x4844465300000001))
	if opt.MaxNormal > 0 && opt.MaxNormal < len(normal) {
		normal = sample(rng, normal, opt.MaxNormal)
	}
	nAnom := int(math.Round(opt.AnomalyRate / (1 - opt.AnomalyRate) * float64(len(normal))))
	if nAnom > len(abnormal) {
		return nil, fmt.Errorf("anomaly rate %v needs %d anomalous sessions, only %d available", opt.AnomalyRate, nAnom, len(abnormal))
	}
	abnormal = sample(rng, abnormal, nAnom)

	type item struct {
		seq   []int
		label int
	}
	items := make([]item, 0, len(normal)+len(abnormal))
	for _, s := range normal {
		items = append(items, item{s, Normal})
	}
	for _, s := range abnormal {
		items = append(items, item{s, Anomalous})
	}
	rng.Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })

	syn := NewHDFSSynth(opt.Seed)
	out := make([]Session, len(items))
	for i, it := range items {
		out[i] = syn.Session(it.seq, it.label)
	}
	return out, nil
}

// sample returns k elements chosen without replacement, in their original
// order (the files' order carries no meaning, but keeping it is cheap).
func sample[T any](rng *rand.Rand, xs []T, k int) []T {
	idx := rng.Perm(len(xs))[:k]
	slices.Sort(idx)
	out := make([]T, k)
	for i, j := range idx {
		out[i] = xs[j]
	}
	return out
}

// HDFSSynth renders HDFS event sequences as raw lines. Not safe for
// concurrent use.
type HDFSSynth struct {
	rng   *rand.Rand
	nodes []string // datanode IPs of the simulated cluster
	used  map[int64]bool
}

// NewHDFSSynth returns a synthesiser whose output depends only on seed and
// on the sequence of calls.
func NewHDFSSynth(seed uint64) *HDFSSynth {
	rng := rand.New(rand.NewPCG(seed, 0x4844465300000002))
	// A cluster of 200 datanodes on the two /16 networks of the real log.
	seen := map[string]bool{}
	var nodes []string
	for len(nodes) < 200 {
		ip := fmt.Sprintf("10.%d.%d.%d", 250+rng.IntN(2), 1+rng.IntN(254), 1+rng.IntN(254))
		if !seen[ip] {
			seen[ip] = true
			nodes = append(nodes, ip)
		}
	}
	return &HDFSSynth{rng: rng, nodes: nodes, used: map[int64]bool{}}
}

// hdfsEpoch is 2008-11-09 20:30, where the real HDFS log starts.
var hdfsEpoch = time.Date(2008, 11, 9, 20, 30, 0, 0, time.UTC)

type block struct {
	id     string   // blk_-123
	dns    []string // pipeline datanodes, without port
	client string
	size   int64
	path   string
	count  map[int]int // occurrences so far, per event
	t      time.Time
}

// Session renders one block session.
func (h *HDFSSynth) Session(events []int, label int) Session {
	r := h.rng
	var raw int64
	for {
		raw = int64(r.Uint64())
		if raw != 0 && !h.used[raw] {
			break
		}
	}
	h.used[raw] = true
	b := &block{
		id:    "blk_" + strconv.FormatInt(raw, 10),
		count: map[int]int{},
		t:     hdfsEpoch.Add(time.Duration(r.IntN(38*3600)) * time.Second),
		size:  67108864, // the 64 MiB HDFS block of the real log
	}
	if r.IntN(10) == 0 { // the last block of a file is shorter
		b.size = int64(1 + r.IntN(67108864))
	}
	perm := r.Perm(len(h.nodes))
	for _, i := range perm[:3] {
		b.dns = append(b.dns, h.nodes[i])
	}
	b.client = b.dns[0]
	if r.IntN(4) == 0 {
		b.client = h.nodes[perm[3]]
	}
	jobs := []string{"rand", "sortrand", "randtxt", "sortrand2", "randtxt2"}
	task := r.IntN(2000)
	b.path = fmt.Sprintf("/user/root/%s/_temporary/_task_200811%02d%02d%02d_%04d_%c_%06d_0/part-%05d",
		jobs[r.IntN(len(jobs))], 9+r.IntN(3), r.IntN(24), r.IntN(60), 1+r.IntN(20), "mr"[r.IntN(2)], task, task)

	lines := make([]string, 0, len(events))
	deleted := false
	for _, ev := range events {
		// Deletion happens long after the write, as in the real log.
		if (ev == 21 || ev == 23) && !deleted {
			deleted = true
			b.t = b.t.Add(time.Duration(600+r.IntN(4*3600)) * time.Second)
		} else {
			b.t = b.t.Add(time.Duration(r.IntN(3)) * time.Second)
		}
		lines = append(lines, h.line(b, ev))
		b.count[ev]++
	}
	return Session{ID: b.id, Label: label, Lines: lines}
}

// line renders one event in the HDFS_2k.log layout:
// "081109 203615 148 INFO dfs.DataNode$PacketResponder: message".
func (h *HDFSSynth) line(b *block, ev int) string {
	r := h.rng
	k := b.count[ev]
	dn := b.dns[k%3]
	next := b.dns[(k+1)%3]
	src := b.client
	if k%3 > 0 {
		src = b.dns[k%3-1]
	}
	other := h.nodes[r.IntN(len(h.nodes))]
	port := 30000 + r.IntN(30000)
	xceiverPid := 10 + r.IntN(30000)
	nnPid := 19 + r.IntN(17)

	level, comp, pid := "INFO", "dfs.DataNode$DataXceiver", xceiverPid
	var msg string
	switch ev {
	case 1:
		level, comp, pid = "WARN", "dfs.FSDataset", nnPid
		msg = fmt.Sprintf("Adding an already existing block %s", b.id)
	case 2:
		comp, pid = "dfs.DataBlockScanner", 13+r.IntN(10)
		msg = fmt.Sprintf("Verification succeeded for %s", b.id)
	case 3:
		msg = fmt.Sprintf("%s:50010 Served block %s to /%s", dn, b.id, other)
	case 4:
		level = "WARN"
		msg = fmt.Sprintf("%s:50010:Got exception while serving %s to /%s:", dn, b.id, other)
	case 5:
		msg = fmt.Sprintf("Receiving block %s src: /%s:%d dest: /%s:50010", b.id, src, port, dn)
	case 6:
		msg = fmt.Sprintf("Received block %s src: /%s:%d dest: /%s:50010 of size %d", b.id, src, port, dn, b.size)
	case 7:
		msg = fmt.Sprintf("writeBlock %s received exception java.io.IOException: Could not read from stream", b.id)
	case 8:
		comp = "dfs.DataNode$PacketResponder"
		msg = fmt.Sprintf("PacketResponder %d for block %s Interrupted.", k%3, b.id)
	case 9:
		comp = "dfs.DataNode$PacketResponder"
		msg = fmt.Sprintf("Received block %s of size %d from /%s", b.id, b.size, src)
	case 10:
		comp = "dfs.DataNode$PacketResponder"
		msg = fmt.Sprintf("PacketResponder %s %d Exception java.io.IOException: Connection reset by peer", b.id, k%3)
	case 11:
		comp = "dfs.DataNode$PacketResponder"
		msg = fmt.Sprintf("PacketResponder %d for block %s terminating", 2-k%3, b.id)
	case 12:
		msg = fmt.Sprintf("%s:50010:Exception writing block %s to mirror %s:50010", dn, b.id, next)
	case 13:
		msg = fmt.Sprintf("Receiving empty packet for block %s", b.id)
	case 14:
		msg = fmt.Sprintf("Exception in receiveBlock for block %s java.io.EOFException", b.id)
	case 15:
		comp = "dfs.DataNode"
		off := r.Int64N(b.size)
		msg = fmt.Sprintf("Changing block file offset of block %s from %d to %d meta file offset to %d", b.id, off, off+int64(r.IntN(65536)), off/512*4+7)
	case 16:
		comp = "dfs.DataNode$DataTransfer"
		msg = fmt.Sprintf("%s:50010:Transmitted block %s to /%s:50010", dn, b.id, other)
	case 17:
		level, comp = "WARN", "dfs.DataNode"
		msg = fmt.Sprintf("%s:50010:Failed to transfer %s to %s:50010 got java.net.SocketException: Connection reset", dn, b.id, other)
	case 18:
		comp = "dfs.DataNode"
		msg = fmt.Sprintf("%s:50010 Starting thread to transfer block %s to %s:50010", dn, b.id, other)
	case 19:
		comp, pid = "dfs.FSDataset", nnPid
		msg = fmt.Sprintf("Reopen Block %s", b.id)
	case 20:
		level, comp, pid = "WARN", "dfs.FSDataset", nnPid
		msg = fmt.Sprintf("Unexpected error trying to delete block %s. BlockInfo not found in volumeMap.", b.id)
	case 21:
		comp, pid = "dfs.FSDataset", nnPid
		msg = fmt.Sprintf("Deleting block %s file /mnt/hadoop/dfs/data/current/subdir%d/%s", b.id, r.IntN(64), b.id)
	case 22:
		comp, pid = "dfs.FSNamesystem", nnPid
		msg = fmt.Sprintf("BLOCK* NameSystem.allocateBlock: %s. %s", b.path, b.id)
	case 23:
		comp, pid = "dfs.FSNamesystem", nnPid
		msg = fmt.Sprintf("BLOCK* NameSystem.delete: %s is added to invalidSet of %s:50010", b.id, dn)
	case 24:
		comp, pid = "dfs.FSNamesystem", nnPid
		msg = fmt.Sprintf("BLOCK* Removing block %s from neededReplications as it does not belong to any file.", b.id)
	case 25:
		comp, pid = "dfs.FSNamesystem", nnPid
		msg = fmt.Sprintf("BLOCK* ask %s:50010 to replicate %s to datanode(s) %s:50010", dn, b.id, other)
	case 26:
		comp, pid = "dfs.FSNamesystem", nnPid
		msg = fmt.Sprintf("BLOCK* NameSystem.addStoredBlock: blockMap updated: %s:50010 is added to %s size %d", dn, b.id, b.size)
	case 27:
		comp, pid = "dfs.FSNamesystem", nnPid
		msg = fmt.Sprintf("BLOCK* NameSystem.addStoredBlock: Redundant addStoredBlock request received for %s on %s:50010 size %d", b.id, dn, b.size)
	case 28:
		level, comp, pid = "WARN", "dfs.FSNamesystem", nnPid
		msg = fmt.Sprintf("BLOCK* NameSystem.addStoredBlock: addStoredBlock request received for %s on %s:50010 size %d But it does not belong to any file.", b.id, dn, b.size)
	case 29:
		level, comp, pid = "WARN", "dfs.PendingReplicationMonitor", nnPid
		msg = fmt.Sprintf("PendingReplicationMonitor timed out block %s", b.id)
	case 30:
		comp, pid = "dfs.FSNamesystem", nnPid
		msg = fmt.Sprintf("BLOCK* ask %s:50010 to delete  %s", dn, b.id)
	default:
		// ReadEventSequences rejects these; a direct caller gets a visible marker.
		level, comp = "WARN", "dfs.Unknown"
		msg = fmt.Sprintf("unknown event E%d for %s", ev, b.id)
	}
	return fmt.Sprintf("%s %d %s %s: %s", b.t.Format("060102 150405"), pid, level, comp, msg)
}
