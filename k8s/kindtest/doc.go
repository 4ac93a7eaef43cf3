// Package kindtest installs the chart on a real kind cluster and checks
// what only a cluster shows: images that start, probes on the right ports,
// volumes the pods can write, CORS for the forwarded ports, counts that
// survive a Redis pod, a bayes pod and a rolling upgrade, and helm test.
//
// `make e2e-kind` creates the cluster (k8s/node), runs this and deletes the
// cluster. Without a cluster the test skips, unless EDB_REQUIRE_KIND=1.
package kindtest
