#!/usr/bin/python3
"""Compares the compiled descriptor set of proto/ with the hand-written expected_schema.txt.

Usage: check_schema.py <peerpods.desc> <expected_schema.txt>

Both directions are checked: every expected line must be in the descriptor with the same
number, type and label, and everything in the descriptor must be listed in the expected file.
Run with Debian's /usr/bin/python3 (python3-protobuf); exits non-zero on any difference.
"""

import sys

from google.protobuf import descriptor_pb2

FDP = descriptor_pb2.FieldDescriptorProto

SCALARS = {
    FDP.TYPE_DOUBLE: "double",
    FDP.TYPE_FLOAT: "float",
    FDP.TYPE_INT64: "int64",
    FDP.TYPE_UINT64: "uint64",
    FDP.TYPE_INT32: "int32",
    FDP.TYPE_FIXED64: "fixed64",
    FDP.TYPE_FIXED32: "fixed32",
    FDP.TYPE_BOOL: "bool",
    FDP.TYPE_STRING: "string",
    FDP.TYPE_BYTES: "bytes",
    FDP.TYPE_UINT32: "uint32",
    FDP.TYPE_SFIXED32: "sfixed32",
    FDP.TYPE_SFIXED64: "sfixed64",
    FDP.TYPE_SINT32: "sint32",
    FDP.TYPE_SINT64: "sint64",
}

EXPECTED_RPC_COUNTS = {
    "grpc.AgentService": 42,
    "grpc.Health": 2,
    "hypervisor.Hypervisor": 4,
    "podvminfo.PodVMInfo": 1,
}


class Schema:
    """The schema as a set of normalised lines, plus the facts the extra checks need."""

    def __init__(self):
        self.lines = set()
        self.fields = {}  # message full name -> {field name: (number, type, label)}
        self.rpc_counts = {}
        self.streaming = []


def load_descriptor(path):
    fds = descriptor_pb2.FileDescriptorSet()
    with open(path, "rb") as f:
        fds.ParseFromString(f.read())

    # First pass: find map-entry messages so map fields can be written as map<k,v>.
    map_entries = {}

    def collect(prefix, msg):
        name = prefix + "." + msg.name
        if msg.options.map_entry:
            map_entries["." + name] = msg
        for nested in msg.nested_type:
            collect(name, nested)

    for fd in fds.file:
        for msg in fd.message_type:
            collect(fd.package, msg)

    def type_of(field):
        if field.type in SCALARS:
            return SCALARS[field.type]
        entry = map_entries.get(field.type_name)
        if entry is not None:
            key, value = entry.field[0], entry.field[1]
            return "map<%s,%s>" % (type_of(key), type_of(value))
        return field.type_name.lstrip(".")

    def label_of(msg, field):
        if field.label == FDP.LABEL_REPEATED:
            return "repeated"
        if field.proto3_optional:
            return "optional"
        if field.HasField("oneof_index"):
            return "oneof:" + msg.oneof_decl[field.oneof_index].name
        return "singular"

    schema = Schema()

    def walk_enum(prefix, enum):
        for value in enum.value:
            schema.lines.add("enum %s.%s.%s = %d" % (prefix, enum.name, value.name, value.number))

    def walk_message(prefix, msg):
        name = prefix + "." + msg.name
        if msg.options.map_entry:
            return  # described by the map<k,v> type of the field that uses it
        schema.lines.add("message " + name)
        fields = schema.fields.setdefault(name, {})
        for field in msg.field:
            ftype, flabel = type_of(field), label_of(msg, field)
            fields[field.name] = (field.number, ftype, flabel)
            schema.lines.add("%s.%s = %d %s %s" % (name, field.name, field.number, ftype, flabel))
        for nested in msg.nested_type:
            walk_message(name, nested)
        for enum in msg.enum_type:
            walk_enum(name, enum)

    for fd in fds.file:
        for msg in fd.message_type:
            walk_message(fd.package, msg)
        for enum in fd.enum_type:
            walk_enum(fd.package, enum)
        for svc in fd.service:
            full = fd.package + "." + svc.name
            schema.rpc_counts[full] = len(svc.method)
            for m in svc.method:
                schema.lines.add("%s/%s %s -> %s" % (full, m.name, m.input_type.lstrip("."),
                                                     m.output_type.lstrip(".")))
                if m.client_streaming or m.server_streaming:
                    schema.streaming.append(full + "/" + m.name)
    return schema


def load_expected(path):
    lines, errors = set(), []
    with open(path, encoding="utf-8") as f:
        for lineno, raw in enumerate(f, 1):
            line = " ".join(raw.split("#", 1)[0].split())
            if not line:
                continue
            if line in lines:
                errors.append("%s:%d: duplicate line: %s" % (path, lineno, line))
            lines.add(line)
    return lines, errors


def compare(actual, expected):
    """Returns a list of human-readable differences between two line sets."""
    problems = []
    for line in sorted(expected - actual):
        problems.append("expected but not in the descriptor: " + line)
    for line in sorted(actual - expected):
        problems.append("in the descriptor but not expected: " + line)
    return problems


def check_edit_views(schema):
    """peerpods.edit messages are partial views of grpc messages: same fields, same numbers."""
    problems = []
    prefix = "peerpods.edit."
    for name, fields in sorted(schema.fields.items()):
        if not name.startswith(prefix):
            continue
        full = "grpc." + name[len(prefix):]
        full_fields = schema.fields.get(full)
        if full_fields is None:
            problems.append("%s has no counterpart %s" % (name, full))
            continue
        for fname, (number, ftype, label) in sorted(fields.items()):
            want = full_fields.get(fname)
            got = (number, ftype.replace(prefix, "grpc."), label)
            if want != got:
                problems.append("%s.%s = %s does not match %s.%s = %s" %
                                (name, fname, got, full, fname, want))
    return problems


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    schema = load_descriptor(argv[1])
    expected, problems = load_expected(argv[2])

    problems += compare(schema.lines, expected)
    for service, count in EXPECTED_RPC_COUNTS.items():
        got = schema.rpc_counts.get(service, 0)
        if got != count:
            problems.append("%s has %d RPCs, expected %d" % (service, got, count))
    for rpc in schema.streaming:
        problems.append("%s is streaming; every upstream RPC is unary" % rpc)
    problems += check_edit_views(schema)

    # The comparison must notice a single changed field number: guard against a checker that
    # silently compares nothing.
    probe, changed = "grpc.Storage.shared = 8 bool singular", "grpc.Storage.shared = 9 bool singular"
    diff = compare(schema.lines, (expected - {probe}) | {changed})
    if not any(d.endswith(probe) for d in diff) or not any(d.endswith(changed) for d in diff):
        problems.append("self-check failed: a changed field number was not detected")

    for p in problems:
        print("FAIL: " + p)
    print("%d descriptor items, %d expected lines, %d problems" %
          (len(schema.lines), len(expected), len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
