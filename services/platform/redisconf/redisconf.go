// Package redisconf turns the Redis environment variables both services read
// into go-redis options: REDIS_URL when set, else the original project's
// REDIS_HOST, REDIS_PORT, REDIS_DB and REDIS_PASSWORD, plus REDIS_USERNAME
// for a Redis ACL user (see platform/redisacl).
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
			r.Fail("REDIS_URL", redact(raw), "a URL such as redis://user:password@host:6379/0 ("+err.Error()+")")
			return nil
		}
		opts = o
	} else {
		host := r.String("REDIS_HOST", DefaultHost)
		port := r.Int("REDIS_PORT", DefaultPort, 1, 65535)
		db := r.Int("REDIS_DB", DefaultDB, 0, 1<<16)
		user, _ := r.Lookup("REDIS_USERNAME")
		pw, _ := r.Lookup("REDIS_PASSWORD")
		if user != "" && pw == "" {
			// An ACL user without a password can only be one with nopass,
			// which a deployment must not use; catch the forgotten secret
			// here rather than as a puzzling WRONGPASS later.
			r.Fail("REDIS_USERNAME", user, "REDIS_PASSWORD set as well")
		}
		opts = &redis.Options{Addr: net.JoinHostPort(host, strconv.Itoa(port)), DB: db, Username: user, Password: pw}
	}
	tune(opts)
	return opts
}

// tune sets what every client of both services shares, one server or a
// cluster's nodes.
func tune(opts *redis.Options) {
	// Fail fast rather than hang: a request waiting on a dead Redis should
	// get its 503 within a few seconds. Blocking reads set their own timeout.
	opts.DialTimeout = 2 * time.Second
	opts.ReadTimeout = 3 * time.Second
	opts.WriteTimeout = 3 * time.Second
	opts.ContextTimeoutEnabled = true
	// A command is sent at most once. After a lost reply go-redis would
	// resend it, and a resent XADD stores one observation twice; the
	// callers retry at their own level where that is safe (the consume loop
	// re-reads, the commit script ignores what was already acked).
	opts.MaxRetries = -1
	// Dialing is safe to retry (nothing was sent) but should give up fast,
	// so a refused connection turns into a prompt 503.
	opts.DialerRetries = 2
	opts.DialerRetryTimeout = 50 * time.Millisecond
	// No CLIENT SETINFO on connect: the services' ACL users are not granted
	// it (Redis 7.0 does not know the subcommand, so it cannot be listed in
	// a rule that must load there too), and on 7.2+ every connection would
	// otherwise leave a denial in ACL LOG, hiding the ones that matter.
	opts.DisableIdentity = true
}

// Describe is a log-safe description of the options: the user name, which
// tells which ACL user a service runs as, but never the password.
func Describe(o *redis.Options) string {
	if o == nil {
		return "<none>"
	}
	if o.Username != "" {
		return fmt.Sprintf("redis://%s@%s/%d", url.PathEscape(o.Username), o.Addr, o.DB)
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
