package e2e

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/event-driven-bayes/event-driven-bayes/services/platform/redistest"
)

// readmePath is the README whose examples TestREADME runs.
var readmePath = filepath.Join("..", "..", "README.md")

// updateREADMEVar, set to 1, makes TestREADME write what the
// system printed into README.md instead of failing on a changed answer.
const updateREADMEVar = "EDB_UPDATE_README"

// TestREADME runs README.md's examples as a reader would, so that every
// curl example and every answer it shows was printed by the system:
//
//   - A ```sh block is run line by line; every command must succeed.
//   - A ```console block holds "$ command" lines, each followed by what it
//     prints; the test runs the command and compares its standard output
//     with the text under it (see sameAnswer: stream ids and Date headers
//     masked, numbers equal to 1e-9 relative).
//   - A block that cannot run here (docker compose, kind, make) carries the
//     HTML comment <!-- not run: reason --> on the line above its fence.
//     ```mermaid blocks are pictures, not commands. Any other block, and any
//     curl command outside a run block (in prose or a table), fails the test:
//     an example that is not run would drift from the system unseen.
//
// Each "## " section runs on its own fresh system (redis-server, api and
// bayes with the settings docker compose gives them, ports 8000 and 8001
// rewritten to the test's), its blocks in order in a working directory of
// its own: a section may build on its own earlier commands, never on
// another section. Before every command the test waits until bayes has
// applied every entry of the stream, as a reader who waits a moment would.
//
// EDB_UPDATE_README=1 rewrites the console blocks' answers in README.md with
// what the system printed (answers equal under the masks stay as written,
// so ids and dates do not churn) and passes; see docs/testing.md.
func TestREADME(t *testing.T) {
	if _, err := exec.LookPath("jq"); err != nil {
		t.Fatal("jq not found (the README's examples use it): apt-get install -y jq")
	}
	raw, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	doc, problems := parseREADME(string(raw))
	if len(problems) > 0 {
		t.Fatalf("README.md:\n%s", strings.Join(problems, "\n"))
	}
	update := os.Getenv(updateREADMEVar) == "1"

	var sections []string
	bySection := map[string][]mdBlock{}
	for _, b := range doc.blocks {
		if !b.runs() {
			if b.notRun != "" {
				t.Logf("README.md:%d: not run: %s", b.fence+1, b.notRun)
			}
			continue
		}
		if bySection[b.section] == nil {
			sections = append(sections, b.section)
		}
		bySection[b.section] = append(bySection[b.section], b)
	}
	if len(sections) == 0 {
		t.Fatal("README.md has no sh or console block to run")
	}

	changed := map[int]string{} // a console step's command line → its new answer
	for _, name := range sections {
		t.Run(name, func(t *testing.T) {
			runSection(t, doc, bySection[name], func(s consoleStep, got string, err error) {
				if !update || err != nil {
					t.Errorf("README.md:%d: $ %s\nprinted (exit: %v):\n%s\nthe README says:\n%s\n(after a deliberate change: %s=1 go test -run TestREADME .)",
						s.line+1, s.cmd, err, got, s.want, updateREADMEVar)
					return
				}
				t.Logf("README.md:%d: $ %s: new answer:\n%s", s.line+1, s.cmd, got)
				changed[s.line] = got
			})
		})
	}
	if !update || len(changed) == 0 {
		return
	}
	if t.Failed() {
		t.Fatalf("README.md left as it was: a section failed before every answer was known")
	}
	if err := os.WriteFile(readmePath, []byte(doc.withAnswers(changed)), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("README.md: rewrote %d answer(s); review them with git diff README.md", len(changed))
}

// runSection runs one section's blocks on a fresh system and hands every
// console step whose answer differs from the README's to differs, with the
// command's exit error (an answer of a failed command is not written into
// the README).
func runSection(t *testing.T, doc readme, blocks []mdBlock, differs func(consoleStep, string, error)) {
	s := newREADMESystem(t)
	checked := 0
	for _, b := range blocks {
		if b.lang == "sh" {
			for _, cmd := range shCommands(doc.lines[b.start:b.end]) {
				s.settle(t)
				if out, err := s.run(cmd, true); err != nil {
					t.Fatalf("README.md:%d: %s: %v\n%s", b.fence+1, cmd, err, out)
				}
			}
			continue
		}
		for _, step := range doc.consoleSteps(b) {
			s.settle(t)
			got, err := s.run(step.cmd, false)
			if !sameAnswer(got, step.want) {
				differs(step, got, err)
			}
			checked++
		}
	}
	t.Logf("%d blocks run, %d answers compared", len(blocks), checked)
}

// readmeSystem is redis-server, api and bayes as docker compose configures
// them (bayes' PRIOR and GRID_POINTS at their defaults), on free ports.
type readmeSystem struct {
	rdb   *redis.Client
	dir   string
	local *strings.Replacer
}

func newREADMESystem(t *testing.T) *readmeSystem {
	t.Helper()
	srv := redistest.Start(t)
	dir := t.TempDir()
	api := startProc(t, "api", "api", "REDIS_URL="+srv.URL())
	bayes := startProc(t, "bayes", "bayes", "REDIS_URL="+srv.URL(), "CONSUMER_NAME=bayes",
		"GRAPHS_DIR="+filepath.Join(dir, "graphs"))
	return &readmeSystem{
		rdb: srv.Client(),
		dir: dir,
		local: strings.NewReplacer(
			"localhost:8000", "127.0.0.1:"+strconv.Itoa(api.port),
			"localhost:8001", "127.0.0.1:"+strconv.Itoa(bayes.port)),
	}
}

// run runs cmd with bash in the section's directory and returns its
// standard output as a terminal shows it (no carriage returns, no final
// newline). With pipefail a failing curl before a pipe fails the command;
// console commands run without it, since what they print is checked (and a
// feed read for two seconds with curl -m 2 ends with curl's timeout).
func (s *readmeSystem) run(cmd string, pipefail bool) (string, error) {
	args := []string{"-c", s.local.Replace(cmd)}
	if pipefail {
		args = append([]string{"-o", "pipefail"}, args...)
	}
	c := exec.Command("bash", args...)
	c.Dir = s.dir
	var stderr strings.Builder
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil && stderr.Len() > 0 {
		err = fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimRight(strings.ReplaceAll(string(out), "\r\n", "\n"), "\n"), err
}

// settle waits until bayes has acknowledged every entry of the stream: the
// commit script acknowledges and applies together, so what bayes answers
// afterwards includes every observation and definition the api accepted.
func (s *readmeSystem) settle(t *testing.T) {
	t.Helper()
	const stream, group = "update_model", "bayes"
	eventually(t, 60*time.Second, "bayes applied every entry of "+stream, func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		info, err := s.rdb.XInfoStream(ctx, stream).Result()
		if errors.Is(err, redis.Nil) || (err != nil && strings.Contains(err.Error(), "no such key")) {
			return true, "no stream yet, nothing to apply"
		}
		if err != nil {
			return false, err.Error()
		}
		groups, err := s.rdb.XInfoGroups(ctx, stream).Result()
		if err != nil {
			return false, err.Error()
		}
		for _, g := range groups {
			if g.Name == group {
				return g.Pending == 0 && g.LastDeliveredID == info.LastGeneratedID,
					fmt.Sprintf("delivered up to %s of %s, %d pending", g.LastDeliveredID, info.LastGeneratedID, g.Pending)
			}
		}
		return false, "no consumer group " + group
	})
}

// answerMasks hide what differs from run to run; they are applied to both
// the printed answer and the README's before comparing.
var answerMasks = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`\b\d{13}-\d+\b`), "<stream id>"},  // Redis stream ids: milliseconds-sequence
	{regexp.MustCompile(`(?m)^Date: .*$`), "Date: <date>"}, // the HTTP Date header of curl -i
}

// number is a decimal number as JSON, CSV and Prometheus print it.
var number = regexp.MustCompile(`-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?`)

// sameAnswer reports whether got is want once masked, with numbers equal to
// a relative 1e-9 (1e-12 absolute): the README's answer, field by field,
// without failing on the last bits of a float that another CPU may round
// differently (Go fuses multiply-adds on arm64).
func sameAnswer(got, want string) bool {
	for _, m := range answerMasks {
		got, want = m.re.ReplaceAllString(got, m.with), m.re.ReplaceAllString(want, m.with)
	}
	if got == want {
		return true
	}
	gn, wn := number.FindAllStringIndex(got, -1), number.FindAllStringIndex(want, -1)
	if len(gn) != len(wn) {
		return false
	}
	gPrev, wPrev := 0, 0
	for i := range gn {
		if got[gPrev:gn[i][0]] != want[wPrev:wn[i][0]] {
			return false
		}
		g, errG := strconv.ParseFloat(got[gn[i][0]:gn[i][1]], 64)
		w, errW := strconv.ParseFloat(want[wn[i][0]:wn[i][1]], 64)
		if errG != nil || errW != nil || math.Abs(g-w) > max(1e-9*max(math.Abs(g), math.Abs(w)), 1e-12) {
			return false
		}
		gPrev, wPrev = gn[i][1], wn[i][1]
	}
	return got[gPrev:] == want[wPrev:]
}

// readme is README.md as lines and its fenced blocks.
type readme struct {
	lines  []string
	blocks []mdBlock
}

// mdBlock is one fenced block: lines[start:end] between its fences.
type mdBlock struct {
	section    string // the "## " heading it is under
	lang       string
	fence      int // the opening fence's line index
	start, end int
	notRun     string // the reason of a <!-- not run: reason --> marker
}

// runs reports whether TestREADME runs the block.
func (b mdBlock) runs() bool { return b.notRun == "" && (b.lang == "sh" || b.lang == "console") }

var (
	notRunMarker = regexp.MustCompile(`^<!-- not run: (.*\S)\s*-->$`)
	// curlCommand is curl as a command (curl -s, curl 'url', curl localhost…),
	// not the word in prose ("curl / browser").
	curlCommand = regexp.MustCompile(`\bcurl\s+(?:-|['"]|localhost|https?:)`)
)

// parseREADME splits doc into lines and fenced blocks, and lists what
// breaks the rules of TestREADME.
func parseREADME(doc string) (readme, []string) {
	r := readme{lines: strings.Split(doc, "\n")}
	var problems []string
	section := "(top)"
	for i := 0; i < len(r.lines); i++ {
		line := r.lines[i]
		if h, ok := strings.CutPrefix(line, "## "); ok {
			section = strings.TrimSpace(h)
		}
		if strings.HasPrefix(line, "<!-- not run") {
			if !notRunMarker.MatchString(line) {
				problems = append(problems, fmt.Sprintf("%d: %q: write <!-- not run: reason -->", i+1, line))
			} else if i+1 >= len(r.lines) || !strings.HasPrefix(r.lines[i+1], "```") {
				problems = append(problems, fmt.Sprintf("%d: a not-run marker must be the line above a block's fence", i+1))
			}
		}
		lang, ok := strings.CutPrefix(line, "```")
		if !ok {
			if curlCommand.MatchString(line) {
				problems = append(problems, fmt.Sprintf("%d: a curl command outside a sh or console block is never run: %s", i+1, line))
			}
			continue
		}
		b := mdBlock{section: section, lang: strings.TrimSpace(lang), fence: i, start: i + 1}
		for i++; i < len(r.lines) && !strings.HasPrefix(r.lines[i], "```"); i++ {
		}
		b.end = i
		if i == len(r.lines) {
			problems = append(problems, fmt.Sprintf("%d: a block without its closing fence", b.fence+1))
		}
		if b.fence > 0 {
			if m := notRunMarker.FindStringSubmatch(r.lines[b.fence-1]); m != nil {
				b.notRun = m[1]
			}
		}
		switch {
		case b.notRun != "" || b.lang == "mermaid":
		case b.lang == "sh":
		case b.lang == "console":
			if b.start == b.end || !strings.HasPrefix(r.lines[b.start], "$ ") {
				problems = append(problems, fmt.Sprintf("%d: a console block starts with a \"$ command\" line", b.start+1))
			}
		default:
			problems = append(problems, fmt.Sprintf("%d: a ```%s block: an answer must be printed by a console block's command, or the block marked <!-- not run: reason -->", b.fence+1, b.lang))
		}
		r.blocks = append(r.blocks, b)
	}
	return r, problems
}

// shCommands are a sh block's commands: one a line, a trailing backslash
// continuing it, blank lines skipped.
func shCommands(lines []string) []string {
	var cmds []string
	cur := ""
	for _, line := range lines {
		if c, ok := strings.CutSuffix(line, "\\"); ok {
			cur += c + " "
			continue
		}
		if cmd := strings.TrimSpace(cur + line); cmd != "" {
			cmds = append(cmds, cmd)
		}
		cur = ""
	}
	return cmds
}

// consoleStep is one "$ command" line of a console block and the answer
// under it.
type consoleStep struct {
	cmd, want string
	line      int // the command's line index
	end       int // one past the answer's last line
}

// consoleSteps reads a console block: "$ command" lines, each followed by
// what it prints.
func (r readme) consoleSteps(b mdBlock) []consoleStep {
	var steps []consoleStep
	for i := b.start; i < b.end; i++ {
		if cmd, ok := strings.CutPrefix(r.lines[i], "$ "); ok {
			steps = append(steps, consoleStep{cmd: cmd, line: i, end: i + 1})
			continue
		}
		if len(steps) > 0 {
			steps[len(steps)-1].end = i + 1
		}
	}
	for k := range steps {
		steps[k].want = strings.TrimRight(strings.Join(r.lines[steps[k].line+1:steps[k].end], "\n"), "\n")
	}
	return steps
}

// withAnswers is the README with the answers of the steps at the given
// command lines replaced.
func (r readme) withAnswers(answers map[int]string) string {
	ends := map[int]int{} // command line → one past its old answer
	for _, b := range r.blocks {
		if b.lang != "console" || !b.runs() {
			continue
		}
		for _, s := range r.consoleSteps(b) {
			if _, ok := answers[s.line]; ok {
				ends[s.line] = s.end
			}
		}
	}
	var out []string
	for i := 0; i < len(r.lines); i++ {
		out = append(out, r.lines[i])
		if end, ok := ends[i]; ok {
			if a := answers[i]; a != "" {
				out = append(out, strings.Split(a, "\n")...)
			}
			i = end - 1
		}
	}
	return strings.Join(out, "\n")
}

// TestREADMERules checks TestREADME's own rules on small documents, without
// a system: what counts as a run block, what fails, what the masks hide,
// and where the update mode writes.
func TestREADMERules(t *testing.T) {
	doc := strings.Join([]string{
		"# t", "## One",
		"```console", "$ echo a", "old", "$ echo b", "```",
		"<!-- not run: needs docker -->", "```sh", "docker compose up", "```",
		"```mermaid", "flowchart LR", "```",
		"## Two", "```sh", "curl -s localhost:8000/healthz", "```",
	}, "\n")
	r, problems := parseREADME(doc)
	if len(problems) != 0 {
		t.Fatalf("problems in a valid document: %v", problems)
	}
	var runs []string
	for _, b := range r.blocks {
		if b.runs() {
			runs = append(runs, b.section+":"+b.lang)
		}
	}
	if got := strings.Join(runs, " "); got != "One:console Two:sh" {
		t.Errorf("run blocks %q, want One:console Two:sh", got)
	}
	steps := r.consoleSteps(r.blocks[0])
	if len(steps) != 2 || steps[0].want != "old" || steps[1].want != "" {
		t.Fatalf("console steps %+v", steps)
	}
	want := strings.Replace(doc, "$ echo a\nold\n$ echo b\n", "$ echo a\nnew\nlines\n$ echo b\nb\n", 1)
	if got := r.withAnswers(map[int]string{steps[0].line: "new\nlines", steps[1].line: "b"}); got != want {
		t.Errorf("withAnswers:\n%s\nwant:\n%s", got, want)
	}

	for _, bad := range []string{
		"Call `curl -s localhost:8001/model`.",            // a curl in prose
		"| `GET /x` | `curl -s 'localhost:8001/x'` |",     // a curl in a table
		"```json\n{\"map\":0.7059}\n```",                  // a sample answer no command printed
		"<!-- not run -->\n```sh\nmake\n```",              // a marker without a reason
		"<!-- not run: why -->\n\n```sh\nmake\n```",       // a marker away from its block
		"```console\nan answer without its command\n```",  // a console block must start with $
		"```sh\ncurl -s localhost:8000/update_model/w\n",  // an unclosed block
		"```\ncurl -s localhost:8000/update_model/w\n```", // a block of no language
	} {
		if _, problems := parseREADME(bad); len(problems) == 0 {
			t.Errorf("no problem found in %q", bad)
		}
	}
	if _, problems := parseREADME("client([curl / browser])\nthe quick start's curl lines"); len(problems) != 0 {
		t.Errorf("curl as a word flagged: %v", problems)
	}

	for _, c := range []struct {
		got, want string
		same      bool
	}{
		{`{"id":"1796165083914-0","trial":"w"}`, `{"id":"1733000000000-0","trial":"w"}`, true},
		{"HTTP/1.1 201 Created\nDate: Tue, 01 Dec 2026 22:44:46 GMT", "HTTP/1.1 201 Created\nDate: Sun, 01 Dec 2024 00:00:00 GMT", true},
		{`{"mean":0.06218905472636819}`, `{"mean":0.0621890547263682}`, true},
		{`{"prior":1.0000000000000016}`, `{"prior":1}`, true},
		{`{"mean":0.06218905472636819}`, `{"mean":0.0622}`, false},
		{`{"n":400}`, `{"n":401}`, false},
		{`{"n":400,"w":24}`, `{"n":400}`, false},
		{`{"hpdi":{"prob":0.89}}`, `{"hpdi":{"prob":0.89},"pi":null}`, false},
		{`{"status":"exists"}`, `{"status":"accepted"}`, false},
		{`{"id":"1796165083914-0","trial":"w"}`, `{"id":"1796165083914-0","trial":"l"}`, false},
	} {
		if got := sameAnswer(c.got, c.want); got != c.same {
			t.Errorf("sameAnswer(%s, %s) = %v, want %v", c.got, c.want, got, c.same)
		}
	}
}
