// Package node holds the small programs that the local kind node image is
// made of (see build.sh and docs/kubernetes.md): capshim, an OCI runtime shim
// for machines that cannot grant a privileged container every capability;
// pause, the pod sandbox process; and constval, which reads kind's own
// storage manifest out of the kind module's source. The Kubernetes
// components themselves are built from modules under components/, each its
// own module outside the workspace.
package node
