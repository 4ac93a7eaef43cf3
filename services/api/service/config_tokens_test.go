package service_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/event-driven-bayes/event-driven-bayes/services/api/service"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/envconf"
)

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadConfigTokens(t *testing.T) {
	cfg, err := service.LoadConfig(envconf.FromMap(nil))
	if err != nil || cfg.Tokens != nil || cfg.LegacyOpen {
		t.Fatalf("defaults: tokens %v, legacy open %v, %v; want tokens off", cfg.Tokens, cfg.LegacyOpen, err)
	}
	path := writeFile(t, "# the release's\nadmin observe,define,admin admin-token-0123456789abcdef\nci observe ci-token-0123456789abcdef\n")
	cfg, err = service.LoadConfig(envconf.FromMap(map[string]string{"API_TOKENS_FILE": path}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Tokens == nil || !slices.Equal(cfg.Tokens.Names(), []string{"admin", "ci"}) || cfg.LegacyOpen {
		t.Fatalf("tokens %v legacy open %v", cfg.Tokens, cfg.LegacyOpen)
	}
	if tok, ok := cfg.Tokens.Authenticate([]byte("ci-token-0123456789abcdef")); !ok || tok.Name != "ci" {
		t.Errorf("the file's ci token is not recognised")
	}
}

func TestLoadConfigLegacyOpen(t *testing.T) {
	for v, want := range map[string]bool{"1": true, "true": true, "TRUE": true, "0": false, "false": false, "": false} {
		cfg, err := service.LoadConfig(envconf.FromMap(map[string]string{"LEGACY_OPEN": v}))
		if err != nil || cfg.LegacyOpen != want {
			t.Errorf("LEGACY_OPEN=%q: %v, %v; want %v", v, cfg.LegacyOpen, err, want)
		}
	}
	if _, err := service.LoadConfig(envconf.FromMap(map[string]string{"LEGACY_OPEN": "yes"})); err == nil || !strings.Contains(err.Error(), `LEGACY_OPEN="yes"`) {
		t.Errorf("LEGACY_OPEN=yes: %v", err)
	}
}

// A tokens file that cannot be read or is not valid stops the start, with
// an error that names the variable and the line, never a token.
func TestLoadConfigRefusesBadTokensFiles(t *testing.T) {
	const secret = "a-secret-token-0123456789"
	for name, tc := range map[string]struct{ path, want string }{
		"missing":       {filepath.Join(t.TempDir(), "nope"), "no such file"},
		"a directory":   {t.TempDir(), "is a directory"},
		"empty":         {writeFile(t, ""), "no tokens"},
		"unknown scope": {writeFile(t, "# header\nci observe,write "+secret+"\n"), "line 2: the scopes"},
		"duplicate":     {writeFile(t, "a observe "+secret+"\nb define "+secret+"\n"), "line 2: the same token as on line 1"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := service.LoadConfig(envconf.FromMap(map[string]string{"API_TOKENS_FILE": tc.path, "PORT": "0"}))
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			for _, want := range []string{`API_TOKENS_FILE="` + tc.path + `"`, tc.want, `PORT="0"`} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q lacks %q", msg, want)
				}
			}
			if strings.Contains(msg, secret) {
				t.Errorf("error %q quotes the token", msg)
			}
		})
	}
}
