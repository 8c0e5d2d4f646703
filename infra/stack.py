"""Creates the stack of template.yaml on a CloudFormation emulator (moto, in process) the way
`sam deploy` does, and prints what came out of it as JSON.

The steps `sam deploy` takes: the function code goes to S3 (`sam package` rewrites each
CodeUri to an s3:// URI; here a placeholder zip per function, the code is not what this
checks), the SAM transform turns the template into plain CloudFormation (the same
`samtranslator` library CloudFormation runs server-side), and CloudFormation creates the stack.
Then every created resource is read back through its own service's API (DynamoDB, Lambda, IAM,
SQS, Logs, CloudWatch), not from the template, and printed; the stack is deleted.

Two gaps of the emulator are mended (`mend_emulator`), nothing else is changed in it: moto
leaves a list entry that an `!If` turned into `!Ref AWS::NoValue` in the list as null
(CloudFormation drops it; the table's index list has one), and it names a FIFO queue without
the `.fifo` suffix CloudFormation gives it.

Usage: python3 infra/stack.py <stack name> [Parameter=value ...]
Output: {"transformed": the transformed template's resources, "created": {logical id: physical
id}, "table", "functions", "roles", "mappings", "queues", "log_groups", "dashboards": as read back}
"""

import ast
import io
import json
import os
import sys
import time
import zipfile

import boto3
import moto
from moto.cloudformation import parsing
from moto.sqs.models import Queue
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REGION = "us-east-1"


def client(service):
    return boto3.client(service, region_name=REGION)


def mend_emulator():
    clean_json = parsing.clean_json
    create_queue = Queue.create_from_cloudformation_json.__func__

    def mended(resource_json, resources_map):
        cleaned = clean_json(resource_json, resources_map)
        if isinstance(resource_json, list):
            return [value for value in cleaned if value is not None]
        return cleaned

    parsing.clean_json = mended

    def create_fifo_queue(cls, resource_name, cloudformation_json, *args, **kwargs):
        fifo = str(cloudformation_json["Properties"].get("FifoQueue")).lower() == "true"
        if fifo and not str(resource_name).endswith(".fifo"):
            resource_name = f"{str(resource_name)[:75]}.fifo"
        return create_queue(cls, resource_name, cloudformation_json, *args, **kwargs)

    Queue.create_from_cloudformation_json = classmethod(create_fifo_queue)


def placeholder_zip():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("bootstrap", "#!/bin/sh\n")
    return buffer.getvalue()


class NoManagedPolicies:
    """The transform asks for AWS managed policy ARNs only for policies named without an ARN;
    the template names none, so the map is empty (an unknown name fails the transform)."""

    def load(self):
        return {}


def packaged(template, bucket):
    """The template as `sam package` leaves it: every function's code an S3 object."""
    s3 = client("s3")
    s3.create_bucket(Bucket=bucket)
    code = placeholder_zip()
    template.get("Globals", {}).get("Function", {}).pop("CodeUri", None)
    for name, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            s3.put_object(Bucket=bucket, Key=f"{name}.zip", Body=code)
            resource["Properties"]["CodeUri"] = f"s3://{bucket}/{name}.zip"
    return template


def document(policy):
    """A policy document as JSON: boto3 decodes it already; moto stores one that CloudFormation
    gave it as a dict and answers with the dict's repr."""
    if isinstance(policy, str):
        return ast.literal_eval(policy)
    return policy


def wait_for(cloudformation, stack, done):
    for _ in range(600):
        status = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
        if status in done:
            return status
        if status.endswith("_FAILED") or status.endswith("ROLLBACK_COMPLETE"):
            events = cloudformation.describe_stack_events(StackName=stack)["StackEvents"]
            reasons = [e.get("ResourceStatusReason") for e in events if e.get("ResourceStatusReason")]
            raise SystemExit(f"stack {stack}: {status}: {reasons}")
        time.sleep(0.2)
    raise SystemExit(f"stack {stack}: still not done")


def describe(resources):
    """What each created resource is, read through its own service."""
    by_type = {}
    for logical, (kind, physical) in resources.items():
        by_type.setdefault(kind, []).append((logical, physical))
    out = {"table": None, "functions": {}, "roles": {}, "mappings": [], "queues": {}, "log_groups": {}, "dashboards": []}

    dynamodb = client("dynamodb")
    for logical, name in by_type.get("AWS::DynamoDB::Table", []):
        table = dynamodb.describe_table(TableName=name)["Table"]
        out["table"] = {
            "logical_id": logical,
            "name": name,
            "KeySchema": table["KeySchema"],
            "AttributeDefinitions": table["AttributeDefinitions"],
            "BillingMode": table.get("BillingModeSummary", {}).get("BillingMode"),
            "GlobalSecondaryIndexes": [
                {k: index[k] for k in ("IndexName", "KeySchema", "Projection")}
                for index in table.get("GlobalSecondaryIndexes", [])
            ],
            "StreamSpecification": table.get("StreamSpecification"),
            "StreamArn": table.get("LatestStreamArn"),
            "Arn": table["TableArn"],
            "TimeToLive": dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"],
            "PointInTimeRecovery": dynamodb.describe_continuous_backups(TableName=name)[
                "ContinuousBackupsDescription"
            ]["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"],
            "DeletionProtection": table.get("DeletionProtectionEnabled"),
        }

    lambdas = client("lambda")
    for logical, name in by_type.get("AWS::Lambda::Function", []):
        config = lambdas.get_function_configuration(FunctionName=name)
        out["functions"][logical] = {
            "name": name,
            "arn": config["FunctionArn"],
            "role": config["Role"],
            "runtime": config.get("Runtime"),
            "handler": config.get("Handler"),
            "architectures": config.get("Architectures"),
            "memory": config.get("MemorySize"),
            "timeout": config.get("Timeout"),
            "environment": config.get("Environment", {}).get("Variables", {}),
        }
    for mapping in lambdas.list_event_source_mappings()["EventSourceMappings"]:
        out["mappings"].append(
            {
                k: mapping.get(k)
                for k in (
                    "EventSourceArn",
                    "FunctionArn",
                    "BatchSize",
                    "StartingPosition",
                    "FunctionResponseTypes",
                    "DestinationConfig",
                    "FilterCriteria",
                    "MaximumRetryAttempts",
                    "BisectBatchOnFunctionError",
                )
            }
        )

    iam = client("iam")
    for logical, name in by_type.get("AWS::IAM::Role", []):
        role = iam.get_role(RoleName=name)["Role"]
        inline = {
            policy: document(iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"])
            for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]
        }
        managed = [
            p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
        ]
        out["roles"][logical] = {
            "arn": role["Arn"],
            "assume": role["AssumeRolePolicyDocument"],
            "inline": inline,
            "managed": sorted(managed),
        }

    sqs = client("sqs")
    for logical, url in by_type.get("AWS::SQS::Queue", []):
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        out["queues"][logical] = {"url": url, "attributes": attributes}

    logs = client("logs")
    for logical, name in by_type.get("AWS::Logs::LogGroup", []):
        groups = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
        group = next(g for g in groups if g["logGroupName"] == name)
        out["log_groups"][logical] = {"name": name, "retention": group.get("retentionInDays")}

    cloudwatch = client("cloudwatch")
    out["dashboards"] = [d["DashboardName"] for d in cloudwatch.list_dashboards()["DashboardEntries"]]
    return out


def main():
    stack = sys.argv[1]
    parameters = dict(arg.split("=", 1) for arg in sys.argv[2:])
    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL"):
            del os.environ[name]
    os.environ.update(AWS_ACCESS_KEY_ID="local", AWS_SECRET_ACCESS_KEY="local", AWS_DEFAULT_REGION=REGION)
    mend_emulator()

    with open(os.path.join(ROOT, "template.yaml")) as source:
        template = yaml_parse(source.read())
    template = packaged(template, f"{stack.lower()}-code")
    transformed = transform(template, parameters, NoManagedPolicies())

    cloudformation = client("cloudformation")
    cloudformation.create_stack(
        StackName=stack,
        TemplateBody=json.dumps(transformed),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    wait_for(cloudformation, stack, {"CREATE_COMPLETE"})
    summaries = cloudformation.list_stack_resources(StackName=stack)["StackResourceSummaries"]
    resources = {
        s["LogicalResourceId"]: (s["ResourceType"], s["PhysicalResourceId"]) for s in summaries
    }
    out = describe(resources)
    out["transformed"] = transformed["Resources"]
    out["created"] = {k: physical for k, (_, physical) in resources.items()}
    cloudformation.delete_stack(StackName=stack)
    json.dump(out, sys.stdout, indent=1, sort_keys=True, default=str)


if __name__ == "__main__":
    with moto.mock_aws():
        main()
