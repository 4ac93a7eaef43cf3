package kindtest

import "testing"

// The pure helpers run in make test, cluster or not.

func TestChartRedisImage(t *testing.T) {
	got := chartRedisImage(t, "../..")
	if got != "docker.io/library/redis:7.4.6-alpine" {
		t.Fatalf("chartRedisImage = %q; if values.yaml changed its Redis image on purpose, change this test", got)
	}
}

func TestDrained(t *testing.T) {
	stream := "length\n5\nradix-tree-keys\n1\nlast-generated-id\n9-0\nmax-deleted-entry-id\n0-0\n"
	for _, c := range []struct {
		stream, groups string
		want           bool
	}{
		{stream, "name\nbayes\nconsumers\n2\npending\n0\nlast-delivered-id\n9-0\nentries-read\n5\nlag\n\n", true},
		{stream, "name\nbayes\nconsumers\n2\npending\n3\nlast-delivered-id\n9-0\nentries-read\n5\nlag\n0\n", false},
		{stream, "name\nbayes\nconsumers\n2\npending\n0\nlast-delivered-id\n8-0\nentries-read\n5\nlag\n1\n", false},
		{stream, "", false},
		{"", "name\nbayes\npending\n0\nlast-delivered-id\n9-0\n", false},
	} {
		if got := drained(c.stream, c.groups); got != c.want {
			t.Errorf("drained(%q) = %v, want %v", c.groups, got, c.want)
		}
	}
}

func TestAllReady(t *testing.T) {
	for _, c := range []struct {
		listing string
		want    bool
	}{
		{"api-1 True\nbayes-0 True\n", true},
		{"api-1 True\nbayes-0 False\n", false},
		{"api-1 2026-12-01T12:00:00Z True\n", false}, // terminating
		{"", false},
	} {
		if got := allReady(c.listing); got != c.want {
			t.Errorf("allReady(%q) = %v, want %v", c.listing, got, c.want)
		}
	}
}
