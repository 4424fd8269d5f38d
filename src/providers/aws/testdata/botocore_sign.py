#!/usr/bin/python3
"""Signs requests with botocore's SigV4Auth (Debian's python3-botocore), for the cross-check in
sigv4_test.cc. Input (argv[1]): a JSON list of requests {method, url, headers: [[k, v]...], body,
region, service, access_key, secret_key, token, timestamp "YYYYmmddTHHMMSSZ"}. Output: one JSON list
of the Authorization header values, in order."""
import datetime
import datetime as _dt
import json
import sys

import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


class _FixedClock(datetime.datetime):
    fixed = None

    @classmethod
    def utcnow(cls):
        return cls.fixed

    @classmethod
    def now(cls, tz=None):
        return cls.fixed if tz is None else cls.fixed.replace(tzinfo=tz)


class _DatetimeModule:
    datetime = _FixedClock
    timezone = _dt.timezone
    timedelta = _dt.timedelta


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        requests = json.load(f)
    botocore.auth.datetime = _DatetimeModule
    out = []
    for r in requests:
        _FixedClock.fixed = datetime.datetime.strptime(r["timestamp"], "%Y%m%dT%H%M%SZ")
        creds = Credentials(r["access_key"], r["secret_key"], r.get("token") or None)
        req = AWSRequest(method=r["method"], url=r["url"], data=r["body"].encode("utf-8"))
        for k, v in r["headers"]:
            req.headers[k] = v
        botocore.auth.SigV4Auth(creds, r["service"], r["region"]).add_auth(req)
        out.append(req.headers["Authorization"])
    print(json.dumps(out))


if __name__ == "__main__":
    main()
