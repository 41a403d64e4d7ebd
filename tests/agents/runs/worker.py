"""A small command-line "agent" for the subprocess runner's tests.

Usage: worker.py [TASK]   (no TASK: reads it from stdin)
Env: WORKER_STEPS (default 3), WORKER_DELAY (s, default 0.05), WORKER_FAIL=1 exits 3.
"""

import json
import os
import sys
import time

task = sys.argv[1] if len(sys.argv) > 1 else sys.stdin.readline().strip()
steps = int(os.environ.get("WORKER_STEPS", "3"))
delay = float(os.environ.get("WORKER_DELAY", "0.05"))
print(f"working on: {task}", flush=True)
print(
    json.dumps(
        {
            "type": "toolcallrequest",
            "data": {"source": "worker", "calls": [{"id": "1", "name": "grep", "arguments": "{}"}]},
        }
    ),
    flush=True,
)
for step in range(1, steps + 1):
    time.sleep(delay)
    print(f"step {step} of {steps}", flush=True)
if os.environ.get("WORKER_FAIL"):
    print("disk full", file=sys.stderr, flush=True)
    sys.exit(3)
print(f"finished: {task} is done", flush=True)
