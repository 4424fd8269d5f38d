"""The Kubernetes API fields the deployment manifests may use, per kind, for tests/deploy.

A small, hand-kept subset of the OpenAPI schemas (core/v1, apps/v1, rbac/v1, node/v1,
admissionregistration/v1, apiextensions/v1, cert-manager.io/v1): unknown fields, wrong scalar
types and missing required fields are reported with their path. When a manifest needs a field
that is not listed here, add it (with the type the API documents)."""

# Type specs: "str", "int", "bool", "map" (string to string), "qtymap" (string to quantity),
# "intstr", "any", a type name defined below, or [spec] for a list of spec.
TYPES = {
    "ObjectMeta": {"name": "str", "namespace": "str", "labels": "map", "annotations": "map",
                   "generateName": "str"},
    "LabelSelector": {"matchLabels": "map", "matchExpressions": ["LabelSelectorRequirement"]},
    "LabelSelectorRequirement": {"_required": ["key", "operator"], "key": "str", "operator": "str",
                                 "values": ["str"]},
    # core/v1
    "Namespace": {"spec": "any"},
    "ServiceAccount": {"automountServiceAccountToken": "bool", "imagePullSecrets": ["LocalObjectReference"]},
    "ConfigMap": {"data": "map", "binaryData": "map", "immutable": "bool"},
    "Secret": {"type": "str", "data": "map", "stringData": "map", "immutable": "bool"},
    "Service": {"spec": "ServiceSpec"},
    "ServiceSpec": {"selector": "map", "ports": ["ServicePort"], "type": "str", "clusterIP": "str"},
    "ServicePort": {"_required": ["port"], "name": "str", "port": "int", "targetPort": "intstr",
                    "protocol": "str", "nodePort": "int"},
    "LocalObjectReference": {"name": "str"},
    # apps/v1
    "DaemonSet": {"_required": ["spec"], "spec": "DaemonSetSpec"},
    "DaemonSetSpec": {"_required": ["selector", "template"], "selector": "LabelSelector",
                      "template": "PodTemplateSpec", "updateStrategy": "UpdateStrategy",
                      "minReadySeconds": "int", "revisionHistoryLimit": "int"},
    "Deployment": {"_required": ["spec"], "spec": "DeploymentSpec"},
    "DeploymentSpec": {"_required": ["selector", "template"], "replicas": "int", "selector": "LabelSelector",
                       "template": "PodTemplateSpec", "strategy": "UpdateStrategy",
                       "minReadySeconds": "int", "revisionHistoryLimit": "int"},
    "UpdateStrategy": {"type": "str", "rollingUpdate": "RollingUpdate"},
    "RollingUpdate": {"maxUnavailable": "intstr", "maxSurge": "intstr"},
    "PodTemplateSpec": {"_required": ["spec"], "metadata": "ObjectMeta", "spec": "PodSpec"},
    "PodSpec": {"_required": ["containers"], "containers": ["Container"], "initContainers": ["Container"],
                "serviceAccountName": "str", "automountServiceAccountToken": "bool", "hostNetwork": "bool",
                "hostPID": "bool", "dnsPolicy": "str", "nodeSelector": "map", "tolerations": ["Toleration"],
                "affinity": "any", "securityContext": "PodSecurityContext", "terminationGracePeriodSeconds": "int",
                "volumes": ["Volume"], "priorityClassName": "str", "imagePullSecrets": ["LocalObjectReference"],
                "runtimeClassName": "str"},
    "Toleration": {"key": "str", "operator": "str", "value": "str", "effect": "str", "tolerationSeconds": "int"},
    "Container": {"_required": ["name", "image"], "name": "str", "image": "str", "imagePullPolicy": "str",
                  "command": ["str"], "args": ["str"], "env": ["EnvVar"], "envFrom": ["EnvFromSource"],
                  "ports": ["ContainerPort"], "resources": "Resources", "securityContext": "SecurityContext",
                  "volumeMounts": ["VolumeMount"], "livenessProbe": "Probe", "readinessProbe": "Probe",
                  "startupProbe": "Probe", "workingDir": "str"},
    "EnvVar": {"_required": ["name"], "name": "str", "value": "str", "valueFrom": "EnvVarSource"},
    "EnvVarSource": {"fieldRef": "FieldRef", "secretKeyRef": "KeyRef", "configMapKeyRef": "KeyRef"},
    "FieldRef": {"_required": ["fieldPath"], "fieldPath": "str", "apiVersion": "str"},
    "KeyRef": {"_required": ["key"], "name": "str", "key": "str", "optional": "bool"},
    "EnvFromSource": {"prefix": "str", "secretRef": "OptionalRef", "configMapRef": "OptionalRef"},
    "OptionalRef": {"_required": ["name"], "name": "str", "optional": "bool"},
    "ContainerPort": {"_required": ["containerPort"], "name": "str", "containerPort": "int",
                      "protocol": "str", "hostPort": "int"},
    "Resources": {"requests": "qtymap", "limits": "qtymap", "claims": "any"},
    "SecurityContext": {"privileged": "bool", "allowPrivilegeEscalation": "bool", "readOnlyRootFilesystem": "bool",
                        "runAsNonRoot": "bool", "runAsUser": "int", "runAsGroup": "int",
                        "capabilities": "Capabilities", "seccompProfile": "SeccompProfile"},
    "PodSecurityContext": {"runAsNonRoot": "bool", "runAsUser": "int", "runAsGroup": "int", "fsGroup": "int",
                           "seccompProfile": "SeccompProfile"},
    "Capabilities": {"add": ["str"], "drop": ["str"]},
    "SeccompProfile": {"_required": ["type"], "type": "str", "localhostProfile": "str"},
    "VolumeMount": {"_required": ["name", "mountPath"], "name": "str", "mountPath": "str", "readOnly": "bool",
                    "mountPropagation": "str", "subPath": "str"},
    "Volume": {"_required": ["name"], "name": "str", "hostPath": "HostPathVolume", "secret": "SecretVolume",
               "configMap": "ConfigMapVolume", "emptyDir": "any", "projected": "any",
               "persistentVolumeClaim": "PVCVolume"},
    "PVCVolume": {"_required": ["claimName"], "claimName": "str", "readOnly": "bool"},
    # Pods, claims and storage classes (the CSI examples in deploy/csi).
    "Pod": {"_required": ["spec"], "spec": "PodSpec"},
    "PersistentVolumeClaim": {"_required": ["spec"], "spec": "PVCSpec"},
    "PVCSpec": {"accessModes": ["str"], "storageClassName": "str", "resources": "Resources",
                "volumeName": "str", "volumeMode": "str"},
    "StorageClass": {"_required": ["provisioner"], "provisioner": "str", "parameters": "map",
                     "reclaimPolicy": "str", "volumeBindingMode": "str", "allowVolumeExpansion": "bool",
                     "mountOptions": ["str"]},
    "HostPathVolume": {"_required": ["path"], "path": "str", "type": "str"},
    "SecretVolume": {"secretName": "str", "defaultMode": "int", "optional": "bool", "items": "any"},
    "ConfigMapVolume": {"name": "str", "defaultMode": "int", "optional": "bool", "items": "any"},
    "Probe": {"httpGet": "HttpGet", "tcpSocket": "TcpSocket", "exec": "any", "initialDelaySeconds": "int",
              "periodSeconds": "int", "failureThreshold": "int", "timeoutSeconds": "int",
              "successThreshold": "int"},
    "HttpGet": {"_required": ["port"], "path": "str", "port": "intstr", "scheme": "str", "host": "str"},
    "TcpSocket": {"_required": ["port"], "port": "intstr"},
    # policy/v1
    "PodDisruptionBudget": {"_required": ["spec"], "spec": "PDBSpec"},
    "PDBSpec": {"minAvailable": "intstr", "maxUnavailable": "intstr", "selector": "LabelSelector",
                "unhealthyPodEvictionPolicy": "str"},
    # rbac.authorization.k8s.io/v1
    "ClusterRole": {"rules": ["PolicyRule"]},
    "Role": {"rules": ["PolicyRule"]},
    "PolicyRule": {"_required": ["verbs"], "apiGroups": ["str"], "resources": ["str"], "verbs": ["str"],
                   "resourceNames": ["str"], "nonResourceURLs": ["str"]},
    "ClusterRoleBinding": {"_required": ["roleRef"], "roleRef": "RoleRef", "subjects": ["Subject"]},
    "RoleBinding": {"_required": ["roleRef"], "roleRef": "RoleRef", "subjects": ["Subject"]},
    "RoleRef": {"_required": ["apiGroup", "kind", "name"], "apiGroup": "str", "kind": "str", "name": "str"},
    "Subject": {"_required": ["kind", "name"], "kind": "str", "name": "str", "namespace": "str", "apiGroup": "str"},
    # node.k8s.io/v1
    "RuntimeClass": {"_required": ["handler"], "handler": "str", "overhead": "Overhead", "scheduling": "Scheduling"},
    "Overhead": {"podFixed": "qtymap"},
    "Scheduling": {"nodeSelector": "map", "tolerations": ["Toleration"]},
    # admissionregistration.k8s.io/v1
    "MutatingWebhookConfiguration": {"webhooks": ["MutatingWebhook"]},
    "MutatingWebhook": {"_required": ["name", "admissionReviewVersions", "clientConfig", "sideEffects"],
                        "name": "str", "admissionReviewVersions": ["str"], "clientConfig": "WebhookClientConfig",
                        "failurePolicy": "str", "sideEffects": "str", "timeoutSeconds": "int",
                        "rules": ["RuleWithOperations"], "namespaceSelector": "LabelSelector",
                        "objectSelector": "LabelSelector", "matchConditions": ["MatchCondition"],
                        "reinvocationPolicy": "str", "matchPolicy": "str"},
    "WebhookClientConfig": {"service": "ServiceReference", "url": "str", "caBundle": "str"},
    "ServiceReference": {"_required": ["name", "namespace"], "name": "str", "namespace": "str", "path": "str",
                         "port": "int"},
    "RuleWithOperations": {"apiGroups": ["str"], "apiVersions": ["str"], "operations": ["str"],
                           "resources": ["str"], "scope": "str"},
    "MatchCondition": {"_required": ["name", "expression"], "name": "str", "expression": "str"},
    # apiextensions.k8s.io/v1
    "CustomResourceDefinition": {"_required": ["spec"], "spec": "CRDSpec"},
    "CRDSpec": {"_required": ["group", "names", "scope", "versions"], "group": "str", "names": "CRDNames",
                "scope": "str", "versions": ["CRDVersion"], "preserveUnknownFields": "bool"},
    "CRDNames": {"_required": ["kind", "plural"], "kind": "str", "listKind": "str", "plural": "str",
                 "singular": "str", "shortNames": ["str"], "categories": ["str"]},
    "CRDVersion": {"_required": ["name", "served", "storage"], "name": "str", "served": "bool", "storage": "bool",
                   "subresources": "CRDSubresources", "additionalPrinterColumns": ["PrinterColumn"],
                   "schema": "CRDValidation", "deprecated": "bool"},
    "CRDSubresources": {"status": "any", "scale": "any"},
    "PrinterColumn": {"_required": ["name", "type", "jsonPath"], "name": "str", "type": "str", "jsonPath": "str",
                      "description": "str", "priority": "int", "format": "str"},
    "CRDValidation": {"openAPIV3Schema": "JSONSchema"},
    "JSONSchema": {"description": "str", "type": "str", "properties": "schemamap", "items": "JSONSchema",
                   "required": ["str"], "x-kubernetes-preserve-unknown-fields": "bool", "format": "str",
                   "enum": "any", "default": "any", "additionalProperties": "any"},
    # cert-manager.io/v1
    "Issuer": {"_required": ["spec"], "spec": "IssuerSpec"},
    "IssuerSpec": {"selfSigned": "any", "ca": "any", "acme": "any"},
    "Certificate": {"_required": ["spec"], "spec": "CertificateSpec"},
    "CertificateSpec": {"_required": ["secretName", "issuerRef"], "dnsNames": ["str"], "issuerRef": "IssuerRef",
                        "secretName": "str", "privateKey": "PrivateKey", "duration": "str", "renewBefore": "str",
                        "commonName": "str", "usages": ["str"]},
    "IssuerRef": {"_required": ["name"], "kind": "str", "name": "str", "group": "str"},
    "PrivateKey": {"algorithm": "str", "size": "int", "rotationPolicy": "str", "encoding": "str"},
    # The Prometheus operator's ServiceMonitor (monitoring.coreos.com/v1), the fields we use.
    "ServiceMonitor": {"_required": ["spec"], "spec": "ServiceMonitorSpec"},
    "ServiceMonitorSpec": {"_required": ["selector", "endpoints"], "selector": "LabelSelector",
                           "endpoints": ["MonitorEndpoint"], "namespaceSelector": "map",
                           "jobLabel": "str"},
    "MonitorEndpoint": {"port": "str", "targetPort": "intstr", "path": "str", "interval": "str",
                        "scheme": "str", "scrapeTimeout": "str"},
}

# (apiVersion, kind) of every object the manifests may contain, and whether it is namespaced.
KINDS = {
    ("v1", "Namespace"): False, ("v1", "ServiceAccount"): True, ("v1", "ConfigMap"): True,
    ("v1", "Secret"): True, ("v1", "Service"): True,
    ("apps/v1", "DaemonSet"): True, ("apps/v1", "Deployment"): True, ("policy/v1", "PodDisruptionBudget"): True,
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): False,
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): False,
    ("rbac.authorization.k8s.io/v1", "Role"): True, ("rbac.authorization.k8s.io/v1", "RoleBinding"): True,
    ("node.k8s.io/v1", "RuntimeClass"): False,
    ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration"): False,
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"): False,
    ("cert-manager.io/v1", "Issuer"): True, ("cert-manager.io/v1", "Certificate"): True,
    ("monitoring.coreos.com/v1", "ServiceMonitor"): True,
    ("v1", "Pod"): True, ("v1", "PersistentVolumeClaim"): True, ("storage.k8s.io/v1", "StorageClass"): False,
}

PLACEHOLDER = "x-helm-value"


def _scalar_ok(spec, value):
    if isinstance(value, str) and value == PLACEHOLDER:
        return True  # a Helm template value: its type is only known after rendering
    if spec == "str":
        return isinstance(value, str)
    if spec == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if spec == "bool":
        return isinstance(value, bool)
    if spec == "intstr":
        return isinstance(value, (int, str)) and not isinstance(value, bool)
    return False


def validate(spec, value, path, errors):
    if spec == "any":
        return
    if isinstance(spec, list):
        if not isinstance(value, list):
            errors.append(f"{path}: expected a list")
            return
        for i, item in enumerate(value):
            validate(spec[0], item, f"{path}[{i}]", errors)
        return
    if spec in ("map", "qtymap"):
        if value is None:
            return
        if not isinstance(value, dict):
            errors.append(f"{path}: expected a map")
            return
        for k, v in value.items():
            if not isinstance(k, str):
                errors.append(f"{path}: key {k!r} is not a string")
            if spec == "map" and not isinstance(v, str):
                errors.append(f"{path}.{k}: expected a string value, got {type(v).__name__} (quote it)")
            if spec == "qtymap" and not (isinstance(v, (str, int)) and not isinstance(v, bool)):
                errors.append(f"{path}.{k}: expected a quantity")
        return
    if spec == "schemamap":
        if not isinstance(value, dict):
            errors.append(f"{path}: expected a map of schemas")
            return
        for k, v in value.items():
            validate("JSONSchema", v, f"{path}.{k}", errors)
        return
    if spec in ("str", "int", "bool", "intstr"):
        if not _scalar_ok(spec, value):
            errors.append(f"{path}: expected {spec}, got {value!r}")
        return
    fields = TYPES[spec]
    if not isinstance(value, dict):
        if value == PLACEHOLDER:
            return
        errors.append(f"{path}: expected an object ({spec})")
        return
    for req in fields.get("_required", []):
        if req not in value:
            errors.append(f"{path}: missing required field {req} ({spec})")
    for k, v in value.items():
        if k == PLACEHOLDER:
            continue
        if k not in fields or k == "_required":
            errors.append(f"{path}.{k}: unknown field for {spec}")
            continue
        validate(fields[k], v, f"{path}.{k}", errors)


def validate_object(doc, where):
    """Errors of one manifest document (a dict), each prefixed with `where`."""
    errors = []
    if not isinstance(doc, dict):
        return [f"{where}: not a mapping"]
    key = (doc.get("apiVersion"), doc.get("kind"))
    if key not in KINDS:
        return [f"{where}: unknown apiVersion/kind {key}"]
    meta = doc.get("metadata")
    if not isinstance(meta, dict) or not meta.get("name"):
        errors.append(f"{where}: metadata.name is required")
    else:
        validate("ObjectMeta", meta, f"{where}.metadata", errors)
        if KINDS[key] and not meta.get("namespace"):
            errors.append(f"{where}: namespaced {key[1]} without metadata.namespace")
        if not KINDS[key] and "namespace" in meta:
            errors.append(f"{where}: cluster-scoped {key[1]} must not have a namespace")
    body = {k: v for k, v in doc.items() if k not in ("apiVersion", "kind", "metadata")}
    validate(key[1], body, where, errors)
    return errors
