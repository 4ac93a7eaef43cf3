package service_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/event-driven-bayes/event-driven-bayes/services/api/service"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/envconf"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/redistest"
)

func TestLoadConfigMaxModels(t *testing.T) {
	cfg, err := service.LoadConfig(envconf.FromMap(nil))
	if err != nil || cfg.MaxModels != 10_000 {
		t.Fatalf("default MAX_MODELS: %d %v, want 10000 (bayes' default)", cfg.MaxModels, err)
	}
	for v, want := range map[string]int{"0": 0, "1": 1, "250000": 250_000} {
		cfg, err := service.LoadConfig(envconf.FromMap(map[string]string{"MAX_MODELS": v}))
		if err != nil || cfg.MaxModels != want {
			t.Errorf("MAX_MODELS=%s: %d %v", v, cfg.MaxModels, err)
		}
	}
	for _, v := range []string{"-1", "many", "1e4", "10000001"} {
		_, err := service.LoadConfig(envconf.FromMap(map[string]string{"MAX_MODELS": v}))
		if err == nil || !strings.Contains(err.Error(), "MAX_MODELS") {
			t.Errorf("MAX_MODELS=%s: %v, want an error naming it", v, err)
		}
	}
}

// The whole service wires the cap, deletion and reset to Redis.
func TestServiceModelLimitDeleteAndReset(t *testing.T) {
	srv := redistest.Start(t)
	api := start(t, srv, map[string]string{"MAX_MODELS": "2"})
	ctx := context.Background()
	rdb := srv.Client()
	defer rdb.Close()
	for _, name := range []string{"default", "ab"} {
		if err := rdb.Set(ctx, events.SpecKey("update_model", name), `{"prior":"uniform","grid_points":30}`, 0).Err(); err != nil {
			t.Fatal(err)
		}
		if err := rdb.SAdd(ctx, "update_model:models", name).Err(); err != nil {
			t.Fatal(err)
		}
	}

	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{http.MethodPost, "/models/new/reset", http.StatusNotFound},
		{http.MethodDelete, "/models/new", http.StatusNotFound},
		{http.MethodDelete, "/models/default", http.StatusConflict},
		{http.MethodPost, "/models/ab/reset", http.StatusAccepted},
		{http.MethodPost, "/models/default/reset", http.StatusAccepted},
		{http.MethodDelete, "/models/ab", http.StatusAccepted},
		{http.MethodGet, "/update_model/w", http.StatusCreated},
	} {
		code, body := api.call(t, tc.method, tc.path)
		if code != tc.status {
			t.Errorf("%s %s: %d %v, want %d", tc.method, tc.path, code, body, tc.status)
		}
	}
	code, body := callWithBody(t, api, http.MethodPost, "/models/new/observations", `{"trial":"w"}`)
	if code != http.StatusConflict || !strings.HasPrefix(body["detail"].(string), "model limit reached: 2 models exist (MAX_MODELS=2)") {
		t.Fatalf("new model at the cap: %d %v", code, body)
	}
	entries, err := rdb.XRange(ctx, "update_model", "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range entries {
		ev, err := events.Decode(e.Values)
		if err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, ev.Kind+" "+ev.Model)
	}
	if got := strings.Join(kinds, ", "); got != "reset ab, reset default, delete ab, observe default" {
		t.Fatalf("stream: %s", got)
	}
	api.shutdown(t)
}

// callWithBody sends one request with a JSON body and decodes the answer.
func callWithBody(t *testing.T, r *running, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, r.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: %d %q is not JSON: %v", method, path, resp.StatusCode, raw, err)
	}
	return resp.StatusCode, out
}
