"""A minimal kustomize for tests/deploy, for machines without kubectl: it implements exactly
what deploy/kustomize uses (resources, patches with strategic-merge files, images, replacements
from a ConfigMap's data into one field of an object) and refuses
anything else, so a new kustomize feature in the manifests is noticed here. When kubectl is
installed the test also renders with `kubectl kustomize` and requires the same objects."""

import copy
import os

import yaml

SUPPORTED = {"apiVersion", "kind", "resources", "patches", "images", "replacements"}
# Lists that strategic merge patches merge by a key (the ones the manifests patch).
MERGE_KEYS = {"containers": "name", "initContainers": "name", "volumes": "name", "volumeMounts": "mountPath",
              "env": "name", "ports": "containerPort"}


class KustomizeError(Exception):
    pass


def load_documents(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def strategic_merge(base, patch):
    if not isinstance(base, dict) or not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif key in MERGE_KEYS and isinstance(value, list) and isinstance(out.get(key), list):
            mk = MERGE_KEYS[key]
            merged = list(out[key])
            added = []
            for item in value:
                idx = next((i for i, old in enumerate(merged) if old.get(mk) == item.get(mk)), None)
                if idx is None:
                    added.append(copy.deepcopy(item))
                else:
                    merged[idx] = strategic_merge(merged[idx], item)
            out[key] = added + merged  # kustomize puts new items first
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = strategic_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _pod_specs(doc):
    spec = doc.get("spec") or {}
    template = spec.get("template") or {}
    if isinstance(template.get("spec"), dict):
        yield template["spec"]


def _set_images(docs, images):
    for doc in docs:
        for pod in _pod_specs(doc):
            for c in (pod.get("containers") or []) + (pod.get("initContainers") or []):
                image = c.get("image", "")
                name, _, tag = image.partition(":")
                for rule in images:
                    if rule.get("name") == name:
                        new_name = rule.get("newName", name)
                        new_tag = rule.get("newTag", tag)
                        c["image"] = f"{new_name}:{new_tag}" if new_tag else new_name


def _select(docs, sel):
    return [d for d in docs if all((d.get("kind") if k == "kind" else d.get("metadata", {}).get(k)) == v
                                   for k, v in sel.items())]


def _walk(node, path, kfile):
    """The parent and key of a kustomize fieldPath (a.b.[name=x].c, or a numeric index)."""
    parts = path.split(".")
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if part.startswith("[") and part.endswith("]"):
            key, _, value = part[1:-1].partition("=")
            matches = [j for j, item in enumerate(node) if isinstance(item, dict) and str(item.get(key)) == value]
            if len(matches) != 1:
                raise KustomizeError(f"{kfile}: fieldPath {path}: no single {part}")
            part = matches[0]
        elif isinstance(node, list):
            part = int(part)
        if last:
            return node, part
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            raise KustomizeError(f"{kfile}: fieldPath {path} not found")


def _replace(docs, rules, kfile):
    for rule in rules:
        src = rule["source"]
        sources = _select(docs, {k: v for k, v in src.items() if k in ("kind", "name", "namespace")})
        if len(sources) != 1:
            raise KustomizeError(f"{kfile}: replacement source {src} not found")
        parent, key = _walk(sources[0], src["fieldPath"], kfile)
        if key not in parent:
            raise KustomizeError(f"{kfile}: replacement source field {src['fieldPath']} is missing")
        value = parent[key]
        for target in rule["targets"]:
            for doc in _select(docs, target["select"]):
                for fp in target["fieldPaths"]:
                    tparent, tkey = _walk(doc, fp, kfile)
                    old = tparent[tkey] if (isinstance(tparent, list) or tkey in tparent) else None
                    # As kustomize 5: a string source is converted to the target's type.
                    if isinstance(old, int) and isinstance(value, str) and value.isdigit():
                        tparent[tkey] = int(value)
                    else:
                        tparent[tkey] = value


def build(directory, ignore=()):
    """Renders a kustomization directory into a list of objects; resources named in `ignore`
    are left out (check_deploy renders a not-yet-available provider's overlay without its
    marker)."""
    kfile = os.path.join(directory, "kustomization.yaml")
    if not os.path.exists(kfile):
        raise KustomizeError(f"{directory}: no kustomization.yaml")
    k = load_documents(kfile)[0]
    unknown = set(k) - SUPPORTED
    if unknown:
        raise KustomizeError(f"{kfile}: kustomize_lite does not implement {sorted(unknown)}")
    docs = []
    for res in k.get("resources") or []:
        if res in ignore:
            continue
        path = os.path.normpath(os.path.join(directory, res))
        docs.extend(build(path) if os.path.isdir(path) else load_documents(path))
    for p in k.get("patches") or []:
        if set(p) != {"path"}:
            raise KustomizeError(f"{kfile}: only file patches (path:) are implemented")
        for patch in load_documents(os.path.join(directory, p["path"])):
            meta = patch.get("metadata", {})
            targets = [d for d in docs if d.get("kind") == patch.get("kind")
                       and d.get("metadata", {}).get("name") == meta.get("name")
                       and d.get("metadata", {}).get("namespace") == meta.get("namespace")]
            if len(targets) != 1:
                raise KustomizeError(f"{p['path']}: patch target {patch.get('kind')}/{meta.get('name')} not found")
            i = docs.index(targets[0])
            docs[i] = strategic_merge(docs[i], patch)
    _set_images(docs, k.get("images") or [])
    _replace(docs, k.get("replacements") or [], kfile)
    return docs


def canonical(value):
    """Order-insensitive form for comparing two renderings: lists of named items sorted by
    name, maps as sorted item tuples."""
    if isinstance(value, dict):
        return tuple(sorted((k, canonical(v)) for k, v in value.items()))
    if isinstance(value, list):
        items = [canonical(v) for v in value]
        if value and all(isinstance(v, dict) and ("name" in v or "mountPath" in v) for v in value):
            return tuple(sorted(items, key=repr))
        return tuple(items)
    return value
