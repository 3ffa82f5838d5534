"""Drives a Stepwise server through boto3, as a team's existing AWS scripts would.

Usage: python3 examples/aws/boto3_choice.py PATH/TO/stepwise-server

Starts the server on a temporary data directory with ephemeral loopback ports, creates
the choice example, serves its Lambda-ARN task with an activity worker loop
(get_activity_task / send_task_success), checks the execution's output and history, a
synchronous Express run and two error codes, then stops the server; then starts one with
--admin-credentials and checks that boto3's signatures decide (the right secret works; a
wrong secret, an unknown key and a clock ten minutes behind are refused with AWS's
codes). Prints "boto3 result: N passed, N failed" last and exits non-zero on any failure.
"""

import datetime
import json
import pathlib
import re
import subprocess
import sys
import tempfile
import threading
import time
import unittest.mock

import boto3
import botocore.config
from botocore.exceptions import ClientError

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent
FUNCTION = "AMIS_deciding_function"


def start_server(binary, data_dir, *extra):
    """Starts the server and returns (process, http endpoint) once it is listening."""
    process = subprocess.Popen(
        [binary, "--data-dir", data_dir, "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        found = re.search(r"http_addr=(127\.0\.0\.1:\d+)", re.sub(r"\x1b\[[0-9;]*m", "", line))
        if found:
            # Keep draining the log so the server never blocks on a full pipe.
            threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()
            return process, "http://" + found.group(1)
    process.kill()
    raise RuntimeError("the server did not report its HTTP address")


def client(endpoint, key_id="test", secret="test"):
    # The sync- host prefix would turn 127.0.0.1 into an unresolvable name.
    config = botocore.config.Config(
        inject_host_prefix=False, retries={"max_attempts": 1}, read_timeout=70, connect_timeout=5
    )
    return boto3.client(
        "stepfunctions",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=config,
    )


def activity_worker(sfn, activity_arn, handled):
    """Serves tasks until one is handled or 30 seconds pass (bounded)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not handled:
        task = sfn.get_activity_task(activityArn=activity_arn, workerName="boto3-worker")
        if not task.get("taskToken"):
            continue
        request = json.loads(task["input"])
        sfn.send_task_success(taskToken=task["taskToken"], output=json.dumps({"statusCode": request["want"]}))
        handled.append(request)


def check_choice_example(sfn):
    definition = (EXAMPLES / "choice-state.asl.json").read_text()
    machine = sfn.create_state_machine(
        name="Choice", definition=definition, roleArn="arn:aws:iam::000000000000:role/any"
    )["stateMachineArn"]
    activity = sfn.create_activity(name=FUNCTION)["activityArn"]
    handled = []
    worker = threading.Thread(target=activity_worker, args=(sfn, activity, handled))
    worker.start()
    execution = sfn.start_execution(stateMachineArn=machine, name="boto3-1", input='{"want": 200}')[
        "executionArn"
    ]
    worker.join(timeout=40)
    assert handled == [{"want": 200}], handled
    deadline = time.monotonic() + 20
    while True:
        described = sfn.describe_execution(executionArn=execution)
        if described["status"] != "RUNNING" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"]) == {"statusCode": 200}, described["output"]
    events = sfn.get_paginator("get_execution_history").paginate(
        executionArn=execution, PaginationConfig={"PageSize": 3}
    )
    events = [event for page in events for event in page["events"]]
    assert events[0]["type"] == "ExecutionStarted", events[0]
    assert events[-1]["type"] == "ExecutionSucceeded", events[-1]
    entered = [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]
    assert entered == ["Deciding Lambda Function", "ChoiceState", "Correct"], entered
    scheduled = [e for e in events if e["type"] == "LambdaFunctionScheduled"]
    assert scheduled[0]["lambdaFunctionScheduledEventDetails"]["resource"].endswith(":function:" + FUNCTION)
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))


def check_sync_express(sfn):
    definition = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"n": 1}, "End": True}}})
    machine = sfn.create_state_machine(
        name="Quick", definition=definition, roleArn="arn:aws:iam::000000000000:role/any", type="EXPRESS"
    )["stateMachineArn"]
    result = sfn.start_sync_execution(stateMachineArn=machine, input="{}")
    assert result["status"] == "SUCCEEDED", result
    assert json.loads(result["output"]) == {"n": 1}
    assert result["billingDetails"]["billedDurationInMilliseconds"] >= 100


def expect_error(code, call, **kwargs):
    try:
        call(**kwargs)
    except ClientError as error:
        got = error.response["Error"]["Code"]
        assert got == code, f"expected {code}, got {got}: {error}"
        return
    raise AssertionError(f"expected {code}, the call succeeded")


def check_errors(sfn):
    expect_error(
        "ExecutionDoesNotExist",
        sfn.describe_execution,
        executionArn="arn:aws:states:us-east-1:000000000000:execution:Choice:none",
    )
    expect_error(
        "InvalidDefinition",
        sfn.create_state_machine,
        name="Bad",
        definition='{"StartAt": "X", "States": {}}',
        roleArn="arn:aws:iam::000000000000:role/any",
    )


def check_limits(sfn):
    """Oversized and overlong members get AWS's error codes, which boto3 parses."""
    machine = sfn.list_state_machines()["stateMachines"][0]["stateMachineArn"]
    # A 5 MiB request body: the server answers 413 with an AWS-shaped body.
    expect_error("ValidationException", sfn.start_execution, stateMachineArn=machine,
                 input=json.dumps({"blob": "x" * (5 * 1024 * 1024)}))
    expect_error("ValidationException", sfn.tag_resource, resourceArn=machine,
                 tags=[{"key": "aws:reserved", "value": "x"}])
    deep = "[" * 101 + "]" * 101
    expect_error("InvalidExecutionInput", sfn.start_execution, stateMachineArn=machine, input=deep)


ADMIN_ID, ADMIN_SECRET = "AKIDBOTO3ADMIN", "boto3/admin+secret"


def check_signatures(binary):
    """A server that requires keys: boto3's Signature V4 decides who calls."""
    with tempfile.TemporaryDirectory(prefix="stepwise-boto3-keys-") as data_dir:
        credentials = pathlib.Path(data_dir) / "admin.ini"
        credentials.write_text(
            f"[default]\naws_access_key_id = {ADMIN_ID}\naws_secret_access_key = {ADMIN_SECRET}\n"
        )
        process, endpoint = start_server(
            binary, str(pathlib.Path(data_dir) / "data"), "--admin-credentials", str(credentials)
        )
        try:
            assert client(endpoint, ADMIN_ID, ADMIN_SECRET).list_state_machines()["stateMachines"] == []
            expect_error("InvalidSignatureException", client(endpoint, ADMIN_ID, "wrong").list_state_machines)
            expect_error("UnrecognizedClientException", client(endpoint, "AKIDUNKNOWN", "x").list_state_machines)
            # boto3 signs with botocore.auth's clock: ten minutes behind, as a skewed
            # machine's would be.
            skewed = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - datetime.timedelta(
                minutes=10
            )
            with unittest.mock.patch("botocore.auth.get_current_datetime", return_value=skewed):
                try:
                    client(endpoint, ADMIN_ID, ADMIN_SECRET).list_state_machines()
                    raise AssertionError("a request signed ten minutes ago was accepted")
                except ClientError as error:
                    assert error.response["Error"]["Code"] == "InvalidSignatureException", error
                    assert "Signature expired" in error.response["Error"]["Message"], error
        finally:
            process.terminate()
            process.wait(timeout=20)


def main():
    binary = sys.argv[1]
    checks = [check_choice_example, check_sync_express, check_errors, check_limits]
    passed = failed = 0
    with tempfile.TemporaryDirectory(prefix="stepwise-boto3-") as data_dir:
        process, endpoint = start_server(binary, data_dir)
        try:
            sfn = client(endpoint)
            for check in checks:
                try:
                    check(sfn)
                    passed += 1
                    print(f"boto3 {check.__name__} ... ok")
                except Exception as error:  # report every check, then fail the run
                    failed += 1
                    print(f"boto3 {check.__name__} ... FAILED: {error!r}")
        finally:
            process.terminate()
            process.wait(timeout=20)
    try:
        check_signatures(binary)
        passed += 1
        print("boto3 check_signatures ... ok")
    except Exception as error:
        failed += 1
        print(f"boto3 check_signatures ... FAILED: {error!r}")
    print(f"boto3 result: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
