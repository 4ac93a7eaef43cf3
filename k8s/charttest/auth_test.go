package charttest

import (
	"os/exec"
	"path"
	"regexp"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// tokensSecretName is the Secret holding the api's tokens file: the
// existing one, or the chart's own.
func tokensSecretName(r *release) string {
	v, _ := lookupValue(r.values, "api.auth.existingSecret")
	if ex, _ := v.(string); ex != "" {
		return ex
	}
	return fullname(r) + "-api-tokens"
}

// generatedTokens is what a chart-generated tokens file holds: one token
// named admin with every scope, 40 random letters and digits.
var generatedTokens = regexp.MustCompile(`^admin observe,define,admin ([A-Za-z0-9]{40})\n$`)

// renderedToken reads the tokens file of the chart's Secret, checked to be
// the generated one; it returns the token.
func renderedToken(t *testing.T, r *release) string {
	t.Helper()
	s := secret(r, tokensSecretName(r))
	if s == nil {
		t.Fatalf("no Secret %s", tokensSecretName(r))
	}
	if len(s.Data) != 1 {
		t.Errorf("Secret %s has %d keys, want only tokens", s.Name, len(s.Data))
	}
	m := generatedTokens.FindStringSubmatch(string(s.Data["tokens"]))
	if m == nil {
		t.Fatalf("Secret %s tokens = %q, want one line admin observe,define,admin <40 letters and digits>", s.Name, s.Data["tokens"])
	}
	return m[1]
}

// checkTokensMount checks that the api reads the tokens file of secretName
// through API_TOKENS_FILE, mounted read-only, and legacyOpen as LEGACY_OPEN.
func checkTokensMount(t *testing.T, r *release, secretName, legacyOpen string) {
	t.Helper()
	spec := r.component(t, "api").template.Spec
	c := container(t, spec, "api")
	file := envValue(c, "API_TOKENS_FILE")
	if file == "" || !strings.HasPrefix(file, "/") {
		t.Fatalf("API_TOKENS_FILE=%q, want the mounted file", file)
	}
	if got := envValue(c, "LEGACY_OPEN"); got != legacyOpen {
		t.Errorf("LEGACY_OPEN=%q, want %q", got, legacyOpen)
	}
	m := mountAt(c, path.Dir(file))
	if m == nil || !m.ReadOnly {
		t.Fatalf("nothing mounted read-only at %s: %+v", path.Dir(file), c.VolumeMounts)
	}
	v := volume(spec, m.Name)
	if v == nil || v.Secret == nil || v.Secret.SecretName != secretName {
		t.Fatalf("volume %s is not the Secret %s: %+v", m.Name, secretName, v)
	}
	if len(v.Secret.Items) != 1 || v.Secret.Items[0].Key != "tokens" || v.Secret.Items[0].Path != path.Base(file) {
		t.Errorf("volume %s items %+v, want the key tokens as %s", m.Name, v.Secret.Items, path.Base(file))
	}
	// uid 65532 reads it; nobody writes it.
	if mode := v.Secret.DefaultMode; mode == nil || *mode&0o222 != 0 || *mode&0o004 == 0 {
		t.Errorf("volume %s mode %v, want readable by any user and writable by none", m.Name, mode)
	}
}

// The chart's default: tokens on, with a generated admin token in a Secret
// of the release, mounted into the api, and NOTES.txt saying how to read it
// and use it.
func TestAPITokensOnByDefault(t *testing.T) {
	r := render(t, renderOpts{clients: fakeCluster(t)})
	tok := renderedToken(t, r)
	checkTokensMount(t, r, fullname(r)+"-api-tokens", "0")
	if s := secret(r, tokensSecretName(r)); s.Labels["app.kubernetes.io/component"] != "api" {
		t.Errorf("Secret %s labels %v", s.Name, s.Labels)
	}
	if strings.Contains(r.notes, tok) {
		t.Errorf("NOTES.txt prints the token itself")
	}
	read := "kubectl -n default get secret " + tokensSecretName(r) + ` -o jsonpath='{.data.tokens}' | base64 -d | awk '$1 == "admin" {print $3}'`
	for _, want := range []string{"TOKEN=$(" + read + ")", `curl -X POST localhost:8000/update_model/w -H "Authorization: Bearer $TOKEN"`,
		`curl -X POST localhost:8000/models/ab/observations -H "Authorization: Bearer $TOKEN" -d`, `curl -X PUT localhost:8000/models/ab -H "Authorization: Bearer $TOKEN" -d`} {
		if !strings.Contains(r.notes, want) {
			t.Errorf("NOTES.txt lacks %q:\n%s", want, r.notes)
		}
	}
	// The awk of NOTES.txt, run on the Secret's file, prints the token.
	if busybox, err := exec.LookPath("busybox"); err == nil {
		cmd := exec.Command(busybox, "awk", `$1 == "admin" {print $3}`)
		cmd.Stdin = strings.NewReader(string(secret(r, tokensSecretName(r)).Data["tokens"]))
		out, err := cmd.Output()
		if err != nil || strings.TrimSpace(string(out)) != tok {
			t.Errorf("NOTES.txt's awk prints %q (%v), want the token", out, err)
		}
	}
}

// A token generated on install is read back on every upgrade, like the
// Redis passwords: a new one would lock every client out. Lines an operator
// added to the chart's Secret are kept as they are.
func TestAPITokensKeptAcrossUpgrades(t *testing.T) {
	const ns = "default"
	install := render(t, renderOpts{clients: fakeCluster(t)})
	first := renderedToken(t, install)
	if second := renderedToken(t, render(t, renderOpts{clients: fakeCluster(t)})); second == first {
		t.Fatalf("two installs generated the same token")
	}
	name := tokensSecretName(install)
	live := secretObject(ns, name, map[string][]byte{"tokens": secret(install, name).Data["tokens"]})
	if got := renderedToken(t, render(t, renderOpts{clients: fakeCluster(t, live)})); got != first {
		t.Fatalf("upgrade changed the token")
	}
	edited := "admin observe,define,admin " + first + "\nci observe ci-token-0123456789abcdef\n"
	upgrade := render(t, renderOpts{clients: fakeCluster(t, secretObject(ns, name, map[string][]byte{"tokens": []byte(edited)}))})
	if got := string(secret(upgrade, name).Data["tokens"]); got != edited {
		t.Fatalf("upgrade rewrote an edited tokens file:\n%q\n->\n%q", edited, got)
	}
	// An empty or keyless Secret gets a token.
	for _, data := range []map[string][]byte{{}, {"tokens": []byte(" \n")}, {"other": []byte("x")}} {
		renderedToken(t, render(t, renderOpts{clients: fakeCluster(t, secretObject(ns, name, data))}))
	}
	// A Secret of another namespace is not this release's.
	other := secretObject("other", name, map[string][]byte{"tokens": []byte("admin observe,define,admin " + first + "\n")})
	if got := renderedToken(t, render(t, renderOpts{clients: fakeCluster(t, other)})); got == first {
		t.Fatalf("lookup read a Secret of another namespace")
	}
}

// An existing Secret is mounted as it is, none is rendered, and NOTES.txt
// points at it; legacyOpen reaches LEGACY_OPEN; off means no file, no
// variable, no Secret, and plain curl lines.
func TestAPITokensValues(t *testing.T) {
	t.Run("existing Secret", func(t *testing.T) {
		r := render(t, renderOpts{values: valuesFrom(t, `api: {auth: {existingSecret: my-tokens, legacyOpen: true}}`)})
		if s := secret(r, fullname(r)+"-api-tokens"); s != nil {
			t.Errorf("Secret %s rendered although api.auth.existingSecret is set", s.Name)
		}
		checkTokensMount(t, r, "my-tokens", "1")
		for _, want := range []string{"get secret my-tokens -o jsonpath='{.data.tokens}'", "api.auth.legacyOpen"} {
			if !strings.Contains(r.notes, want) {
				t.Errorf("NOTES.txt lacks %q:\n%s", want, r.notes)
			}
		}
		pod := smokeTest(t, r)
		if v := volumeOfMount(pod.Spec, &pod.Spec.Containers[0], envValue(&pod.Spec.Containers[0], "TOKENS_FILE")); v == nil || v.Secret == nil || v.Secret.SecretName != "my-tokens" {
			t.Errorf("helm test does not read the tokens of my-tokens: %+v", v)
		}
	})
	t.Run("off", func(t *testing.T) {
		r := render(t, renderOpts{values: valuesFrom(t, `api: {auth: {enabled: false}}`)})
		c := container(t, r.component(t, "api").template.Spec, "api")
		for _, v := range []string{"API_TOKENS_FILE", "LEGACY_OPEN"} {
			if e := envVar(c, v); e != nil {
				t.Errorf("tokens off, but %s=%q", v, e.Value)
			}
		}
		if len(c.VolumeMounts) != 0 || len(r.component(t, "api").template.Spec.Volumes) != 0 {
			t.Errorf("tokens off, but the api mounts %+v", c.VolumeMounts)
		}
		if s := secret(r, fullname(r)+"-api-tokens"); s != nil {
			t.Errorf("tokens off, but Secret %s is rendered", s.Name)
		}
		if strings.Contains(r.notes, "Authorization") || strings.Contains(r.notes, "TOKEN") {
			t.Errorf("tokens off, but NOTES.txt talks of tokens:\n%s", r.notes)
		}
		pod := smokeTest(t, r)
		if envVar(&pod.Spec.Containers[0], "TOKENS_FILE") != nil || len(pod.Spec.Volumes) != 0 {
			t.Errorf("tokens off, but helm test mounts tokens")
		}
	})
	t.Run("schema", func(t *testing.T) {
		for _, bad := range []string{`api: {auth: {enabled: "yes"}}`, `api: {auth: {existingSecret: "Bad_Name"}}`, `api: {auth: {token: abc}}`, `api: {auth: {legacyOpen: 1}}`} {
			if _, _, err := renderRaw(t, renderOpts{values: valuesFrom(t, bad)}); err == nil {
				t.Errorf("%s renders", bad)
			}
		}
	})
}

// volumeOfMount is the volume mounted at the directory of file in c.
func volumeOfMount(spec corev1.PodSpec, c *corev1.Container, file string) *corev1.Volume {
	if file == "" {
		return nil
	}
	m := mountAt(c, path.Dir(file))
	if m == nil {
		return nil
	}
	return volume(spec, m.Name)
}
