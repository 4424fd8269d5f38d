#!/usr/bin/python3
"""Parses Prometheus text exposition format from stdin with the Prometheus project's own Python
client (Debian's python3-prometheus-client) and prints what it understood as JSON:
[{"name", "type", "help", "samples": [{"name", "labels", "value"}]}]. Exits 1 with the parser's
message when the text is not valid. Tests use it as an independent judge of our /metrics output."""
import json
import math
import sys

from prometheus_client.parser import text_string_to_metric_families


def main():
    text = sys.stdin.read()
    try:
        families = list(text_string_to_metric_families(text))
    except Exception as e:  # the parser raises ValueError and friends
        print(f"prometheus_client could not parse the text: {e}", file=sys.stderr)
        return 1
    out = []
    for f in families:
        samples = []
        for s in f.samples:
            v = s.value
            samples.append({"name": s.name, "labels": dict(s.labels),
                            "value": "+Inf" if math.isinf(v) else v})
        out.append({"name": f.name, "type": f.type, "help": f.documentation, "samples": samples})
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
