package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
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

// jupyter is Debian's nbconvert and the environment to run it in.
type jupyter struct {
	nbconvert string
	env       []string
}

// TestNotebookRunsAgainstRealBayes executes notebooks/globe-tossing.ipynb
// top to bottom with Debian's Jupyter against a real bayes, once for a model
// with a Beta prior defined through the api and once for a model created by
// observations alone (the service's default step prior), so both of the
// notebook's closed-form branches run. The notebook asserts its own checks;
// any failing cell makes nbconvert exit non-zero.
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
	runNotebook(t, jp, bayes, "nb-beta")

	// A model nobody defined: its first observation creates it with bayes'
	// defaults (PRIOR=step:0.1, 120 grid points).
	mustCall(t, http.MethodPost, s.api.url("/models/nb-step/observations"), `{"w":7,"l":2}`, http.StatusCreated)
	mustCall(t, http.MethodPost, s.api.url("/models/nb-step/observations"), `{"trial":"l"}`, http.StatusCreated)
	nbWaitModel(t, bayes, "nb-step", "step:0.1", 120, 10)
	runNotebook(t, jp, bayes, "nb-step")
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
	return jupyter{nbconvert: nbconvert, env: env}
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

// runNotebook executes the notebook for model and fails with the tail of
// nbconvert's output (the failing cell's traceback) if any cell fails.
func runNotebook(t *testing.T, jp jupyter, bayes *proc, model string) {
	t.Helper()
	src, err := filepath.Abs(notebookPath)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), model+".ipynb")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, jp.nbconvert, "--to", "notebook", "--execute",
		"--ExecutePreprocessor.timeout=120", "--ExecutePreprocessor.kernel_name=python3",
		"--output", out, src)
	cmd.Env = slices.Concat(jp.env, []string{"BAYES_URL=" + bayes.url(""), "MODEL=" + model, "API_URL="})
	start := time.Now()
	output, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("notebook %s for model %s failed after %s: %v\n%s", notebookPath, model,
			time.Since(start).Round(time.Millisecond), err, nbTail(ansiEscape.ReplaceAll(output, nil), 6000))
	}
	kernel, checks, figures := notebookOutputs(t, out)
	if figures < 4 {
		t.Errorf("notebook for %s drew %d figures, want 4 (prior and posterior, replay, samples, predictive)", model, figures)
	}
	t.Logf("notebook executed for model %s in %s: %d figures, %s\n%s",
		model, time.Since(start).Round(time.Millisecond), figures, kernel, strings.Join(checks, "\n"))
}

// ansiEscape matches the colour codes of IPython's tracebacks.
var ansiEscape = regexp.MustCompile("\x1b\\[[0-9;]*m")

// checkLines are the notebook's printed results worth a line in the test
// log: how close the service came to the closed form and to simulation.
var checkLines = []string{"closed form:", "max |", "one at a time vs all at once", "total variation"}

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
