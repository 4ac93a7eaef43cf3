package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestREADMEABTestWalkThrough runs the README's "An A/B test" section as a
// reader would, against a live api and bayes on a fresh Redis: the sh
// blocks' commands must succeed, and every command of a console block must
// print exactly the answer written under it. A changed answer fails here
// until the README is updated with what the system prints.
func TestREADMEABTestWalkThrough(t *testing.T) {
	if _, err := exec.LookPath("jq"); err != nil {
		t.Fatal("jq not found (the README's examples use it): apt-get install -y jq")
	}
	raw, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	section := sectionOf(t, string(raw), "## An A/B test")
	blocks := regexp.MustCompile("(?s)```(sh|console)\n(.*?)```").FindAllStringSubmatch(section, -1)
	if len(blocks) < 2 {
		t.Fatalf("the section has %d sh/console blocks", len(blocks))
	}

	s := newSystem(t)
	bayes := s.bayes(t, "b0")
	local := strings.NewReplacer("localhost:8000", "127.0.0.1:"+strconv.Itoa(s.api.port), "localhost:8001", "127.0.0.1:"+strconv.Itoa(bayes.port))
	run := func(cmd string) string {
		t.Helper()
		out, err := exec.Command("bash", "-o", "pipefail", "-c", local.Replace(cmd)).Output()
		if err != nil {
			t.Fatalf("%s: %v\n%s", cmd, err, out)
		}
		return strings.TrimRight(string(out), "\n")
	}
	observed := regexp.MustCompile(`/models/([A-Za-z0-9_-]+)/observations -d '\{"w":(\d+),"l":(\d+)\}'`)
	trials := map[string]int64{}
	checked := 0
	for _, b := range blocks {
		if b[1] == "sh" {
			for _, line := range strings.Split(strings.TrimSpace(b[2]), "\n") {
				run(line)
				if m := observed.FindStringSubmatch(line); m != nil {
					w, _ := strconv.ParseInt(m[2], 10, 64)
					l, _ := strconv.ParseInt(m[3], 10, 64)
					trials[m[1]] += w + l
				}
			}
			// The answers below are about the state once bayes applied it.
			for name, n := range trials {
				waitModel(t, bayes, name, n)
			}
			continue
		}
		for _, step := range consoleSteps(b[2]) {
			if got := run(step.cmd); got != step.want {
				t.Errorf("$ %s\nprinted:\n%s\nthe README says:\n%s", step.cmd, got, step.want)
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("no console command was checked")
	}
}

// sectionOf is the text from heading to the next heading of its level.
func sectionOf(t *testing.T, doc, heading string) string {
	t.Helper()
	start := strings.Index(doc, "\n"+heading+"\n")
	if start < 0 {
		t.Fatalf("no %q in the README", heading)
	}
	rest := doc[start+1:]
	if end := strings.Index(rest[len(heading):], "\n## "); end >= 0 {
		return rest[:len(heading)+end]
	}
	return rest
}

type consoleStep struct{ cmd, want string }

// consoleSteps reads a console block: "$ command" lines, each followed by
// what it prints.
func consoleSteps(block string) []consoleStep {
	var steps []consoleStep
	for _, line := range strings.Split(strings.TrimRight(block, "\n"), "\n") {
		if cmd, ok := strings.CutPrefix(line, "$ "); ok {
			steps = append(steps, consoleStep{cmd: cmd})
			continue
		}
		if len(steps) > 0 {
			last := &steps[len(steps)-1]
			if last.want != "" {
				last.want += "\n"
			}
			last.want += line
		}
	}
	return steps
}
