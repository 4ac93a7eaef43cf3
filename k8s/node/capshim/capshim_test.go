package capshim_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/event-driven-bayes/event-driven-bayes/k8s/node/capshim"
)

// The bounding set of this machine's containers: everything up to
// CAP_CHECKPOINT_RESTORE except CAP_SYS_RESOURCE (24), CAP_PERFMON (38),
// CAP_BPF (39) and CAP_CHECKPOINT_RESTORE (40).
var lacking = capshim.Limits{Bounding: (1<<38 - 1) &^ (1 << 24), OOMScoreAdj: 0}

func TestMissing(t *testing.T) {
	got := lacking.Missing()
	want := []string{"CAP_SYS_RESOURCE", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Missing() = %v, want %v", got, want)
	}
	if lacking.Full() {
		t.Fatal("Full() = true for a set without CAP_SYS_RESOURCE")
	}
	if full := (capshim.Limits{Bounding: 1<<41 - 1}); !full.Full() || len(full.Missing()) != 0 {
		t.Fatalf("a full set: Full() = %v, Missing() = %v", full.Full(), full.Missing())
	}
}

func TestFixBundleSpec(t *testing.T) {
	all := `["CAP_CHOWN","CAP_SYS_RESOURCE","CAP_SYS_ADMIN","CAP_BPF","CAP_NEW_IN_SOME_KERNEL"]`
	spec := `{"ociVersion":"1.0.2","process":{"user":{"uid":4294967294},"capabilities":{"bounding":` + all +
		`,"effective":` + all + `,"permitted":` + all + `,"inheritable":null},"oomScoreAdj":-998},"linux":{"x":1}}`
	path := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(path, []byte(spec), 0o600); err != nil {
		t.Fatal(err)
	}
	changed, err := capshim.FixBundleSpec(path, capshim.Limits{Bounding: lacking.Bounding, OOMScoreAdj: -500})
	if err != nil || !changed {
		t.Fatalf("FixBundleSpec = %v, %v; want true, nil", changed, err)
	}
	var doc struct {
		OCIVersion string `json:"ociVersion"`
		Process    struct {
			User         struct{ UID uint64 } `json:"user"`
			Capabilities map[string][]string  `json:"capabilities"`
			OOMScoreAdj  int                  `json:"oomScoreAdj"`
		} `json:"process"`
		Linux map[string]int `json:"linux"`
	}
	data, _ := os.ReadFile(path)
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	want := []string{"CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_NEW_IN_SOME_KERNEL"}
	for _, set := range []string{"bounding", "effective", "permitted"} {
		if got := doc.Process.Capabilities[set]; !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %v, want %v", set, got, want)
		}
	}
	if doc.Process.OOMScoreAdj != -500 {
		t.Errorf("oomScoreAdj = %d, want raised to -500", doc.Process.OOMScoreAdj)
	}
	if doc.Process.User.UID != 4294967294 || doc.OCIVersion != "1.0.2" || doc.Linux["x"] != 1 {
		t.Errorf("other fields changed: %s", data)
	}
}

func TestFixProcessFileLeavesAGrantableSpecAlone(t *testing.T) {
	process := `{"capabilities":{"bounding":["CAP_CHOWN"]},"oomScoreAdj":100}`
	path := filepath.Join(t.TempDir(), "process.json")
	if err := os.WriteFile(path, []byte(process), 0o600); err != nil {
		t.Fatal(err)
	}
	changed, err := capshim.FixProcessFile(path, lacking)
	if err != nil || changed {
		t.Fatalf("FixProcessFile = %v, %v; want false, nil", changed, err)
	}
	if data, _ := os.ReadFile(path); string(data) != process {
		t.Fatalf("file rewritten: %s", data)
	}
}

func TestFixProcessRejectsMalformed(t *testing.T) {
	for _, doc := range []string{`{"capabilities":{"bounding":"CAP_CHOWN"}}`, `{"capabilities":{"bounding":[1]}}`, `{"oomScoreAdj":"low"}`} {
		dec := json.NewDecoder(strings.NewReader(doc))
		dec.UseNumber()
		var p map[string]any
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		if _, err := capshim.FixProcess(p, lacking); err == nil {
			t.Errorf("FixProcess(%s) accepted it", doc)
		}
	}
}

func TestParse(t *testing.T) {
	for _, c := range []struct {
		args []string
		cmd  string
		want capshim.Target
	}{
		{[]string{"--root", "/run/runc", "--log", "/x.log", "--log-format", "json", "create", "--bundle", "/b", "--pid-file", "/p", "id"}, "create", capshim.Target{Bundle: "/b"}},
		{[]string{"--systemd-cgroup", "run", "-b=/c", "id"}, "run", capshim.Target{Bundle: "/c"}},
		{[]string{"create", "id"}, "create", capshim.Target{Bundle: "."}},
		{[]string{"--root", "/r", "exec", "--process", "/tmp/p.json", "--detach", "id"}, "exec", capshim.Target{Process: "/tmp/p.json"}},
		{[]string{"exec", "id", "sh"}, "exec", capshim.Target{}},
		{[]string{"--root", "/r", "kill", "id", "9"}, "kill", capshim.Target{}},
		{[]string{"--version"}, "", capshim.Target{}},
	} {
		cmd, got := capshim.Parse(c.args)
		if cmd != c.cmd || got != c.want {
			t.Errorf("Parse(%q) = %q, %+v; want %q, %+v", c.args, cmd, got, c.cmd, c.want)
		}
	}
}
