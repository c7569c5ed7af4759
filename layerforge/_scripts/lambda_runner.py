"""A docker-lambda style runner: the sandbox runs handlers with it, and the local Lambda-like
test image uses it as its entrypoint. Standalone: it imports nothing from layerforge.

Contract (the one moto and lambci/docker-lambda use): ``argv = [handler, event_json]``; the
handler's logs go to stderr/stdout; the result is printed as JSON on the LAST stdout line; the exit
code is 0 on success and 1 when the handler raised (the last line then carries the error JSON).
Like Lambda, it puts /var/task, then the layer paths under /opt, before the runtime's own
packages (/var/runtime, where boto3 lives).
"""

from __future__ import annotations

import faulthandler
import importlib
import json
import os
import signal
import sys
import time
import traceback
import uuid
from typing import Any

VERSION = f"{sys.version_info[0]}.{sys.version_info[1]}"


class LambdaContext:
    def __init__(self, request_id: str, deadline: float) -> None:
        self.aws_request_id = request_id
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "local")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.invoked_function_arn = (
            f"arn:aws:lambda:local:000000000000:function:{self.function_name}"
        )
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "local"
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class TaskTimedOutError(Exception):
    """The handler ran past the function's timeout (Lambda says "Task timed out")."""


def _arm_timeout(timeout: float) -> None:
    """Like Lambda: the handler is stopped at the timeout. A Python-level alarm raises in the
    handler; if it is stuck where Python cannot interrupt it, a watchdog thread that needs no
    GIL ends the process a little later."""

    def expire(_signum: int, _frame: object) -> None:
        raise TaskTimedOutError(f"Task timed out after {timeout:.2f} seconds")

    signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    faulthandler.dump_traceback_later(timeout + 5, exit=True)


def main() -> int:
    handler = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("_HANDLER", "")
    event = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    task_root = os.environ.setdefault("LAMBDA_TASK_ROOT", "/var/task")
    os.environ.setdefault("_HANDLER", handler)
    sys.path[:0] = [task_root, "/opt/python", f"/opt/python/lib/python{VERSION}/site-packages"]
    sys.path.append("/var/runtime")
    request_id = str(uuid.uuid4())
    timeout = float(os.environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT", "300"))
    context = LambdaContext(request_id, time.monotonic() + timeout)
    sys.stderr.write(f"START RequestId: {request_id} Version: $LATEST\n")
    started = time.monotonic()
    _arm_timeout(timeout)
    try:
        module_name, function_name = handler.rsplit(".", 1)
        function = getattr(importlib.import_module(module_name), function_name)
        result: Any = function(event, context)
        code = 0
    except Exception as exc:  # the handler's failure is the invocation's result
        traceback.print_exc()
        result = {
            "errorMessage": str(exc),
            "errorType": type(exc).__name__,
            "requestId": request_id,
            "stackTrace": traceback.format_exc().splitlines(),
        }
        code = 1
    signal.setitimer(signal.ITIMER_REAL, 0)
    faulthandler.cancel_dump_traceback_later()
    elapsed = (time.monotonic() - started) * 1000
    sys.stderr.write(f"END RequestId: {request_id}\n")
    sys.stderr.write(
        f"REPORT RequestId: {request_id}\tDuration: {elapsed:.2f} ms\t"
        f"Billed Duration: {int(elapsed) + 1} ms\n"
    )
    sys.stderr.flush()
    sys.stdout.flush()
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return code


if __name__ == "__main__":
    sys.exit(main())
