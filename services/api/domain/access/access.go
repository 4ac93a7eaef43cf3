// Package access is who may write: API tokens, each with a name and the
// scopes it grants, read from the tokens file (API_TOKENS_FILE) and matched
// against what a client presents. It is pure (the file's bytes come in as
// an io.Reader), so the rules are checked by plain tests: the file format,
// the errors that name a line but never a token, and a comparison whose
// time does not depend on how much of a token a guess got right.
//
// It is domain rather than an adapter: which scope each action needs and
// what a token grants is a rule of the system, not a detail of how the file
// is stored; the port and the composition root both use it.
package access

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Scope is a permission a token grants.
type Scope string

// The scopes: observe records observations, define defines models, admin
// deletes and resets them. Scopes do not imply each other: a token that
// may do everything lists all three.
const (
	Observe Scope = "observe"
	Define  Scope = "define"
	Admin   Scope = "admin"
)

// Scopes are every scope, in the order the documentation lists them.
var Scopes = []Scope{Observe, Define, Admin}

// bit is s as a bit of Token.scopes, 0 for no known scope.
func (s Scope) bit() uint8 {
	switch s {
	case Observe:
		return 1
	case Define:
		return 2
	case Admin:
		return 4
	}
	return 0
}

// Limits of the file format.
const (
	// MinTokenLen and MaxTokenLen bound a token: long enough not to be
	// guessed (16 random characters are ~95 bits), short enough to fit a
	// header with room to spare.
	MinTokenLen = 16
	MaxTokenLen = 256
	// MaxNameLen bounds a token's name, which logs and metrics may show.
	MaxNameLen = 64
	// MaxTokens bounds the file: every presented token is compared with
	// each configured one, so their number is the cost of a request.
	MaxTokens = 1000
	// maxLine bounds one line: a name, three scopes and a token with
	// separators fit many times over.
	maxLine = 4096
)

// Token is one configured token: its name and scopes, and the SHA-256 of
// the token itself. The token is not kept: nothing can print it.
type Token struct {
	// Name is the token's name from the file: what logs, problems and
	// metrics may show instead of the token.
	Name   string
	scopes uint8
	hash   [sha256.Size]byte
}

// Has reports whether t grants s.
func (t Token) Has(s Scope) bool {
	b := s.bit()
	return b != 0 && t.scopes&b != 0
}

// Scopes are the scopes t grants, in the order of Scopes.
func (t Token) Scopes() []Scope {
	var out []Scope
	for _, s := range Scopes {
		if t.Has(s) {
			out = append(out, s)
		}
	}
	return out
}

// Tokens are the configured tokens. Read-only after Parse, so safe for
// concurrent use.
type Tokens struct{ list []Token }

// Len is the number of tokens.
func (ts *Tokens) Len() int { return len(ts.list) }

// Names are the tokens' names, in the file's order.
func (ts *Tokens) Names() []string {
	names := make([]string, len(ts.list))
	for i, t := range ts.list {
		names[i] = t.Name
	}
	return names
}

// Authenticate returns the token presented is, and whether it is one. The
// presented token is hashed and its hash compared with every configured
// token's, each comparison constant-time and none cut short, so how long
// it takes says nothing about which token, or which part of one, a guess
// came close to: only the number of configured tokens shows.
func (ts *Tokens) Authenticate(presented []byte) (Token, bool) {
	sum := sha256.Sum256(presented)
	found, at := 0, 0
	for i := range ts.list {
		eq := subtle.ConstantTimeCompare(sum[:], ts.list[i].hash[:])
		at = subtle.ConstantTimeSelect(eq, i, at)
		found |= eq
	}
	if found == 0 {
		return Token{}, false
	}
	return ts.list[at], true
}

// ErrFormat is wrapped by every error of Parse about the file's content.
var ErrFormat = errors.New("invalid tokens file")

// Parse reads a tokens file: one token per line as
//
//	NAME SCOPES TOKEN
//
// separated by spaces or tabs, NAME of 1 to 64 of [A-Za-z0-9_-], SCOPES a
// comma-separated list of observe, define and admin, TOKEN 16 to 256
// printable ASCII characters without spaces. Blank lines and lines
// starting with # are ignored. Names and tokens must be unique, and there
// must be at least one token. An error names the line and what is wrong
// with it, never a value from the file: a token pasted in the wrong column
// must not end up in a log.
func Parse(r io.Reader) (*Tokens, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 512), maxLine)
	ts := &Tokens{}
	names := map[string]int{}
	hashes := map[[sha256.Size]byte]int{}
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if line == 1 {
			text = strings.TrimPrefix(text, "\ufeff") // a byte order mark from an editor
		}
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		t, err := parseLine(text)
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %s", ErrFormat, line, err)
		}
		if prev, dup := names[t.Name]; dup {
			return nil, fmt.Errorf("%w: line %d: the name is already used on line %d; names must be unique", ErrFormat, line, prev)
		}
		if prev, dup := hashes[t.hash]; dup {
			return nil, fmt.Errorf("%w: line %d: the same token as on line %d; tokens must be unique", ErrFormat, line, prev)
		}
		if len(ts.list) == MaxTokens {
			return nil, fmt.Errorf("%w: line %d: more than %d tokens", ErrFormat, line, MaxTokens)
		}
		names[t.Name], hashes[t.hash] = line, line
		ts.list = append(ts.list, t)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("%w: line %d: longer than %d bytes", ErrFormat, line+1, maxLine)
		}
		return nil, fmt.Errorf("reading tokens: %w", err)
	}
	if len(ts.list) == 0 {
		return nil, fmt.Errorf("%w: no tokens (want lines NAME SCOPES TOKEN, e.g. \"ci observe,define <token>\")", ErrFormat)
	}
	return ts, nil
}

// parseLine parses one non-blank, non-comment line. Its errors describe the
// field at fault without quoting it.
func parseLine(text string) (Token, error) {
	fields := strings.Fields(text)
	if len(fields) != 3 {
		return Token{}, fmt.Errorf("%d fields, want 3: NAME SCOPES TOKEN separated by spaces", len(fields))
	}
	name, scopes, token := fields[0], fields[1], fields[2]
	if !validName(name) {
		return Token{}, fmt.Errorf("the name (first field) must be 1 to %d of A-Z, a-z, 0-9, _ and -", MaxNameLen)
	}
	t := Token{Name: name}
	for s := range strings.SplitSeq(scopes, ",") {
		b := Scope(s).bit()
		switch {
		case b == 0:
			return Token{}, errors.New("the scopes (second field) must be observe, define or admin, comma separated without spaces")
		case t.scopes&b != 0:
			return Token{}, errors.New("the scopes (second field) list a scope twice")
		}
		t.scopes |= b
	}
	if len(token) < MinTokenLen || len(token) > MaxTokenLen || !validToken(token) {
		return Token{}, fmt.Errorf("the token (third field) must be %d to %d printable ASCII characters without spaces", MinTokenLen, MaxTokenLen)
	}
	t.hash = sha256.Sum256([]byte(token))
	return t, nil
}

func validName(s string) bool {
	if s == "" || len(s) > MaxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// validToken reports whether every byte of s is printable ASCII other than
// space (0x21 to 0x7e).
func validToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// ValidPresented reports whether b could be a token at all (its length and
// characters): what a port checks before Authenticate, to answer a
// malformed header as such.
func ValidPresented(b []byte) bool {
	if len(b) < 1 || len(b) > MaxTokenLen {
		return false
	}
	for _, c := range b {
		if c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}
