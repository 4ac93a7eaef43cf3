// Package redisconf turns the Redis environment variables both services read
// into go-redis options: REDIS_URL when set, else the original project's
// REDIS_HOST, REDIS_PORT, REDIS_DB and REDIS_PASSWORD.
package redisconf

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/event-driven-bayes/event-driven-bayes/services/platform/envconf"
)

// Defaults of the individual variables.
const (
	DefaultHost = "localhost"
	DefaultPort = 6379
	DefaultDB   = 0
)

// Read reads the Redis variables through r and returns client options. A bad
// value is recorded in r (so the caller reports all problems at once) and nil
// options are returned.
func Read(r *envconf.Reader) *redis.Options {
	var opts *redis.Options
	if raw, ok := r.Lookup("REDIS_URL"); ok {
		o, err := redis.ParseURL(raw)
		if err != nil {
			r.Fail("REDIS_URL", redact(raw), "a URL such as redis://:password@host:6379/0 ("+err.Error()+")")
			return nil
		}
		opts = o
	} else {
		host := r.String("REDIS_HOST", DefaultHost)
		port := r.Int("REDIS_PORT", DefaultPort, 1, 65535)
		db := r.Int("REDIS_DB", DefaultDB, 0, 1<<16)
		pw, _ := r.Lookup("REDIS_PASSWORD")
		opts = &redis.Options{Addr: net.JoinHostPort(host, strconv.Itoa(port)), DB: db, Password: pw}
	}
	// Fail fast rather than hang: a request waiting on a dead Redis should
	// get its 503 within a few seconds. Blocking reads set their own timeout.
	opts.DialTimeout = 2 * time.Second
	opts.ReadTimeout = 3 * time.Second
	opts.WriteTimeout = 3 * time.Second
	opts.ContextTimeoutEnabled = true
	return opts
}

// Describe is a log-safe description of the options (no password).
func Describe(o *redis.Options) string {
	if o == nil {
		return "<none>"
	}
	return fmt.Sprintf("redis://%s/%d", o.Addr, o.DB)
}

// redact hides the password of a URL that is about to be logged or shown.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "REDACTED")
	}
	return u.String()
}
