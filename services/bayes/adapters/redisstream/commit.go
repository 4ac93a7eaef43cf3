package redisstream

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app/command"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/domain/model"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
)

// commitScript acknowledges and applies a batch atomically. XACK returns 1
// only for an entry that was still pending, so an entry delivered twice (a
// crash between read and commit, a claim racing a slow consumer) changes
// the state once: no processed-id set is needed.
//
// The batch comes grouped by model, each model's entries in stream order.
// A model is created (its spec SET, its name added to the models set and
// to the sorted index) by the first entry applied to it: a definition gives
// its own spec, an observation the service's default. A definition of a
// model that exists with another spec is dead-lettered; with the same spec
// it changes nothing. Creating a model other than the default one when
// the models set and the other shards hold max models already (max > 0)
// dead-letters the entry instead (model_limit): two api replicas can race
// past the api's own check, this one they cannot. With one shard the cap
// is exact; with more, the other shards' count is the caller's recent
// reading (see Census), so shards creating their last models in the same
// second can pass it by a few.
//
// A reset sets the counts to zero and gives the model a new epoch (the
// INCR of the epochs counter); a delete removes the counts, the spec and
// the name, and increments the counter too, so a model created again later
// starts at a larger epoch than any state of the one deleted (creation
// takes a new epoch once the counter exists): states of a model are
// ordered by (epoch, n). A reset or delete of a model that does
// not exist changes nothing (the default model always exists).
//
// Definitions, deletes and resets do not commute with the observations
// around them, and replicas commit their batches in any order (so does a
// claim of a dead consumer's entries): the script keeps stream order per
// model with a barrier, described where it is built below. An entry held
// back stays pending, and the consumer offers it again with its next batch.
//
// KEYS: stream, dead-letter stream, models set, models index, epochs
// counter, then per model its state hash and its spec key: one shard's
// keys, so on a Redis Cluster one slot. ARGV: group,
// default spec, number of models m, number of dead letters d, max models,
// this consumer's name, the batch's newest id, the number of models on the
// other shards (0 with one shard),
// then per model: name, entry count, ops (one letter per entry: w, l,
// c(ounts), d(efine), x (delete), r(eset)) followed by each entry's
// arguments — w/l/x/r: id; c: id, w, l; d: id, spec — then d quadruplets
// of id, code, reason, raw fields as JSON. One argument per one-trial
// entry keeps the work Redis does per event small.
//
// Returns {applied, skipped, dead, outcomes, conflicts, then per model:
// name, w, n, spec, epoch, life}; outcomes has one letter per entry in
// ARGV order: a(pplied), s(kipped), d(ead), m (dead: model limit),
// w(aiting: held back by the order barrier, still pending);
// conflicts lists the 1-based ARGV-order positions of definitions
// dead-lettered as conflicts, comma-separated; life is l(ive), x (deleted
// by the batch) or n (does not exist: nothing to tell anyone).
var commitScript = redis.NewScript(`
local group, defspec = ARGV[1], ARGV[2]
local nm, nd, maxm = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local me, maxid, elsewhere = ARGV[6], ARGV[7], tonumber(ARGV[8])
local out, conflicts, states = {}, {}, {}
local applied, skipped, dead, o = 0, 0, 0, 0
-- adv is how many arguments an entry of op takes, its id included.
local function adv(op)
  if op == 100 then return 2 elseif op == 99 then return 3 end
  return 1
end
local function older(a, b) -- stream id a < stream id b
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  return am < bm or (am == bm and as < bs)
end
-- The order barrier. Observations commute with each other, not with a
-- definition, delete or reset of their model (the first entry committed
-- creates a model, with a definition's spec or the default one). Entries
-- still pending elsewhere (another replica's batch in hand, a dead
-- consumer's) and older than this batch's newest are looked at, once per
-- commit and only when another consumer holds entries: firstOf[model] is
-- the oldest of them for each model, firstChangeOf[model] the oldest
-- definition, delete or reset. A definition, delete or reset waits (stays
-- pending, outcome w) while an older entry of its model is pending; an
-- observation waits while an older definition, delete or reset of its
-- model is; in a model's section everything after a waiting entry waits
-- too. The oldest pending entry of a model never waits, so the model always
-- moves.
local firstOf, firstChangeOf = {}, {}
local others = false
for _, c in ipairs(redis.call('XPENDING', KEYS[1], group)[4] or {}) do
  if c[1] ~= me then others = true end
end
if others then
  local inBatch, k = {}, 9
  for m = 1, nm do
    local ne, ops = tonumber(ARGV[k+1]), ARGV[k+2]
    k = k + 3
    for j = 1, ne do
      inBatch[ARGV[k]] = true
      k = k + adv(string.byte(ops, j))
    end
  end
  for j = 1, nd do
    inBatch[ARGV[k]] = true
    k = k + 4
  end
  -- XPENDING lists in id order: the first entry seen of a model is its oldest.
  for _, p in ipairs(redis.call('XPENDING', KEYS[1], group, '-', maxid, 1000000)) do
    if not inBatch[p[1]] then
      local e = redis.call('XRANGE', KEYS[1], p[1], p[1])[1]
      if e then
        local model, kind = 'default', nil
        for x = 1, #e[2], 2 do
          if e[2][x] == 'model' then model = e[2][x+1] elseif e[2][x] == 'kind' then kind = e[2][x+1] end
        end
        firstOf[model] = firstOf[model] or p[1]
        if kind == 'define' or kind == 'delete' or kind == 'reset' then firstChangeOf[model] = firstChangeOf[model] or p[1] end
      end
    end
  end
end
-- create makes a model: its spec, fixed from now on, its name listed, and,
-- once any model was reset or deleted, a new epoch (a model created again
-- after its deletion must be later than the deletion). It returns the spec,
-- or nil when the model limit refuses the model; the caller dead-letters.
local function create(sk, pk, name, spec)
  if maxm > 0 and name ~= 'default' and redis.call('SCARD', KEYS[3]) + elsewhere >= maxm then
    return nil
  end
  redis.call('SET', pk, spec)
  redis.call('SADD', KEYS[3], name)
  redis.call('ZADD', KEYS[4], 0, name)
  if redis.call('EXISTS', KEYS[5]) == 1 then
    redis.call('HSET', sk, 'e', redis.call('INCR', KEYS[5]))
  end
  return spec
end
local function refuse(id, name, fields)
  redis.call('XADD', KEYS[2], '*', 'source_id', id, 'code', 'model_limit',
    'reason', 'model limit reached: ' .. (redis.call('SCARD', KEYS[3]) + elsewhere) .. ' models exist (MAX_MODELS=' .. maxm .. '); model "' .. name .. '" was not created',
    'fields', fields)
  dead = dead + 1; out[o] = 'm'
end
local i = 9
for m = 1, nm do
  local name, ne, ops = ARGV[i], tonumber(ARGV[i+1]), ARGV[i+2]
  i = i + 3
  local sk, pk = KEYS[4+2*m], KEYS[5+2*m]
  local spec = redis.call('GET', pk)
  local dw, dn, deleted, delep, waiting = 0, 0, false, 0, false
  for j = 1, ne do
    local op = string.byte(ops, j)
    local id = ARGV[i]
    o = o + 1
    if not waiting then
      local first = firstChangeOf[name]
      if op == 100 or op == 120 or op == 114 then first = firstOf[name] end
      waiting = first ~= nil and older(first, id)
    end
    local acked = false
    if waiting then
      out[o] = 'w'
    else
      acked = redis.call('XACK', KEYS[1], group, id) == 1
    end
    if waiting then
      -- stays pending; retried with the consumer's next batch
    elseif op == 100 then -- d: a definition
      local want = ARGV[i+1]
      if not acked then
        skipped = skipped + 1; out[o] = 's'
      elseif not spec then
        spec = create(sk, pk, name, want)
        if spec then
          deleted = false
          applied = applied + 1; out[o] = 'a'
        else
          refuse(id, name, cjson.encode({kind = 'define', model = name, spec = want}))
        end
      elseif spec == want then
        applied = applied + 1; out[o] = 'a'
      else
        redis.call('XADD', KEYS[2], '*', 'source_id', id, 'code', 'model_conflict',
          'reason', 'model "' .. name .. '" exists with spec ' .. spec .. '; the definition asked for ' .. want,
          'fields', want)
        dead = dead + 1; out[o] = 'd'
        conflicts[#conflicts+1] = tostring(o)
      end
    elseif op == 120 or op == 114 then -- x: delete, r: reset
      if not acked then
        skipped = skipped + 1; out[o] = 's'
      else
        applied = applied + 1; out[o] = 'a'
        dw, dn = 0, 0
        if op == 120 then
          if spec then
            redis.call('DEL', sk, pk)
            redis.call('SREM', KEYS[3], name)
            redis.call('ZREM', KEYS[4], name)
            delep = redis.call('INCR', KEYS[5])
            spec, deleted = nil, true
          end
        elseif spec or name == 'default' then
          redis.call('HSET', sk, 'w', 0, 'n', 0, 'e', redis.call('INCR', KEYS[5]))
        end
      end
    else
      local w, l
      if op == 99 then -- c: counts
        w, l = tonumber(ARGV[i+1]), tonumber(ARGV[i+2])
      elseif op == 119 then
        w, l = 1, 0
      else
        w, l = 0, 1
      end
      if not acked then
        skipped = skipped + 1; out[o] = 's'
      else
        if not spec then
          spec = create(sk, pk, name, defspec)
          if spec then deleted = false end
        end
        if spec then
          dw, dn = dw + w, dn + w + l
          applied = applied + 1; out[o] = 'a'
        else
          refuse(id, name, cjson.encode({model = name, w = tostring(w), l = tostring(l)}))
        end
      end
    end
    i = i + adv(op)
  end
  local w, n, e
  if dn > 0 then
    w = redis.call('HINCRBY', sk, 'w', dw)
    n = redis.call('HINCRBY', sk, 'n', dn)
    e = redis.call('HGET', sk, 'e')
  else
    local s = redis.call('HMGET', sk, 'w', 'n', 'e')
    w, n, e = tonumber(s[1]) or 0, tonumber(s[2]) or 0, s[3]
  end
  local life = 'l'
  if deleted then life, e = 'x', delep elseif not spec and name ~= 'default' then life = 'n' end
  states[#states+1] = name
  states[#states+1] = w
  states[#states+1] = n
  states[#states+1] = spec or ''
  states[#states+1] = tonumber(e) or 0
  states[#states+1] = life
end
for j = 1, nd do
  local id = ARGV[i]
  o = o + 1
  if redis.call('XACK', KEYS[1], group, id) == 1 then
    redis.call('XADD', KEYS[2], '*', 'source_id', id, 'code', ARGV[i+1], 'reason', ARGV[i+2], 'fields', ARGV[i+3])
    dead = dead + 1; out[o] = 'd'
  else
    skipped = skipped + 1; out[o] = 's'
  end
  i = i + 4
end
local r = {applied, skipped, dead, table.concat(out), table.concat(conflicts, ',')}
for _, v in ipairs(states) do r[#r+1] = v end
return r
`)

// Ledger commits batches of entries (command.Ledger) and reads the models
// they built (query.ModelStore, in models.go).
type Ledger struct {
	rdb       redis.UniversalClient
	keys      Keys
	defaults  string // encoded spec of a model created by an observation
	maxModels int    // 0: no limit
	consumer  string // this replica's consumer name: its own pending entries need no look
	census    *Census
	shard     int
}

// WithCensus makes the ledger the one of shard i, and census the count of
// the models on the other shards that the cap (WithMaxModels) adds to the
// shard's own: MAX_MODELS bounds the models of every shard together.
// Without it the ledger's shard is the only one.
func WithCensus(census *Census, i int) LedgerOption {
	return func(l *Ledger) { l.census, l.shard = census, i }
}

// WithConsumer names the consumer whose batches the ledger commits. The
// order barrier (see commitScript) looks at entries other consumers hold
// only when there are any; without the name it looks at every commit,
// which is correct, only slower.
func WithConsumer(name string) LedgerOption {
	return func(l *Ledger) { l.consumer = name }
}

// newest is the largest stream id of the batch.
func newest(batch []command.Entry) string {
	best := "0-0"
	for _, e := range batch {
		if _, _, ok := events.ParseStreamID(e.ID); ok && events.CompareStreamIDs(e.ID, best) > 0 {
			best = e.ID
		}
	}
	return best
}

// LedgerOption configures a Ledger.
type LedgerOption func(*Ledger)

// WithMaxModels caps the number of models (MAX_MODELS): an entry that
// would create a model beyond it is dead-lettered (model_limit). The
// default model is never refused. 0, the default, is no cap.
func WithMaxModels(n int) LedgerOption {
	return func(l *Ledger) { l.maxModels = max(n, 0) }
}

// NewLedger returns a ledger over rdb; defaults is the spec a model gets
// when an observation, not a definition, creates it.
func NewLedger(rdb redis.UniversalClient, keys Keys, defaults events.ModelSpec, opts ...LedgerOption) *Ledger {
	l := &Ledger{rdb: rdb, keys: keys, defaults: defaults.Encode()}
	for _, o := range opts {
		o(l)
	}
	return l
}

// section is one model's part of a batch: indexes into the batch.
type section struct {
	name    string
	entries []int
}

// Commit runs the batch through commitScript in one round trip.
func (l *Ledger) Commit(ctx context.Context, batch []command.Entry) (command.Result, error) {
	var sections []section
	at := map[string]int{}
	var dead []int
	for i, e := range batch {
		if e.Kind == command.Reject {
			dead = append(dead, i)
			continue
		}
		k, ok := at[e.Model]
		if !ok {
			k = len(sections)
			at[e.Model] = k
			sections = append(sections, section{name: e.Model})
		}
		sections[k].entries = append(sections[k].entries, i)
	}
	// order[k] is the index in batch of the k-th entry the script sees.
	order := make([]int, 0, len(batch))
	keys := make([]string, 0, 5+2*len(sections))
	keys = append(keys, l.keys.Stream, l.keys.DeadLetter, l.keys.Models, l.keys.Index, l.keys.Epochs)
	args := make([]any, 0, 8+3*len(sections)+2*len(batch)+4*len(dead))
	others := 0
	if l.maxModels > 0 && l.census != nil {
		n, err := l.census.Others(ctx, l.shard)
		if err != nil {
			return command.Result{}, err
		}
		others = n
	}
	args = append(args, l.keys.Group, l.defaults, len(sections), len(dead), l.maxModels, l.consumer, newest(batch), others)
	ops := make([]byte, 0, len(batch))
	for _, s := range sections {
		keys = append(keys, l.keys.State(s.name), l.keys.Spec(s.name))
		// The ops string comes before the entries' arguments; its slot is
		// filled once the entries have been walked.
		args = append(args, s.name, len(s.entries), nil)
		opsAt := len(args) - 1
		ops = ops[:0]
		for _, i := range s.entries {
			e := batch[i]
			order = append(order, i)
			o := op(e)
			ops = append(ops, o)
			switch o {
			case 'd':
				args = append(args, e.ID, e.Spec.Encode())
			case 'c':
				args = append(args, e.ID, e.Observation.W, e.Observation.L)
			default: // w, l, x, r
				args = append(args, e.ID)
			}
		}
		args[opsAt] = string(ops)
	}
	for _, i := range dead {
		e := batch[i]
		order = append(order, i)
		args = append(args, e.ID, e.Rejection.Code, e.Rejection.Reason, e.Rejection.Fields)
	}
	v, err := commitScript.Run(ctx, l.rdb, keys, args...).Slice()
	if err != nil {
		return command.Result{}, fmt.Errorf("commit script: %w", err)
	}
	return l.decodeCommit(v, batch, order, len(sections))
}

// op is the script's letter for an entry that is not rejected: a toss in
// its one-letter form, a batch of counts, a definition, a delete or a
// reset.
func op(e command.Entry) byte {
	switch {
	case e.Kind == command.Define:
		return 'd'
	case e.Kind == command.Delete:
		return 'x'
	case e.Kind == command.Reset:
		return 'r'
	case e.Observation.Trial == model.Water:
		return 'w'
	case e.Observation.Trial == model.Land:
		return 'l'
	default:
		return 'c'
	}
}

// stateFields is how many values the script returns per model.
const stateFields = 6

func (l *Ledger) decodeCommit(v []any, batch []command.Entry, order []int, models int) (command.Result, error) {
	if len(v) != 5+stateFields*models {
		return command.Result{}, fmt.Errorf("commit script returned %d values, want %d", len(v), 5+stateFields*models)
	}
	var n [3]int64
	for i := range n {
		x, ok := v[i].(int64)
		if !ok {
			return command.Result{}, fmt.Errorf("commit script value %d is %T, want an integer", i, v[i])
		}
		n[i] = x
	}
	packed, _ := v[3].(string)
	if len(packed) != len(batch) {
		return command.Result{}, fmt.Errorf("commit script reported %d outcomes for %d entries", len(packed), len(batch))
	}
	res := command.Result{
		Applied: int(n[0]), Skipped: int(n[1]), DeadLettered: int(n[2]),
		Outcomes: make([]command.Outcome, len(batch)),
	}
	for k, i := range order {
		o := command.Outcome{Status: command.Status(packed[k])}
		switch {
		case packed[k] == 'm':
			o.Status, o.Code = command.DeadLettered, command.CodeModelLimit
			o.Reason = fmt.Sprintf("model limit reached (MAX_MODELS=%d); model %q was not created", l.maxModels, batch[i].Model)
		case o.Status == command.DeadLettered && batch[i].Kind == command.Reject:
			o.Reason, o.Code = batch[i].Rejection.Reason, batch[i].Rejection.Code
		}
		res.Outcomes[i] = o
	}
	if c, _ := v[4].(string); c != "" {
		for _, pos := range strings.Split(c, ",") {
			k, err := strconv.Atoi(pos)
			if err != nil || k < 1 || k > len(order) {
				return command.Result{}, fmt.Errorf("commit script reported conflict %q", pos)
			}
			i := order[k-1]
			e := batch[i]
			res.Outcomes[i].Code = command.CodeModelConflict
			res.Outcomes[i].Reason = fmt.Sprintf("model %q exists with another spec; the definition asked for %s", e.Model, e.Spec.Encode())
		}
	}
	for m := range models {
		f := v[5+stateFields*m : 5+stateFields*(m+1)]
		name, _ := f[0].(string)
		w, okW := f[1].(int64)
		nn, okN := f[2].(int64)
		enc, _ := f[3].(string)
		epoch, okE := f[4].(int64)
		life, _ := f[5].(string)
		if !okW || !okN || !okE {
			return command.Result{}, fmt.Errorf("commit script state of %q: %T %T %T, want integers", name, f[1], f[2], f[4])
		}
		switch life {
		case "n":
			continue // never created: refused by the model limit, or only deletes and resets
		case "x":
			res.States = append(res.States, command.ModelState{Name: name, Epoch: epoch, Deleted: true})
			continue
		}
		st := command.ModelState{Name: name, Counts: model.Counts{W: w, N: nn}, Epoch: epoch}
		if enc != "" {
			spec, err := events.DecodeModelSpec(enc)
			if err != nil {
				return command.Result{}, fmt.Errorf("commit script state of %q: %w", name, err)
			}
			st.Spec = spec
		}
		res.States = append(res.States, st)
	}
	return res, nil
}
