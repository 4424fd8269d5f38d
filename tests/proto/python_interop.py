#!/usr/bin/python3
"""Cross-checks the C++ encodings of the golden messages against an independent encoder.

Usage: python_interop.py --protoc PROTOC --proto-dir DIR --dump-tool PROTO_GOLDEN_DUMP

Generates _pb2 modules from proto/ into a temporary directory, builds the messages of
golden_messages.cc again with python3-protobuf's pure-Python implementation (not the C++ one
it ships, so the two encoders share no code), and compares its bytes with what the C++ dump
tool prints. Each side also decodes the other's bytes. Use Debian's /usr/bin/python3.
"""

import argparse
import os
import pathlib
import subprocess
import sys
import tempfile

# Must be set before google.protobuf is imported.
os.environ["PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION"] = "python"


def generate(protoc, proto_dir, out_dir):
    protos = sorted(str(p.relative_to(proto_dir)) for p in pathlib.Path(proto_dir).rglob("*.proto"))
    subprocess.run([protoc, "--proto_path=" + str(proto_dir), "--python_out=" + out_dir, *protos],
                   check=True)
    sys.path.insert(0, out_dir)


def build_messages():
    """The same messages as golden_messages.cc, keyed by the same names."""
    from agent import agent_pb2, health_pb2
    from hypervisor import hypervisor_pb2
    from ttrpc import request_pb2

    msgs = {}

    req = request_pb2.Request(service="grpc.Health", method="Check", timeout_nano=30000000000)
    msgs["health_check_request"] = req

    serving = health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)
    msgs["health_check_response"] = serving

    msgs["response_go_success"] = request_pb2.Response(payload=serving.SerializeToString())
    rust = request_pb2.Response(payload=serving.SerializeToString())
    rust.status.SetInParent()
    msgs["response_rust_success"] = rust

    error = request_pb2.Response()
    error.status.code = 12
    error.status.message = "method Foo"
    msgs["response_error"] = error

    vm = hypervisor_pb2.CreateVMRequest(id="sb1", networkNamespacePath="/var/run/netns/cni-1")
    vm.annotations["io.kubernetes.cri.sandbox-name"] = "nginx"
    msgs["create_vm_request"] = vm

    def create_container():
        cc = agent_pb2.CreateContainerRequest(container_id="c1")
        cc.OCI.Annotations["a"] = "b"
        cc.OCI.Linux.Namespaces.add(Type="network", Path="/run/netns/podns")
        return cc

    msgs["create_container_request"] = create_container()
    pidns = create_container()
    pidns.sandbox_pidns = True
    msgs["create_container_request_pidns"] = pidns

    msgs["storage_shared"] = agent_pb2.Storage(driver="image_guest_pull", shared=True)

    memcg = agent_pb2.MemAgentMemcgConfig()
    memcg.disabled = False
    msgs["memcg_disabled_false"] = memcg

    msgs["check_request_empty"] = health_pb2.CheckRequest()
    return msgs


def read_dump(tool):
    out = subprocess.run([tool], check=True, capture_output=True, text=True).stdout
    dump = {}
    for line in out.splitlines():
        name, _, hexbytes = line.partition(" ")
        dump[name] = bytes.fromhex(hexbytes)
    return dump


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--protoc", required=True)
    parser.add_argument("--proto-dir", required=True)
    parser.add_argument("--dump-tool", required=True)
    args = parser.parse_args()

    problems = []
    with tempfile.TemporaryDirectory(prefix="pp-proto-interop-") as tmp:
        generate(args.protoc, args.proto_dir, tmp)
        from google.protobuf.internal import api_implementation
        if api_implementation.Type() != "python":
            problems.append("python3-protobuf is not using its pure-Python encoder: %s" %
                            api_implementation.Type())
        msgs = build_messages()
        dump = read_dump(args.dump_tool)

        if set(msgs) != set(dump):
            problems.append("message sets differ: only in Python %s, only in C++ %s" %
                            (sorted(set(msgs) - set(dump)), sorted(set(dump) - set(msgs))))
        for name in sorted(set(msgs) & set(dump)):
            py_bytes = msgs[name].SerializeToString(deterministic=True)
            if py_bytes != dump[name]:
                problems.append("%s: Python %s != C++ %s" % (name, py_bytes.hex(), dump[name].hex()))
            decoded = type(msgs[name])()
            decoded.ParseFromString(dump[name])
            if decoded != msgs[name]:
                problems.append("%s: C++ bytes decode in Python to %s" % (name, decoded))
            else:
                print("ok %-32s %3d bytes" % (name, len(py_bytes)))

    for p in problems:
        print("FAIL: " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
