"""A test of your own AWS Batch + EventBridge code, run against batchbridge: the jobs really run.

With batchbridge installed, ``pytest test_with_batchbridge.py`` is all it takes: the
``batchbridge`` fixture starts a server on a free local port for the test and stops it after.
"""

import json


def test_array_job_runs_and_notifies_once(batchbridge):
    batch = batchbridge.client("batch")
    events = batchbridge.client("events")
    sqs = batchbridge.client("sqs")
    logs = batchbridge.client("logs")

    batch.create_compute_environment(
        computeEnvironmentName="my-env",
        type="MANAGED",
        computeResources={
            "type": "EC2",
            "maxvCpus": 4,
            "subnets": ["subnet-12345678"],
            "securityGroupIds": ["sg-12345678"],
            "instanceRole": "ecsInstanceRole",
        },
    )
    batch.create_job_queue(
        jobQueueName="my-queue",
        priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": "my-env"}],
    )
    batch.register_job_definition(
        jobDefinitionName="hello",
        type="container",
        containerProperties={
            "image": "busybox",
            "command": ["sh", "-c", "echo hello from $AWS_BATCH_JOB_ARRAY_INDEX"],
            "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "64"}],
        },
    )

    # One message when the whole array has finished: only the parent's event has arrayProperties.size.
    queue_url = sqs.create_queue(QueueName="array-done")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    pattern = {
        "source": ["aws.batch"],
        "detail-type": ["Batch Job State Change"],
        "detail": {"status": ["SUCCEEDED"], "arrayProperties": {"size": [{"exists": True}]}},
    }
    events.put_rule(Name="array-done", EventPattern=json.dumps(pattern))
    events.put_targets(Rule="array-done", Targets=[{"Id": "queue", "Arn": queue_arn}])

    job_id = batch.submit_job(
        jobName="hello", jobQueue="my-queue", jobDefinition="hello", arrayProperties={"size": 3}
    )["jobId"]
    job = batchbridge.wait_for_job(job_id)
    assert job["status"] == "SUCCEEDED"

    child = batch.describe_jobs(jobs=[f"{job_id}:2"])["jobs"][0]
    output = logs.get_log_events(
        logGroupName="/aws/batch/job",
        logStreamName=child["container"]["logStreamName"],
        startFromHead=True,
    )
    assert [event["message"] for event in output["events"]] == ["hello from 2"]

    [message] = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=10)["Messages"]
    event = json.loads(message["Body"])
    assert event["detail"]["jobId"] == job_id
    assert event["detail"]["status"] == "SUCCEEDED"
    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    assert "Messages" not in sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1)
