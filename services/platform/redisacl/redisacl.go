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
// fields mean the defaults.
type Config struct {
	Stream  string
	Channel string
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

// Keys bayes touches, derived from the stream name exactly as bayes'
// adapters/redisstream.KeysFor does.
func deadLetterKey(stream string) string { return stream + ":dead" }
func leaseKey(stream string) string      { return stream + ":pubsub-bridge" }
func modelsKey(stream string) string     { return stream + ":models" }
func indexKey(stream string) string      { return stream + ":models:index" }
func epochsKey(stream string) string     { return stream + ":epochs" }

// API is the api's user: XADD to the stream and PING, GET a model's spec
// and count the models, nothing else. SELECT is there because go-redis
// sends it on connect when REDIS_DB is not 0; key patterns apply in every
// database, so it widens nothing.
func API(cfg Config) User {
	cfg = cfg.withDefaults()
	return User{Name: APIUser, Rules: []string{
		"reset", "on",
		"~" + glob(cfg.Stream),
		"resetchannels",
		"+ping", "+select", "+xadd",
		// Model specs, to answer a conflicting definition with 409 and a
		// deletion or reset of a missing model with 404 at once; never the
		// counts (<stream>:model:*).
		"(~" + glob(cfg.Stream) + ":spec:* +get)",
		// The number of models, for MAX_MODELS (409 at once); not the names
		// (SMEMBERS, SSCAN), not a change.
		"(~" + glob(modelsKey(cfg.Stream)) + " +scard)",
	}}
}

// Bayes is bayes' user. The root rules allow what has no key or needs every
// key at once (a script declares all the keys it touches); each selector
// then pairs one key with the commands bayes runs on it, directly or from
// its Lua scripts (commit, trim, stale-consumer cleanup, lease renew,
// fenced forward, release).
func Bayes(cfg Config) User {
	cfg = cfg.withDefaults()
	s := glob(cfg.Stream)
	return User{Name: BayesUser, Rules: []string{
		"reset", "on",
		"~" + s, "~" + glob(deadLetterKey(cfg.Stream)), "~" + s + ":model:*", "~" + s + ":spec:*",
		"~" + glob(modelsKey(cfg.Stream)), "~" + glob(indexKey(cfg.Stream)), "~" + glob(epochsKey(cfg.Stream)),
		"~" + glob(leaseKey(cfg.Stream)),
		"resetchannels", "&" + glob(cfg.Channel),
		"+ping", "+select", "+subscribe",
		// go-redis Script.Run: EVALSHA, then EVAL on NOSCRIPT.
		"+evalsha", "+eval", "+script|load",
		// The observations: consumer group, claims, safe trim, metrics, the
		// pub/sub bridge's forwards, and the commit's order barrier (the
		// kind and model of entries other replicas hold: XPENDING, XRANGE).
		"(~" + s + " +xgroup|create +xgroup|createconsumer +xgroup|delconsumer" +
			" +xreadgroup +xack +xautoclaim +xpending +xrange +xinfo|groups +xinfo|consumers" +
			" +xlen +xtrim +xadd)",
		// Dead letters are only appended and counted.
		"(~" + glob(deadLetterKey(cfg.Stream)) + " +xadd +xlen)",
		// The model's counts and epoch, one hash per model name (a reset
		// sets them to zero with HSET), and its spec.
		"(~" + s + ":model:* +hincrby +hmget +hget +hset)",
		"(~" + s + ":spec:* +get +set)",
		// A deletion removes both in one DEL. One selector must allow a
		// command with all its keys, so DEL gets a selector of its own
		// with both patterns, and nothing else.
		"(~" + s + ":model:* ~" + s + ":spec:* +del)",
		// The names: a set (created, deleted, counted for MAX_MODELS,
		// scanned to build the index) and the sorted index pages read.
		"(~" + glob(modelsKey(cfg.Stream)) + " +sadd +srem +scard +smembers +sscan)",
		"(~" + glob(indexKey(cfg.Stream)) + " +zadd +zrem +zcard +zrangebylex)",
		// The epochs counter: grows with every reset and deletion.
		"(~" + glob(epochsKey(cfg.Stream)) + " +exists +incr)",
		// The pub/sub bridge's lease.
		"(~" + glob(leaseKey(cfg.Stream)) + " +set +get +pexpire +del)",
	}}
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
