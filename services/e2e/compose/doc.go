// Package compose tests docker-compose.yml and the Dockerfiles of its
// services.
//
// TestComposeFile... load the compose file with compose-go (the loader the
// pinned compose CLI uses) and check what must hold between it and the
// binaries: every variable a service is given is one its binary reads, the
// ports and health checks are the ones the binaries serve, and bayes' plots
// are written into the mounted folder. They need no Docker. The cluster
// profile's are checked the same way (TestComposeFileCluster...), and
// TestComposeClusterProfileOnLoopback runs its nodes' command lines and its
// create job's script with redis-server on loopback ports.
//
// TestComposeStack builds the images and runs the stack for real: from
// local stand-ins for the base images when no registry can be reached, with
// a unique project name and host ports, and tears everything down. It needs
// a Docker engine and the compose v2 CLI (COMPOSE_BIN, built by
// `make e2e-compose` from the version pinned in tools/go.mod); without them
// it is skipped, unless EDB_REQUIRE_DOCKER=1, when it fails.
// TestComposeClusterStack does the same for the cluster profile's Redis
// nodes: made, taken down, brought up again on their volumes.
//
// standin/ makes those stand-ins (the kind test uses them too), and
// cmd/standins prints their names as GO_IMAGE=, RUNTIME_IMAGE= and
// REDIS_IMAGE= lines for a script or make. The images' health check
// program is services/platform/cmd/healthcheck.
package compose
