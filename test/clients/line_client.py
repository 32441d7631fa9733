"""A plain line-reading SSE client: httpx's iter_lines(), each "data: " line parsed as JSON.

Run by test/integration/line-clients.test.ts with Debian's /usr/bin/python3 and python3-httpx.
Usage: line_client.py <url> <json body>
Prints "STATUS <code>", then per line read "JSON <payload>" (it parsed), "DONE" ([DONE]),
"TEXT <payload>" (a data line that is not JSON) or "LINE <line>", then "EOF".
"""
import json
import sys

import httpx

url, body = sys.argv[1], sys.argv[2]
out = open(sys.stdout.fileno(), "w", encoding="utf-8", newline="\n", closefd=False)
with httpx.stream("POST", url, content=body.encode("utf-8"),
                  headers={"content-type": "application/json"}, timeout=30.0) as response:
    out.write(f"STATUS {response.status_code}\n")
    for line in response.iter_lines():
        # httpx before 0.24 keeps the line end on each line; later versions drop it.
        if line.endswith("\n"):
            line = line[:-1]
        if line.startswith("data: "):
            payload = line[len("data: "):]
            if payload == "[DONE]":
                out.write("DONE\n")
                continue
            try:
                json.loads(payload)
                out.write(f"JSON {payload}\n")
            except ValueError:
                out.write(f"TEXT {payload}\n")
        else:
            out.write(f"LINE {line}\n")
out.write("EOF\n")
out.flush()
