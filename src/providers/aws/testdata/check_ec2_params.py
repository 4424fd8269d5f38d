#!/usr/bin/python3
"""Checks EC2 Query API requests against the EC2 service model that Debian's python3-botocore
ships (operation names, parameter names and nesting, scalar types, enums, required members),
for aws_provider_test.cc. Input (argv[1]): a JSON list of {action, params: [[name, value]...]}.
Prints one line per problem and exits 1 if there is any."""
import json
import os
import sys

import botocore

MODEL = os.path.join(os.path.dirname(botocore.__file__), "data", "ec2", "2016-11-15", "service-2.json")

# Parameters newer than Debian 12's botocore 1.29 model, checked by hand against the current API
# reference: name -> allowed values.
NEWER_THAN_MODEL = {
    ("RunInstances", "CpuOptions.AmdSevSnp"): {"enabled", "disabled"},
}


def serialized(name, member):
    if "queryName" in member:
        return member["queryName"]
    if "locationName" in member:
        loc = member["locationName"]
        return loc[0].upper() + loc[1:]
    return name


def check_value(shapes, shape_name, value):
    shape = shapes[shape_name]
    t = shape["type"]
    if t in ("integer", "long"):
        try:
            int(value)
        except ValueError:
            return f"{value!r} is not an integer"
    elif t == "boolean":
        if value not in ("true", "false"):
            return f"{value!r} is not a boolean"
    elif t == "string" and "enum" in shape and value not in shape["enum"]:
        return f"{value!r} is not one of {shape['enum'][:8]}..."
    elif t not in ("string", "blob", "timestamp", "integer", "long", "boolean", "double", "float"):
        return f"a value for a {t}"
    return None


def walk(shapes, shape_name, parts, value):
    shape = shapes[shape_name]
    t = shape["type"]
    if t == "structure":
        if not parts:
            return "names a structure, not a value"
        for name, member in shape["members"].items():
            if serialized(name, member) == parts[0]:
                return walk(shapes, member["shape"], parts[1:], value)
        return f"{parts[0]!r} is not a member of {shape_name}"
    if t == "list":
        if not parts or not parts[0].isdigit() or int(parts[0]) < 1:
            return f"list {shape_name} needs a 1-based index"
        return walk(shapes, shape["member"]["shape"], parts[1:], value)
    if parts:
        return f"{'.'.join(parts)!r} below scalar {shape_name}"
    return check_value(shapes, shape_name, value)


def main():
    with open(MODEL, encoding="utf-8") as f:
        model = json.load(f)
    shapes = model["shapes"]
    with open(sys.argv[1], encoding="utf-8") as f:
        requests = json.load(f)
    problems = []
    for r in requests:
        action = r["action"]
        op = model["operations"].get(action)
        if op is None:
            problems.append(f"{action}: no such EC2 operation")
            continue
        input_shape = op["input"]["shape"]
        names = set()
        for name, value in r["params"]:
            names.add(name.split(".")[0])
            allowed = NEWER_THAN_MODEL.get((action, name))
            if allowed is not None:
                if value not in allowed:
                    problems.append(f"{action} {name}={value}: not one of {sorted(allowed)}")
                continue
            why = walk(shapes, input_shape, name.split("."), value)
            if why:
                problems.append(f"{action} {name}={value[:40]}: {why}")
        members = shapes[input_shape]["members"]
        for req in shapes[input_shape].get("required", []):
            if serialized(req, members[req]) not in names:
                problems.append(f"{action}: required parameter {req} missing")
    for p in problems:
        print(p)
    print(f"checked {len(requests)} requests against botocore {botocore.__version__}")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
