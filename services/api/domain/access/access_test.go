package access_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/event-driven-bayes/event-driven-bayes/services/api/domain/access"
)

const (
	adminToken = "admin-0123456789abcdef-XYZ"
	ciToken    = "ci~token.with/odd+chars=="
	readToken  = "0123456789abcdef"
)

func parse(t *testing.T, s string) *access.Tokens {
	t.Helper()
	ts, err := access.Parse(strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func TestParseAndAuthenticate(t *testing.T) {
	ts := parse(t, "\ufeff# the release's tokens\n\n"+
		"admin observe,define,admin "+adminToken+"\r\n"+
		"   ci\tobserve,define\t"+ciToken+"   \n"+
		"# only observations\n"+
		"obs observe "+readToken+"\n")
	if ts.Len() != 3 || !slices.Equal(ts.Names(), []string{"admin", "ci", "obs"}) {
		t.Fatalf("names %v", ts.Names())
	}
	for _, tc := range []struct {
		token, name string
		scopes      []access.Scope
	}{
		{adminToken, "admin", []access.Scope{access.Observe, access.Define, access.Admin}},
		{ciToken, "ci", []access.Scope{access.Observe, access.Define}},
		{readToken, "obs", []access.Scope{access.Observe}},
	} {
		tok, ok := ts.Authenticate([]byte(tc.token))
		if !ok || tok.Name != tc.name || !slices.Equal(tok.Scopes(), tc.scopes) {
			t.Errorf("%s: %v %q %v, want %q %v", tc.name, ok, tok.Name, tok.Scopes(), tc.name, tc.scopes)
		}
		for _, s := range access.Scopes {
			if tok.Has(s) != slices.Contains(tc.scopes, s) {
				t.Errorf("%s: Has(%s) = %v", tc.name, s, tok.Has(s))
			}
		}
		if tok.Has("") || tok.Has("root") {
			t.Errorf("%s has a scope that does not exist", tc.name)
		}
	}
	for _, bad := range []string{"", "admin", adminToken + " ", adminToken[:len(adminToken)-1], strings.ToUpper(ciToken), "x" + readToken, readToken + "x"} {
		if tok, ok := ts.Authenticate([]byte(bad)); ok || tok.Name != "" {
			t.Errorf("Authenticate(%q) = %q, %v", bad, tok.Name, ok)
		}
	}
}

// Every error names the line; none quotes a value from the file, so a token
// in the wrong column never reaches a log.
func TestParseErrorsNameTheLineNeverTheToken(t *testing.T) {
	const secret = "S3cret-token-that-must-not-leak"
	for _, tc := range []struct {
		name, file, want string
	}{
		{"empty file", "", "no tokens"},
		{"comments only", "# nothing\n\n   \n", "no tokens"},
		{"token only", "\n" + secret + "\n", "line 2: 1 fields, want 3"},
		{"two fields", "ci " + secret + "\n", "line 1: 2 fields, want 3"},
		{"four fields", "ci observe " + secret + " # comment\n", "line 1: 5 fields, want 3"},
		{"space in token", "ci observe S3cret token that must not leak\n", "line 1: 8 fields"},
		{"columns swapped", secret + "-and-more-than-sixty-four-characters-long-so-not-a-name-0123 observe ci-token-0123456789\n", "line 1: the name"},
		{"bad name", "c.i observe " + secret + "\n", "line 1: the name"},
		{"unknown scope", "ci observe,delete " + secret + "\n", "line 1: the scopes"},
		{"upper-case scope", "ci Observe " + secret + "\n", "line 1: the scopes"},
		{"empty scope", "ci observe,,define " + secret + "\n", "line 1: the scopes"},
		{"scope twice", "ci observe,observe " + secret + "\n", "line 1: the scopes (second field) list a scope twice"},
		{"short token", "ci observe 0123456789abcde\n", "line 1: the token (third field) must be 16 to 256"},
		{"long token", "ci observe " + strings.Repeat("t", 257) + "\n", "line 1: the token"},
		{"non-ASCII token", "ci observe " + secret + "é\n", "line 1: the token"},
		{"control character", "ci observe " + secret + "\x7f\n", "line 1: the token"},
		{"duplicate name", "ci observe " + secret + "\n#\nci define other-token-0123456789\n", "line 3: the name is already used on line 1"},
		{"duplicate token", "a observe " + secret + "\nb define " + secret + "\n", "line 2: the same token as on line 1"},
		{"line too long", "ci observe " + secret + "\n" + strings.Repeat("x", 5000) + "\n", "line 2: longer than 4096 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := access.Parse(strings.NewReader(tc.file))
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, access.ErrFormat) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want ErrFormat and %q", err, tc.want)
			}
			for _, leak := range []string{secret, "S3cret", "ci-token", "delete", "Observe", "c.i"} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("error %q quotes %q from the file", err, leak)
				}
			}
		})
	}
}

func TestParseLimits(t *testing.T) {
	var b strings.Builder
	for i := range access.MaxTokens {
		fmt.Fprintf(&b, "t%03d observe token-number-%d-padding\n", i, i)
	}
	if ts := parse(t, b.String()); ts.Len() != access.MaxTokens {
		t.Fatalf("%d tokens", ts.Len())
	}
	b.WriteString("one-more observe one-more-token-0123456789\n")
	if _, err := access.Parse(strings.NewReader(b.String())); err == nil || !strings.Contains(err.Error(), "more than 1000 tokens") {
		t.Fatalf("err = %v", err)
	}
	name64 := strings.Repeat("n", access.MaxNameLen)
	token256 := strings.Repeat("t", access.MaxTokenLen)
	ts := parse(t, name64+" admin "+token256)
	if tok, ok := ts.Authenticate([]byte(token256)); !ok || tok.Name != name64 {
		t.Fatal("the longest name and token are refused")
	}
	if _, err := access.Parse(strings.NewReader(name64 + "n admin " + token256)); err == nil {
		t.Fatal("a 65-character name is accepted")
	}
}

func TestValidPresented(t *testing.T) {
	for in, want := range map[string]bool{
		"a": true, readToken: true, strings.Repeat("t", 256): true,
		"": false, strings.Repeat("t", 257): false, "a b": false, "tab\there": false, "nul\x00": false, "é": false,
	} {
		if got := access.ValidPresented([]byte(in)); got != want {
			t.Errorf("ValidPresented(%q) = %v", in, got)
		}
	}
}

func BenchmarkAuthenticate(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		var f strings.Builder
		for i := range n {
			fmt.Fprintf(&f, "t%d observe token-number-%d-padding\n", i, i)
		}
		ts, err := access.Parse(strings.NewReader(f.String()))
		if err != nil {
			b.Fatal(err)
		}
		presented := []byte("token-number-0-padding")
		b.Run(fmt.Sprintf("%d tokens", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := ts.Authenticate(presented); !ok {
					b.Fatal("not found")
				}
			}
		})
	}
}
