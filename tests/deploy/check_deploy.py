#!/usr/bin/env python3
"""Checks the deployment (deploy/): renders every kustomize overlay (with kustomize_lite, and
with `kubectl kustomize` too when kubectl is installed), validates every object against the
API fields in k8s_schema.py and cross-checks the manifests with the code they deploy (flags and
environment variables the binaries register, ports, probe paths, the webhook path, names that
refer to each other). Helm itself is not in Debian: the chart's templates are checked
structurally (only simple template actions, every .Values path defined, the same objects,
containers, env, probes and mounts as the kustomize base) and, with --helm-render, rendered.
Dockerfiles: multi-stage from Debian, the right build target and binary path, non-root users.

With --helm-render (tests/deploy/helm_render, Helm's template engine: Go text/template and
sprig) the chart is also rendered for every provider and must give the same objects as the
provider's kustomize overlay.

Issue #22 rules, for every rendering: no Namespace confidential-containers-system and no
RuntimeClass unless asked for (deploy/kustomize/optional/*, the chart's namespace.create and
runtimeClass.create, which carry Helm's ownership metadata); no privileged container (the
adaptor has exactly NET_ADMIN and SYS_ADMIN, requests and a priority class); RBAC verbs only from
the API calls found in the sources of each service account, and all of those; the startup probe
port equals PROBE_PORT of peer-pods-cm; Pod Security labels on the namespaces created; the
examples set CLOUD_CONFIG_VERIFY=true; upstream's chart value layout renders as documented; the
deployment documents exist, are linked and link nowhere outside the repository.

usage: check_deploy.py <repository root> [--helm-render PATH]   exit 0 = good, 1 = problems."""

import json
import os
import re
import shutil
import subprocess
import sys

try:
    import yaml
except ImportError:  # python3-yaml comes from scripts/install-deps
    print("SKIP: python3-yaml is not installed (scripts/install-deps installs it)")
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import k8s_schema  # noqa: E402
import kustomize_lite  # noqa: E402

_args = sys.argv[1:]
HELM_RENDER = None
if "--helm-render" in _args:
    i = _args.index("--helm-render")
    HELM_RENDER = _args[i + 1]
    del _args[i:i + 2]
ROOT = os.path.abspath(_args[0] if _args else os.path.join(os.path.dirname(__file__), "../.."))
PROBLEMS = []
PROVIDERS = ["libvirt", "docker", "aws", "azure", "gcp", "ibmcloud", "ibmcloud-powervs", "alibabacloud", "vsphere", "byom"]
# Providers this release lacks (no folder in src/providers): their overlay and Helm values must
# stop at render time with a clear message (a resource named NOT-IN-THIS-RELEASE-..., the
# chart's templates/provider-check.yaml), and are otherwise checked as the others are.
NOT_BUILT = [p for p in PROVIDERS if not os.path.isdir(os.path.join(ROOT, "src/providers", p))]


def not_built_marker(provider):
    return f"NOT-IN-THIS-RELEASE-the-{provider}-provider-is-not-in-this-release-of-peerpods-see-docs-deploy.md"

# Environment variables read directly (not through a flag) by the adaptor, its entrypoint or
# peerpod-ctrl (as upstream's entrypoint and controller read them).
DIRECT_ENV = {"CLOUD_PROVIDER", "NODE_NAME", "POD_NAMESPACE", "RUNTIMECLASS_NAME", "PEERPODS_NAMESPACE",
              "ENABLE_CLOUD_PROVIDER_EXTERNAL_PLUGIN", "CLOUD_PROVIDER_EXTERNAL_PLUGIN_PATH",
              "CLOUD_PROVIDER_EXTERNAL_PLUGIN_HASH", "EXTERNAL_NETWORK_VIA_PODVM", "POD_SUBNET_CIDRS"}

# Upstream's environment variables of the providers whose folder is not in src/providers yet
# (upstream src/cloud-providers/<name>); a provider folder, once present, is read instead.
UPSTREAM_PROVIDER_ENV = {
    "aws": "AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_REGION PODVM_INSTANCE_TYPE "
           "PODVM_INSTANCE_TYPES PODVM_AMI_ID PODVM_LAUNCHTEMPLATE_NAME USE_PODVM_LAUNCHTEMPLATE SSH_KP_NAME "
           "AWS_SUBNET_ID AWS_SG_IDS USE_PUBLIC_IP DISABLECVM ROOT_VOLUME_SIZE TAGS",
    "azure": "AZURE_CLIENT_ID AZURE_CLIENT_SECRET AZURE_TENANT_ID AZURE_SUBSCRIPTION_ID AZURE_REGION "
             "AZURE_RESOURCE_GROUP AZURE_SUBNET_ID AZURE_IMAGE_ID AZURE_INSTANCE_SIZE AZURE_INSTANCE_SIZES "
             "AZURE_NSG_ID SSH_USERNAME DISABLECVM ENABLE_SECURE_BOOT USE_PUBLIC_IP ROOT_VOLUME_SIZE TAGS",
    "gcp": "GCP_CREDENTIALS GCP_PROJECT_ID GCP_ZONE GCP_NETWORK PODVM_IMAGE_NAME GCP_SUBNETWORK GCP_MACHINE_TYPE "
           "GCP_DISK_TYPE DISABLECVM GCP_CONFIDENTIAL_TYPE ROOT_VOLUME_SIZE USE_PUBLIC_IP TAGS",
    "ibmcloud": "IBMCLOUD_API_KEY IBMCLOUD_IAM_PROFILE_ID IBMCLOUD_IAM_ENDPOINT IBMCLOUD_VPC_ENDPOINT "
                "IBMCLOUD_RESOURCE_GROUP_ID IBMCLOUD_ZONE IBMCLOUD_VPC_ID IBMCLOUD_CLUSTER_ID IBMCLOUD_SSH_KEY_ID "
                "IBMCLOUD_VPC_SUBNET_ID IBMCLOUD_VPC_SG_ID IBMCLOUD_PODVM_INSTANCE_PROFILE_NAME "
                "IBMCLOUD_PODVM_INSTANCE_PROFILE_LIST IBMCLOUD_PODVM_IMAGE_ID IBMCLOUD_TAGS DISABLECVM",
    "ibmcloud-powervs": "IBMCLOUD_API_KEY POWERVS_ZONE POWERVS_SERVICE_INSTANCE_ID POWERVS_NETWORK_ID "
                        "POWERVS_IMAGE_ID POWERVS_SSH_KEY_NAME POWERVS_PROCESSOR_TYPE POWERVS_SYSTEM_TYPE "
                        "POWERVS_MEMORY POWERVS_PROCESSORS USE_PUBLIC_IP POWERVS_BUILD_TIMEOUT",
    "alibabacloud": "ALIBABACLOUD_ACCESS_KEY_ID ALIBABACLOUD_ACCESS_KEY_SECRET REGION IMAGEID VSWITCH_ID "
                    "PODVM_INSTANCE_TYPE KEYNAME USE_PUBLIC_IP DISABLECVM SYSTEM_DISK_SIZE SECURITY_GROUP_IDS TAGS",
    "vsphere": "GOVC_USERNAME GOVC_PASSWORD GOVC_THUMBPRINT GOVC_URL GOVC_DATACENTER GOVC_TEMPLATE GOVC_DATASTORE "
               "GOVC_FOLDER GOVC_VCLUSTER GOVC_HOST GOVC_DRS",
}
# peerpod-ctrl's flags as upstream (controller-runtime manager flags), until cmd/peerpod-ctrl exists.
UPSTREAM_CTRL_FLAGS = {"metrics-bind-address", "health-probe-bind-address", "leader-elect"}


def problem(message):
    PROBLEMS.append(message)


def read(rel):
    with open(os.path.join(ROOT, rel)) as f:
        return f.read()


# --- what the code registers -------------------------------------------------------------

def _split_args(text, start):
    """Arguments of the call whose '(' is at text[start-1], split at top-level commas."""
    args, depth, cur, i, quote = [], 0, "", start, None
    while i < len(text):
        c = text[i]
        if quote:
            cur += c
            if c == "\\":
                cur += text[i + 1]
                i += 1
            elif c == quote:
                quote = None
        elif c in "\"'":
            quote = c
            cur += c
        elif c in "([{":
            depth += 1
            cur += c
        elif c in ")]}":
            if depth == 0:
                args.append(cur.strip())
                return args
            depth -= 1
            cur += c
        elif c == "," and depth == 0:
            args.append(cur.strip())
            cur = ""
        else:
            cur += c
        i += 1
    return args


def _literal(arg):
    m = re.fullmatch(r'"([^"]*)"', arg.strip())
    return m.group(1) if m else None


def flag_registrations(text):
    """(flag name, env name, default text) of every FlagSet registration in C++ source."""
    out = []
    for m in re.finditer(r"[.>](string|bool|int|uint|float|duration|stringList|keyValue)Var\(", text):
        args = _split_args(text, m.end())
        if len(args) >= 4 and _literal(args[1]) is not None:
            out.append((_literal(args[1]), _literal(args[3]) or "", args[2]))
    for m in re.finditer(r"[.>]var\(", text):
        args = _split_args(text, m.end())
        if len(args) >= 3 and _literal(args[1]) is not None:
            out.append((_literal(args[1]), _literal(args[2]) or "", ""))
    return out


def env_aliases(text):
    """Variables registered with Flag::alsoEnv (names kept after an upstream rename)."""
    return set(re.findall(r'\.alsoEnv\("([A-Z][A-Z0-9_]+)"\)', text))


def sources(rel_dir):
    base = os.path.join(ROOT, rel_dir)
    for dirpath, _, files in os.walk(base):
        for f in files:
            if f.endswith(".cc") and not f.endswith("_test.cc"):
                with open(os.path.join(dirpath, f)) as fh:
                    yield fh.read()


def getenv_names(text):
    return set(re.findall(r'\b(?:getenv|envOr|env)\("([A-Z][A-Z0-9_]+)"', text))


def k8s_resources():
    """k8s::resources constants of src/k8s/*.h (client.h, leader_election.h): name -> (group, plural)."""
    text = ""
    k8s_dir = os.path.join(ROOT, "src/k8s")
    if os.path.isdir(k8s_dir):
        for f in sorted(os.listdir(k8s_dir)):
            if f.endswith(".h"):
                text += read(f"src/k8s/{f}")
    return {m.group(1): (m.group(2), m.group(3))
            for m in re.finditer(r'const Resource k(\w+)\{"([^"]*)", "[^"]*", "([^"]+)"', text)}


def api_calls(rel_dirs):
    """(group, resource[/subresource], verb) of every Kubernetes client call in the sources."""
    resources = k8s_resources()
    verbs = {"get": "get", "list": "list", "watch": "watch", "create": "create", "update": "update",
             "patch": "patch", "remove": "delete"}
    calls = set()
    for rel in rel_dirs:
        if os.path.isfile(os.path.join(ROOT, rel)):
            texts = [read(rel)]
        elif os.path.isdir(os.path.join(ROOT, rel)):
            texts = sources(rel)
        else:
            continue
        for text in texts:
            for m in re.finditer(r"\b(get|list|watch|create|update|patch|remove)\(\s*(?:res::|k8s::resources::|resources::)k(\w+)\s*,",
                                 text):
                if m.group(2) not in resources:
                    continue
                group, plural = resources[m.group(2)]
                args = _split_args(text, text.index("(", m.start()) + 1)
                if any(_literal(a) == "status" for a in args[3:]):
                    plural += "/status"
                calls.add((group, plural, verbs[m.group(1)]))
            for m in re.finditer(r"\brunInformer\([^,]*,\s*(?:res::|k8s::resources::)k(\w+)\s*,", text):
                if m.group(1) in resources:
                    group, plural = resources[m.group(1)]
                    calls |= {(group, plural, "list"), (group, plural, "watch")}
    return calls


def granted(rules, group, resource, verb):
    # A rule limited to resourceNames counts for calls on one named object (the names the code
    # uses are run-time values this check cannot resolve); list, watch and create need a rule
    # without names.
    named_ok = verb in ("get", "update", "patch", "delete")
    return any(group in r.get("apiGroups", []) and resource in r.get("resources", []) and
               (verb in r["verbs"] or "*" in r["verbs"]) and (named_ok or not r.get("resourceNames"))
               for r in rules)


def bound_rules(docs, account, namespace):
    rules = []
    for b in find(docs, "ClusterRoleBinding") + find(docs, "RoleBinding"):
        if any(s["kind"] == "ServiceAccount" and s["name"] == account and s.get("namespace") == namespace
               for s in b.get("subjects", [])):
            ns = b["metadata"].get("namespace")
            for r in find(docs, b["roleRef"]["kind"], b["roleRef"]["name"]):
                if r["metadata"].get("namespace") == ns:
                    rules += r.get("rules", [])
    return rules


def check_rbac_covers(label, docs, account, namespace, calls):
    """Every API call the code makes is granted to the service account by its (cluster) roles."""
    rules = bound_rules(docs, account, namespace)
    for group, resource, verb in sorted(calls):
        if not granted(rules, group, resource, verb):
            problem(f"{label}: service account {account} may not {verb} {resource} "
                    f"(group \"{group}\"), which the code does")


def check_resource_names(label, docs, account, namespace, rel_dirs):
    """Names a role is limited to are names the code uses (a string literal in its sources), so
    that renaming the Lease or the ConfigMap in the code cannot leave the role behind."""
    text = ""
    for rel in rel_dirs:
        path = os.path.join(ROOT, rel)
        if os.path.isfile(path):
            text += read(rel)
        elif os.path.isdir(path):
            for dirpath, _, files in os.walk(path):
                for f in files:
                    if f.endswith((".cc", ".h")) and not f.endswith("_test.cc"):
                        with open(os.path.join(dirpath, f)) as fh:
                            text += fh.read()
    for r in bound_rules(docs, account, namespace):
        for name in r.get("resourceNames", []):
            if f'"{name}"' not in text and name != k8s_schema.PLACEHOLDER:
                problem(f"{label}: {account}'s role names {name}, which its code never uses")


def check_rbac_least(label, docs, account, namespace, calls):
    """Least privilege: every verb the roles grant is one of the API calls the code makes (the
    allowed list is computed from the sources, see api_calls), and no wildcard."""
    for r in bound_rules(docs, account, namespace):
        for field in ("apiGroups", "resources", "verbs"):
            if "*" in r.get(field, []):
                problem(f"{label}: {account} is granted a wildcard in {field}: {r}")
        for group in r.get("apiGroups", []):
            for resource in r.get("resources", []):
                for verb in r.get("verbs", []):
                    if (group, resource, verb) not in calls:
                        problem(f"{label}: {account} may {verb} {resource} (group \"{group}\"), "
                                "which no code calls: remove it (or docs/deploy.md and this test if the code does)")


# The code each service account runs, for the API calls its roles must cover, and only those.
ADAPTOR_CALL_SOURCES = ["src/adaptor", "cmd/cloud-api-adaptor"]
CTRL_CALL_SOURCES = ["src/peerpod_ctrl", "cmd/peerpod-ctrl", "src/k8s/leader_election.cc"]
WEBHOOK_CALL_SOURCES = ["src/webhook", "cmd/peerpods-webhook"]
# Namespaces the deployment uses but does not create by default: the Confidential Containers
# charts (or kata-deploy users, or deploy/kustomize/optional/namespace) own it.
EXTERNAL_NAMESPACES = {"confidential-containers-system", "kube-system"}
# Objects other components own, which a default rendering must not contain.
NOT_OURS = {("Namespace", "confidential-containers-system"), ("RuntimeClass", "kata-remote")}

ADAPTOR_REGS = flag_registrations(read("src/adaptor/config.cc"))
ADAPTOR_ENV = {env for _, env, _ in ADAPTOR_REGS if env} | env_aliases(read("src/adaptor/config.cc"))
for text in list(sources("src/adaptor")) + list(sources("cmd/cloud-api-adaptor")) + list(sources("src/providers")):
    DIRECT_ENV |= {e for e in getenv_names(text) if not e.startswith("KUBERNETES_")}


def provider_env(provider):
    folder = os.path.join("src/providers", provider)
    if os.path.isdir(os.path.join(ROOT, folder)):
        return {env for text in sources(folder)
                for env in {e for _, e, _ in flag_registrations(text) if e} | env_aliases(text)}
    return set(UPSTREAM_PROVIDER_ENV[provider].split())


def default_of(regs, flag):
    for name, _, default in regs:
        if name == flag:
            return default.strip().strip('"')
    return None


WEBHOOK_REGS = flag_registrations(read("cmd/peerpods-webhook/main.cc"))
WEBHOOK_FLAGS = {name for name, _, _ in WEBHOOK_REGS}
WEBHOOK_ENV = {env for _, env, _ in WEBHOOK_REGS if env}
CTRL_FLAGS, CTRL_ENV = UPSTREAM_CTRL_FLAGS, {"PEERPODS_NAMESPACE"}
if os.path.exists(os.path.join(ROOT, "cmd/peerpod-ctrl")):
    _ctrl_regs = [r for text in sources("cmd/peerpod-ctrl") for r in flag_registrations(text)]
    CTRL_FLAGS = {name for name, _, _ in _ctrl_regs} or UPSTREAM_CTRL_FLAGS
    CTRL_ENV |= {env for _, env, _ in _ctrl_regs if env}
MUTATE_PATH = re.search(r'kMutatePath = "([^"]+)"', read("src/webhook/webhook_server.h")).group(1)
PROBE_PORT = int(default_of(ADAPTOR_REGS, "probe-port"))
WEBHOOK_PORT = int(default_of(WEBHOOK_REGS, "webhook-port"))


# --- checks of a rendered set of objects ---------------------------------------------------

def index(docs):
    return {(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]): d for d in docs}


def find(docs, kind, name=None):
    return [d for d in docs if d.get("kind") == kind and (name is None or d["metadata"]["name"] == name)]


def containers(doc):
    spec = doc["spec"]["template"]["spec"]
    return {c["name"]: c for c in spec.get("containers", [])}


def flag_name(arg):
    return arg.lstrip("-").split("=", 1)[0]


def check_workload(where, doc, docs):
    spec = doc["spec"]
    labels = spec["template"].get("metadata", {}).get("labels", {})
    for k, v in spec["selector"].get("matchLabels", {}).items():
        if labels.get(k) != v:
            problem(f"{where}: selector {k}={v} does not match the pod template's labels")
    pod = spec["template"]["spec"]
    ns = doc["metadata"]["namespace"]
    sa = pod.get("serviceAccountName")
    if sa and not [d for d in find(docs, "ServiceAccount", sa) if d["metadata"]["namespace"] == ns]:
        problem(f"{where}: service account {ns}/{sa} is not defined")
    volumes = [v["name"] for v in pod.get("volumes", [])]
    if len(volumes) != len(set(volumes)):
        problem(f"{where}: duplicate volume names {volumes}")
    for c in pod["containers"]:
        for m in c.get("volumeMounts", []):
            if m["name"] not in volumes:
                problem(f"{where}: container {c['name']} mounts undefined volume {m['name']}")
        for ef in c.get("envFrom", []):
            ref = ef.get("configMapRef") or ef.get("secretRef")
            kind = "ConfigMap" if "configMapRef" in ef else "Secret"
            if not ref.get("optional") and not [d for d in find(docs, kind, ref["name"])
                                                if d["metadata"]["namespace"] == ns]:
                problem(f"{where}: required {kind} {ns}/{ref['name']} for envFrom is not in the rendering")


def check_objects(label, docs, provider=None):
    for i, d in enumerate(docs):
        for e in k8s_schema.validate_object(d, f"{label}: {d.get('kind')}/{(d.get('metadata') or {}).get('name', i)}"):
            problem(e)
    if any(not isinstance(d, dict) or "metadata" not in d or "name" not in d["metadata"] for d in docs):
        return
    keys = [(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]) for d in docs]
    dupes = {k for k in keys if keys.count(k) > 1}
    if dupes:
        problem(f"{label}: duplicate objects {sorted(dupes)}")
    namespaces = {d["metadata"]["name"] for d in find(docs, "Namespace")} | EXTERNAL_NAMESPACES
    for d in docs:
        ns = d["metadata"].get("namespace")
        if ns and ns not in namespaces:
            problem(f"{label}: {d['kind']}/{d['metadata']['name']} is in namespace {ns}, which is not created")

    # RBAC references.
    roles = {(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]) for d in docs
             if d["kind"] in ("Role", "ClusterRole")}
    for b in find(docs, "ClusterRoleBinding") + find(docs, "RoleBinding"):
        ref = b["roleRef"]
        ns = b["metadata"].get("namespace") if ref["kind"] == "Role" else None
        if (ref["kind"], ns, ref["name"]) not in roles:
            problem(f"{label}: {b['kind']} {b['metadata']['name']} refers to missing {ref['kind']} {ref['name']}")
        for s in b.get("subjects", []):
            if s["kind"] == "ServiceAccount" and not [d for d in find(docs, "ServiceAccount", s["name"])
                                                      if d["metadata"]["namespace"] == s.get("namespace")]:
                problem(f"{label}: {b['kind']} {b['metadata']['name']} binds missing service account {s['name']}")

    for d in find(docs, "DaemonSet") + find(docs, "Deployment"):
        check_workload(f"{label}: {d['kind']}/{d['metadata']['name']}", d, docs)

    # A provider's own Kubernetes calls (byom's pool-state ConfigMap) count for both daemons that
    # build it, the adaptor and peerpod-ctrl, in that provider's deployment only.
    own = [f"src/providers/{provider}"] if provider else []
    for account, where in (("cloud-api-adaptor", ADAPTOR_CALL_SOURCES + own), ("peerpod-ctrl", CTRL_CALL_SOURCES + own),
                           ("peer-pods-webhook-controller-manager", WEBHOOK_CALL_SOURCES)):
        ns = "peer-pods-webhook-system" if account.startswith("peer-pods-webhook") else "confidential-containers-system"
        calls = api_calls(where)
        check_rbac_covers(label, docs, account, ns, calls)
        check_rbac_least(label, docs, account, ns, calls)
        check_resource_names(label, docs, account, ns, where)

    # Nothing privileged; Pod Security labels on the namespaces we create.
    for d in find(docs, "DaemonSet") + find(docs, "Deployment"):
        pod = d["spec"]["template"]["spec"]
        for c in pod.get("containers", []) + pod.get("initContainers", []):
            if c.get("securityContext", {}).get("privileged"):
                problem(f"{label}: {d['kind']} {d['metadata']['name']}/{c['name']} is privileged")
    for d in find(docs, "Namespace"):
        if "pod-security.kubernetes.io/enforce" not in (d["metadata"].get("labels") or {}):
            problem(f"{label}: Namespace {d['metadata']['name']} has no pod-security.kubernetes.io/enforce label")

    # The PeerPod CRD as upstream.
    crd = find(docs, "CustomResourceDefinition", "peerpods.confidentialcontainers.org")
    if len(crd) != 1:
        problem(f"{label}: the PeerPod CRD is missing")
    else:
        s = crd[0]["spec"]
        v = s["versions"][0]
        props = v["schema"]["openAPIV3Schema"]["properties"]
        if (s["group"], s["names"]["kind"], s["names"]["plural"], s["scope"], v["name"]) != \
                ("confidentialcontainers.org", "PeerPod", "peerpods", "Namespaced", "v1alpha1") \
                or "status" not in v.get("subresources", {}) \
                or set(props["spec"]["properties"]) != {"cloudProvider", "instanceID"} \
                or "cleand" not in props["status"]["properties"]:
            problem(f"{label}: the PeerPod CRD differs from upstream's (group, names, v1alpha1, status, fields)")

    # The adaptor.
    ds = find(docs, "DaemonSet", "cloud-api-adaptor-daemonset")
    if len(ds) != 1:
        problem(f"{label}: the cloud-api-adaptor DaemonSet is missing")
    else:
        pod = ds[0]["spec"]["template"]["spec"]
        c = containers(ds[0]).get("cloud-api-adaptor-con")
        if not c:
            problem(f"{label}: the adaptor container must be called cloud-api-adaptor-con")
        else:
            caps = c.get("securityContext", {}).get("capabilities", {}).get("add", [])
            if not pod.get("hostNetwork") or sorted(caps) != ["NET_ADMIN", "SYS_ADMIN"]:
                problem(f"{label}: the adaptor needs hostNetwork and exactly the capabilities NET_ADMIN and "
                        f"SYS_ADMIN (as upstream), has {caps}")
            if not c.get("resources", {}).get("requests"):
                problem(f"{label}: the adaptor has no resource requests")
            if not pod.get("priorityClassName"):
                problem(f"{label}: the adaptor has no priorityClassName")
            mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
            for path in ("/run/peerpod", "/run/netns", "/run/kata-containers/shared/direct-volumes",
                         "/etc/certificates", "/root/containers"):
                if path not in mounts:
                    problem(f"{label}: the adaptor must mount {path}")
            if mounts.get("/run/netns", {}).get("mountPropagation") != "HostToContainer":
                problem(f"{label}: /run/netns needs mountPropagation HostToContainer")
            # The probe asks the port the adaptor listens on: PROBE_PORT of peer-pods-cm, else
            # the flag's default.
            cm = [d for d in find(docs, "ConfigMap", "peer-pods-cm")]
            port = PROBE_PORT
            if cm and (cm[0].get("data") or {}).get("PROBE_PORT"):
                port = int(cm[0]["data"]["PROBE_PORT"])
            probe = c.get("startupProbe", {}).get("httpGet", {})
            if probe.get("path") != "/startup" or probe.get("port") != port:
                problem(f"{label}: the adaptor's startup probe must be /startup on {port} (PROBE_PORT), "
                        f"is {probe.get('path')} on {probe.get('port')}")
            env_names = {e["name"] for e in c.get("env", [])}
            for needed in ("NODE_NAME", "POD_NAME", "POD_NAMESPACE", "POD_UID"):
                if needed in DIRECT_ENV and needed not in env_names:
                    problem(f"{label}: the adaptor reads {needed}; set it from the downward API")
            # The node owner annotation holds the pod's UID, as upstream's chart passes it.
            for e in c.get("env", []):
                field = e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
                if e["name"] == "POD_UID" and field != "metadata.uid":
                    problem(f"{label}: POD_UID must come from fieldRef metadata.uid, not {field}")
            refs = {(list(ef)[0], list(ef.values())[0]["name"]) for ef in c.get("envFrom", [])}
            # peer-pods-secret, or the Secret named by the chart's secrets.existingSecretName.
            if ("configMapRef", "peer-pods-cm") not in refs or len(refs) != 2 or \
                    len([r for r in refs if r[0] == "secretRef"]) != 1:
                problem(f"{label}: the adaptor takes its environment from peer-pods-cm and one Secret "
                        "(peer-pods-secret)")
            known = ADAPTOR_ENV | DIRECT_ENV | (provider_env(provider) if provider else set())
            for name in env_names - known:
                problem(f"{label}: adaptor env {name} is not an environment variable the adaptor reads")

    # Provider settings.
    if provider:
        known = ADAPTOR_ENV | DIRECT_ENV | provider_env(provider) | CTRL_ENV  # both read peer-pods-cm
        cm = find(docs, "ConfigMap", "peer-pods-cm")
        sec = find(docs, "Secret", "peer-pods-secret")
        if len(cm) != 1 or len(sec) != 1:
            problem(f"{label}: peer-pods-cm and peer-pods-secret must both be defined once")
        else:
            data = cm[0].get("data") or {}
            if data.get("CLOUD_PROVIDER") != provider:
                problem(f"{label}: peer-pods-cm CLOUD_PROVIDER must be {provider}")
            if data.get("CLOUD_CONFIG_VERIFY") != "true" and label.startswith("kustomize overlays/"):
                problem(f"{label}: the example sets CLOUD_CONFIG_VERIFY: \"true\" (production setting)")
            keys = set(data) | set(sec[0].get("stringData") or {}) | set(sec[0].get("data") or {})
            for k in sorted(keys - known):
                problem(f"{label}: peer-pods key {k} is not a setting of the adaptor or the {provider} provider")
        for d in docs:
            if d["kind"] in ("DaemonSet", "Deployment"):
                for c in containers(d).values():
                    if not c["image"].startswith("registry.example.com/peerpods/"):
                        problem(f"{label}: image {c['image']} is not set by the overlay's images:")

    # peerpod-ctrl.
    for d in find(docs, "Deployment", "peerpod-ctrl-controller-manager"):
        c = containers(d).get("manager")
        if not c:
            problem(f"{label}: peerpod-ctrl's container must be called manager")
            continue
        for a in c.get("args", []):
            if flag_name(a) not in CTRL_FLAGS:
                problem(f"{label}: peerpod-ctrl has no flag {a}")
        if "PEERPODS_NAMESPACE" not in {e["name"] for e in c.get("env", [])}:
            problem(f"{label}: peerpod-ctrl needs PEERPODS_NAMESPACE")
        for p in ("livenessProbe", "readinessProbe"):
            if c.get(p, {}).get("httpGet", {}).get("path") not in ("/healthz", "/readyz"):
                problem(f"{label}: peerpod-ctrl {p} must use /healthz or /readyz")

    # The webhook and everything that refers to it.
    wh = find(docs, "Deployment", "peer-pods-webhook-controller-manager")
    if len(wh) != 1:
        problem(f"{label}: the webhook Deployment is missing")
        return
    wh = wh[0]
    wns = wh["metadata"]["namespace"]
    c = containers(wh).get("manager")
    if not c:
        problem(f"{label}: the webhook container must be called manager")
        return
    for a in c.get("args", []):
        if flag_name(a) not in WEBHOOK_FLAGS:
            problem(f"{label}: peerpods-webhook has no flag {a}")
    env = {e["name"]: e.get("value") for e in c.get("env", [])}
    for name in set(env) - WEBHOOK_ENV:
        problem(f"{label}: peerpods-webhook does not read env {name}")
    ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
    if WEBHOOK_PORT not in ports.values():
        problem(f"{label}: the webhook container must expose {WEBHOOK_PORT} (-webhook-port)")
    for p in ("livenessProbe", "readinessProbe"):
        get = c.get(p, {}).get("httpGet", {})
        if get.get("path") not in ("/healthz", "/readyz") or get.get("port") != 8081:
            problem(f"{label}: webhook {p} must be /healthz or /readyz on 8081 (-health-probe-bind-address)")
    mounts = {m["name"]: m["mountPath"] for m in c.get("volumeMounts", [])}
    vols = {v["name"]: v for v in wh["spec"]["template"]["spec"].get("volumes", [])}
    cert_secret = None
    for name, path in mounts.items():
        if path == "/tmp/k8s-webhook-server/serving-certs":
            cert_secret = vols[name].get("secret", {}).get("secretName")
    if not cert_secret:
        problem(f"{label}: the webhook must mount its certificate at /tmp/k8s-webhook-server/serving-certs (-cert-dir)")
    svc = [s for s in find(docs, "Service") if s["metadata"]["namespace"] == wns]
    if len(svc) != 1:
        problem(f"{label}: expected one webhook Service in {wns}")
        return
    svc = svc[0]
    labels = wh["spec"]["template"]["metadata"]["labels"]
    if any(labels.get(k) != v for k, v in svc["spec"]["selector"].items()):
        problem(f"{label}: the webhook Service does not select the webhook pods")
    sport = svc["spec"]["ports"][0]
    target = sport["targetPort"]
    if (isinstance(target, str) and ports.get(target) != WEBHOOK_PORT) or (isinstance(target, int) and target != WEBHOOK_PORT):
        problem(f"{label}: the webhook Service must target port {WEBHOOK_PORT}")
    pdbs = [d for d in find(docs, "PodDisruptionBudget") if d["metadata"]["namespace"] == wns]
    if len(pdbs) != 1 or any(labels.get(k) != v for k, v in pdbs[0]["spec"]["selector"]["matchLabels"].items()):
        problem(f"{label}: expected a PodDisruptionBudget selecting the webhook pods")
    mwc = find(docs, "MutatingWebhookConfiguration")
    if len(mwc) != 1:
        problem(f"{label}: expected one MutatingWebhookConfiguration")
        return
    hook = mwc[0]["webhooks"][0]
    ref = hook["clientConfig"]["service"]
    if (ref["name"], ref["namespace"], ref.get("path"), ref.get("port", 443)) != \
            (svc["metadata"]["name"], wns, MUTATE_PATH, sport["port"]):
        problem(f"{label}: the webhook configuration must call {svc['metadata']['name']}.{wns}:{sport['port']}{MUTATE_PATH}")
    if hook["admissionReviewVersions"] != ["v1"] or hook.get("failurePolicy") != "Fail" or hook["sideEffects"] != "None":
        problem(f"{label}: the webhook registration differs from upstream (v1, Fail, None)")
    rule = hook["rules"][0]
    if rule["resources"] != ["pods"] or sorted(rule["operations"]) != ["CREATE", "UPDATE"]:
        problem(f"{label}: the webhook must be registered for pod CREATE and UPDATE")
    excluded = hook["namespaceSelector"]["matchExpressions"][0]["values"]
    if wns not in excluded or "kube-system" not in excluded:
        problem(f"{label}: the webhook must not gate its own namespace or kube-system")
    target_rc = env.get("TARGET_RUNTIMECLASS")
    for mc in hook.get("matchConditions", []):
        if f"'{target_rc}'" not in mc["expression"]:
            problem(f"{label}: matchCondition {mc['name']} does not test TARGET_RUNTIMECLASS {target_rc}")
    for rc in find(docs, "RuntimeClass"):
        if rc["metadata"]["name"] != target_rc:
            problem(f"{label}: RuntimeClass {rc['metadata']['name']} is not TARGET_RUNTIMECLASS {target_rc}")
    certs = [d for d in find(docs, "Certificate") if d["metadata"]["namespace"] == wns]
    if len(certs) != 1:
        problem(f"{label}: expected one Certificate in {wns}")
        return
    cert = certs[0]
    inject = mwc[0]["metadata"].get("annotations", {}).get("cert-manager.io/inject-ca-from")
    if inject != f"{wns}/{cert['metadata']['name']}":
        problem(f"{label}: cert-manager.io/inject-ca-from must name {wns}/{cert['metadata']['name']}")
    if cert["spec"]["secretName"] != cert_secret:
        problem(f"{label}: the Certificate's secret {cert['spec']['secretName']} is not the one the webhook mounts")
    if f"{svc['metadata']['name']}.{wns}.svc" not in cert["spec"].get("dnsNames", []):
        problem(f"{label}: the certificate must name {svc['metadata']['name']}.{wns}.svc")
    issuer = cert["spec"]["issuerRef"]["name"]
    if not [d for d in find(docs, "Issuer", issuer) if d["metadata"]["namespace"] == wns]:
        problem(f"{label}: the Certificate's Issuer {issuer} is missing")


# --- kustomize ---------------------------------------------------------------------------

def check_not_ours(label, docs):
    """A default rendering leaves the adaptor's namespace and the RuntimeClass to their owners
    (kata-deploy, the Confidential Containers charts): `helm install` after them would fail on
    the existing objects, and an uninstall would delete theirs."""
    for d in docs:
        if (d["kind"], d["metadata"]["name"]) in NOT_OURS or d["kind"] == "RuntimeClass":
            problem(f"{label}: renders {d['kind']} {d['metadata']['name']}, which kata-deploy / the "
                    "Confidential Containers charts own (create it only on request)")

_KUBECTL = None


def usable_kubectl():
    """kubectl with a built-in kustomize of version 4 or later (older ones, like Debian's
    kubernetes-client 1.20 with kustomize 2, lack `patches:`); "" when there is none."""
    global _KUBECTL
    if _KUBECTL is None:
        _KUBECTL = ""
        kubectl = os.environ.get("KUBECTL", shutil.which("kubectl") or "")
        if kubectl and kubectl != "none":
            try:
                out = subprocess.run([kubectl, "version", "--client", "-o", "json"], capture_output=True,
                                     text=True, timeout=60)
                import json
                version = json.loads(out.stdout).get("kustomizeVersion", "")
                m = re.match(r"v(\d+)", version)
                if m and int(m.group(1)) >= 4:
                    _KUBECTL = kubectl
                else:
                    print(f"note: {kubectl} has kustomize {version or 'unknown'}; using kustomize_lite only")
            except (OSError, subprocess.TimeoutExpired, ValueError):
                pass
    return _KUBECTL


def kubectl_kustomize(path):
    kubectl = usable_kubectl()
    if not kubectl:
        return None
    try:
        out = subprocess.run([kubectl, "kustomize", path], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        problem(f"kubectl kustomize {path}: {e}")
        return None
    if out.returncode != 0:
        problem(f"kubectl kustomize {path} failed: {out.stderr.strip()}")
        return None
    return [d for d in yaml.safe_load_all(out.stdout) if d is not None]


def check_kustomize():
    rendered = {}
    kubectl_used = False
    for name in ["base"] + [f"overlays/{p}" for p in PROVIDERS]:
        path = os.path.join(ROOT, "deploy/kustomize", name)
        if not os.path.isdir(path):
            problem(f"deploy/kustomize/{name} is missing")
            continue
        provider = name.split("/")[1] if name.startswith("overlays/") else None
        marker = not_built_marker(provider) if provider else None
        text = read(f"deploy/kustomize/{name}/kustomization.yaml")
        if provider in NOT_BUILT:
            if marker not in text:
                problem(f"deploy/kustomize/{name}: {provider} is not in this release, but the overlay does not "
                        f"stop at render time (resource {marker})")
            else:
                try:
                    kustomize_lite.build(path)
                    problem(f"deploy/kustomize/{name}: renders although {provider} is not in this release")
                except OSError as e:
                    if marker not in str(e):
                        problem(f"deploy/kustomize/{name}: fails for another reason than its marker: {e}")
        elif marker and "NOT-IN-THIS-RELEASE" in text:
            problem(f"deploy/kustomize/{name}: src/providers/{provider} exists now: remove the NOT-IN-THIS-RELEASE "
                    "resource and add the provider to templates/provider-check.yaml")
        try:
            docs = kustomize_lite.build(path, ignore={marker} if provider in NOT_BUILT else ())
        except (kustomize_lite.KustomizeError, OSError, yaml.YAMLError) as e:
            problem(f"deploy/kustomize/{name}: {e}")
            continue
        ref = kubectl_kustomize(path) if provider not in NOT_BUILT else None
        if ref is not None:
            kubectl_used = True
            mine = sorted(kustomize_lite.canonical(d) for d in docs)
            theirs = sorted(kustomize_lite.canonical(d) for d in ref)
            if mine != theirs:
                only_mine = [d for d in mine if d not in theirs]
                only_theirs = [d for d in theirs if d not in mine]
                problem(f"deploy/kustomize/{name}: kustomize_lite and kubectl render differently:\n"
                        f"  only kustomize_lite: {only_mine[:1]}\n  only kubectl: {only_theirs[:1]}")
            docs = ref
        check_not_ours(f"kustomize {name}", docs)
        if provider:
            check_objects(f"kustomize {name}", docs, provider)
        rendered[name] = docs
    # Opt-in objects other components usually own: one object each, applied on request only.
    for name, kind, obj in (("optional/namespace", "Namespace", "confidential-containers-system"),
                            ("optional/runtimeclass", "RuntimeClass", "kata-remote")):
        path = os.path.join(ROOT, "deploy/kustomize", name)
        try:
            docs = kustomize_lite.build(path)
        except (kustomize_lite.KustomizeError, OSError, yaml.YAMLError) as e:
            problem(f"deploy/kustomize/{name}: {e}")
            continue
        ref = kubectl_kustomize(path)
        if ref is not None and sorted(map(kustomize_lite.canonical, ref)) != sorted(map(kustomize_lite.canonical, docs)):
            problem(f"deploy/kustomize/{name}: kustomize_lite and kubectl render differently")
        if [(d["kind"], d["metadata"]["name"]) for d in docs] != [(kind, obj)]:
            problem(f"deploy/kustomize/{name}: must hold exactly {kind} {obj}")
        for i, d in enumerate(docs):
            for e in k8s_schema.validate_object(d, f"deploy/kustomize/{name}[{i}]"):
                problem(e)
        if kind == "Namespace" and docs and (docs[0]["metadata"].get("labels") or {}).get(
                "pod-security.kubernetes.io/enforce") != "privileged":
            problem(f"deploy/kustomize/{name}: the adaptor's namespace needs pod-security.kubernetes.io/enforce=privileged")
        rendered[name] = docs
    print(f"kustomize: {len(rendered)} renderings checked"
          f" ({'kubectl kustomize and kustomize_lite' if kubectl_used else 'kustomize_lite only; no kubectl with kustomize 4+'})")
    return rendered


# --- helm (structural) --------------------------------------------------------------------

# Words a template action may use: Helm's objects and the functions the chart needs.
TEMPLATE_WORDS = {"if", "else", "end", "range", "with", "and", "or", "not", "eq", "ne", "has", "hasKey",
                  "list", "dict", "index", "default", "quote", "toString", "toYaml", "nindent", "printf",
                  "fail", "omit", "Values", "Release", "Namespace", "Name", "Service"}
ACTION_PATTERNS = [
    r"\.Values(\.\w+)+( \| quote)?",
    r"\.Release\.Namespace",
    r"if \.Values(\.\w+)+",
    r"if eq \.Values(\.\w+)+ \"\w+\"",
    r"if and \.Values(\.\w+)+ \.Values(\.\w+)+",
    r"if or \(eq \.Values(\.\w+)+ \"\w+\"\) \(eq \.Values(\.\w+)+ \"\w+\"\)",
    r"else",
    r"end",
    r"range \$key, \$value := \.Values(\.\w+)+",
    r"\$key",
    r"\$value \| quote",
    r"toYaml \.Values(\.\w+)+ \| nindent \d+",
    # templates/provider-check.yaml
    r'if and \(not \(has \.Values\.provider \(list( "[\w-]+")+\)\)\) '
    r'\(ne \(toString \(index \.Values\.config "ENABLE_CLOUD_PROVIDER_EXTERNAL_PLUGIN"\)\) "true"\)',
    r'fail \(printf "[^"]*" \.Values\.provider\)',
]


def values_has(values, dotted):
    node = values
    for part in dotted.split(".")[2:]:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def skeleton(template):
    """The template with control lines dropped and every value replaced by a placeholder:
    both branches of an `if` stay, so this is a shape check, not a rendering."""
    out = []
    for line in template.splitlines():
        stripped = line.strip()
        if re.fullmatch(r"\{\{-?\s*(if|else|end|range|with|fail|\$\w+ :=)[^}]*\}\}", stripped):
            continue
        m = re.fullmatch(r"(\s*)\{\{-?\s*toYaml .* \| nindent (\d+)\s*\}\}", line)
        if m and out and out[-1].rstrip().endswith(":") and len(out[-1]) - len(out[-1].lstrip()) >= int(m.group(2)):
            continue  # toYaml under a list item's key (labels in a with block): nothing to add
        if m:
            if out and out[-1].strip() in ("imagePullSecrets:", "tolerations:"):
                out.append(" " * int(m.group(2)) + f"- name: {k8s_schema.PLACEHOLDER}")
            else:
                out.append(" " * int(m.group(2)) + f"{k8s_schema.PLACEHOLDER}: {k8s_schema.PLACEHOLDER}")
            continue
        line = re.sub(r"\{\{-?\s*[^}]*\}\}", k8s_schema.PLACEHOLDER, line)
        out.append(line)
    return "\n".join(out) + "\n"


def same_shape(base, template):
    """base equals the template skeleton, where a placeholder stands for any scalar."""
    ph = k8s_schema.PLACEHOLDER
    if isinstance(template, str) and ph in template and not isinstance(base, (dict, list)):
        return True
    if isinstance(base, dict) and isinstance(template, dict):
        return set(base) == set(template) and all(same_shape(base[k], template[k]) for k in base)
    if isinstance(base, list) and isinstance(template, list):
        return len(base) == len(template) and all(same_shape(a, b) for a, b in zip(base, template))
    return base == template


def check_helm(rendered):
    chart = os.path.join(ROOT, "deploy/helm/peerpods")
    meta = yaml.safe_load(read("deploy/helm/peerpods/Chart.yaml"))
    if meta.get("apiVersion") != "v2" or not meta.get("name") or not meta.get("version"):
        problem("Chart.yaml needs apiVersion v2, name and version")
    values = yaml.safe_load(read("deploy/helm/peerpods/values.yaml"))
    docs = []
    for f in sorted(os.listdir(os.path.join(chart, "templates"))):
        rel = f"deploy/helm/peerpods/templates/{f}"
        text = read(rel)
        depth = 0
        for m in re.finditer(r"\{\{(-?)\s*(.*?)\s*(-?)\}\}", text):
            action = m.group(2)
            for word in re.findall(r"(?<![.$\w])([a-zA-Z]\w*)\b", re.sub(r'"[^"]*"', "", action)):
                if word not in TEMPLATE_WORDS:
                    problem(f"{rel}: template action {{{{ {action} }}}} uses {word}, outside the checked subset")
            for path in re.findall(r"\.Values(?:\.\w+)+", action):
                if not values_has(values, path):
                    problem(f"{rel}: {path} is not defined in values.yaml")
            if re.match(r"(if|range|with)\b", action):
                depth += 1
            elif action == "end":
                depth -= 1
                if depth < 0:
                    problem(f"{rel}: unbalanced end")
        if depth != 0:
            problem(f"{rel}: {depth} unclosed if/range")
        try:
            for i, d in enumerate(yaml.safe_load_all(skeleton(text))):
                if d is None:
                    continue
                for e in k8s_schema.validate_object(d, f"{rel}[{i}]"):
                    problem(e)
                docs.append(d)
        except yaml.YAMLError as e:
            problem(f"{rel}: not YAML once its template actions are replaced: {e}")
    crd = yaml.safe_load(read("deploy/helm/peerpods/crds/peerpods.yaml"))
    if crd != yaml.safe_load(read("deploy/kustomize/base/crd-peerpods.yaml")):
        problem("deploy/helm/peerpods/crds/peerpods.yaml differs from the kustomize base's CRD")

    # Same objects and same containers as the kustomize base.
    base = rendered.get("base", [])
    ph = k8s_schema.PLACEHOLDER
    chart_keys = {(d["kind"], d["metadata"]["name"]) for d in docs}
    for d in base:
        kind, name = d["kind"], d["metadata"]["name"]
        if kind in ("CustomResourceDefinition",) or (kind == "Namespace" and name == "confidential-containers-system"):
            continue  # crds/ and helm's --create-namespace
        if (kind, name) not in chart_keys and (kind, ph) not in chart_keys:
            problem(f"helm chart: no {kind} {name} as in the kustomize base")
        twins = [c for c in docs if c["kind"] == kind and c["metadata"]["name"] in (name, ph)]
        if kind in ("DaemonSet", "Deployment") and twins:
            for cname, bc in containers(d).items():
                hc = containers(twins[0]).get(cname)
                if not hc:
                    problem(f"helm chart: {kind} {name} lacks container {cname}")
                    continue
                for field in ("command", "args"):
                    if bc.get(field) != hc.get(field):
                        problem(f"helm chart: {kind} {name}/{cname} {field} differs from the base")
                if {e["name"] for e in bc.get("env", [])} != {e["name"] for e in hc.get("env", [])}:
                    problem(f"helm chart: {kind} {name}/{cname} env names differ from the base")
                for p in ("startupProbe", "livenessProbe", "readinessProbe"):
                    if not same_shape(bc.get(p), hc.get(p)):
                        problem(f"helm chart: {kind} {name}/{cname} {p} differs from the base")
                bm = {m["mountPath"] for m in bc.get("volumeMounts", [])}
                hm = {m["mountPath"] for m in hc.get("volumeMounts", [])}
                if not bm <= hm:
                    problem(f"helm chart: {kind} {name}/{cname} lacks mounts {sorted(bm - hm)}")
        if kind in ("ClusterRole", "Role") and twins and not same_shape(d.get("rules"), twins[0].get("rules")):
            problem(f"helm chart: {kind} {name} rules differ from the base")

    # Provider examples carry the overlays' settings.
    for p in PROVIDERS:
        rel = f"deploy/helm/peerpods/providers/{p}.yaml"
        if not os.path.exists(os.path.join(ROOT, rel)):
            problem(f"{rel} is missing")
            continue
        v = yaml.safe_load(read(rel))
        overlay = rendered.get(f"overlays/{p}", [])
        cm = next((d for d in overlay if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "peer-pods-cm"), None)
        sec = next((d for d in overlay if d["kind"] == "Secret" and d["metadata"]["name"] == "peer-pods-secret"), None)
        if v.get("provider") != p or not cm or not sec:
            problem(f"{rel}: provider must be {p} (and the overlay must render)")
            continue
        config = (v.get("providerConfigs") or {}).get(p) or {}
        secrets = (v.get("providerSecrets") or {}).get(p) or {}
        if set(v.get("providerConfigs") or {}) - {p} or set(v.get("providerSecrets") or {}) - {p}:
            problem(f"{rel}: providerConfigs/providerSecrets of another provider")
        if config != {k: x for k, x in cm["data"].items() if k != "CLOUD_PROVIDER"}:
            problem(f"{rel}: providerConfigs.{p} differs from deploy/kustomize/overlays/{p}/peer-pods-cm.yaml")
        if secrets != (sec.get("stringData") or {}):
            problem(f"{rel}: providerSecrets.{p} differs from deploy/kustomize/overlays/{p}/peer-pods-secret.yaml")
        if not set(config) <= ADAPTOR_ENV | DIRECT_ENV | provider_env(p) | CTRL_ENV:
            problem(f"{rel}: unknown settings {sorted(set(config) - ADAPTOR_ENV - DIRECT_ENV - provider_env(p) - CTRL_ENV)}")
        if config.get("CLOUD_CONFIG_VERIFY") != "true":
            problem(f"{rel}: examples set CLOUD_CONFIG_VERIFY: \"true\"")
    print(f"helm: {len(docs)} template objects checked structurally (helm itself is not available)")


def helm_template(helm_render, extra_args):
    """Objects of the chart rendered by tests/deploy/helm_render (Helm's template engine), plus
    what `helm install` adds beside the templates: the CRDs in crds/. The release namespace is
    not the chart's (EXTERNAL_NAMESPACES)."""
    cmd = [helm_render, "-chart", os.path.join(ROOT, "deploy/helm/peerpods"),
           "-namespace", "confidential-containers-system"] + extra_args
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        problem(f"helm-render {' '.join(extra_args)}: {out.stderr.strip()}")
        return None
    docs = [d for d in yaml.safe_load_all(out.stdout) if d is not None]
    docs.append(yaml.safe_load(read("deploy/helm/peerpods/crds/peerpods.yaml")))
    return docs


def check_helm_rendered(helm_render, rendered):
    """The chart with each provider's example values renders the same objects as the provider's
    kustomize overlay, and other values switch components on and off consistently."""
    count = 0
    check = read("deploy/helm/peerpods/templates/provider-check.yaml")
    m = re.search(r"has \.Values\.provider \(list((?: \"[\w-]+\")+)\)", check)
    listed = set(re.findall(r"[\w-]+", m.group(1))) if m else set()
    if listed != set(PROVIDERS) - set(NOT_BUILT):
        problem(f"templates/provider-check.yaml lists {sorted(listed)}, src/providers has "
                f"{sorted(set(PROVIDERS) - set(NOT_BUILT))}")
    for p in PROVIDERS:
        values = os.path.join(ROOT, f"deploy/helm/peerpods/providers/{p}.yaml")
        if p in NOT_BUILT:
            out = subprocess.run([helm_render, "-chart", os.path.join(ROOT, "deploy/helm/peerpods"),
                                  "-namespace", "confidential-containers-system", "-f", values],
                                 capture_output=True, text=True, timeout=60)
            if out.returncode == 0 or f'provider "{p}" is not in this release' not in out.stderr:
                problem(f"helm {p}: must fail with 'provider \"{p}\" is not in this release': "
                        f"exit {out.returncode}, {out.stderr.strip()[:300]}")
            # With an external plugin the name is the plugin's: the chart renders.
            plugin = helm_template(helm_render, ["-f", values, "-set-string",
                                                 f"providerConfigs.{p}.ENABLE_CLOUD_PROVIDER_EXTERNAL_PLUGIN=true"])
            if plugin is not None:
                count += 1
                check_objects(f"helm {p} (external plugin)", plugin, p)
            continue
        else:
            docs = helm_template(helm_render, ["-f", values])
        if docs is None:
            continue
        count += 1
        check_not_ours(f"helm {p}", docs)
        check_objects(f"helm {p}", docs, p)
        overlay = rendered.get(f"overlays/{p}")
        if overlay is None:
            continue
        mine = {(d["kind"], d["metadata"]["name"]): kustomize_lite.canonical(d) for d in docs}
        theirs = {(d["kind"], d["metadata"]["name"]): kustomize_lite.canonical(d) for d in overlay}
        for key in sorted(set(mine) | set(theirs)):
            if mine.get(key) != theirs.get(key):
                where = "only in the overlay" if key not in mine else \
                    "only in the chart" if key not in theirs else "different"
                problem(f"helm {p}: {key[0]} {key[1]} is {where} (chart vs deploy/kustomize/overlays/{p})")
    # Components switched off, and another runtime class name.
    off = helm_template(helm_render, ["-set-string", "webhook.enabled=", "-set-string", "resourceCtrl.enabled=",
                                      "-set-string", "runtimeClass.create="])
    if off is not None:
        for e in [e for i, d in enumerate(off) for e in k8s_schema.validate_object(d, f"helm (components off)[{i}]")]:
            problem(e)
        left = {d["kind"] for d in off} & {"MutatingWebhookConfiguration", "Certificate", "Issuer", "Deployment",
                                           "PodDisruptionBudget",
                                           "RuntimeClass"}
        if left:
            problem(f"helm with webhook/resourceCtrl/runtimeClass disabled still renders {sorted(left)}")
    check_helm_variants(helm_render)
    renamed = helm_template(helm_render, ["-f", os.path.join(ROOT, "deploy/helm/peerpods/providers/aws.yaml"),
                                          "-set-string", "webhook.targetRuntimeClass=kata-aws"])
    if renamed is not None:
        check_objects("helm (targetRuntimeClass=kata-aws)", renamed, "aws")
    print(f"helm: chart rendered with Helm's template engine for {count} providers (+11 variants)"
          " and compared with the kustomize overlays")


def check_helm_variants(helm_render):
    """Values users carry over from upstream's chart, and the opt-in objects."""
    import tempfile
    aws = os.path.join(ROOT, "deploy/helm/peerpods/providers/aws.yaml")

    def adaptor(docs):
        ds = find(docs, "DaemonSet", "cloud-api-adaptor-daemonset")
        return (ds[0], containers(ds[0])["cloud-api-adaptor-con"]) if ds else (None, None)

    # runtimeClass.create: the RuntimeClass, with Helm's ownership metadata.
    docs = helm_template(helm_render, ["-f", aws, "-set-string", "runtimeClass.create=true"])
    if docs is not None:
        rc = find(docs, "RuntimeClass")
        meta = rc[0]["metadata"] if len(rc) == 1 else {}
        if (meta.get("labels") or {}).get("app.kubernetes.io/managed-by") != "Helm" or \
                (meta.get("annotations") or {}).get("meta.helm.sh/release-name") != "peerpods":
            problem("helm runtimeClass.create=true: expected one RuntimeClass with Helm's ownership labels and annotations")
        check_objects("helm (runtimeClass.create)", docs, "aws")

    # namespace.create (helm template / GitOps): the release namespace, privileged, Helm-owned.
    docs = helm_template(helm_render, ["-f", aws, "-set-string", "namespace.create=true"])
    if docs is not None:
        ns = find(docs, "Namespace", "confidential-containers-system")
        labels = ns[0]["metadata"].get("labels", {}) if len(ns) == 1 else {}
        if labels.get("pod-security.kubernetes.io/enforce") != "privileged" or \
                labels.get("app.kubernetes.io/managed-by") != "Helm":
            problem("helm namespace.create=true: expected the release Namespace, privileged, with Helm's labels")
        check_objects("helm (namespace.create)", docs, "aws")

    # PROBE_PORT moves the startup probe too (check_objects compares them).
    docs = helm_template(helm_render, ["-f", aws, "-set-string", "providerConfigs.aws.PROBE_PORT=8123"])
    if docs is not None:
        check_objects("helm (PROBE_PORT=8123)", docs, "aws")
        _, c = adaptor(docs)
        if c and c["startupProbe"]["httpGet"]["port"] != 8123:
            problem("helm PROBE_PORT=8123: the startup probe did not follow")

    # metrics.enabled: METRICS_LISTEN in peer-pods-cm, a headless Service over the adaptor's
    # pods on that port, and with serviceMonitor.create a ServiceMonitor for it.
    docs = helm_template(helm_render, ["-f", aws, "-set-string", "metrics.enabled=true",
                                       "-set-string", "metrics.serviceMonitor.create=true"])
    if docs is not None:
        check_objects("helm (metrics.enabled)", docs, "aws")
        cm = find(docs, "ConfigMap", "peer-pods-cm")
        svc = find(docs, "Service", "cloud-api-adaptor-metrics")
        sm = find(docs, "ServiceMonitor", "cloud-api-adaptor")
        if not cm or cm[0]["data"].get("METRICS_LISTEN") != ":8001":
            problem("helm metrics.enabled: peer-pods-cm must set METRICS_LISTEN=:8001")
        if not svc or svc[0]["spec"]["ports"][0]["port"] != 8001 or \
                svc[0]["spec"]["selector"] != {"app": "cloud-api-adaptor"}:
            problem("helm metrics.enabled: expected Service cloud-api-adaptor-metrics on 8001 over the adaptor's pods")
        if not sm or sm[0]["spec"]["endpoints"][0]["port"] != "metrics":
            problem("helm metrics.serviceMonitor.create: expected a ServiceMonitor scraping port metrics")
    docs = helm_template(helm_render, ["-f", aws])
    if docs is not None and (find(docs, "ServiceMonitor") or find(docs, "Service", "cloud-api-adaptor-metrics")):
        problem("helm: metrics objects rendered although metrics.enabled is false")

    # Upstream's layout: secrets.mode reference, IRSA / workload identity, pull secrets.
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        yaml.safe_dump({"secrets": {"mode": "reference", "existingSecretName": "my-aws-creds",
                                    "existingTlsSecretName": "my-tls"},
                        "imagePullSecrets": [{"name": "regcred"}],
                        "daemonset": {"podLabels": {"azure.workload.identity/use": "true"},
                                      "serviceAccount": {"annotations": {
                                          "eks.amazonaws.com/role-arn": "arn:aws:iam::111122223333:role/caa"}}}}, f)
        extra = f.name
    try:
        docs = helm_template(helm_render, ["-f", aws, "-f", extra])
        if docs is not None:
            if find(docs, "Secret"):
                problem("helm secrets.mode=reference still creates Secrets")
            ds, c = adaptor(docs)
            if c:
                refs = [ef["secretRef"]["name"] for ef in c.get("envFrom", []) if "secretRef" in ef]
                vols = {v["name"]: v for v in ds["spec"]["template"]["spec"]["volumes"]}
                pod = ds["spec"]["template"]
                if refs != ["my-aws-creds"] or vols["certs"]["secret"]["secretName"] != "my-tls":
                    problem(f"helm secrets.mode=reference: the adaptor must use my-aws-creds and my-tls, uses {refs}")
                if pod["metadata"]["labels"].get("azure.workload.identity/use") != "true" or \
                        pod["spec"].get("imagePullSecrets") != [{"name": "regcred"}]:
                    problem("helm: daemonset.podLabels / imagePullSecrets are not applied")
            check_objects("helm (secrets.mode=reference)", docs + [
                {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "my-aws-creds",
                                                                  "namespace": "confidential-containers-system"}}])
            sa = find(docs, "ServiceAccount", "cloud-api-adaptor")
            if not sa or (sa[0]["metadata"].get("annotations") or {}).get("eks.amazonaws.com/role-arn") is None:
                problem("helm: daemonset.serviceAccount.annotations are not applied")
            for d in find(docs, "Deployment"):
                if d["spec"]["template"]["spec"].get("imagePullSecrets") != [{"name": "regcred"}]:
                    problem(f"helm: imagePullSecrets are not applied to {d['metadata']['name']}")
    finally:
        os.unlink(extra)

    # secrets.tlsCerts and an SSH key create certs-for-tls and ssh-key-secret.
    docs = helm_template(helm_render, ["-f", os.path.join(ROOT, "deploy/helm/peerpods/providers/libvirt.yaml"),
                                       "-set-string", "providerSecrets.libvirt.id_rsa=KEY",
                                       "-set-string", "secrets.tlsCerts.caCert=CA"])
    if docs is not None:
        names = {d["metadata"]["name"] for d in find(docs, "Secret")}
        if names != {"peer-pods-secret", "ssh-key-secret", "certs-for-tls"}:
            problem(f"helm libvirt with id_rsa and tlsCerts: Secrets {sorted(names)}")
        sec = find(docs, "Secret", "peer-pods-secret")
        if sec and "id_rsa" in (sec[0].get("stringData") or {}):
            problem("helm: id_rsa must go to ssh-key-secret only")

    # Bad secrets settings stop the rendering with a message.
    for args, needle in ((["-set-string", "secrets.mode=reference"], "existingSecretName"),
                         (["-set-string", "secrets.mode=sealed"], "use create or reference")):
        out = subprocess.run([helm_render, "-chart", os.path.join(ROOT, "deploy/helm/peerpods"),
                              "-namespace", "confidential-containers-system", "-f", aws] + args,
                             capture_output=True, text=True, timeout=60)
        if out.returncode == 0 or needle not in out.stderr:
            problem(f"helm {' '.join(args)}: must fail naming {needle}: exit {out.returncode}, {out.stderr.strip()[:200]}")


# --- Grafana dashboard -------------------------------------------------------------------

def check_dashboard():
    """deploy/grafana/peerpods.json: valid JSON, and every metric its queries name is one the
    code exports (a renamed metric would leave an empty panel)."""
    rel = "deploy/grafana/peerpods.json"
    try:
        dash = json.loads(read(rel))
    except ValueError as e:
        problem(f"{rel}: not JSON: {e}")
        return
    code = "".join(open(os.path.join(dp, f), encoding="utf-8").read()
                   for top in ("src",) for dp, _, fs in os.walk(os.path.join(ROOT, top))
                   for f in fs if f.endswith(".cc") and not f.endswith("_test.cc"))
    exprs = [t["expr"] for p in dash.get("panels", []) for t in p.get("targets", [])]
    if not exprs:
        problem(f"{rel}: no queries")
    for e in exprs:
        for name in re.findall(r"\b(peerpods?_[a-z_]+)", e):
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            if f'"{base}"' not in code:
                problem(f"{rel}: query names {name}, which no daemon exports")


# --- Dockerfiles -------------------------------------------------------------------------

def instructions(text):
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def check_dockerfiles():
    images = {"cloud-api-adaptor": "root", "peerpod-ctrl": "65532", "peerpods-webhook": "65532"}
    known = {"FROM", "RUN", "COPY", "ENV", "WORKDIR", "USER", "ENTRYPOINT", "CMD", "EXPOSE", "ARG", "LABEL"}
    for name, user in images.items():
        rel = f"deploy/docker/{name}/Dockerfile"
        if not os.path.exists(os.path.join(ROOT, rel)):
            problem(f"{rel} is missing")
            continue
        ins = instructions(read(rel))
        for word, _ in ins:
            if word not in known:
                problem(f"{rel}: unexpected instruction {word}")
        froms = [rest for word, rest in ins if word == "FROM"]
        if len(froms) < 2 or not froms[0].startswith("debian:12 AS build") \
                or not re.match(r"debian:12(-slim)?\b", froms[-1]):
            problem(f"{rel}: expected a debian:12 build stage and a debian:12 runtime stage")
        runs = " ".join(rest for word, rest in ins if word == "RUN")
        for needle in ("scripts/install-deps --build", "cmake --preset release", f"--target {name}"):
            if needle not in runs:
                problem(f"{rel}: the build stage must run {needle}")
        binary = f"build/release/cmd/{name}/{name}"
        copies = [rest for word, rest in ins if word == "COPY"]
        if not any(c.startswith("--from=build") and binary in c for c in copies):
            problem(f"{rel}: the runtime stage must copy {binary} from the build stage")
        for c in copies:
            parts = c.split()
            if not parts[0].startswith("--from") and parts[0] != "." and not os.path.exists(os.path.join(ROOT, parts[0])):
                problem(f"{rel}: COPY source {parts[0]} does not exist")
        if not os.path.exists(os.path.join(ROOT, "cmd", name, "CMakeLists.txt")):
            print(f"note: {rel} builds cmd/{name}, which is not in the tree yet")
        users = [rest for word, rest in ins if word == "USER"]
        final_user = users[-1].split(":")[0] if users else "root"
        if (final_user in ("0", "root")) != (user == "root") or (user != "root" and final_user != user):
            problem(f"{rel}: runs as {final_user}, expected {user}")
        entry = [rest for word, rest in ins if word == "ENTRYPOINT"]
        if not entry or not entry[-1].startswith("["):
            problem(f"{rel}: needs an exec-form ENTRYPOINT")
    script = os.path.join(ROOT, "deploy/docker/cloud-api-adaptor/entrypoint.sh")
    if not os.access(script, os.X_OK):
        problem("deploy/docker/cloud-api-adaptor/entrypoint.sh must be executable")
    if subprocess.run(["sh", "-n", script]).returncode != 0:
        problem("deploy/docker/cloud-api-adaptor/entrypoint.sh has a shell syntax error")
    print(f"dockerfiles: {len(images)} checked (not built: no registry access here)")


def check_docs():
    """The deployment documents exist, are linked from README.md and docs/deploy.md, and link
    nowhere outside the repository (commands may still name a chart or image reference)."""
    docs = ["docs/deploy.md", "docs/migration.md", "docs/compatibility.md", "docs/troubleshooting.md"]
    for rel in docs:
        if not os.path.exists(os.path.join(ROOT, rel)):
            problem(f"{rel} is missing")
            continue
        text = read(rel)
        for target in re.findall(r"\]\(([^)]+)\)", text):
            if re.match(r"[a-z]+:", target):
                problem(f"{rel}: link to {target} points outside the repository")
            else:
                path = os.path.normpath(os.path.join(os.path.dirname(rel), target.split("#")[0]))
                if target.split("#")[0] and not os.path.exists(os.path.join(ROOT, path)):
                    problem(f"{rel}: link to {target}: {path} does not exist")
    for rel, prefix in (("README.md", "docs/"), ("docs/deploy.md", "")):
        text = read(rel)
        for doc in ("migration.md", "compatibility.md", "troubleshooting.md"):
            if f"]({prefix}{doc}" not in text:
                problem(f"{rel} does not link to docs/{doc}")
    print(f"docs: {len(docs)} deployment documents checked (links, README and deploy.md link them)")


# The PeerpodVolume spec fields: upstream's (src/csi-wrapper/crd/peerpodvolume.yaml) plus the two
# teardown requests its schema lacks (pruned by the API server, so its unpublish/unstage
# replays had nothing to replay).
CSI_SPEC_FIELDS = {"podName", "podNamespace", "podUid", "nodeID", "nodeName", "volumeID", "volumeName", "vmID",
                   "vmName", "devicePath", "stagingTargetPath", "targetPath", "wrapperControllerPublishVolumeReq",
                   "wrapperControllerPublishVolumeRes", "wrapperNodeStageVolumeReq", "wrapperNodePublishVolumeReq",
                   "wrapperNodeUnpublishVolumeReq", "wrapperNodeUnstageVolumeReq"}
CSI_WRAPPERS = ("csi-controller-wrapper", "csi-node-wrapper", "csi-podvm-wrapper")


def check_csi():
    """deploy/csi: the PeerpodVolume CRD (upstream's group, names and fields plus the teardown
    fields; every spec field src/csi writes is in the schema), the wrappers' Role (exactly the
    calls src/csi makes), and each example (AWS EBS, Azure Disk): valid objects, wrapper flags
    the binaries register, sidecars and kubelet's registrar pointed at the wrapper sockets, the
    pod's podvm wrapper with its four variables and a socket directory shared with the vendor's
    node plugin, the StorageClass marked peerpod, the Role bound to the driver's and the pod's
    service accounts in the wrappers' namespace."""
    base = "deploy/csi"
    if not os.path.isdir(os.path.join(ROOT, base)):
        problem(f"{base} is missing")
        return
    crd = yaml.safe_load(read(f"{base}/crd-peerpodvolumes.yaml"))
    for e in k8s_schema.validate_object(crd, f"{base}/crd-peerpodvolumes.yaml"):
        problem(e)
    s = crd["spec"]
    v = s["versions"][0]
    props = v["schema"]["openAPIV3Schema"]["properties"]
    if (s["group"], s["names"]["kind"], s["names"]["plural"], s["scope"], v["name"]) != \
            ("confidentialcontainers.org", "PeerpodVolume", "peerpodvolumes", "Namespaced", "v1alpha1") \
            or "status" not in v.get("subresources", {}) or "state" not in props["status"]["properties"]:
        problem(f"{base}: the PeerpodVolume CRD differs from upstream's (group, names, v1alpha1, status)")
    spec_fields = set(props["spec"]["properties"])
    if spec_fields != CSI_SPEC_FIELDS:
        problem(f"{base}: PeerpodVolume spec fields {sorted(spec_fields ^ CSI_SPEC_FIELDS)} differ")
    code = "".join(sources("src/csi"))
    written = set(re.findall(r'setSpec\(\w+, "(\w+)"', code)) | set(re.findall(r'specOf\(\*?\w+, "(\w+)"', code)) \
        | set(re.findall(r'cached<[^>]+>\(\w+,\s*"(\w+)"\)', code)) \
        | set(re.findall(r'cache\(\*?volumes_, name, "(\w+)"', code))
    if not written:
        problem("src/csi: no spec field found in the sources (check_csi's patterns are stale)")
    for f in sorted(written - spec_fields):
        problem(f"{base}: src/csi writes spec.{f}, which the CRD schema would prune")

    # The Role: the verbs VolumeClient and the informer use, and nothing else.
    role = yaml.safe_load(read(f"{base}/rbac.yaml"))
    for e in k8s_schema.validate_object(role, f"{base}/rbac.yaml"):
        problem(e)
    client = read("src/csi/volume_client.cc") + read("src/csi/monitor.cc")
    calls = {("peerpodvolumes", verb) for method, verb in (("get", "get"), ("list", "list"), ("create", "create"),
                                                            ("update", "update"), ("remove", "delete"))
             if re.search(rf"client_->{method}\(kPeerpodVolumes, ns_, (?!.*\"status\")", client)}
    if "runInformer(*client_, kPeerpodVolumes" in client:
        calls |= {("peerpodvolumes", "list"), ("peerpodvolumes", "watch")}
    if re.search(r'client_->update\(kPeerpodVolumes, ns_, \w+, "status"\)', client):
        calls.add(("peerpodvolumes/status", "update"))
    grants = {(res, verb) for r in role["rules"] if "confidentialcontainers.org" in r["apiGroups"]
              for res in r["resources"] for verb in r["verbs"]}
    if grants != calls:
        problem(f"{base}/rbac.yaml: grants {sorted(grants - calls)} the code does not use, "
                f"lacks {sorted(calls - grants)} it does")
    wrapper_ns = role["metadata"]["namespace"]

    flags = {name for name, _, _ in flag_registrations(read("src/csi/wrapper_main.cc"))}
    examples = sorted(os.listdir(os.path.join(ROOT, base, "examples")))
    for ex in examples:
        where = f"{base}/examples/{ex}"
        docs = []
        for f in sorted(os.listdir(os.path.join(ROOT, where))):
            if f.endswith(".yaml"):
                docs += [d for d in yaml.safe_load_all(read(f"{where}/{f}")) if d]
        wrappers = {}
        for d in docs:
            label = f"{where}: {d.get('kind')}/{d['metadata']['name']}"
            if d["kind"] in ("Deployment", "DaemonSet"):  # strategic-merge patches of the driver
                pod = d["spec"]["template"]["spec"]
                names = {c["name"]: c for c in pod["containers"]}
                ours = [n for n in names if n in CSI_WRAPPERS]
                if len(ours) != 1:
                    problem(f"{label}: patches in {ours or 'no wrapper'}")
                    continue
                wrappers[ours[0]] = (d, names[ours[0]])
                errors = []
                k8s_schema.validate("Container", names[ours[0]], label, errors)
                for e in errors:
                    problem(e)
                for vol in pod.get("volumes", []):
                    k8s_schema.validate("Volume", vol, label, errors)
            else:
                for e in k8s_schema.validate_object(d, label):
                    problem(e)
        pods = find(docs, "Pod")
        for p in pods:
            for c in p["spec"]["containers"]:
                if c["name"] == "csi-podvm-wrapper":
                    wrappers["csi-podvm-wrapper"] = (p, c)
        if set(wrappers) != set(CSI_WRAPPERS):
            problem(f"{where}: wrappers {sorted(wrappers)}, not all three")
            continue
        for name, (doc, c) in wrappers.items():
            args = {}
            for a in c.get("args", []):
                if flag_name(a) not in flags:
                    problem(f"{where}: {name} flag {a}, which {name} does not register")
                args[flag_name(a)] = a.split("=", 1)[1] if "=" in a else ""
            ns = args.get("namespace", "default")
            if ns == "$(POD_NAME_SPACE)":
                ns = doc["metadata"]["namespace"]
            if ns != wrapper_ns:
                problem(f"{where}: {name} keeps PeerpodVolumes in {ns}, the Role is in {wrapper_ns}")
            env = {e["name"] for e in c.get("env", [])}
            need = {"csi-node-wrapper": {"POD_NODE_NAME"},
                    "csi-podvm-wrapper": {"POD_NAME", "POD_NAME_SPACE", "POD_UID", "POD_NODE_NAME"}}.get(name, set())
            if need - env:
                problem(f"{where}: {name} lacks {sorted(need - env)}")
            endpoint = args.get("endpoint", "")
            if name == "csi-controller-wrapper":
                for sidecar in ("csi-attacher", "csi-provisioner", "csi-resizer"):
                    sc = {x["name"]: x for x in doc["spec"]["template"]["spec"]["containers"]}.get(sidecar)
                    addr = [a.split("=", 1)[1] for a in (sc or {}).get("args", []) if flag_name(a) == "csi-address"] + \
                           [e.get("value") for e in (sc or {}).get("env", []) if e["name"] == "ADDRESS"]
                    if addr != [endpoint]:
                        problem(f"{where}: {sidecar} talks to {addr}, not the wrapper's {endpoint}")
            if name == "csi-node-wrapper":
                pod = doc["spec"]["template"]["spec"]
                reg = {x["name"]: x for x in pod["containers"]}.get("node-driver-registrar", {})
                renv = {e["name"]: e.get("value") for e in reg.get("env", [])}
                if renv.get("ADDRESS") != endpoint or not renv.get("DRIVER_REG_SOCK_PATH", "").endswith(
                        "/" + os.path.basename(endpoint)):
                    problem(f"{where}: node-driver-registrar does not register {endpoint}")
                mounts = {m["mountPath"].rstrip("/") for m in c.get("volumeMounts", [])}
                for path in ("/run/peerpod", "/run/kata-containers/shared/direct-volumes", "/var/lib/kubelet"):
                    if path not in mounts:
                        problem(f"{where}: csi-node-wrapper does not mount {path}")
            if name == "csi-podvm-wrapper":
                p = doc
                if p["spec"].get("runtimeClassName") != "kata-remote":
                    problem(f"{where}: Pod {p['metadata']['name']} is not a peer pod (runtimeClassName)")
                sock_dir = os.path.dirname(args.get("target-endpoint", ""))
                mounted = {m["name"] for m in c.get("volumeMounts", []) if m["mountPath"].rstrip("/") == sock_dir}
                sharers = [x["name"] for x in p["spec"]["containers"] if x is not c and
                           any(m["name"] in mounted for m in x.get("volumeMounts", []))]
                if not sharers:
                    problem(f"{where}: no container shares {sock_dir} (the vendor socket) with csi-podvm-wrapper")
                sa = p["spec"].get("serviceAccountName")
                bound = [b for b in find(docs, "RoleBinding") if b["roleRef"]["name"] == "peerpod-csi-wrapper"
                         and b["metadata"]["namespace"] == wrapper_ns]
                subjects = {(x["namespace"], x["name"]) for b in bound for x in b["subjects"]}
                if (p["metadata"]["namespace"], sa) not in subjects:
                    problem(f"{where}: the pod's service account {sa} is not bound to peerpod-csi-wrapper")
        classes = find(docs, "StorageClass")
        if not classes or any((sc.get("parameters") or {}).get("peerpod") != "true" for sc in classes):
            problem(f"{where}: no StorageClass with parameters.peerpod \"true\"")
        claims = find(docs, "PersistentVolumeClaim")
        if not any(c["spec"].get("storageClassName") in {sc["metadata"]["name"] for sc in classes} for c in claims):
            problem(f"{where}: no claim of the peerpod StorageClass")
    print(f"csi: the PeerpodVolume CRD ({len(spec_fields)} spec fields), the wrappers' Role and "
          f"{len(examples)} examples ({', '.join(examples)}) checked")


def main():
    check_docs()
    rendered = check_kustomize()
    check_helm(rendered)
    if HELM_RENDER:
        check_helm_rendered(HELM_RENDER, rendered)
    else:
        print("helm: NOT rendered (tests/deploy/helm_render was not built: it needs golang-go, "
              "golang-github-masterminds-sprig-dev and golang-gopkg-yaml.v3-dev); structural checks only")
    check_dockerfiles()
    check_dashboard()
    check_csi()
    if PROBLEMS:
        print(f"\n{len(PROBLEMS)} problem(s):")
        for p in PROBLEMS:
            print(f"  - {p}")
        return 1
    print("deploy: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
