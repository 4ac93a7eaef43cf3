package plotfile

import (
	"container/heap"
	"fmt"
	"strconv"
	"strings"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/domain/model"
)

// FileName is the numbered file for c, the original's naming: n_10_w_7.png.
func FileName(c model.Counts) string {
	return fmt.Sprintf("n_%d_w_%d.png", c.N, c.W)
}

// ParseFileName reads a name FileName produced. Anything else (other files,
// non-canonical numbers such as n_07_w_1.png, impossible counts) is not
// ours, and retention never touches it.
func ParseFileName(name string) (model.Counts, bool) {
	rest, ok := strings.CutPrefix(name, "n_")
	if !ok {
		return model.Counts{}, false
	}
	rest, ok = strings.CutSuffix(rest, ".png")
	if !ok {
		return model.Counts{}, false
	}
	ns, ws, ok := strings.Cut(rest, "_w_")
	if !ok {
		return model.Counts{}, false
	}
	n, errN := strconv.ParseInt(ns, 10, 64)
	w, errW := strconv.ParseInt(ws, 10, 64)
	c := model.Counts{W: w, N: n}
	if errN != nil || errW != nil || !c.Valid() || FileName(c) != name {
		return model.Counts{}, false
	}
	return c, true
}

// entry is one numbered file known to exist.
type entry struct {
	counts model.Counts
	name   string
}

// retention is a min-heap of numbered files by N (then W), so removing the
// oldest costs O(log keep) with no directory listing. names guards against
// adding the same file twice when a state is drawn again.
type retention struct {
	h     entryHeap
	names map[string]struct{}
}

func (r *retention) add(c model.Counts, name string) {
	if _, ok := r.names[name]; ok {
		return
	}
	r.push(entry{counts: c, name: name})
}

func (r *retention) push(e entry) {
	if r.names == nil {
		r.names = make(map[string]struct{})
	}
	r.names[e.name] = struct{}{}
	heap.Push(&r.h, e)
}

func (r *retention) popOldest() entry {
	e := heap.Pop(&r.h).(entry)
	delete(r.names, e.name)
	return e
}

func (r *retention) len() int { return r.h.Len() }

type entryHeap []entry

func (h entryHeap) Len() int { return len(h) }
func (h entryHeap) Less(i, j int) bool {
	if h[i].counts.N != h[j].counts.N {
		return h[i].counts.N < h[j].counts.N
	}
	return h[i].counts.W < h[j].counts.W
}
func (h entryHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *entryHeap) Push(x any)   { *h = append(*h, x.(entry)) }
func (h *entryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
