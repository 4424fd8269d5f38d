# Shared by scripts/demo and scripts/e2e: a self-contained local "node" for the docker provider.
# A worker network namespace (primary interface "uplink" 198.18.200.1/24 with a default route,
# dockerd with its bridge on 198.18.201.0/24, no iptables changes, state under $WORK) and a pod
# namespace whose eth0 (198.18.202.2/24) is a veth to the worker, as a CNI plugin would make it.
# Only 198.18.0.0/15 addresses, only inside namespaces made here; env_down removes everything.
# Callers set ROOT, BIN and WORK, then call env_up; env_down is safe to call at any point.

N=${N:-$((RANDOM % 10000))}
NSW=ppe-w$N
NSP=ppe-p$N
ADAPTOR_PID=
DOCKERD_PID=
CAA=$BIN/cmd/cloud-api-adaptor/cloud-api-adaptor
CTL=$BIN/tools/peerpodctl/peerpodctl

log() { echo "[$(date +%T)] $*"; }
inw() { nsenter --net=/run/netns/"$NSW" "$@"; }
inp() { nsenter --net=/run/netns/"$NSP" "$@"; }
dapi() { curl -s --unix-socket "$WORK/d.sock" "$@"; }
ctl() { "$CTL" --socket "$WORK/h.sock" --pods-dir "$WORK/pods" "$@"; }

env_down() {
  set +e
  [[ -n $ADAPTOR_PID ]] && kill -9 "$ADAPTOR_PID" 2>/dev/null
  if [[ -S $WORK/d.sock ]]; then
    for c in $(dapi "http://d/v1.41/containers/json?all=1" | grep -o '"Id":"[0-9a-f]*"' | cut -d'"' -f4); do
      dapi -X DELETE "http://d/v1.41/containers/$c?force=1" >/dev/null
    done
  fi
  if [[ -n $DOCKERD_PID ]]; then
    kill "$DOCKERD_PID" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$DOCKERD_PID" 2>/dev/null
  fi
  grep " $WORK" /proc/mounts | awk '{print $2}' | sort -r | xargs -r umount -l 2>/dev/null
  ip netns del "$NSP" 2>/dev/null
  ip netns del "$NSW" 2>/dev/null
  rm -rf "$WORK"
  set -e
}

env_up() {
  mkdir -p "$WORK"
  ip netns add "$NSW"
  ip netns add "$NSP"
  inw ip link set lo up
  inp ip link set lo up
  inw ip link add uplink type dummy
  inw ip addr add 198.18.200.1/24 dev uplink
  inw ip link set uplink up
  inw ip route add default via 198.18.200.254 dev uplink
  ip link add "pw$N" netns "$NSW" type veth peer name eth0 netns "$NSP"
  inw ip addr add 198.18.202.1/24 dev "pw$N"
  inw ip link set "pw$N" up
  inp ip addr add 198.18.202.2/24 dev eth0
  inp ip link set eth0 up
  inp ip route add default via 198.18.202.1
  inw sysctl -qw net.ipv4.ip_forward=1

  log "starting dockerd in namespace $NSW (data in $WORK)"
  # nsenter, not "ip netns exec": the latter remounts /sys and hides the cgroup mounts.
  inw dockerd --host "unix://$WORK/d.sock" --data-root "$WORK/root" --exec-root "$WORK/x" \
    --pidfile "$WORK/d.pid" --bip 198.18.201.1/24 --iptables=false --ip-masq=false \
    >"$WORK/dockerd.log" 2>&1 &
  DOCKERD_PID=$!
  for _ in $(seq 300); do dapi -f http://d/_ping >/dev/null 2>&1 && break; sleep 0.1; done
  dapi -f http://d/_ping >/dev/null || { tail -20 "$WORK/dockerd.log"; return 1; }

  log "building the pod VM image (podvm/build)"
  "$ROOT/podvm/build" --docker-only --bin-dir "$BIN" --out "$WORK/podvm" >"$WORK/podvm-build.log" 2>&1 ||
    { tail -30 "$WORK/podvm-build.log"; return 1; }
  local tarball
  tarball=$(ls "$WORK"/podvm/*.tar | head -1)
  dapi -f -X POST -H 'Content-Type: application/x-tar' --data-binary @"$tarball" \
    "http://d/v1.41/images/create?fromSrc=-&repo=peerpods-podvm&tag=local&changes=CMD%20%5B%22%2Finit%22%5D" >/dev/null
  log "pod VM image peerpods-podvm:local imported"
}

ADAPTOR_ARGS=()
start_adaptor() {
  ADAPTOR_ARGS=(docker -docker-host "unix://$WORK/d.sock" -docker-api-version 1.41
    -podvm-docker-image peerpods-podvm:local -data-dir "$WORK/data"
    -socket "$WORK/h.sock" -pods-dir "$WORK/pods" -proxy-timeout 60s)
  rm -f "$WORK/h.sock"
  inw "$CAA" "${ADAPTOR_ARGS[@]}" >>"$WORK/adaptor.log" 2>&1 &
  ADAPTOR_PID=$!
  for _ in $(seq 100); do [[ -S $WORK/h.sock ]] && return 0; sleep 0.1; done
  echo "cloud-api-adaptor did not start:"; tail -20 "$WORK/adaptor.log"; return 1
}
