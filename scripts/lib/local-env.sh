# Shared by scripts/demo, scripts/e2e and bench/podstart: a self-contained local "node" for the
# docker and libvirt providers.
#   env_up      a worker network namespace (primary interface "uplink" 198.18.200.1/24 with a
#               default route) and a pod namespace whose eth0 (198.18.202.2/24) is a veth to the
#               worker, as a CNI plugin would make it.
#   docker_up   dockerd in the worker namespace, bridge docker0 on 198.18.201.0/24, no iptables
#               changes, state under $WORK; the pod VM image built and imported.
#   libvirt_up  virtlogd, and libvirtd in the worker namespace with a routed DHCP network
#               (bridge ppbr$N, 198.18.203.0/24; routed, so DHCP hands out the default route
#               the pod VM's forwarder finds its primary interface by) and a storage pool
#               (ppe-pool$N, for the cidata ISOs); the pod VM kernel and initramfs built.
#   libvirt_remote_up  a libvirt "host": a network namespace (198.18.204.2/24, a veth to the
#               worker's 198.18.204.1, the worker's primary interface) and a mount namespace of
#               its own (tmpfs /run, private /var/lib/libvirt, /etc/libvirt...) where virtlogd,
#               libvirtd (network and pool as above) and an sshd of our own (key auth, port
#               2222) run; the adaptor reaches it as qemu+ssh://root@198.18.204.2:2222/system
#               with a key, known_hosts and ssh config of this run only. The pod VM disk image
#               is uploaded over ssh into the host's pool as podvm-base.qcow2.
# Only 198.18.0.0/15 addresses, only inside namespaces made here; env_down removes everything
# (also what a failed run left), and is safe to call at any point.
# Callers set ROOT, BIN and WORK, then call env_up and the provider's *_up.

N=${N:-$((RANDOM % 10000))}
NSW=ppe-w$N
NSP=ppe-p$N
NSH=ppe-h$N
LVNET=ppe-net$N
LVBR=ppbr$N
LVPOOL=ppe-pool$N
ADAPTOR_PID=
DOCKERD_PID=
LIBVIRTD_PID=
VIRTLOGD_PID=
SSHD_PID=
LV_REMOTE=
CAA=$BIN/cmd/cloud-api-adaptor/cloud-api-adaptor
CTL=$BIN/tools/peerpodctl/peerpodctl
# The e2e's own libvirtd listens in $WORK/lvsock, not on the system's socket (see libvirt_up);
# the remote one is reached over ssh with this run's key, known_hosts and ssh config only (the
# command= wrapper adds -F: libvirt's ssh transport has no known_hosts parameter). virsh runs
# where the adaptor does, in the worker namespace.
lvuri() {
  if [[ -n $LV_REMOTE ]]; then
    echo "qemu+ssh://root@198.18.204.2:2222/system?keyfile=$WORK/ssh/id_ed25519&command=$WORK/ssh/ssh&no_tty=1"
  else
    echo "qemu:///system?socket=$WORK/lvsock/libvirt-sock"
  fi
}
lvsh() { nsenter --net=/run/netns/"$NSW" virsh -q -c "$(lvuri)" "$@"; }

log() { echo "[$(date +%T)] $*"; }
inw() { nsenter --net=/run/netns/"$NSW" "$@"; }
# The adaptor's probe port (127.0.0.1 in the worker namespace): /startup and /metrics.
PROBE_PORT=18000
# The adaptor's /metrics, saved to $WORK/metrics.
scrape_metrics() { inw curl -sf "http://127.0.0.1:$PROBE_PORT/metrics" >"$WORK/metrics"; }
inp() { nsenter --net=/run/netns/"$NSP" "$@"; }
inh() { nsenter --net=/run/netns/"$NSH" "$@"; }
dapi() { curl -s --unix-socket "$WORK/d.sock" "$@"; }
ctl() { local sub=$1; shift; "$CTL" "$sub" --socket "$WORK/h.sock" --pods-dir "$WORK/pods" "$@"; }

# Stops a daemon by pid: TERM, up to 10 s, then KILL.
stop_pid() {
  local pid=$1
  [[ -n $pid ]] || return 0
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
  kill -9 "$pid" 2>/dev/null
}

# Pod VMs (domains) of this run's network; transient or defined.
lv_domains() {
  lvsh list --all --name 2>/dev/null | while read -r d; do
    [[ -n $d ]] && lvsh domiflist "$d" 2>/dev/null | grep -qw "$LVNET" && echo "$d"
  done
}

env_down() {
  set +e
  if [[ -n $ADAPTOR_PID ]]; then
    stop_pid "$ADAPTOR_PID"
    { wait "$ADAPTOR_PID"; } 2>/dev/null
  fi
  if [[ -S $WORK/d.sock ]]; then
    for c in $(dapi "http://d/v1.41/containers/json?all=1" | grep -o '"Id":"[0-9a-f]*"' | cut -d'"' -f4); do
      dapi -X DELETE "http://d/v1.41/containers/$c?force=1" >/dev/null
    done
  fi
  stop_pid "$DOCKERD_PID"
  if [[ -n $LIBVIRTD_PID ]]; then
    for d in $(lv_domains); do
      lvsh destroy "$d" >/dev/null 2>&1
      lvsh undefine "$d" >/dev/null 2>&1
    done
    lvsh net-destroy "$LVNET" >/dev/null 2>&1
    lvsh pool-destroy "$LVPOOL" >/dev/null 2>&1
    stop_pid "$LIBVIRTD_PID"
  fi
  stop_pid "$VIRTLOGD_PID"
  stop_pid "$SSHD_PID"
  stop_pid "$KUBE_PID"
  stop_pid "${KBS_PID:-}"  # scripts/e2e docker-securecomms-kbs's fake key broker
  # What still runs on the libvirt "host" (its dnsmasq or QEMU, when its libvirtd could not be
  # reached to stop them): every process there is this run's.
  if [[ -e /run/netns/$NSH ]]; then ip netns pids "$NSH" | xargs -r kill -9; fi
  grep " $WORK" /proc/mounts | awk '{print $2}' | sort -r | xargs -r umount -l 2>/dev/null
  ip netns del "$NSP" 2>/dev/null
  ip netns del "$NSW" 2>/dev/null
  ip netns del "$NSH" 2>/dev/null
  rm -rf "$WORK"
  set -e
}

env_up() {
  mkdir -p "$WORK"
  chmod 755 "$WORK"  # libvirt's QEMU (user libvirt-qemu) reads the kernel and ISOs below it
  ip netns add "$NSW"
  ip netns add "$NSP"
  inw ip link set lo up
  inp ip link set lo up
  # The node's primary interface: one end of a veth pair (no dummy driver on every kernel).
  inw ip link add uplink type veth peer name uplink-p
  inw ip addr add 198.18.200.1/24 dev uplink
  inw ip link set uplink-p up
  inw ip link set uplink up
  inw ip route add default via 198.18.200.254 dev uplink
  ip link add "pw$N" netns "$NSW" type veth peer name eth0 netns "$NSP"
  inw ip addr add 198.18.202.1/24 dev "pw$N"
  inw ip link set "pw$N" up
  inp ip addr add 198.18.202.2/24 dev eth0
  inp ip link set eth0 up
  inp ip route add default via 198.18.202.1
  inw sysctl -qw net.ipv4.ip_forward=1
}

docker_up() {
  log "starting dockerd in namespace $NSW (data in $WORK)"
  # nsenter, not "ip netns exec": the latter remounts /sys and hides the cgroup mounts.
  # nsenter itself, not the inw function: a backgrounded function is a subshell, and $! would be
  # that subshell's pid instead of the daemon's (nsenter execs the program: same pid).
  nsenter --net=/run/netns/"$NSW" dockerd --host "unix://$WORK/d.sock" --data-root "$WORK/root" --exec-root "$WORK/x" \
    --pidfile "$WORK/d.pid" --bip 198.18.201.1/24 --iptables=false --ip-masq=false \
    >"$WORK/dockerd.log" 2>&1 &
  DOCKERD_PID=$!
  for _ in $(seq 300); do dapi -f http://d/_ping >/dev/null 2>&1 && break; sleep 0.1; done
  dapi -f http://d/_ping >/dev/null || { tail -20 "$WORK/dockerd.log"; return 1; }

  log "building the pod VM image (podvm/build --docker-only)"
  "$ROOT/podvm/build" --docker-only --bin-dir "$BIN" --out "$WORK/podvm" >"$WORK/podvm-build.log" 2>&1 ||
    { tail -30 "$WORK/podvm-build.log"; return 1; }
  local tarball
  tarball=$(ls "$WORK"/podvm/*.tar | head -1)
  dapi -f -X POST -H 'Content-Type: application/x-tar' --data-binary @"$tarball" \
    "http://d/v1.41/images/create?fromSrc=-&repo=peerpods-podvm&tag=local&changes=CMD%20%5B%22%2Finit%22%5D" >/dev/null
  log "pod VM image peerpods-podvm:local imported"
  # The engine's bridge becomes the node's primary interface (the default route), as on a
  # worker whose VMs share its network: the adaptor's tunnel then uses the VM's only address
  # (-host-interface naming another interface would make the config "dedicated", needing two).
  inw ip route replace default via 198.18.201.254 dev docker0
}

# The run's libvirt network and (transient) storage pool, on whichever libvirtd lvsh reaches.
lv_network_and_pool() {
  cat >"$WORK/net.xml" <<EOF
<network>
  <name>$LVNET</name>
  <forward mode='route'/>
  <bridge name='$LVBR' stp='off' delay='0'/>
  <ip address='198.18.203.1' netmask='255.255.255.0'>
    <dhcp><range start='198.18.203.100' end='198.18.203.200'/></dhcp>
  </ip>
</network>
EOF
  lvsh net-create "$WORK/net.xml" >/dev/null
  lvsh pool-create-as "$LVPOOL" dir --target /var/lib/libvirt/images >/dev/null
}

libvirt_up() {
  # libvirtd and virtlogd of our own, in a mount namespace of their own where /run/libvirt,
  # /var/lib/libvirt, /var/log/libvirt and /var/cache/libvirt are directories under
  # $WORK/libvirt: a system libvirtd (systemd starts one after install) keeps its state, sockets
  # and networks, and ours leaves nothing behind. The socket is $WORK/lvsock/libvirt-sock.
  # QEMU runs as root here (qemu.conf in that namespace): as user libvirt-qemu, /dev/kvm (root
  # 0600 here) looks unusable while the root-run QEMU probe found KVM, so libvirt re-probed
  # QEMU's capabilities on every define (~30 s each). Domains are type 'qemu' (TCG) anyway.
  local lv=$WORK/libvirt
  log "starting virtlogd and libvirtd (state in $lv) in namespace $NSW"
  mkdir -p "$lv/run" "$lv/lib/dnsmasq" "$lv/lib/images" "$lv/log/qemu" "$lv/cache" "$WORK/lvsock" \
    /run/libvirt /var/lib/libvirt /var/log/libvirt /var/cache/libvirt
  grep -v '^[[:space:]]*\(user\|group\)[[:space:]]*=' /etc/libvirt/qemu.conf >"$lv/qemu.conf"
  printf 'user = "root"\ngroup = "root"\n' >>"$lv/qemu.conf"
  printf 'unix_sock_dir = "%s"\nunix_sock_rw_perms = "0700"\nauth_unix_rw = "none"\nauth_unix_ro = "none"\n' \
    "$WORK/lvsock" >"$lv/libvirtd.conf"
  inw unshare -m --propagation private sh -c '
    set -e
    mount --bind "$1/run" /run/libvirt
    mount --bind "$1/lib" /var/lib/libvirt
    mount --bind "$1/log" /var/log/libvirt
    mount --bind "$1/cache" /var/cache/libvirt
    mount --bind "$1/qemu.conf" /etc/libvirt/qemu.conf
    /usr/sbin/virtlogd -d -p "$1/virtlogd.pid"
    exec /usr/sbin/libvirtd -d -f "$1/libvirtd.conf" -p "$1/libvirtd.pid"' sh "$lv"
  for _ in $(seq 50); do [[ -s $lv/libvirtd.pid ]] && break; sleep 0.1; done
  LIBVIRTD_PID=$(cat "$lv/libvirtd.pid" 2>/dev/null || true)
  VIRTLOGD_PID=$(cat "$lv/virtlogd.pid" 2>/dev/null || true)
  for _ in $(seq 300); do lvsh version >/dev/null 2>&1 && break; sleep 0.1; done
  lvsh version >/dev/null || { echo "libvirtd did not answer; $lv/log:" >&2; tail -5 "$lv"/log/*.log >&2; return 1; }
  lv_network_and_pool
  inw ip route replace default via 198.18.203.254 dev "$LVBR"  # primary interface: see docker_up

  log "building the pod VM kernel and initramfs (podvm/build --kernel-only)"
  "$ROOT/podvm/build" --kernel-only --no-qcow2 --bin-dir "$BIN" --out "$WORK/podvm" >"$WORK/podvm-build.log" 2>&1 ||
    { tail -30 "$WORK/podvm-build.log"; return 1; }
  chmod -R a+rX "$WORK/podvm"
}

libvirt_remote_up() {
  # The "host": its own network namespace $NSH and, inside, its own mount namespace with a
  # tmpfs on /run and private /var/lib/libvirt, /var/log/libvirt, /var/cache/libvirt and
  # /etc/libvirt (bind mounts of directories under $WORK/host): the pool's files, sockets and
  # configuration are not at those paths in the adaptor's view. virtlogd, libvirtd and an sshd
  # with its own config, host key, authorized_keys and port run there; the machine's sshd,
  # /etc/ssh and root's ~/.ssh are used on neither side.
  local h=$WORK/host c=$WORK/ssh
  log "starting the libvirt host: namespace $NSH, virtlogd, libvirtd and sshd (state in $h)"
  mkdir -p "$h/lib/images" "$h/lib/dnsmasq" "$h/log/qemu" "$h/cache" "$h/etc" "$h/ssh" "$c" \
    /var/lib/libvirt /var/log/libvirt /var/cache/libvirt
  chmod 700 "$h" "$c"
  cp -a /etc/libvirt/. "$h/etc/"
  grep -v '^[[:space:]]*\(user\|group\)[[:space:]]*=' /etc/libvirt/qemu.conf >"$h/etc/qemu.conf"
  printf 'user = "root"\ngroup = "root"\n' >>"$h/etc/qemu.conf" # see libvirt_up
  printf 'unix_sock_rw_perms = "0700"\nauth_unix_rw = "none"\nauth_unix_ro = "none"\n' >"$h/etc/libvirtd.conf"
  ssh-keygen -q -t ed25519 -N '' -C "ppe-host$N" -f "$h/ssh/host_ed25519"
  ssh-keygen -q -t ed25519 -N '' -C "ppe-adaptor$N" -f "$c/id_ed25519"
  cp "$c/id_ed25519.pub" "$h/ssh/authorized_keys"
  cat >"$h/ssh/sshd_config" <<SSHD
Port 2222
ListenAddress 198.18.204.2
HostKey /run/ppe-ssh/host_ed25519
AuthorizedKeysFile /run/ppe-ssh/authorized_keys
PidFile $h/sshd.pid
AllowUsers root
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes yes
X11Forwarding no
AllowTcpForwarding no
PrintMotd no
LogLevel VERBOSE
SSHD
  echo "[198.18.204.2]:2222 $(cut -d' ' -f1,2 "$h/ssh/host_ed25519.pub")" >"$c/known_hosts"
  cat >"$c/config" <<SSHCONFIG
Host *
  IdentityFile $c/id_ed25519
  IdentitiesOnly yes
  IdentityAgent none
  UserKnownHostsFile $c/known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  UpdateHostKeys no
  BatchMode yes
  PasswordAuthentication no
  ControlMaster no
SSHCONFIG
  printf '#!/bin/sh\nexec /usr/bin/ssh -F %s/config "$@"\n' "$c" >"$c/ssh"
  chmod 700 "$c/ssh"

  ip netns add "$NSH"
  inh ip link set lo up
  ip link add "hw$N" netns "$NSW" type veth peer name "wh$N" netns "$NSH"
  inw ip addr add 198.18.204.1/24 dev "hw$N"
  inw ip link set "hw$N" up
  inh ip addr add 198.18.204.2/24 dev "wh$N"
  inh ip link set "wh$N" up
  inh sysctl -qw net.ipv4.ip_forward=1
  # The link to the host is the worker's primary interface (see docker_up); pod VMs are
  # behind the host, on its routed libvirt network.
  inw ip route replace default via 198.18.204.2 dev "hw$N"
  inh ip route add default via 198.18.204.1 dev "wh$N"

  inh unshare -m --propagation private sh -c '
    set -e
    mount -t tmpfs -o mode=755 ppe-host-run /run
    mkdir -m 700 /run/libvirt /run/ppe-ssh
    mkdir -m 755 /run/sshd
    cp "$1/ssh/host_ed25519" "$1/ssh/authorized_keys" /run/ppe-ssh/
    mount --bind "$1/lib" /var/lib/libvirt
    mount --bind "$1/log" /var/log/libvirt
    mount --bind "$1/cache" /var/cache/libvirt
    mount --bind "$1/etc" /etc/libvirt
    /usr/sbin/virtlogd -d -p "$1/virtlogd.pid"
    /usr/sbin/libvirtd -d -f /etc/libvirt/libvirtd.conf -p "$1/libvirtd.pid"
    exec /usr/sbin/sshd -f "$1/ssh/sshd_config" -E "$1/sshd.log"' sh "$h"
  for _ in $(seq 50); do [[ -s $h/libvirtd.pid && -s $h/sshd.pid ]] && break; sleep 0.1; done
  LIBVIRTD_PID=$(cat "$h/libvirtd.pid" 2>/dev/null || true)
  VIRTLOGD_PID=$(cat "$h/virtlogd.pid" 2>/dev/null || true)
  SSHD_PID=$(cat "$h/sshd.pid" 2>/dev/null || true)
  LV_REMOTE=1
  for _ in $(seq 100); do lvsh version >/dev/null 2>&1 && break; sleep 0.2; done
  lvsh version >/dev/null || {
    echo "libvirt over ssh did not answer; sshd log:" >&2
    tail -20 "$h/sshd.log" >&2
    tail -5 "$h"/log/*.log >&2
    return 1
  }
  lv_network_and_pool

  log "building the pod VM disk image (podvm/build --kernel-only)"
  "$ROOT/podvm/build" --kernel-only --bin-dir "$BIN" --out "$WORK/podvm" >"$WORK/podvm-build.log" 2>&1 ||
    { tail -30 "$WORK/podvm-build.log"; return 1; }
  [[ -f $WORK/podvm/podvm.qcow2 ]] || { echo "podvm/build made no podvm.qcow2" >&2; tail -5 "$WORK/podvm-build.log" >&2; return 1; }
  log "uploading it over ssh into the host's pool $LVPOOL as podvm-base.qcow2"
  lvsh vol-create-as "$LVPOOL" podvm-base.qcow2 "$(stat -c %s "$WORK/podvm/podvm.qcow2")" --format qcow2 >/dev/null
  lvsh vol-upload --pool "$LVPOOL" podvm-base.qcow2 "$WORK/podvm/podvm.qcow2"
  lvsh pool-refresh "$LVPOOL" >/dev/null
}

# Volumes of the run's pool, one name a line.
lv_volumes() {
  local out
  out=$(lvsh vol-list "$LVPOOL" 2>/dev/null) || return 1
  awk '{print $1}' <<<"$out"
}

# The capabilities the adaptor runs with: those its DaemonSet grants
# (deploy/kustomize/base/cloud-api-adaptor.yaml, as upstream's: NET_ADMIN for links, routes and
# tc, SYS_ADMIN for entering the pods' network namespaces), and no others, so that a run proves
# it needs nothing more. ADAPTOR_CAPS=all keeps root's full set (to compare).
ADAPTOR_CAPS=${ADAPTOR_CAPS:-net_admin,sys_admin}
# The command prefix that runs a program with only ADAPTOR_CAPS (in CAPS_PREFIX), as a container
# runtime starts a root container granted just those: the bounding set (which is root's
# permitted and effective set after exec) and the inheritable set; no ambient set (children,
# ssh for qemu+ssh, get the bounding set as root). setpriv execs, so a pid taken of the
# prefixed command is the program's.
caps_prefix() {
  CAPS_PREFIX=()
  [[ $ADAPTOR_CAPS == all ]] && return
  local caps=+${ADAPTOR_CAPS//,/,+}
  CAPS_PREFIX=(setpriv --bounding-set=-all,"$caps" --inh-caps=-all,"$caps")
}
# The capability mask ADAPTOR_CAPS stands for, as /proc/<pid>/status prints it (16 hex digits).
adaptor_caps_mask() {
  local mask=0 cap n
  for cap in ${ADAPTOR_CAPS//,/ }; do
    n=$(capsh --explain="cap_$cap" 2>/dev/null | sed -n 's/^cap_[a-z_]* (\([0-9]*\)).*/\1/p')
    [[ -n $n ]] || { echo "unknown capability $cap" >&2; return 1; }
    mask=$((mask | (1 << n)))
  done
  printf '%016x\n' "$mask"
}
# A capability set of the running adaptor: adaptor_cap CapEff|CapPrm|CapBnd|CapInh|CapAmb.
adaptor_cap() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$ADAPTOR_PID/status"; }

ADAPTOR_ARGS=()
# start_adaptor docker|libvirt|libvirt-remote|byom [extra flags...]: cloud-api-adaptor in the worker
# namespace, with only the DaemonSet's capabilities (ADAPTOR_CAPS).
start_adaptor() {
  local provider=${1:-docker}
  shift || true
  case $provider in
    docker)
      ADAPTOR_ARGS=(docker -docker-host "unix://$WORK/d.sock" -docker-api-version 1.41
        -podvm-docker-image peerpods-podvm:local -data-dir "$WORK/data") ;;
    libvirt)
      ADAPTOR_ARGS=(libvirt -uri "$(lvuri)" -network-name "$LVNET" -domain-type qemu
        -kernel "$WORK/podvm/vmlinuz" -initrd "$WORK/podvm/initrd.img"
        -kernel-cmdline "console=ttyS0 panic=-1 tsc_early_khz=2600000"
        -cpu 1 -memory 512 -pool-name "$LVPOOL" -data-dir "$WORK/images") ;;
    byom)
      # The pool state's ConfigMap is on byom_up's API server (KUBECONFIG, exported there).
      ADAPTOR_ARGS=(byom -vm-pool-ips "$BYOM_IPS" -ssh-priv-key "$WORK/byom/id_ed25519"
        -ssh-pub-key "$WORK/byom/id_ed25519.pub" -pool-namespace e2e -ssh-timeout 5) ;;
    libvirt-remote)
      # Disk boot from the base volume in the host's pool: nothing of the VM is on the adaptor's
      # filesystem.
      ADAPTOR_ARGS=(libvirt -uri "$(lvuri)" -network-name "$LVNET" -domain-type qemu
        -pool-name "$LVPOOL" -vol-name podvm-base.qcow2 -root-disk-size 2
        -cpu 1 -memory 512 -data-dir "$WORK/images") ;;
  esac
  ADAPTOR_ARGS+=(-socket "$WORK/h.sock" -pods-dir "$WORK/pods" -proxy-timeout 120s
    -probe-port "$PROBE_PORT" "$@")
  rm -f "$WORK/h.sock"
  # nsenter and setpriv exec: $! is the adaptor's pid.
  caps_prefix
  nsenter --net=/run/netns/"$NSW" "${CAPS_PREFIX[@]}" "$CAA" "${ADAPTOR_ARGS[@]}" >>"$WORK/adaptor.log" 2>&1 &  # see docker_up
  ADAPTOR_PID=$!
  for _ in $(seq 100); do [[ -S $WORK/h.sock ]] && return 0; sleep 0.1; done
  echo "cloud-api-adaptor did not start:"; tail -20 "$WORK/adaptor.log"; return 1
}

stop_adaptor() {
  [[ -n $ADAPTOR_PID ]] || return 0
  stop_pid "$ADAPTOR_PID"
  { wait "$ADAPTOR_PID"; } 2>/dev/null || true
  ADAPTOR_PID=
}

# --- byom: pool machines as containers of the BYOM image flavour --------------------------------
# byom_up: dockerd as docker_up, the BYOM flavour of the pod VM image (podvm/build --byom:
# sshd for SFTP only, user-data and reboot watchers), an SSH key pair of this run authorised for
# the machines' user peerpod, BYOM_VMS pool machines (containers that run before any pod, on
# docker0; their addresses in BYOM_IPS) and, for the pool state ConfigMap, a minimal Kubernetes
# API server (python3, plain HTTP on 127.0.0.1:$BYOM_KUBE_PORT in the worker namespace; every
# write of the state is also saved as $WORK/byom/state.json). The adaptor gets it through
# KUBECONFIG.
BYOM_VMS=2
BYOM_KUBE_PORT=18001
BYOM_IPS=
BYOM_CONTAINERS=()
KUBE_PID=
byom_up() {
  docker_up
  local b=$WORK/byom
  mkdir -p "$b"
  chmod 700 "$b"
  log "building the BYOM pod VM image (podvm/build --byom)"
  "$ROOT/podvm/build" --byom --bin-dir "$BIN" --out "$WORK/podvm-byom" >"$WORK/podvm-byom-build.log" 2>&1 ||
    { tail -30 "$WORK/podvm-byom-build.log"; return 1; }
  dapi -f -X POST -H 'Content-Type: application/x-tar' --data-binary @"$WORK/podvm-byom/podvm-rootfs.tar" \
    "http://d/v1.41/images/create?fromSrc=-&repo=peerpods-podvm-byom&tag=local&changes=CMD%20%5B%22%2Finit%22%5D" >/dev/null
  ssh-keygen -q -t ed25519 -N '' -C "ppe-byom$N" -f "$b/id_ed25519"
  install -m 644 "$b/id_ed25519.pub" "$b/authorized_keys"
  local i id ip ips=()
  for i in $(seq "$BYOM_VMS"); do
    # As the docker provider's pod VM containers (NET_ADMIN, SYS_ADMIN), plus the key.
    id=$(dapi -f -X POST -H 'Content-Type: application/json' "http://d/v1.41/containers/create?name=ppe-byom-vm$i" \
      -d "{\"Image\":\"peerpods-podvm-byom:local\",\"Hostname\":\"byom-vm$i\",
           \"HostConfig\":{\"CapAdd\":[\"NET_ADMIN\",\"SYS_ADMIN\"],\"SecurityOpt\":[\"apparmor=unconfined\"],
             \"Binds\":[\"$b/authorized_keys:/etc/ssh/authorized_keys/peerpod:ro\"]}}" | jq -r .Id) ||
      { log "cannot create pool machine $i"; return 1; }
    dapi -f -X POST "http://d/v1.41/containers/$id/start" >/dev/null || { log "cannot start pool machine $i"; return 1; }
    ip=$(dapi -f "http://d/v1.41/containers/$id/json" | jq -r .NetworkSettings.IPAddress)
    BYOM_CONTAINERS+=("$id")
    ips+=("$ip")
  done
  BYOM_IPS=$(
    IFS=,
    echo "${ips[*]}"
  )
  for ip in "${ips[@]}"; do
    for _ in $(seq 100); do inw timeout 1 bash -c "</dev/tcp/$ip/22" 2>/dev/null && break; sleep 0.1; done
    inw timeout 1 bash -c "</dev/tcp/$ip/22" 2>/dev/null || { log "pool machine $ip: no sshd on port 22"; return 1; }
  done
  log "pool machines up: $BYOM_IPS"

  cat >"$b/fake-kube.py" <<'PY'
# A minimal Kubernetes API for the byom e2e: objects kept by path; create (POST to the
# collection), get, list (a collection, or cluster-wide by resource name), update (PUT, with
# resourceVersion checks), merge patch (creating what is missing: the node) and delete.
import json, os, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
port, state_file = int(sys.argv[1]), sys.argv[2]
store, version, lock = {}, [0], threading.Lock()
def merge(a, b):
    for k, v in b.items():
        if isinstance(v, dict) and isinstance(a.get(k), dict): merge(a[k], v)
        elif v is None: a.pop(k, None)
        else: a[k] = v
    return a
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def reply(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def status(self, code, reason):
        self.reply(code, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "code": code, "message": reason})
    def body(self):
        return json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
    def path_only(self):
        return self.path.split("?")[0].rstrip("/")
    def save(self, path, obj):
        version[0] += 1
        obj.setdefault("metadata", {})["resourceVersion"] = str(version[0])
        store[path] = obj
        if "/configmaps/" in path and (obj.get("data") or {}).get("allocation-state") is not None:
            with open(state_file + ".tmp", "w") as f: f.write(obj["data"]["allocation-state"])
            os.replace(state_file + ".tmp", state_file)
        return obj
    def do_GET(self):
        p = self.path_only()
        with lock:
            if p in store: return self.reply(200, store[p])
            res = p.rsplit("/", 1)[-1]
            items = [o for k, o in store.items() if k.rsplit("/", 1)[0] == p or
                     ("/namespaces/" not in p and k.rsplit("/", 2)[-2] == res)]
            if items or res in ("peerpods", "configmaps", "events", "secrets", "pods"):
                return self.reply(200, {"kind": "List", "metadata": {"resourceVersion": str(version[0])}, "items": items})
        self.status(404, "NotFound")
    def do_POST(self):
        p, obj = self.path_only(), self.body()
        name = obj.get("metadata", {}).get("name") or "gen%d" % (version[0] + 1)
        obj.setdefault("metadata", {})["name"] = name
        with lock:
            if p + "/" + name in store: return self.status(409, "AlreadyExists")
            self.reply(201, self.save(p + "/" + name, obj))
    def do_PUT(self):
        p, obj = self.path_only(), self.body()
        with lock:
            if p not in store: return self.status(404, "NotFound")
            rv = obj.get("metadata", {}).get("resourceVersion")
            if rv and rv != store[p]["metadata"]["resourceVersion"]: return self.status(409, "Conflict")
            self.reply(200, self.save(p, obj))
    def do_PATCH(self):
        p, patch = self.path_only(), self.body()
        with lock:
            obj = store.get(p) or {"metadata": {"name": p.rsplit("/", 1)[-1]}}
            self.reply(200, self.save(p, merge(obj, patch if isinstance(patch, dict) else {})))
    def do_DELETE(self):
        p = self.path_only()
        with lock:
            if p not in store: return self.status(404, "NotFound")
            self.reply(200, store.pop(p))
    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.command, self.path))
ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
PY
  nsenter --net=/run/netns/"$NSW" python3 "$b/fake-kube.py" "$BYOM_KUBE_PORT" "$b/state.json" >"$b/fake-kube.log" 2>&1 &
  KUBE_PID=$!
  for _ in $(seq 50); do inw curl -s -o /dev/null "http://127.0.0.1:$BYOM_KUBE_PORT/" && break; sleep 0.1; done
  cat >"$b/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster:
    server: http://127.0.0.1:$BYOM_KUBE_PORT
contexts:
- name: e2e
  context:
    cluster: e2e
    user: e2e
current-context: e2e
users:
- name: e2e
  user: {}
KC
  export KUBECONFIG=$b/kubeconfig NODE_NAME=ppe-worker$N
}

# The byom pool state as the adaptor last wrote it: byom_state '<jq filter>'.
byom_state() { jq -r "$1" "$WORK/byom/state.json" 2>/dev/null; }
# The pool machine (container id) with address $1.
byom_container() {
  local c
  for c in "${BYOM_CONTAINERS[@]}"; do
    [[ $(dapi "http://d/v1.41/containers/$c/json" | jq -r .NetworkSettings.IPAddress) == "$1" ]] && echo "$c" && return
  done
}
# A pool machine's console (its /init's output).
byom_logs() { dapi "http://d/v1.41/containers/$1/logs?stdout=1&stderr=1" | tr -d '\000-\010'; }
