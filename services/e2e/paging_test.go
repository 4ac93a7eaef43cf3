package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// churn creates and deletes models through the api until stopped, each
// change confirmed on bayes before the next, so that a reader can wait for
// the list to have changed under it.
type churn struct {
	changes atomic.Int64 // creations and deletions bayes has applied
	mu      sync.Mutex
	created []string // every model it created
	deleted []string // every model it deleted
	err     error    // the first failure; it stopped there
	stop    func()
}

// startChurn deletes models from doomed, and the ones it created, at
// random, and creates new ones named at random among the existing names;
// prefix starts every new name.
func startChurn(bayes, api *proc, prefix string, doomed []string) *churn {
	c := &churn{}
	quit := make(chan struct{})
	done := make(chan struct{})
	pool := append([]string(nil), doomed...)
	// settle polls bayes until the model's status is want.
	settle := func(name string, want int) error {
		deadline := time.Now().Add(30 * time.Second)
		for {
			code, _, err := modelStatus(bayes, name)
			if code == want && err == nil {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("model %s: %d (%v), want %d within 30s", name, code, err, want)
			}
			select {
			case <-quit:
				return nil
			case <-time.After(5 * time.Millisecond): // pacing between polls
			}
		}
	}
	step := func(i int) error {
		name := fmt.Sprintf("%s%03d-c%d", prefix, rand.IntN(1000), i)
		if a := send(http.MethodPost, api.url("/models/"+name+"/observations"), `{"w":1,"l":1}`); a.status != http.StatusCreated {
			return fmt.Errorf("creating %s: %s", name, a)
		}
		if err := settle(name, http.StatusOK); err != nil {
			return err
		}
		c.mu.Lock()
		c.created = append(c.created, name)
		c.mu.Unlock()
		c.changes.Add(1)
		if len(pool) == 0 {
			return nil
		}
		k := rand.IntN(len(pool))
		victim := pool[k]
		pool = append(pool[:k], pool[k+1:]...)
		if a := send(http.MethodDelete, api.url("/models/"+victim), ""); a.status != http.StatusAccepted {
			return fmt.Errorf("deleting %s: %s", victim, a)
		}
		c.mu.Lock()
		c.deleted = append(c.deleted, victim)
		c.mu.Unlock()
		if err := settle(victim, http.StatusNotFound); err != nil {
			return err
		}
		pool = append(pool, name)
		c.changes.Add(1)
		return nil
	}
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-quit:
				return
			default:
			}
			if err := step(i); err != nil {
				c.mu.Lock()
				c.err = err
				c.mu.Unlock()
				return
			}
		}
	}()
	var once sync.Once
	c.stop = func() { once.Do(func() { close(quit); <-done }) }
	return c
}

func (c *churn) failure() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Paging visits every model once while models are created and deleted:
// GET /models?limit=7 walked page by page, each page read only after the
// churn changed the list again (creations and deletions before and after
// the cursor), sees every model that existed for the whole walk exactly
// once, no name twice, nothing that never existed, default first and the
// others in strictly increasing byte order; next always moves forward.
func TestPagingUnderChurn(t *testing.T) {
	const limit = 7
	s := newSystem(t)
	bayes := s.bayes(t, "b0", "LOG_LEVEL=info")
	api := s.api

	// 90 models spread over the key space: the even ones stay, the odd ones
	// the churn may delete.
	var stable, doomed []string
	jobs := make([]*capJob, 0, 90)
	for i := range 90 {
		name := fmt.Sprintf("k%03d", i*11)
		if i%2 == 0 {
			stable = append(stable, name)
		} else {
			doomed = append(doomed, name)
		}
		jobs = append(jobs, &capJob{api: api, name: name, w: 1, l: 1})
	}
	runBurst(jobs, 8)
	for _, j := range jobs {
		if j.ans.status != http.StatusCreated {
			t.Fatalf("creating %s: %s", j.name, j.ans)
		}
	}
	if code, _, err := record(api, "POST", "w"); code != 201 || err != nil {
		t.Fatalf("default: %d %v", code, err)
	}
	waitDrained(t, s.rdb, 30*time.Second)
	if names, err := walkModels(bayes, 1000); err != nil || len(names) != 91 {
		t.Fatalf("before the walk: %d models listed (%v), want 91", len(names), err)
	}

	start := time.Now()
	c := startChurn(bayes, api, "k", doomed)
	t.Cleanup(c.stop)
	seen := map[string]int{}
	var order []string
	after := ""
	pages := 0
	for {
		before := c.changes.Load()
		page, err := listModels(bayes, limit, after, "")
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(page.Models) > limit {
			t.Fatalf("page %d after %q: %d rows, limit %d", pages, after, len(page.Models), limit)
		}
		for _, m := range page.Models {
			seen[m.Name]++
			order = append(order, m.Name)
		}
		if page.Next == nil {
			break
		}
		next := *page.Next
		if after != "" && next <= after {
			t.Fatalf("page %d: next %q does not move past after %q", pages, next, after)
		}
		if n := len(page.Models); n > 0 && page.Models[n-1].Name != "default" && next < page.Models[n-1].Name {
			t.Fatalf("page %d: next %q is before its last row %q", pages, next, page.Models[n-1].Name)
		}
		after = next
		// The list must change under the walk before the next page.
		eventually(t, 30*time.Second, "the churn changed the list", func() (bool, string) {
			if err := c.failure(); err != nil {
				t.Fatalf("churn: %v", err)
			}
			return c.changes.Load() > before, fmt.Sprint(c.changes.Load())
		})
	}
	walked := time.Since(start)
	c.stop()
	if err := c.failure(); err != nil {
		t.Fatalf("churn: %v", err)
	}

	if len(order) == 0 || order[0] != "default" {
		t.Fatalf("the walk starts with %v, want default first", order[:min(len(order), 3)])
	}
	for i := 2; i < len(order); i++ {
		if order[i] <= order[i-1] {
			t.Errorf("rows %d and %d: %q then %q, want strictly increasing after default", i-1, i, order[i-1], order[i])
		}
	}
	for name, n := range seen {
		if n > 1 {
			t.Errorf("%s listed %d times", name, n)
		}
	}
	for _, name := range stable {
		if seen[name] != 1 {
			t.Errorf("%s, there for the whole walk, listed %d times", name, seen[name])
		}
	}
	c.mu.Lock()
	known := map[string]bool{"default": true}
	for _, ns := range [][]string{stable, doomed, c.created} {
		for _, n := range ns {
			known[n] = true
		}
	}
	created, deleted := len(c.created), len(c.deleted)
	c.mu.Unlock()
	for name := range seen {
		if !known[name] {
			t.Errorf("%s listed, but no such model was ever created", name)
		}
	}
	t.Logf("%d pages of %d, %d rows, in %s while %d models were created and %d deleted", pages, limit, len(order), walked.Round(time.Millisecond), created, deleted)

	// A prefix keeps only its names, default only when it has the prefix.
	ctx := context.Background()
	index, err := s.rdb.ZRangeByLex(ctx, modelsIndexKey, &redis.ZRangeBy{Min: "[k00", Max: "(k01"}).Result()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	after = ""
	for {
		page, err := listModels(bayes, limit, after, "k00")
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range page.Models {
			got = append(got, m.Name)
		}
		if page.Next == nil {
			break
		}
		after = *page.Next
	}
	if strings.Join(got, ",") != strings.Join(index, ",") {
		t.Fatalf("prefix k00 lists %v, the index holds %v", got, index)
	}
}
