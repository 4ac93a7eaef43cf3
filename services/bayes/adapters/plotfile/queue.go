package plotfile

import (
	"container/heap"
	"time"
)

// fifo is a queue of model names. Models keeps a name in it at most once
// (slot.queued), so it never holds more names than there are models.
type fifo struct {
	items []string
	head  int
}

func (q *fifo) len() int { return len(q.items) - q.head }

func (q *fifo) push(name string) { q.items = append(q.items, name) }

func (q *fifo) pop() string {
	name := q.items[q.head]
	q.items[q.head] = ""
	q.head++
	switch {
	case q.head == len(q.items):
		// Drained: after a burst of ten thousand models, give the array
		// back rather than keep it for good.
		if cap(q.items) > 1024 {
			q.items = nil
		} else {
			q.items = q.items[:0]
		}
		q.head = 0
	case q.head > 1024 && 2*q.head > len(q.items):
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
	return name
}

// later is a min-heap of the models whose next draw waits for their
// minimum interval, by the time it may start (since Models.base).
type later []delayed

type delayed struct {
	at   time.Duration
	name string
}

func (h later) Len() int           { return len(h) }
func (h later) Less(i, j int) bool { return h[i].at < h[j].at }
func (h later) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *later) Push(x any)        { *h = append(*h, x.(delayed)) }
func (h *later) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = delayed{}
	*h = old[:len(old)-1]
	return e
}

func (h *later) add(at time.Duration, name string) { heap.Push(h, delayed{at: at, name: name}) }
func (h *later) next() delayed                     { return heap.Pop(h).(delayed) }
