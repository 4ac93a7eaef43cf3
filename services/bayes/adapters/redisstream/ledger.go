package redisstream

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app/command"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/domain/model"
)

// commitScript acknowledges and applies a batch atomically. XACK returns 1
// only for an entry that was still pending, so an entry delivered twice (a
// crash between read and commit, a claim racing a slow consumer) changes
// the state once: no processed-id set is needed.
//
// KEYS: stream, dead-letter stream, state hash. ARGV: group, then the
// counts nw, nl, nd, then the nw ids of water entries, the nl ids of land
// entries, and three values per dead-letter entry: id, reason, raw fields
// as JSON. One argument per valid entry keeps the work Redis does per
// event (parsing arguments, making Lua strings) small. Returns {applied,
// skipped, dead, w, n, outcomes}, outcomes one letter per entry in ARGV
// order: a(pplied), s(kipped), d(ead).
var commitScript = redis.NewScript(`
local group = ARGV[1]
local nw, nl, nd = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local out = {}
local dw, dn, skipped, dead = 0, 0, 0, 0
local i = 5
for j = 1, nw + nl do
  if redis.call('XACK', KEYS[1], group, ARGV[i]) == 1 then
    dn = dn + 1
    if j <= nw then dw = dw + 1 end
    out[j] = 'a'
  else
    skipped = skipped + 1
    out[j] = 's'
  end
  i = i + 1
end
for j = 1, nd do
  local id = ARGV[i]
  if redis.call('XACK', KEYS[1], group, id) == 1 then
    redis.call('XADD', KEYS[2], '*', 'source_id', id, 'reason', ARGV[i+1], 'fields', ARGV[i+2])
    dead = dead + 1
    out[nw + nl + j] = 'd'
  else
    skipped = skipped + 1
    out[nw + nl + j] = 's'
  end
  i = i + 3
end
local w, n
if dn > 0 then
  w = redis.call('HINCRBY', KEYS[3], 'w', dw)
  n = redis.call('HINCRBY', KEYS[3], 'n', dn)
else
  local s = redis.call('HMGET', KEYS[3], 'w', 'n')
  w, n = tonumber(s[1]) or 0, tonumber(s[2]) or 0
end
return {dn, skipped, dead, w, n, table.concat(out)}
`)

// Ledger commits batches of decisions; it implements command.Ledger.
type Ledger struct {
	rdb  redis.UniversalClient
	keys Keys
}

// NewLedger returns a ledger over rdb.
func NewLedger(rdb redis.UniversalClient, keys Keys) *Ledger { return &Ledger{rdb: rdb, keys: keys} }

// Commit runs the batch through commitScript in one round trip.
func (l *Ledger) Commit(ctx context.Context, batch []command.Decision) (command.CommitResult, error) {
	// The script takes water ids, then land ids, then dead letters;
	// order[k] is the index in batch of the k-th entry it sees.
	order := make([]int, 0, len(batch))
	var nw, nl, nd int
	for i, d := range batch {
		if !d.DeadLetter() && d.Trial == model.Water {
			order, nw = append(order, i), nw+1
		}
	}
	for i, d := range batch {
		if !d.DeadLetter() && d.Trial == model.Land {
			order, nl = append(order, i), nl+1
		}
	}
	for i, d := range batch {
		if d.DeadLetter() {
			order, nd = append(order, i), nd+1
		}
	}
	args := make([]any, 0, 4+nw+nl+3*nd)
	args = append(args, l.keys.Group, nw, nl, nd)
	for _, i := range order {
		d := batch[i]
		if !d.DeadLetter() {
			args = append(args, d.ID)
			continue
		}
		raw, err := json.Marshal(d.Raw)
		if err != nil {
			raw = []byte(fmt.Sprintf("%q", fmt.Sprint(d.Raw)))
		}
		args = append(args, d.ID, d.Reason, string(raw))
	}
	v, err := commitScript.Run(ctx, l.rdb, []string{l.keys.Stream, l.keys.DeadLetter, l.keys.State}, args...).Slice()
	if err != nil {
		return command.CommitResult{}, fmt.Errorf("commit script: %w", err)
	}
	if len(v) != 6 {
		return command.CommitResult{}, fmt.Errorf("commit script returned %d values, want 6", len(v))
	}
	var n [5]int64
	for i := range n {
		x, ok := v[i].(int64)
		if !ok {
			return command.CommitResult{}, fmt.Errorf("commit script value %d is %T, want an integer", i, v[i])
		}
		n[i] = x
	}
	packed, _ := v[5].(string)
	if len(packed) != len(batch) {
		return command.CommitResult{}, fmt.Errorf("commit script reported %d outcomes for %d entries", len(packed), len(batch))
	}
	outcomes := make([]byte, len(batch))
	for k, i := range order {
		outcomes[i] = packed[k]
	}
	return command.CommitResult{
		Applied: int(n[0]), Skipped: int(n[1]), DeadLettered: int(n[2]),
		State: model.Counts{W: n[3], N: n[4]}, Outcomes: string(outcomes),
	}, nil
}

// State reads the persisted counts; a model that saw nothing yet is (0, 0).
// It implements query.StateReader.
func (l *Ledger) State(ctx context.Context) (model.Counts, error) {
	vals, err := l.rdb.HMGet(ctx, l.keys.State, "w", "n").Result()
	if err != nil {
		return model.Counts{}, fmt.Errorf("reading %s: %w", l.keys.State, err)
	}
	var c model.Counts
	for i, dst := range []*int64{&c.W, &c.N} {
		if vals[i] == nil {
			continue
		}
		s, _ := vals[i].(string)
		if _, err := fmt.Sscan(s, dst); err != nil {
			return model.Counts{}, fmt.Errorf("reading %s: field %d is %q: %w", l.keys.State, i, s, err)
		}
	}
	if !c.Valid() {
		return model.Counts{}, fmt.Errorf("reading %s: impossible counts w=%d n=%d", l.keys.State, c.W, c.N)
	}
	return c, nil
}
