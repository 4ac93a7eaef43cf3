package redisconf_test

import (
	"strings"
	"testing"

	"github.com/event-driven-bayes/event-driven-bayes/services/platform/envconf"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/redisconf"
)

func read(t *testing.T, env map[string]string) (string, int, string, error) {
	t.Helper()
	r := envconf.New(envconf.FromMap(env))
	o := redisconf.Read(r)
	if o == nil {
		return "", 0, "", r.Err()
	}
	return o.Addr, o.DB, o.Password, r.Err()
}

func TestDefaultsAreTheOriginals(t *testing.T) {
	addr, db, pw, err := read(t, nil)
	if err != nil || addr != "localhost:6379" || db != 0 || pw != "" {
		t.Fatalf("got %s db=%d pw=%q err=%v", addr, db, pw, err)
	}
}

func TestParts(t *testing.T) {
	addr, db, pw, err := read(t, map[string]string{"REDIS_HOST": "redis", "REDIS_PORT": "6380", "REDIS_DB": "2", "REDIS_PASSWORD": "s3cret"})
	if err != nil || addr != "redis:6380" || db != 2 || pw != "s3cret" {
		t.Fatalf("got %s db=%d pw=%q err=%v", addr, db, pw, err)
	}
}

func TestURLWins(t *testing.T) {
	addr, db, pw, err := read(t, map[string]string{"REDIS_URL": "redis://:pw@cache:7000/3", "REDIS_HOST": "ignored"})
	if err != nil || addr != "cache:7000" || db != 3 || pw != "pw" {
		t.Fatalf("got %s db=%d pw=%q err=%v", addr, db, pw, err)
	}
}

func TestBadValuesNameTheVariable(t *testing.T) {
	_, _, _, err := read(t, map[string]string{"REDIS_URL": "http://:hunter2@x"})
	if err == nil || !strings.Contains(err.Error(), "REDIS_URL") || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("err = %v (must name REDIS_URL and hide the password)", err)
	}
	_, _, _, err = read(t, map[string]string{"REDIS_PORT": "99999"})
	if err == nil || !strings.Contains(err.Error(), "REDIS_PORT") {
		t.Fatalf("err = %v", err)
	}
}

func TestUsername(t *testing.T) {
	t.Run("with the parts", func(t *testing.T) {
		r := envconf.New(envconf.FromMap(map[string]string{"REDIS_HOST": "redis", "REDIS_USERNAME": "edb-api", "REDIS_PASSWORD": "s3cret"}))
		o := redisconf.Read(r)
		if err := r.Err(); err != nil {
			t.Fatal(err)
		}
		if o.Username != "edb-api" || o.Password != "s3cret" || o.Addr != "redis:6379" {
			t.Fatalf("options %+v", o)
		}
		if d := redisconf.Describe(o); d != "redis://edb-api@redis:6379/0" || strings.Contains(d, "s3cret") {
			t.Fatalf("Describe = %q", d)
		}
	})
	t.Run("in the URL, which wins", func(t *testing.T) {
		r := envconf.New(envconf.FromMap(map[string]string{"REDIS_URL": "redis://edb-bayes:pw@cache:7000/1", "REDIS_USERNAME": "ignored"}))
		o := redisconf.Read(r)
		if err := r.Err(); err != nil {
			t.Fatal(err)
		}
		if o.Username != "edb-bayes" || o.Password != "pw" {
			t.Fatalf("options %+v", o)
		}
	})
	t.Run("without a password is refused", func(t *testing.T) {
		r := envconf.New(envconf.FromMap(map[string]string{"REDIS_USERNAME": "edb-api"}))
		redisconf.Read(r)
		if err := r.Err(); err == nil || !strings.Contains(err.Error(), "REDIS_USERNAME") || !strings.Contains(err.Error(), "REDIS_PASSWORD") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("no identity commands on connect", func(t *testing.T) {
		// The services' ACL users may not run CLIENT SETINFO.
		if o := redisconf.Read(envconf.New(envconf.FromMap(nil))); !o.DisableIdentity {
			t.Fatal("DisableIdentity is off")
		}
	})
}
