// Package capshim rewrites an OCI runtime spec so that runc can start it on
// a machine whose capability bounding set is smaller than what the spec asks
// for.
//
// A privileged container (docker run --privileged, kind's nodes, kube-proxy
// inside them) asks for every capability the container engine knows. Where
// the host itself runs without some of them (here: CAP_SYS_RESOURCE, and
// CAP_BPF, CAP_PERFMON and CAP_CHECKPOINT_RESTORE that this Docker cannot
// grant), runc fails with "unable to apply caps: operation not permitted".
// The shim removes exactly the capabilities the calling process does not
// have in its own bounding set, and nothing else: on a machine that has them
// all it changes nothing.
//
// A second rule: kubelet asks for oomScoreAdj -998 for pod sandboxes, and
// lowering a process' OOM score below its parent's also needs
// CAP_SYS_RESOURCE. A requested value below the shim's own is raised to it.
package capshim

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math/bits"
	"os"
	"strconv"
	"strings"
)

// names are the capability numbers of linux/capability.h, as OCI specs
// spell them.
var names = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
	"CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
	"CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
	"CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
	"CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
	"CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

// Limits is what the calling process may grant: its bounding set and its
// own OOM score adjustment.
type Limits struct {
	Bounding    uint64
	OOMScoreAdj int
}

// Missing lists the known capabilities outside the bounding set.
func (l Limits) Missing() []string {
	var out []string
	for i, n := range names {
		if l.Bounding&(1<<uint(i)) == 0 {
			out = append(out, n)
		}
	}
	return out
}

// Full reports whether the bounding set has every known capability, in
// which case the shim has nothing to remove.
func (l Limits) Full() bool {
	return bits.OnesCount64(l.Bounding&(1<<uint(len(names))-1)) == len(names)
}

// ReadLimits reads the limits of the current process from /proc.
func ReadLimits() (Limits, error) {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return Limits{}, fmt.Errorf("reading own status: %w", err)
	}
	l := Limits{}
	found := false
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapBnd:"); ok {
			if l.Bounding, err = strconv.ParseUint(strings.TrimSpace(v), 16, 64); err != nil {
				return Limits{}, fmt.Errorf("parsing CapBnd %q: %w", v, err)
			}
			found = true
		}
	}
	if !found {
		return Limits{}, fmt.Errorf("no CapBnd line in /proc/self/status")
	}
	adj, err := os.ReadFile("/proc/self/oom_score_adj")
	if err != nil {
		return Limits{}, fmt.Errorf("reading own oom_score_adj: %w", err)
	}
	if l.OOMScoreAdj, err = strconv.Atoi(strings.TrimSpace(string(adj))); err != nil {
		return Limits{}, fmt.Errorf("parsing oom_score_adj %q: %w", adj, err)
	}
	return l, nil
}

// capSets are the lists of an OCI process' "capabilities" object.
var capSets = []string{"bounding", "effective", "inheritable", "permitted", "ambient"}

// FixProcess removes from an OCI process object (config.json's "process",
// or the file runc exec --process reads) the capabilities outside l, and
// raises an oomScoreAdj below l's. It reports whether it changed anything.
// Fields it does not know are kept as they are.
func FixProcess(process map[string]any, l Limits) (bool, error) {
	changed := false
	if caps, ok := process["capabilities"].(map[string]any); ok {
		for _, set := range capSets {
			raw, ok := caps[set]
			if !ok || raw == nil {
				continue
			}
			list, ok := raw.([]any)
			if !ok {
				return false, fmt.Errorf("capabilities.%s is %T, not a list", set, raw)
			}
			kept := make([]any, 0, len(list))
			for _, c := range list {
				name, ok := c.(string)
				if !ok {
					return false, fmt.Errorf("capabilities.%s holds %T, not a name", set, c)
				}
				if l.allows(name) {
					kept = append(kept, name)
				}
			}
			if len(kept) != len(list) {
				caps[set] = kept
				changed = true
			}
		}
	}
	if raw, ok := process["oomScoreAdj"]; ok && raw != nil {
		adj, ok := raw.(json.Number)
		if !ok {
			return false, fmt.Errorf("oomScoreAdj is %T, not a number", raw)
		}
		v, err := adj.Int64()
		if err != nil {
			return false, fmt.Errorf("oomScoreAdj %q: %w", adj, err)
		}
		if v < int64(l.OOMScoreAdj) {
			process["oomScoreAdj"] = json.Number(strconv.Itoa(l.OOMScoreAdj))
			changed = true
		}
	}
	return changed, nil
}

// allows reports whether a capability may be asked for: known and in the
// bounding set. An unknown name is left for runc to judge.
func (l Limits) allows(name string) bool {
	for i, n := range names {
		if n == name {
			return l.Bounding&(1<<uint(i)) != 0
		}
	}
	return true
}

// FixBundleSpec rewrites the spec at path (a bundle's config.json) in place.
func FixBundleSpec(path string, l Limits) (bool, error) {
	return rewrite(path, l, func(doc map[string]any) (map[string]any, bool) {
		p, ok := doc["process"].(map[string]any)
		return p, ok
	})
}

// FixProcessFile rewrites the process file of runc exec --process in place.
func FixProcessFile(path string, l Limits) (bool, error) {
	return rewrite(path, l, func(doc map[string]any) (map[string]any, bool) { return doc, true })
}

func rewrite(path string, l Limits, process func(map[string]any) (map[string]any, bool)) (bool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", path, err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // keep 64-bit ids and limits exact
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return false, fmt.Errorf("decoding %s: %w", path, err)
	}
	p, ok := process(doc)
	if !ok {
		return false, nil
	}
	changed, err := FixProcess(p, l)
	if err != nil || !changed {
		return false, err
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return false, fmt.Errorf("encoding %s: %w", path, err)
	}
	info, err := os.Stat(path)
	if err != nil {
		return false, fmt.Errorf("stat %s: %w", path, err)
	}
	// Written in place: the runtime that called us holds the path, and the
	// bundle folder may not let us create a sibling.
	if err := os.WriteFile(path, out, info.Mode().Perm()); err != nil {
		return false, fmt.Errorf("writing %s: %w", path, err)
	}
	return true, nil
}

// Target is what a runc command line asks the shim to rewrite.
type Target struct {
	// Bundle is the bundle folder of create and run ("" for other commands).
	Bundle string
	// Process is the --process file of exec, if any.
	Process string
}

// Parse finds the subcommand of a runc command line (args without argv[0])
// and the file it will read the process from. runc's global options come
// before the subcommand; only those taking a value matter here.
func Parse(args []string) (cmd string, t Target) {
	globalsWithValue := map[string]bool{"--log": true, "--log-format": true, "--root": true, "--criu": true, "--rootless": true}
	i := 0
	for ; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			break
		}
		if globalsWithValue[a] {
			i++
		}
	}
	if i >= len(args) {
		return "", t
	}
	cmd = args[i]
	rest := args[i+1:]
	value := func(long, short string) (string, bool) {
		for j := 0; j < len(rest); j++ {
			a := rest[j]
			if a == "--" {
				break
			}
			for _, f := range []string{long, short} {
				if a == f && j+1 < len(rest) {
					return rest[j+1], true
				}
				if v, ok := strings.CutPrefix(a, f+"="); ok {
					return v, true
				}
			}
		}
		return "", false
	}
	switch cmd {
	case "create", "run":
		t.Bundle, _ = value("--bundle", "-b")
		if t.Bundle == "" {
			t.Bundle = "." // runc's default: the current folder
		}
	case "exec":
		t.Process, _ = value("--process", "-p")
	}
	return cmd, t
}
