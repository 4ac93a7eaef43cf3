package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// notebookPath is the exploration notebook CI executes, relative to this
// module.
var notebookPath = filepath.Join("..", "..", "notebooks", "globe-tossing.ipynb")

// requirementsPath pins what the notebook needs outside Docker.
var requirementsPath = filepath.Join("..", "..", "notebooks", "requirements.txt")

// jupyter is Debian's nbconvert, the python3 its kernel runs on and the
// environment to run them in.
type jupyter struct {
	nbconvert string
	python    string
	env       []string
}

// TestNotebookRunsAgainstRealBayes executes notebooks/globe-tossing.ipynb
// top to bottom with Debian's Jupyter against a real bayes, once for a model
// with a Beta prior defined through the api and once for a model created by
// observations alone (the service's default step prior), so both of the
// notebook's closed-form branches run. The notebook asserts its own checks;
// any failing cell makes nbconvert exit non-zero. Neither model is the
// default one, and the parameters reach the notebook both ways it takes
// them: the first run as papermill passes them (a cell after the one tagged
// "parameters", the environment saying otherwise), the second through the
// environment, as the compose jupyter service does.
func TestNotebookRunsAgainstRealBayes(t *testing.T) {
	jp := findJupyter(t)
	s := newSystem(t)
	bayes := s.bayes(t, "nb", "PRIOR=step:0.1")

	// A defined model: the spec arrives at bayes through the stream, so wait
	// until bayes serves it before sending observations.
	mustCall(t, http.MethodPut, s.api.url("/models/nb-beta"), `{"prior":"beta:2,2","grid_points":200}`, http.StatusAccepted)
	nbWaitModel(t, bayes, "nb-beta", "beta:2,2", 200, 0)
	mustCall(t, http.MethodPost, s.api.url("/models/nb-beta/observations"), `{"w":6,"l":3}`, http.StatusCreated)
	for _, trial := range []string{"w", "l", "w", "w", "l"} {
		mustCall(t, http.MethodPost, s.api.url("/models/nb-beta/observations"), `{"trial":"`+trial+`"}`, http.StatusCreated)
	}
	nbWaitModel(t, bayes, "nb-beta", "beta:2,2", 200, 14)
	runNotebook(t, jp, bayes, "nb-beta", injectParameters)

	// A model nobody defined: its first observation creates it with bayes'
	// defaults (PRIOR=step:0.1, 120 grid points).
	mustCall(t, http.MethodPost, s.api.url("/models/nb-step/observations"), `{"w":7,"l":2}`, http.StatusCreated)
	mustCall(t, http.MethodPost, s.api.url("/models/nb-step/observations"), `{"trial":"l"}`, http.StatusCreated)
	nbWaitModel(t, bayes, "nb-step", "step:0.1", 120, 10)
	runNotebook(t, jp, bayes, "nb-step", environmentParameters)
}

// TestNotebookIsCommittedWithoutOutputs: the notebook is committed clean
// (no outputs, no execution counts), so a diff shows what changed in it and
// not a run's figures; and it asks for the kernel Debian's ipykernel
// installs. Needs no Jupyter.
func TestNotebookIsCommittedWithoutOutputs(t *testing.T) {
	b, err := os.ReadFile(notebookPath)
	if err != nil {
		t.Fatal(err)
	}
	var nb struct {
		Metadata struct {
			Kernelspec struct {
				Name string `json:"name"`
			} `json:"kernelspec"`
		} `json:"metadata"`
		NBFormat int `json:"nbformat"`
		Cells    []struct {
			CellType       string            `json:"cell_type"`
			ExecutionCount *int              `json:"execution_count"`
			Outputs        []json.RawMessage `json:"outputs"`
			Metadata       struct {
				Execution json.RawMessage `json:"execution"`
			} `json:"metadata"`
		} `json:"cells"`
	}
	if err := json.Unmarshal(b, &nb); err != nil {
		t.Fatalf("%s: %v", notebookPath, err)
	}
	if nb.NBFormat != 4 || nb.Metadata.Kernelspec.Name != "python3" {
		t.Errorf("%s: nbformat %d kernel %q, want 4 and python3", notebookPath, nb.NBFormat, nb.Metadata.Kernelspec.Name)
	}
	code := 0
	for i, c := range nb.Cells {
		if c.CellType != "code" {
			continue
		}
		code++
		if c.ExecutionCount != nil || len(c.Outputs) != 0 || c.Metadata.Execution != nil {
			t.Errorf("%s: cell %d has outputs, an execution count or timings; clear them before committing: "+
				"jupyter-nbconvert --clear-output --ClearMetadataPreprocessor.enabled=True "+
				"--ClearMetadataPreprocessor.clear_notebook_metadata=False --inplace notebooks/globe-tossing.ipynb", notebookPath, i)
		}
	}
	if code == 0 {
		t.Errorf("%s has no code cells", notebookPath)
	}
}

// findJupyter finds Debian's Jupyter and the environment to run it in, or
// skips the test when it is not installed (fails with
// EDB_REQUIRE_JUPYTER=1). /usr/bin comes first on PATH: a python3 earlier
// on PATH (pyenv, a virtualenv) may lack Debian's numpy, scipy and
// matplotlib, and the kernel must not be that one.
func findJupyter(t *testing.T) jupyter {
	t.Helper()
	unavailable := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...)
		if os.Getenv("EDB_REQUIRE_JUPYTER") == "1" {
			t.Fatal(msg + " (EDB_REQUIRE_JUPYTER=1: Jupyter is required)")
		}
		t.Skip("SKIPPED, the notebook was not executed: " + msg +
			"; apt-get install jupyter-nbconvert python3-ipykernel python3-numpy python3-scipy python3-matplotlib")
	}
	path := "/usr/local/bin:/usr/bin:/bin"
	if p := os.Getenv("PATH"); p != "" {
		path += ":" + p
	}
	tmp := t.TempDir()
	env := append(os.Environ(), "PATH="+path,
		// Runtime files and caches in the test's own folder, not $HOME.
		"JUPYTER_RUNTIME_DIR="+filepath.Join(tmp, "runtime"), "MPLCONFIGDIR="+filepath.Join(tmp, "mpl"),
		"IPYTHONDIR="+filepath.Join(tmp, "ipython"), "PYDEVD_DISABLE_FILE_VALIDATION=1")
	nbconvert, err := lookPathIn(path, "jupyter-nbconvert")
	if err != nil {
		unavailable("jupyter-nbconvert is not installed")
	}
	py, err := lookPathIn(path, "python3")
	if err != nil {
		unavailable("python3 is not installed")
	}
	check := exec.Command(py, "-c", "import ipykernel, numpy, scipy, matplotlib")
	check.Env = env
	if out, err := check.CombinedOutput(); err != nil {
		unavailable("%s cannot import the notebook's modules: %v\n%s", py, err, out)
	}
	return jupyter{nbconvert: nbconvert, python: py, env: env}
}

// lookPathIn is exec.LookPath on the given PATH rather than the process's.
func lookPathIn(path, file string) (string, error) {
	for _, dir := range filepath.SplitList(path) {
		p := filepath.Join(dir, file)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found in %s", file, path)
}

// parametersVia is how a run's parameters reach the notebook.
type parametersVia int

const (
	// injectParameters: as papermill does, a cell right after the one
	// tagged "parameters" assigns them; the environment names another
	// model and a bayes nobody listens on, so the run fails unless the
	// injected values win.
	injectParameters parametersVia = iota
	// environmentParameters: the environment variables the parameter cell
	// reads, as the compose jupyter service sets them.
	environmentParameters
)

// runNotebook executes the notebook for model, its parameters passed as
// how says, and fails with the tail of nbconvert's output (the failing
// cell's traceback) if any cell fails.
func runNotebook(t *testing.T, jp jupyter, bayes *proc, model string, how parametersVia) {
	t.Helper()
	src, err := filepath.Abs(notebookPath)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out := filepath.Join(dir, model+".ipynb")
	params := map[string]string{"MODEL": model, "BAYES_URL": bayes.url(""), "API_URL": ""}
	env := []string{"BAYES_URL=" + params["BAYES_URL"], "MODEL=" + model, "API_URL="}
	if how == injectParameters {
		src = filepath.Join(dir, model+"-parameters.ipynb")
		if err := injectNotebookParameters(notebookPath, src, params); err != nil {
			t.Fatal(err)
		}
		env = []string{"BAYES_URL=http://127.0.0.1:1", "MODEL=default", "API_URL="}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, jp.nbconvert, "--to", "notebook", "--execute",
		"--ExecutePreprocessor.timeout=120", "--ExecutePreprocessor.kernel_name=python3",
		"--output", out, src)
	cmd.Env = slices.Concat(jp.env, env)
	start := time.Now()
	output, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("notebook %s for model %s failed after %s: %v\n%s", notebookPath, model,
			time.Since(start).Round(time.Millisecond), err, nbTail(ansiEscape.ReplaceAll(output, nil), 6000))
	}
	kernel, checks, figures := notebookOutputs(t, out)
	if want := fmt.Sprintf("BAYES_URL=%s MODEL=%s API_URL=(unset)", params["BAYES_URL"], model); !slices.Contains(checks, "\t"+want) {
		t.Errorf("notebook for %s does not print %q; the parameters did not reach it: %q", model, want, checks)
	}
	if figures < 4 {
		t.Errorf("notebook for %s drew %d figures, want 4 (prior and posterior, replay, samples, predictive)", model, figures)
	}
	t.Logf("notebook executed for model %s in %s: %d figures, %s\n%s",
		model, time.Since(start).Round(time.Millisecond), figures, kernel, strings.Join(checks, "\n"))
}

// ansiEscape matches the colour codes of IPython's tracebacks.
var ansiEscape = regexp.MustCompile("\x1b\\[[0-9;]*m")

// checkLines are the notebook's printed results worth a line in the test
// log: the parameters it ran with, and how close the service came to the
// closed form and to simulation.
var checkLines = []string{"BAYES_URL=", "closed form:", "max |", "one at a time vs all at once", "total variation"}

// notebookOutputs reads an executed notebook: the kernel line its first
// cell prints, the lines reporting its checks, and the number of figures it
// drew.
func notebookOutputs(t *testing.T, path string) (kernel string, checks []string, figures int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var nb struct {
		Cells []struct {
			Outputs []struct {
				OutputType string          `json:"output_type"`
				Text       json.RawMessage `json:"text"`
				Data       map[string]any  `json:"data"`
			} `json:"outputs"`
		} `json:"cells"`
	}
	if err := json.Unmarshal(b, &nb); err != nil {
		t.Fatalf("executed notebook %s: %v", path, err)
	}
	for _, c := range nb.Cells {
		for _, o := range c.Outputs {
			if _, ok := o.Data["image/png"]; ok {
				figures++
			}
			var text string
			var lines []string
			if json.Unmarshal(o.Text, &lines) == nil {
				text = strings.Join(lines, "")
			} else {
				_ = json.Unmarshal(o.Text, &text)
			}
			for l := range strings.Lines(text) {
				if strings.HasPrefix(l, "kernel: ") && kernel == "" {
					kernel = strings.TrimSpace(l)
				}
				for _, c := range checkLines {
					if strings.Contains(l, c) {
						checks = append(checks, "\t"+strings.TrimSpace(l))
						break
					}
				}
			}
		}
	}
	if kernel == "" {
		t.Errorf("executed notebook %s does not print its kernel's interpreter", path)
	}
	return kernel, checks, figures
}

// nbTail is the last n bytes of b.
func nbTail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(bytes.TrimSpace(b))
}

// nbWaitModel waits until model name has n observations (waitModel) and
// checks it has the given spec.
func nbWaitModel(t *testing.T, bayes *proc, name, prior string, points int, n int64) {
	t.Helper()
	if v := waitModel(t, bayes, name, n); v.PriorSpec != prior || v.GridPoints != points {
		t.Fatalf("model %s has prior %s on %d points, want %s on %d", name, v.PriorSpec, v.GridPoints, prior, points)
	}
}

// notebookCell is what the parameter checks need of a cell.
type notebookCell struct {
	CellType string `json:"cell_type"`
	Metadata struct {
		Tags []string `json:"tags"`
	} `json:"metadata"`
	Source []string `json:"source"`
}

func readNotebookCells(path string) ([]notebookCell, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var nb struct {
		Cells []notebookCell `json:"cells"`
	}
	if err := json.Unmarshal(b, &nb); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return nb.Cells, nil
}

// notebookParameters are the names the cell tagged "parameters" must set.
var notebookParameters = []string{"MODEL", "BAYES_URL", "API_URL"}

// assignment matches a top-level assignment to a parameter.
var assignment = regexp.MustCompile(`(?m)^(MODEL|BAYES_URL|API_URL)\s*=\s*(.*)$`)

// TestNotebookParameters: one code cell, the first, is tagged "parameters"
// (papermill's convention) and sets MODEL, BAYES_URL and API_URL; no other
// cell reads the environment or sets a parameter other than from itself, so
// a value put in a cell right after the tagged one is the one every later
// cell sees. And injectNotebookParameters puts its cell there. Needs no
// Jupyter.
func TestNotebookParameters(t *testing.T) {
	cells, err := readNotebookCells(notebookPath)
	if err != nil {
		t.Fatal(err)
	}
	tagged, firstCode := -1, -1
	for i, c := range cells {
		if c.CellType == "code" && firstCode < 0 {
			firstCode = i
		}
		src := strings.Join(c.Source, "")
		if slices.Contains(c.Metadata.Tags, "parameters") {
			if tagged >= 0 {
				t.Errorf("cells %d and %d are both tagged parameters", tagged, i)
			}
			tagged = i
			for _, name := range notebookParameters {
				if !regexp.MustCompile(`(?m)^` + name + `\s*=`).MatchString(src) {
					t.Errorf("the parameters cell does not set %s:\n%s", name, src)
				}
			}
			continue
		}
		if c.CellType != "code" {
			continue
		}
		if strings.Contains(src, "os.environ") || strings.Contains(src, "getenv") {
			t.Errorf("cell %d reads the environment; only the parameters cell may:\n%s", i, src)
		}
		for _, m := range assignment.FindAllStringSubmatch(src, -1) {
			if !strings.HasPrefix(m[2], m[1]) {
				t.Errorf("cell %d sets the parameter %s from something else than itself: %s", i, m[1], m[0])
			}
		}
	}
	if tagged < 0 || tagged != firstCode {
		t.Fatalf("the parameters cell is cell %d, the first code cell is %d; want one tagged cell, the first code cell", tagged, firstCode)
	}

	out := filepath.Join(t.TempDir(), "injected.ipynb")
	if err := injectNotebookParameters(notebookPath, out, map[string]string{"MODEL": "m-1", "BAYES_URL": "http://b", "API_URL": ""}); err != nil {
		t.Fatal(err)
	}
	got, err := readNotebookCells(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(cells)+1 || !slices.Contains(got[tagged+1].Metadata.Tags, "injected-parameters") {
		t.Fatalf("injected notebook: %d cells (want %d), cell after the parameters one: %+v", len(got), len(cells)+1, got[tagged+1])
	}
	if src := strings.Join(got[tagged+1].Source, ""); !strings.Contains(src, `MODEL = "m-1"`) || !strings.Contains(src, `API_URL = ""`) {
		t.Errorf("injected cell:\n%s", src)
	}
}

// injectNotebookParameters copies the notebook src to dst with a code cell
// setting params right after the cell tagged "parameters", which is what
// papermill does (Debian packages no papermill). The values are JSON
// strings, which Python reads as the same string literals.
func injectNotebookParameters(src, dst string, params map[string]string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	var nb map[string]any
	if err := json.Unmarshal(b, &nb); err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	cells, _ := nb["cells"].([]any)
	at := -1
	for i, c := range cells {
		cell, _ := c.(map[string]any)
		md, _ := cell["metadata"].(map[string]any)
		tags, _ := md["tags"].([]any)
		if slices.Contains(tags, any("parameters")) {
			at = i
		}
	}
	if at < 0 {
		return fmt.Errorf("%s: no cell tagged parameters", src)
	}
	source := []any{"# Injected parameters (services/e2e/notebook_test.go, as papermill would).\n"}
	for _, name := range slices.Sorted(maps.Keys(params)) {
		v, err := json.Marshal(params[name])
		if err != nil {
			return err
		}
		source = append(source, fmt.Sprintf("%s = %s\n", name, v))
	}
	injected := map[string]any{"cell_type": "code", "execution_count": nil, "id": "injected-parameters",
		"metadata": map[string]any{"tags": []any{"injected-parameters"}}, "outputs": []any{}, "source": source}
	nb["cells"] = slices.Insert(cells, at+1, any(injected))
	out, err := json.MarshalIndent(nb, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(dst, out, 0o644)
}

// requirementPin matches one line of requirements.txt: name==version.
var requirementPin = regexp.MustCompile(`^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)$`)

// distName is a distribution name normalised as PEP 503 does.
func distName(s string) string {
	return strings.ToLower(regexp.MustCompile(`[-_.]+`).ReplaceAllString(s, "-"))
}

// pythonImports asks the kernel's python which modules outside the
// standard library the notebook imports (with the distributions that
// provide them) and which version of each pinned distribution it has.
const pythonImports = `
import ast, json, sys, importlib.metadata as md
nb, pins = json.load(open(sys.argv[1])), sys.argv[2:]
mods = set()
for c in nb["cells"]:
    if c["cell_type"] != "code":
        continue
    src = "".join(l for l in "".join(c["source"]).splitlines(True) if not l.lstrip().startswith(("%", "!")))
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.Import):
            mods.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            mods.add(node.module.split(".")[0])
dists = md.packages_distributions()
imports = {m: dists.get(m, [m]) for m in sorted(mods) if m not in sys.stdlib_module_names}
installed = {}
for p in pins:
    try:
        installed[p] = md.version(p)
    except md.PackageNotFoundError:
        installed[p] = None
json.dump({"imports": imports, "installed": installed}, sys.stdout)
`

// TestNotebookRequirementsMatchTheKernel: notebooks/requirements.txt pins,
// as name==version, every distribution outside the standard library the
// notebook imports, and each pin is the version the kernel this test
// executes the notebook with has (Debian's packages), so running it with
// pip outside Docker gets what CI ran. A pin the kernel lacks (the
// Notebook server, which only the Docker image installs) is logged.
func TestNotebookRequirementsMatchTheKernel(t *testing.T) {
	jp := findJupyter(t)
	b, err := os.ReadFile(requirementsPath)
	if err != nil {
		t.Fatal(err)
	}
	pins := map[string]string{}
	var names []string
	for i, line := range strings.Split(string(b), "\n") {
		line, _, _ = strings.Cut(line, "#")
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		m := requirementPin.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("%s:%d: %q is not name==version", requirementsPath, i+1, line)
			continue
		}
		pins[distName(m[1])] = m[2]
		names = append(names, m[1])
	}
	cmd := exec.Command(jp.python, slices.Concat([]string{"-c", pythonImports, notebookPath}, names)...)
	cmd.Env = jp.env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", jp.python, err, stderr.Bytes())
	}
	var got struct {
		Imports   map[string][]string `json:"imports"`
		Installed map[string]*string  `json:"installed"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%s answered %q: %v", jp.python, out, err)
	}
	if len(got.Imports) == 0 {
		t.Error("found no import outside the standard library in the notebook")
	}
	for mod, dists := range got.Imports {
		if !slices.ContainsFunc(dists, func(d string) bool { _, ok := pins[distName(d)]; return ok }) {
			t.Errorf("the notebook imports %s (distribution %v), which %s does not pin", mod, dists, requirementsPath)
		}
	}
	for _, name := range names {
		have, want := got.Installed[name], pins[distName(name)]
		switch {
		case have == nil:
			t.Logf("%s==%s: not installed for %s, not checked", name, want, jp.python)
		case *have != want:
			t.Errorf("%s pins %s==%s, the kernel that runs the notebook (%s) has %s", requirementsPath, name, want, jp.python, *have)
		}
	}
}
