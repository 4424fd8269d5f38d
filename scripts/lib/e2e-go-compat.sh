# Mixed versions, for scripts/e2e's docker run: the Go side of apf.json is src/apf's Go program
# (apfgo: upstream's forwarder.Config field names, Go types and json tags, encoded and decoded by
# Go's encoding/json), standing in for an upstream adaptor (it writes apf.json) and an upstream
# pod VM (it reads it).
#   go_compat_adaptor_user_data ID   the user data our adaptor gave sandbox ID's pod VM: its
#                                     apf.json decodes in Go with usable PEMs, the pod's name and
#                                     Kubernetes namespace, and re-encodes to the same bytes
#   go_compat_forwarder              an apf.json Go wrote (certificates from openssl, not from our
#                                     CA), in user data laid out as upstream's adaptor lays it
#                                     out, starts our pod VM image: its forwarder answers an agent
#                                     call over mutual TLS from Python's ssl, and refuses a client
#                                     without a certificate
# Uses check, log, dapi, inw, WORK and BIN of scripts/e2e and scripts/lib/local-env.sh.

APFGO=$BIN/src/apf/apfgo

go_compat_available() {
  if [[ -x $APFGO ]]; then return 0; fi
  if command -v go >/dev/null; then
    check "go compat: apfgo was built (Go is installed)" false
  else
    log "$PROVIDER: Go not installed: mixed-version checks skipped"
  fi
  return 1
}

go_compat_adaptor_user_data() {
  local id=$1 ud dir=$WORK/go-compat-ud
  go_compat_available || return 0
  log "$PROVIDER: the adaptor's apf.json, decoded by Go's encoding/json with upstream's struct"
  mkdir -p "$dir"
  ud=$(find "$WORK/data" -name user-data -type f | head -1)
  check "go compat: the pod VM's user data exists" test -n "$ud"
  [[ -n $ud ]] || return 0
  python3 - "$ud" "$dir/apf.json" <<'EOF'
import base64, sys, yaml
doc = yaml.safe_load(open(sys.argv[1], encoding="utf-8"))
for f in doc.get("write_files", []):
    if f.get("path") == "/run/peerpod/apf.json":
        content = f["content"]
        if f.get("encoding") in ("b64", "base64"):
            content = base64.b64decode(content).decode()
        open(sys.argv[2], "w", encoding="utf-8").write(content)
        break
else:
    sys.exit("no /run/peerpod/apf.json in write_files")
EOF
  check "go compat: user data carries /run/peerpod/apf.json" test -s "$dir/apf.json"
  check "go compat: the same bytes as the adaptor's <pods-dir>/<id>/apf.json" \
    cmp -s "$dir/apf.json" "$WORK/pods/$id/apf.json"
  check "go compat: Go decodes it; its PEMs load in crypto/tls" \
    sh -c "'$APFGO' check-tls <'$dir/apf.json' >/dev/null"
  "$APFGO" reencode -indent <"$dir/apf.json" >"$dir/reencoded.json" 2>"$dir/err" || cat "$dir/err"
  check "go compat: Go's MarshalIndent gives back the same bytes" cmp -s "$dir/apf.json" "$dir/reencoded.json"
  check "go compat: pod-name is the pod's name" \
    test "$("$APFGO" field pod-name <"$dir/apf.json")" = "e2e-$PROVIDER"
  check "go compat: pod-namespace is the pod's Kubernetes namespace" \
    test "$("$APFGO" field pod-namespace <"$dir/apf.json")" = default
}

go_compat_forwarder() {
  go_compat_available || return 0
  local dir=$WORK/go-compat-fwd name=ppe-go-compat-$N
  log "$PROVIDER: our pod VM image started with an apf.json Go wrote"
  mkdir -p "$dir"
  (
    cd "$dir"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=go-compat-ca \
      -keyout ca.key -out ca.crt
    for who in server client; do
      openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=go-compat-$who" \
        -keyout "$who.key" -out "$who.csr"
      printf 'subjectAltName=DNS:podvm.go-compat.test\nextendedKeyUsage=%s\n' \
        "$([[ $who == server ]] && echo serverAuth || echo clientAuth)" >"$who.ext"
      openssl x509 -req -in "$who.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 \
        -extfile "$who.ext" -out "$who.crt"
    done
  ) >"$dir/openssl.log" 2>&1 || { cat "$dir/openssl.log"; check "go compat: test certificates made" false; return 0; }
  "$APFGO" from-pem "$dir/server.crt" "$dir/server.key" "$dir/ca.crt" default go-compat >"$dir/apf.json"
  check "go compat: Go wrote apf.json" test -s "$dir/apf.json"
  # User data as upstream's adaptor renders it: a cloud-config whose write_files holds apf.json.
  {
    echo "#cloud-config"
    echo "write_files:"
    echo "- path: /run/peerpod/apf.json"
    echo "  content: |"
    sed 's/^/    /' "$dir/apf.json"
  } >"$dir/user-data"
  chmod 0644 "$dir/user-data"
  mkdir -p "$dir/kata-containers"
  local body
  body=$(printf '{"Image":"peerpods-podvm:local","Hostname":"%s","HostConfig":{"CapAdd":["NET_ADMIN","SYS_ADMIN"],"Binds":["%s:/media/cidata/user-data:ro","%s:/run/kata-containers"],"NetworkMode":"bridge"}}' \
    "$name" "$dir/user-data" "$dir/kata-containers")
  dapi -f -X POST -H 'Content-Type: application/json' -d "$body" "http://d/v1.41/containers/create?name=$name" >/dev/null &&
    dapi -f -X POST "http://d/v1.41/containers/$name/start" >/dev/null
  local ip
  ip=$(dapi "http://d/v1.41/containers/$name/json" | python3 -c \
    'import json,sys; print(json.load(sys.stdin)["NetworkSettings"]["Networks"]["bridge"]["IPAddress"])' 2>/dev/null || true)
  check "go compat: pod VM container running with an address" test -n "$ip"
  local out=""
  if [[ -n $ip ]]; then
    for _ in $(seq 60); do
      out=$(inw python3 "$ROOT/tests/e2e/agent_health_tls.py" "$ip" 15150 podvm.go-compat.test \
        "$dir/ca.crt" "$dir/client.crt" "$dir/client.key" 2>&1 || true)
      [[ $out == SERVING ]] && break
      sleep 0.5
    done
  fi
  [[ $out == SERVING ]] || log "last answer: $out"
  check "go compat: agent call through the forwarder over mutual TLS" test "$out" = SERVING
  out=$(inw python3 "$ROOT/tests/e2e/agent_health_tls.py" "$ip" 15150 podvm.go-compat.test "$dir/ca.crt" 2>&1 || true)
  check "go compat: a client without a certificate gets no answer" test "$out" != SERVING
  if [[ $failures -gt 0 ]]; then
    log "go compat container log (last 20 lines):"
    dapi "http://d/v1.41/containers/$name/logs?stdout=1&stderr=1&tail=20" | tr -cd '\11\12\15\40-\176'
  fi
  dapi -X DELETE "http://d/v1.41/containers/$name?force=1" >/dev/null
}
