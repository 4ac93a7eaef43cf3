#!/usr/bin/env bash
# Turn a debootstrap root into a kind node's root filesystem: kind's base
# image files and the steps of its base Dockerfile (images/base in the kind
# module), with Debian's containerd, runc and CNI plugins. build.sh runs it;
# its inputs' hash names the cached tar, so a change here rebuilds the root.
#
#   rootfs.sh ROOT KIND_BASE_FILES CNI_CONFLIST
set -euo pipefail
root=$1
files=$2
conflist=$3

# kind's base image files, with the modes its Dockerfile gives them.
install -D -m 0755 -t "$root/usr/local/bin" "$files"/usr/local/bin/*
mkdir -p "$root/kind/bin" "$root/kind/manifests" "$root/etc/kubernetes/manifests" "$root/opt/cni/bin" "$root/etc/cni/net.d"
install -m 0755 -t "$root/kind/bin" "$files"/kind/bin/*
install -m 0644 -t "$root/kind" "$files"/kind/README.txt
install -m 0644 -t "$root/etc" "$files"/etc/crictl.yaml
install -D -m 0644 -t "$root/etc/containerd" "$files"/etc/containerd/config.toml
install -D -m 0644 -t "$root/etc/default" "$files"/etc/default/kubelet
install -D -m 0644 -t "$root/etc/sysctl.d" "$files"/etc/sysctl.d/*
install -D -m 0644 -t "$root/etc/systemd/system" "$files"/etc/systemd/system/*.service "$files"/etc/systemd/system/*.slice
install -D -m 0644 -t "$root/etc/systemd/system/kubelet.service.d" "$files"/etc/systemd/system/kubelet.service.d/*
# Two changes to kind's containerd configuration: runc is started through
# capshim (a no-op where every capability can be granted), and the pod
# sandbox's oomScoreAdj is not lowered below containerd's own (that needs
# CAP_SYS_RESOURCE too).
sed -i \
  -e '/containerd.runtimes.runc.options\]/a\    BinaryName = "/usr/local/bin/capshim"' \
  -e 's/^\(\s*restrict_oom_score_adj\s*=\s*\).*/\1true/' \
  "$root/etc/containerd/config.toml"
grep -q 'BinaryName = "/usr/local/bin/capshim"' "$root/etc/containerd/config.toml"
grep -q 'restrict_oom_score_adj = true' "$root/etc/containerd/config.toml"
# kind's units start /usr/local/bin/containerd; Debian installs it in /usr/bin.
ln -sf /usr/bin/containerd "$root/usr/local/bin/containerd"
# Debian's CNI plugins, where kubelet's containerd looks for them, and a
# static network for one node (kindnetd cannot be fetched): ptp +
# host-local on the node's pod CIDR + portmap.
cp -a "$root"/usr/lib/cni/. "$root/opt/cni/bin/"
install -m 0644 "$conflist" "$root/etc/cni/net.d/"
# The steps of kind's base Dockerfile that run in the image.
chroot "$root" /bin/bash -euc '
  find /lib/systemd/system/sysinit.target.wants/ -name systemd-tmpfiles-setup.service -delete
  rm -f /lib/systemd/system/multi-user.target.wants/* /etc/systemd/system/*.wants/* \
    /lib/systemd/system/local-fs.target.wants/* /lib/systemd/system/sockets.target.wants/*udev* \
    /lib/systemd/system/sockets.target.wants/*initctl* /lib/systemd/system/basic.target.wants/*
  echo "ReadKMsg=no" >> /etc/systemd/journald.conf
  systemctl enable kubelet.service containerd.service undo-mount-hacks.service
  systemctl mask systemd-binfmt.service
  ctr oci spec \
    | jq ".hooks.createContainer[.hooks.createContainer| length] |= . + {\"path\": \"/kind/bin/mount-product-files.sh\"}" \
    | jq "del(.process.rlimits)" > /etc/containerd/cri-base.json
  apt-get clean
  rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /usr/share/doc /usr/share/man /usr/share/locale
'
