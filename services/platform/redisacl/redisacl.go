// Package redisacl is the one place the services' Redis ACL users are
// defined: which commands each may run, on which keys and channels. The
// rules are data, derived from the stream and channel names, so the tests,
// the ACL file that docker compose and the Helm chart load (a copy of
// testdata/users.acl, pinned by a golden test) and the documentation cannot
// drift apart.
//
// The api may only append to the stream, ping, read a model's spec and
// count the models. bayes gets, per key, only the commands its code runs
// on that key, using Redis 7 selectors: it can DEL the lease but not the
// stream, HINCRBY the state but not SET it as a string. Lua scripts do not
// widen this: every redis.call inside EVAL is checked against the caller's
// ACL. The default user is switched off.
//
// A Redis Cluster (Config.Cluster) has rules of their own, rendered to
// testdata/users-cluster.acl: the streams and hash-tagged keys of every
// shard (events.Shards), WAIT for the api, and the commands go-redis'
// cluster client sends to find the nodes. The ACL is per node in a
// cluster: every node loads the same users.
//
// Passwords are not part of the rules. A rendered line has none, so a user
// loaded from it cannot log in until the deployment appends its secret
// (" >password" or " #sha256-hex"): forgetting it fails closed.
package redisacl

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/event-driven-bayes/event-driven-bayes/services/events"
)

// User names, as REDIS_USERNAME or the user part of REDIS_URL.
const (
	APIUser   = "edb-api"
	BayesUser = "edb-bayes"
	// AdminUser is for operators (redis-cli) and tests, never for a service.
	AdminUser = "edb-admin"
)

// Defaults of REDIS_STREAM and REDIS_CHANNEL.
const (
	DefaultStream  = events.DefaultStream
	DefaultChannel = events.DefaultChannel
)

// Config names the stream and the pub/sub channel the rules are for; empty
// fields mean the defaults. Cluster selects the rules of a Redis Cluster
// (REDIS_CLUSTER_ADDRS) instead of one server's.
type Config struct {
	Stream  string
	Channel string
	Cluster bool
}

func (c Config) withDefaults() Config {
	if c.Stream == "" {
		c.Stream = DefaultStream
	}
	if c.Channel == "" {
		c.Channel = DefaultChannel
	}
	return c
}

// User is one ACL user: its name and its rules, in ACL SETUSER syntax. A
// rule in parentheses is a selector (one argument of ACL SETUSER).
type User struct {
	Name  string
	Rules []string
}

// layout is where a deployment's keys are, as key patterns: the streams,
// the prefixes of every other key of a shard (events.Shards.Prefix), the
// keys that exist once, and what a client needs beyond its keys' commands.
type layout struct {
	streams  []string // every shard's stream
	prefixes []string // every shard's prefix, one pattern each
	lease    string   // the pub/sub bridge's lease (shard 0's prefix)
	shards   string   // the number of shards (events.Shards.ShardsKey)
	// Rules of both services' roots that touch no key: SELECT on one
	// server, the cluster client's discovery on a cluster.
	connect []string
	// The api's WAIT (REDIS_WAIT_REPLICAS): only a cluster has replicas
	// to wait for.
	wait []string
	// What bayes may do with the number of shards: one server has one and
	// bayes only reads it; on a cluster it records it (SET NX).
	shardsCommands string
}

// oneServer is the layout of one shard on one Redis, today's and the
// original's: every key named after the stream, as bayes'
// adapters/redisstream.KeysFor names them. SELECT is there because go-redis
// sends it on connect when REDIS_DB is not 0; key patterns apply in every
// database, so it widens nothing.
func oneServer(stream string) layout {
	s := glob(stream)
	return layout{
		streams: []string{s}, prefixes: []string{s},
		lease: s + ":pubsub-bridge", shards: s + ":shards",
		connect:        []string{"+select"},
		shardsCommands: "+get",
	}
}

// Every shard's name as a pattern: shard i > 0 is <stream>:i and its keys'
// hash tag {<stream>:i} (events.Shards). Character classes match the
// decimal i from 1 to 999 with no leading zero, so the patterns cover every
// shard count up to events.MaxShards and no key of another kind: a dead
// letters stream <stream>:dead is not a shard's stream.
var shardSuffixes = []string{"", ":[1-9]", ":[1-9][0-9]", ":[1-9][0-9][0-9]"}

// cluster is the layout of a Redis Cluster, any number of shards: every
// shard's stream, and every other key hash-tagged with its shard's stream
// so a commit touches one slot. The lease and the shard count are shard
// 0's. Both services' cluster clients discover the nodes with CLUSTER
// SLOTS, read the commands' key positions with COMMAND (go-redis v9 asks
// once per client, and again on every command while it is refused), and
// send ASKING before a command redirected during a slot migration.
// READONLY is not needed: the clients read from masters only.
func cluster(stream string) layout {
	s := glob(stream)
	l := layout{
		lease: "{" + s + "}:pubsub-bridge", shards: "{" + s + "}:shards",
		connect:        []string{"+cluster|slots", "+command", "+asking"},
		wait:           []string{"+wait"},
		shardsCommands: "+set +get",
	}
	for _, suf := range shardSuffixes {
		l.streams = append(l.streams, s+suf)
		l.prefixes = append(l.prefixes, "{"+s+suf+"}")
	}
	return l
}

func (c Config) layout() layout {
	if c.Cluster {
		return cluster(c.Stream)
	}
	return oneServer(c.Stream)
}

// keys are the patterns of one kind of key on every shard, each prefixed
// with "~": suffix after each shard's prefix.
func (l layout) keys(suffix string) string {
	out := make([]string, len(l.prefixes))
	for i, p := range l.prefixes {
		out[i] = "~" + p + suffix
	}
	return strings.Join(out, " ")
}

// streamKeys are the patterns of every shard's stream, each with "~".
func (l layout) streamKeys() string {
	out := make([]string, len(l.streams))
	for i, s := range l.streams {
		out[i] = "~" + s
	}
	return strings.Join(out, " ")
}

// API is the api's user: XADD to the streams and PING, GET a model's spec,
// count the models and check the number of shards, nothing else; on a
// cluster also WAIT for replicas.
func API(cfg Config) User {
	cfg = cfg.withDefaults()
	l := cfg.layout()
	rules := []string{"reset", "on"}
	rules = append(rules, strings.Fields(l.streamKeys())...)
	rules = append(rules, "resetchannels", "+ping")
	rules = append(rules, l.connect...)
	rules = append(rules, "+xadd")
	rules = append(rules, l.wait...)
	return User{Name: APIUser, Rules: append(rules,
		// Model specs, to answer a conflicting definition with 409 and a
		// deletion or reset of a missing model with 404 at once; never the
		// counts (<prefix>:model:*).
		"("+l.keys(":spec:*")+" +get)",
		// The number of models, for MAX_MODELS (409 at once); not the names
		// (SMEMBERS, SSCAN), not a change.
		"("+l.keys(":models")+" +scard)",
		// The number of shards, compared with STREAM_SHARDS before the api
		// is ready (and recorded by the first service to start, on a
		// cluster).
		"(~"+l.shards+" "+l.shardsCommands+")",
	)}
}

// Bayes is bayes' user. The root rules allow what has no key or needs every
// key at once (a script declares all the keys it touches); each selector
// then pairs one key with the commands bayes runs on it, directly or from
// its Lua scripts (commit, trim, stale-consumer cleanup, lease renew,
// fenced forward, release).
func Bayes(cfg Config) User {
	cfg = cfg.withDefaults()
	l := cfg.layout()
	rules := []string{"reset", "on"}
	for _, k := range []string{l.streamKeys(), l.keys(":dead"), l.keys(":model:*"), l.keys(":spec:*"),
		l.keys(":models"), l.keys(":models:index"), l.keys(":epochs"), "~" + l.lease, "~" + l.shards} {
		rules = append(rules, strings.Fields(k)...)
	}
	rules = append(rules, "resetchannels", "&"+glob(cfg.Channel), "+ping")
	rules = append(rules, l.connect...)
	rules = append(rules, "+subscribe",
		// go-redis Script.Run: EVALSHA, then EVAL on NOSCRIPT.
		"+evalsha", "+eval", "+script|load")
	return User{Name: BayesUser, Rules: append(rules,
		// The observations: consumer group, claims, safe trim, metrics, the
		// pub/sub bridge's forwards, and the commit's order barrier (the
		// kind and model of entries other replicas hold: XPENDING, XRANGE).
		"("+l.streamKeys()+" +xgroup|create +xgroup|createconsumer +xgroup|delconsumer"+
			" +xreadgroup +xack +xautoclaim +xpending +xrange +xinfo|groups +xinfo|consumers"+
			" +xlen +xtrim +xadd)",
		// Dead letters are only appended and counted.
		"("+l.keys(":dead")+" +xadd +xlen)",
		// The model's counts and epoch, one hash per model name (a reset
		// sets them to zero with HSET), and its spec.
		"("+l.keys(":model:*")+" +hincrby +hmget +hget +hset)",
		"("+l.keys(":spec:*")+" +get +set)",
		// A deletion removes both in one DEL. One selector must allow a
		// command with all its keys, so DEL gets a selector of its own
		// with both patterns, and nothing else.
		"("+l.keys(":model:*")+" "+l.keys(":spec:*")+" +del)",
		// The names: a set (created, deleted, counted for MAX_MODELS,
		// scanned to build the index) and the sorted index pages read.
		"("+l.keys(":models")+" +sadd +srem +scard +smembers +sscan)",
		"("+l.keys(":models:index")+" +zadd +zrem +zcard +zrangebylex)",
		// The epochs counter: grows with every reset and deletion.
		"("+l.keys(":epochs")+" +exists +incr)",
		// The pub/sub bridge's lease.
		"(~"+l.lease+" +set +get +pexpire +del)",
		// The number of shards, checked at start-up.
		"(~"+l.shards+" "+l.shardsCommands+")",
	)}
}

// Admin can do everything; for an operator's redis-cli and for tests.
func Admin() User {
	return User{Name: AdminUser, Rules: []string{"reset", "on", "~*", "&*", "+@all"}}
}

// DefaultOff switches the default (password-less) user off: no client can
// log in as it. It keeps every permission all the same, because Redis 7.0
// replays the append-only file as the default user: with its permissions
// reset, every transaction in the AOF (each Lua script's effects are one)
// fails with NOPERM at start-up and the model's counts are lost.
func DefaultOff() User {
	return User{Name: "default", Rules: []string{"reset", "off", "~*", "&*", "+@all"}}
}

// Users are the services' users for cfg: api, then bayes.
func Users(cfg Config) []User { return []User{API(cfg), Bayes(cfg)} }

// Deployment is every user a deployment defines, in file order: the
// default user off, the two services, the operator's admin.
func Deployment(cfg Config) []User {
	return append([]User{DefaultOff()}, append(Users(cfg), Admin())...)
}

// Line is u as a line of an ACL file (or, after "user", a redis.conf user
// directive), without a password.
func (u User) Line() string {
	return "user " + u.Name + " " + strings.Join(u.Rules, " ")
}

// SetUserArgs are the arguments of ACL SETUSER creating u with password,
// for go-redis' Do. An empty password adds none.
func (u User) SetUserArgs(password string) []any {
	args := []any{"ACL", "SETUSER", u.Name}
	for _, r := range u.Rules {
		args = append(args, r)
	}
	if password != "" {
		args = append(args, PasswordRule(password))
	}
	return args
}

// PasswordRule is the rule that gives a user password, as its SHA-256, so
// an ACL file holding it does not hold the password itself.
func PasswordRule(password string) string {
	sum := sha256.Sum256([]byte(password))
	return "#" + hex.EncodeToString(sum[:])
}

// File renders users as an ACL file (redis-server --aclfile). passwords
// maps a user name to its password; a user without one gets no password
// rule (it cannot log in). The file has no comments: Redis 7.0 rejects them.
func File(users []User, passwords map[string]string) string {
	var b strings.Builder
	for _, u := range users {
		b.WriteString(u.Line())
		if pw := passwords[u.Name]; pw != "" {
			b.WriteString(" " + PasswordRule(pw))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// glob escapes the pattern characters of an ACL key or channel pattern, so
// a stream name is matched literally.
func glob(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
