"""Create the resources a SAM template declares in a moto server, reading the template itself.

`provision(template_path, endpoint_url, parameters)` creates (or adopts, when they already exist)
every table, queue, topic, SSM parameter and Cognito pool/client/group of the template, resolves
the Outputs and each function's environment against the real moto ids, and describes the
functions' triggers (SQS and DynamoDB stream event source mappings, API routes) for the local
runtime. It is idempotent: running it again against the same moto server returns the same ids.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from prediag_tools.local.aws import client
from prediag_tools.local.cfn import (
    ACCOUNT_ID,
    DEFAULT_REGION,
    NO_VALUE,
    Resolver,
    TemplateError,
    load_template,
    references,
    to_str,
)

log = logging.getLogger("prediag.local.provision")

LOCAL_PARAMETER_DEFAULTS = {"Stage": "local"}
LOCAL_API_ID = "local"

# Types that exist only as configuration read by the local runtime (no moto resource).
VIRTUAL_TYPES = {"AWS::Serverless::Function", "AWS::Serverless::Api"}
# Types moto cannot or need not emulate locally: skipped, their Ref has no value.
SKIPPED_TYPES = {
    "AWS::Logs::LogGroup",
    "AWS::Serverless::LayerVersion",
    "AWS::Lambda::LayerVersion",
    "AWS::Lambda::Permission",
    "AWS::CloudWatch::Alarm",
    "AWS::CloudWatch::CompositeAlarm",
    "AWS::CloudWatch::Dashboard",
    "AWS::ApiGateway::Account",
    "AWS::IAM::Role",
    "AWS::IAM::Policy",
    "AWS::IAM::ManagedPolicy",
    "AWS::SNS::TopicPolicy",
    "AWS::SQS::QueuePolicy",
    "AWS::Serverless::Application",
    "AWS::KMS::Key",
    "AWS::KMS::Alias",
    "AWS::Cognito::UserPoolDomain",
    "AWS::Cognito::ManagedLoginBranding",
}


@dataclass
class Resource:
    """A provisioned (or virtual) resource: what `Ref` and `Fn::GetAtt` give for it."""

    logical_id: str
    type: str
    ref: Any
    attributes: dict[str, Any] = field(default_factory=dict)
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass
class SqsMapping:
    """An SQS event source mapping (one `Type: SQS` event of a function)."""

    name: str
    function: str
    queue_arn: str
    queue_url: str
    batch_size: int = 10
    batching_window_s: int = 0
    max_concurrency: int = 1000
    report_batch_item_failures: bool = False
    enabled: bool = True
    filters: list[str] = field(default_factory=list)


@dataclass
class StreamMapping:
    """A DynamoDB stream event source mapping (one `Type: DynamoDB` event of a function)."""

    name: str
    function: str
    stream_arn: str
    starting_position: str = "LATEST"
    batch_size: int = 100
    batching_window_s: int = 0
    max_retry_attempts: int = -1
    max_record_age_s: int = -1
    bisect_on_error: bool = False
    report_batch_item_failures: bool = False
    on_failure_arn: str | None = None
    on_failure_url: str | None = None
    enabled: bool = True
    filters: list[str] = field(default_factory=list)


@dataclass
class Authorizer:
    """A Cognito user pool authorizer of an API."""

    name: str
    user_pool_arn: str
    user_pool_id: str
    header: str = "Authorization"


@dataclass
class ApiRoute:
    method: str
    path: str
    function: str
    api: str
    authorizer: Authorizer | None


@dataclass
class FunctionSpec:
    logical_id: str
    name: str
    arn: str
    code_dir: Path
    handler: str
    timeout_s: int
    memory_mb: int
    env: dict[str, str]
    reserved_concurrency: int | None = None

    @property
    def short_name(self) -> str:
        """`SubmitFunction` -> `submit` (for log prefixes and CLI arguments)."""
        base = self.logical_id.removesuffix("Function")
        return base[:1].lower() + base[1:]


@dataclass
class Provisioned:
    """What `provision` created and resolved."""

    template_path: Path
    template: dict[str, Any]
    endpoint_url: str
    region: str
    account_id: str
    parameters: dict[str, str]
    resources: dict[str, Resource]
    outputs: dict[str, Any]
    api_outputs: set[str]
    functions: dict[str, FunctionSpec]
    sqs_mappings: list[SqsMapping]
    stream_mappings: list[StreamMapping]
    routes: list[ApiRoute]
    skipped: list[str]

    @property
    def stage(self) -> str:
        return self.parameters.get("Stage", "")

    def function(self, name: str) -> FunctionSpec:
        """A function by logical id (`AnalyzeFunction`), short name (`analyze`) or name."""
        for spec in self.functions.values():
            if name in (spec.logical_id, spec.short_name, spec.name):
                return spec
        known = ", ".join(s.short_name for s in self.functions.values())
        raise KeyError(f"no function {name!r} in the template (known: {known})")

    def user_pools(self) -> list[Resource]:
        return [r for r in self.resources.values() if r.type == "AWS::Cognito::UserPool"]

    def user_pool_clients(self) -> list[Resource]:
        return [r for r in self.resources.values() if r.type == "AWS::Cognito::UserPoolClient"]

    def union_env(self) -> dict[str, str]:
        """Every function's template environment in one dict, for running several handlers in
        one process (the integration tests do; the local stack gives each its own process).

        Raises TemplateError if two functions need different values for the same variable.
        """
        merged: dict[str, str] = {}
        owner: dict[str, str] = {}
        for spec in self.functions.values():
            for key, value in spec.env.items():
                if key in merged and merged[key] != value:
                    raise TemplateError(
                        f"functions {owner[key]} and {spec.logical_id} need different values "
                        f"for {key} ({merged[key]!r} vs {value!r}); they cannot share a process"
                    )
                merged[key] = value
                owner.setdefault(key, spec.logical_id)
        return merged


# ---------------------------------------------------------------------- parameters
def resolve_parameters(
    template: Mapping[str, Any], overrides: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """Parameter values: template defaults < local defaults < overrides; checked like CFN."""
    import re

    declared: dict[str, Any] = template.get("Parameters") or {}
    given = {**LOCAL_PARAMETER_DEFAULTS, **{k: to_str(v) for k, v in (overrides or {}).items()}}
    unknown = set(overrides or {}) - set(declared)
    if unknown:
        raise TemplateError(f"unknown template parameters: {', '.join(sorted(unknown))}")
    values: dict[str, str] = {}
    for name, spec in declared.items():
        if name in given:
            value = given[name]
        elif "Default" in spec:
            default = spec["Default"]
            value = ",".join(map(to_str, default)) if isinstance(default, list) else to_str(default)
        else:
            raise TemplateError(f"parameter {name} has no default: pass it explicitly")
        allowed = spec.get("AllowedValues")
        if allowed is not None and value not in [to_str(a) for a in allowed]:
            raise TemplateError(f"parameter {name}={value!r} is not one of {allowed}")
        pattern = spec.get("AllowedPattern")
        if pattern is not None and not re.fullmatch(pattern, value):
            raise TemplateError(f"parameter {name}={value!r} does not match {pattern}")
        if spec.get("Type") == "Number":
            number = float(value)
            if "MinValue" in spec and number < float(spec["MinValue"]):
                raise TemplateError(f"parameter {name}={value} is below {spec['MinValue']}")
            if "MaxValue" in spec and number > float(spec["MaxValue"]):
                raise TemplateError(f"parameter {name}={value} is above {spec['MaxValue']}")
        values[name] = value
    return values


# ---------------------------------------------------------------------- provisioning
class _Provisioner:
    def __init__(
        self,
        template_path: Path,
        template: dict[str, Any],
        endpoint_url: str,
        parameters: dict[str, str],
        region: str,
        account_id: str,
        stack_name: str,
    ) -> None:
        self.template_path = template_path
        self.template = template
        self.endpoint_url = endpoint_url
        self.region = region
        self.account_id = account_id
        self.resources: dict[str, Resource] = {}
        self.skipped: list[str] = []
        self.resolver = Resolver(
            template,
            parameters,
            region=region,
            account_id=account_id,
            stack_name=stack_name,
            ref=self._ref,
            get_att=self._get_att,
        )
        self._clients: dict[str, Any] = {}

    def aws(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = client(service, self.endpoint_url, self.region)
        return self._clients[service]

    # -------------------------------------------------------------- lookups
    def _ref(self, logical_id: str) -> Any:
        if logical_id in self.resources:
            return self.resources[logical_id].ref
        if logical_id in self.skipped:
            return NO_VALUE
        raise TemplateError(f"Ref {logical_id}: resource not provisioned (yet)")

    def _get_att(self, logical_id: str, attribute: str) -> Any:
        if logical_id in self.skipped:
            raise TemplateError(f"GetAtt {logical_id}.{attribute}: resource is not emulated")
        resource = self.resources.get(logical_id)
        if resource is None:
            raise TemplateError(f"GetAtt {logical_id}.{attribute}: resource not provisioned")
        if attribute not in resource.attributes:
            raise TemplateError(
                f"GetAtt {logical_id}.{attribute}: unknown attribute for {resource.type}"
            )
        return resource.attributes[attribute]

    # -------------------------------------------------------------- order
    def order(self) -> list[str]:
        declared: dict[str, Any] = self.template["Resources"]
        globals_fn = (self.template.get("Globals") or {}).get("Function") or {}
        deps: dict[str, set[str]] = {}
        for logical_id, resource in declared.items():
            body = resource.get("Properties") or {}
            refs = references(body)
            if resource.get("Type") == "AWS::Serverless::Function":
                refs |= references(globals_fn)
            deps[logical_id] = {r for r in refs if r in declared and r != logical_id}
        ordered: list[str] = []
        visiting: set[str] = set()

        def visit(node: str) -> None:
            if node in ordered:
                return
            if node in visiting:
                raise TemplateError(f"circular dependency through {node}")
            visiting.add(node)
            for dep in sorted(deps[node]):
                visit(dep)
            visiting.discard(node)
            ordered.append(node)

        for logical_id in declared:
            visit(logical_id)
        return ordered

    # -------------------------------------------------------------- run
    def run(self) -> None:
        declared: dict[str, Any] = self.template["Resources"]
        handlers: dict[str, Callable[[str, dict[str, Any]], Resource]] = {
            "AWS::DynamoDB::Table": self._table,
            "AWS::SQS::Queue": self._queue,
            "AWS::SNS::Topic": self._topic,
            "AWS::SNS::Subscription": self._subscription,
            "AWS::SSM::Parameter": self._ssm_parameter,
            "AWS::Cognito::UserPool": self._user_pool,
            "AWS::Cognito::UserPoolClient": self._user_pool_client,
            "AWS::Cognito::UserPoolGroup": self._user_pool_group,
            "AWS::Serverless::Function": self._function,
            "AWS::Serverless::Api": self._api,
        }
        for logical_id in self.order():
            resource = declared[logical_id]
            rtype = resource.get("Type", "")
            condition = resource.get("Condition")
            if condition is not None and not self.resolver.condition(condition):
                log.debug("skipping %s: condition %s is false", logical_id, condition)
                self.skipped.append(logical_id)
                continue
            handler = handlers.get(rtype)
            if handler is None:
                if rtype in SKIPPED_TYPES:
                    log.debug("skipping %s (%s): not emulated locally", logical_id, rtype)
                else:
                    log.warning(
                        "skipping %s: resource type %s is not emulated by the local stack",
                        logical_id,
                        rtype,
                    )
                self.skipped.append(logical_id)
                continue
            if rtype in VIRTUAL_TYPES:
                properties = resource.get("Properties") or {}
            else:
                properties = self.resolver.resolve(resource.get("Properties") or {})
            self.resources[logical_id] = handler(logical_id, properties)
            log.debug("provisioned %s (%s): %s", logical_id, rtype, self.resources[logical_id].ref)

    # -------------------------------------------------------------- DynamoDB
    def _table(self, logical_id: str, props: dict[str, Any]) -> Resource:
        ddb = self.aws("dynamodb")
        name = props.get("TableName") or f"{self.resolver.stack_name}-{logical_id}"
        args: dict[str, Any] = {
            "TableName": name,
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": props.get("BillingMode", "PROVISIONED"),
        }
        if args["BillingMode"] == "PROVISIONED":
            args["ProvisionedThroughput"] = _ints(
                props.get("ProvisionedThroughput")
                or {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
            )
        for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if props.get(key):
                args[key] = [_ints(index) for index in props[key]]
        stream = props.get("StreamSpecification")
        if stream:
            args["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": stream["StreamViewType"],
            }
        sse = props.get("SSESpecification")
        if sse and _truthy(sse.get("SSEEnabled")):
            args["SSESpecification"] = {
                "Enabled": True,
                **({"SSEType": sse["SSEType"]} if "SSEType" in sse else {}),
                **({"KMSMasterKeyId": sse["KMSMasterKeyId"]} if "KMSMasterKeyId" in sse else {}),
            }
        try:
            ddb.create_table(**args)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ResourceInUseException":
                raise
            log.debug("table %s already exists: adopted", name)
        ttl = props.get("TimeToLiveSpecification")
        if ttl and _truthy(ttl.get("Enabled")):
            current = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
            if current.get("TimeToLiveStatus") != "ENABLED":
                ddb.update_time_to_live(
                    TableName=name,
                    TimeToLiveSpecification={
                        "AttributeName": ttl["AttributeName"],
                        "Enabled": True,
                    },
                )
        pitr = props.get("PointInTimeRecoverySpecification")
        if pitr and _truthy(pitr.get("PointInTimeRecoveryEnabled")):
            ddb.update_continuous_backups(
                TableName=name,
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
            )
        table = ddb.describe_table(TableName=name)["Table"]
        attributes = {"Arn": table["TableArn"]}
        if table.get("LatestStreamArn"):
            attributes["StreamArn"] = table["LatestStreamArn"]
        return Resource(logical_id, "AWS::DynamoDB::Table", name, attributes, props)

    # -------------------------------------------------------------- SQS
    def _queue(self, logical_id: str, props: dict[str, Any]) -> Resource:
        sqs = self.aws("sqs")
        fifo = _truthy(props.get("FifoQueue"))
        name = props.get("QueueName") or f"{self.resolver.stack_name}-{logical_id}"
        if fifo and not name.endswith(".fifo"):
            name += ".fifo"
        attributes: dict[str, str] = {}
        for key, value in props.items():
            if key in ("QueueName", "Tags"):
                continue
            if isinstance(value, dict):
                attributes[key] = json.dumps(value, separators=(",", ":"))
            else:
                attributes[key] = to_str(value)
        try:
            url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in (
                "QueueAlreadyExists",
                "QueueNameExists",
                "AWS.SimpleQueueService.QueueNameExists",
            ):
                raise
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
            sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        return Resource(
            logical_id, "AWS::SQS::Queue", url, {"Arn": arn, "QueueName": name, "QueueUrl": url}
        )

    # -------------------------------------------------------------- SNS / SSM
    def _topic(self, logical_id: str, props: dict[str, Any]) -> Resource:
        sns = self.aws("sns")
        name = props.get("TopicName") or f"{self.resolver.stack_name}-{logical_id}"
        attributes = {
            key: to_str(props[key])
            for key in (
                "DisplayName",
                "KmsMasterKeyId",
                "FifoTopic",
                "ContentBasedDeduplication",
                "SignatureVersion",
            )
            if key in props
        }
        arn = sns.create_topic(Name=name, Attributes=attributes)["TopicArn"]
        for sub in props.get("Subscription") or []:
            sns.subscribe(TopicArn=arn, Protocol=sub["Protocol"], Endpoint=sub["Endpoint"])
        return Resource(
            logical_id, "AWS::SNS::Topic", arn, {"TopicArn": arn, "TopicName": name}, props
        )

    def _subscription(self, logical_id: str, props: dict[str, Any]) -> Resource:
        sns = self.aws("sns")
        extra = {
            key: to_str(props[key]) if not isinstance(props[key], dict) else json.dumps(props[key])
            for key in ("FilterPolicy", "RawMessageDelivery", "RedrivePolicy", "FilterPolicyScope")
            if key in props
        }
        arn = sns.subscribe(
            TopicArn=props["TopicArn"],
            Protocol=props["Protocol"],
            Endpoint=props["Endpoint"],
            Attributes=extra,
            ReturnSubscriptionArn=True,
        )["SubscriptionArn"]
        return Resource(logical_id, "AWS::SNS::Subscription", arn, {}, props)

    def _ssm_parameter(self, logical_id: str, props: dict[str, Any]) -> Resource:
        ssm = self.aws("ssm")
        name = props.get("Name") or f"{self.resolver.stack_name}-{logical_id}"
        ssm.put_parameter(
            Name=name,
            Value=to_str(props["Value"]),
            Type=props.get("Type", "String"),
            Overwrite=True,
        )
        return Resource(
            logical_id,
            "AWS::SSM::Parameter",
            name,
            {"Type": props.get("Type", "String"), "Value": to_str(props["Value"])},
        )

    # -------------------------------------------------------------- Cognito
    def _user_pool(self, logical_id: str, props: dict[str, Any]) -> Resource:
        idp = self.aws("cognito-idp")
        name = props.get("UserPoolName") or f"{self.resolver.stack_name}-{logical_id}"
        existing = [
            p
            for page in idp.get_paginator("list_user_pools").paginate(MaxResults=60)
            for p in page["UserPools"]
            if p["Name"] == name
        ]
        if existing:
            pool_id = existing[0]["Id"]
        else:
            args: dict[str, Any] = {"PoolName": name}
            mapping = {
                "UsernameAttributes": "UsernameAttributes",
                "AliasAttributes": "AliasAttributes",
                "AutoVerifiedAttributes": "AutoVerifiedAttributes",
                "MfaConfiguration": "MfaConfiguration",
                "Policies": "Policies",
                "Schema": "Schema",
                "UsernameConfiguration": "UsernameConfiguration",
                "AccountRecoverySetting": "AccountRecoverySetting",
                "AdminCreateUserConfig": "AdminCreateUserConfig",
            }
            for cfn_key, api_key in mapping.items():
                if cfn_key in props:
                    args[api_key] = props[cfn_key]
            if "Schema" in args:
                args["Schema"] = [_cognito_schema(attr) for attr in args["Schema"]]
            if "Policies" in args:
                policy = args["Policies"].get("PasswordPolicy")
                if policy and "MinimumLength" in policy:
                    policy["MinimumLength"] = int(policy["MinimumLength"])
            pool_id = idp.create_user_pool(**args)["UserPool"]["Id"]
        arn = idp.describe_user_pool(UserPoolId=pool_id)["UserPool"]["Arn"]
        provider = f"cognito-idp.{self.region}.amazonaws.com/{pool_id}"
        return Resource(
            logical_id,
            "AWS::Cognito::UserPool",
            pool_id,
            {
                "Arn": arn,
                "UserPoolId": pool_id,
                "ProviderName": provider,
                "ProviderURL": f"https://{provider}",
            },
            props,
        )

    def _user_pool_client(self, logical_id: str, props: dict[str, Any]) -> Resource:
        idp = self.aws("cognito-idp")
        pool_id = props["UserPoolId"]
        name = props.get("ClientName") or logical_id
        existing = [
            c
            for page in idp.get_paginator("list_user_pool_clients").paginate(
                UserPoolId=pool_id, MaxResults=60
            )
            for c in page["UserPoolClients"]
            if c["ClientName"] == name
        ]
        if existing:
            client_id = existing[0]["ClientId"]
        else:
            args: dict[str, Any] = {"UserPoolId": pool_id, "ClientName": name}
            for key in (
                "GenerateSecret",
                "ExplicitAuthFlows",
                "PreventUserExistenceErrors",
                "AllowedOAuthFlows",
                "AllowedOAuthScopes",
                "CallbackURLs",
                "LogoutURLs",
                "SupportedIdentityProviders",
                "ReadAttributes",
                "WriteAttributes",
            ):
                if key in props:
                    args[key] = props[key]
            if "GenerateSecret" in args:
                args["GenerateSecret"] = _truthy(args["GenerateSecret"])
            client_id = idp.create_user_pool_client(**args)["UserPoolClient"]["ClientId"]
        return Resource(
            logical_id,
            "AWS::Cognito::UserPoolClient",
            client_id,
            {"ClientId": client_id, "Name": name},
            props,
        )

    def _user_pool_group(self, logical_id: str, props: dict[str, Any]) -> Resource:
        idp = self.aws("cognito-idp")
        args: dict[str, Any] = {
            k: props[k] for k in ("GroupName", "UserPoolId", "Description") if k in props
        }
        if "Precedence" in props:
            args["Precedence"] = int(props["Precedence"])
        try:
            idp.create_group(**args)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "GroupExistsException":
                raise
        return Resource(logical_id, "AWS::Cognito::UserPoolGroup", props["GroupName"], {}, props)

    # -------------------------------------------------------------- virtual resources
    def _function(self, logical_id: str, raw: dict[str, Any]) -> Resource:
        globals_fn = (self.template.get("Globals") or {}).get("Function") or {}
        raw_env = {
            **((globals_fn.get("Environment") or {}).get("Variables") or {}),
            **((raw.get("Environment") or {}).get("Variables") or {}),
        }
        merged = {**globals_fn, **raw}
        merged.pop("Environment", None)
        merged.pop("Events", None)
        merged.pop("Policies", None)
        merged.pop("Layers", None)
        props = self.resolver.resolve(merged)
        name = props.get("FunctionName") or f"{self.resolver.stack_name}-{logical_id}"
        env = {k: to_str(v) for k, v in self.resolver.resolve(raw_env).items()}
        props["Environment"] = {"Variables": env}
        arn = f"arn:aws:lambda:{self.region}:{self.account_id}:function:{name}"
        return Resource(logical_id, "AWS::Serverless::Function", name, {"Arn": arn}, props)

    def _api(self, logical_id: str, raw: dict[str, Any]) -> Resource:
        globals_api = (self.template.get("Globals") or {}).get("Api") or {}
        props = self.resolver.resolve({**globals_api, **raw})
        return Resource(
            logical_id,
            "AWS::Serverless::Api",
            LOCAL_API_ID,
            {"RootResourceId": "root"},
            props,
        )


# ---------------------------------------------------------------------- triggers
def _function_specs(p: _Provisioner) -> dict[str, FunctionSpec]:
    specs: dict[str, FunctionSpec] = {}
    base = p.template_path.parent
    for logical_id, res in p.resources.items():
        if res.type != "AWS::Serverless::Function":
            continue
        props = res.properties
        code_uri = props.get("CodeUri", ".")
        specs[logical_id] = FunctionSpec(
            logical_id=logical_id,
            name=res.ref,
            arn=res.attributes["Arn"],
            code_dir=(base / str(code_uri)).resolve(),
            handler=str(props.get("Handler", "app.lambda_handler")),
            timeout_s=int(props.get("Timeout", 3)),
            memory_mb=int(props.get("MemorySize", 128)),
            env=dict(props["Environment"]["Variables"]),
            reserved_concurrency=(
                int(props["ReservedConcurrentExecutions"])
                if props.get("ReservedConcurrentExecutions") is not None
                else None
            ),
        )
    return specs


def _triggers(
    p: _Provisioner,
) -> tuple[list[SqsMapping], list[StreamMapping], list[ApiRoute]]:
    declared = p.template["Resources"]
    queue_by_arn = {
        r.attributes["Arn"]: r.ref for r in p.resources.values() if r.type == "AWS::SQS::Queue"
    }
    sqs: list[SqsMapping] = []
    streams: list[StreamMapping] = []
    routes: list[ApiRoute] = []
    for logical_id, res in p.resources.items():
        if res.type != "AWS::Serverless::Function":
            continue
        events = (declared[logical_id].get("Properties") or {}).get("Events") or {}
        for event_name, event in events.items():
            etype = event.get("Type")
            props = p.resolver.resolve(event.get("Properties") or {})
            name = f"{logical_id}.{event_name}"
            filters = [
                f["Pattern"] if isinstance(f["Pattern"], str) else json.dumps(f["Pattern"])
                for f in (props.get("FilterCriteria") or {}).get("Filters") or []
            ]
            enabled = _truthy(props.get("Enabled", True))
            responses = props.get("FunctionResponseTypes") or []
            if etype == "SQS":
                arn = props["Queue"]
                if arn not in queue_by_arn:
                    raise TemplateError(f"{name}: queue {arn} is not a queue of the template")
                sqs.append(
                    SqsMapping(
                        name=name,
                        function=logical_id,
                        queue_arn=arn,
                        queue_url=queue_by_arn[arn],
                        batch_size=int(props.get("BatchSize", 10)),
                        batching_window_s=int(props.get("MaximumBatchingWindowInSeconds", 0)),
                        max_concurrency=int(
                            (props.get("ScalingConfig") or {}).get("MaximumConcurrency", 1000)
                        ),
                        report_batch_item_failures="ReportBatchItemFailures" in responses,
                        enabled=enabled,
                        filters=filters,
                    )
                )
            elif etype in ("DynamoDB", "Kinesis"):
                on_failure = ((props.get("DestinationConfig") or {}).get("OnFailure") or {}).get(
                    "Destination"
                )
                streams.append(
                    StreamMapping(
                        name=name,
                        function=logical_id,
                        stream_arn=props["Stream"],
                        starting_position=props.get("StartingPosition", "LATEST"),
                        batch_size=int(props.get("BatchSize", 100)),
                        batching_window_s=int(props.get("MaximumBatchingWindowInSeconds", 0)),
                        max_retry_attempts=int(props.get("MaximumRetryAttempts", -1)),
                        max_record_age_s=int(props.get("MaximumRecordAgeInSeconds", -1)),
                        bisect_on_error=_truthy(props.get("BisectBatchOnFunctionError", False)),
                        report_batch_item_failures="ReportBatchItemFailures" in responses,
                        on_failure_arn=on_failure,
                        on_failure_url=queue_by_arn.get(on_failure) if on_failure else None,
                        enabled=enabled,
                        filters=filters,
                    )
                )
            elif etype == "Api":
                routes.append(_route(p, logical_id, event_name, event, props))
            else:
                log.warning("%s: event type %s is not emulated locally", name, etype)
    return sqs, streams, routes


def _route(
    p: _Provisioner, function: str, event_name: str, event: dict[str, Any], props: dict[str, Any]
) -> ApiRoute:
    raw_api = (event.get("Properties") or {}).get("RestApiId")
    api_id = raw_api.get("Ref") if isinstance(raw_api, dict) else "ServerlessRestApi"
    api = p.resources.get(str(api_id))
    api_props = api.properties if api else {}
    if api is None:
        api_props = p.resolver.resolve((p.template.get("Globals") or {}).get("Api") or {})
    auth = api_props.get("Auth") or {}
    authorizers = auth.get("Authorizers") or {}
    wanted = (props.get("Auth") or {}).get("Authorizer", auth.get("DefaultAuthorizer"))
    authorizer: Authorizer | None = None
    if wanted and wanted not in ("NONE", "AWS_IAM"):
        if wanted not in authorizers:
            raise TemplateError(f"{function}.{event_name}: authorizer {wanted} is not declared")
        spec = authorizers[wanted]
        if "UserPoolArn" not in spec:
            log.warning("%s: only Cognito authorizers are emulated; %s is open", function, wanted)
        else:
            arn = spec["UserPoolArn"]
            arn = arn[0] if isinstance(arn, list) else arn
            header = (spec.get("Identity") or {}).get("Header", "Authorization")
            authorizer = Authorizer(wanted, arn, arn.rsplit("/", 1)[-1], header)
    return ApiRoute(
        method=str(props.get("Method", "ANY")).upper(),
        path=str(props["Path"]),
        function=function,
        api=str(api_id),
        authorizer=authorizer,
    )


def _outputs(p: _Provisioner) -> tuple[dict[str, Any], set[str]]:
    outputs: dict[str, Any] = {}
    api_outputs: set[str] = set()
    api_ids = {k for k, r in p.resources.items() if r.type == "AWS::Serverless::Api"}
    for name, spec in (p.template.get("Outputs") or {}).items():
        condition = spec.get("Condition")
        if condition is not None and not p.resolver.condition(condition):
            continue
        if references(spec.get("Value")) & api_ids:
            api_outputs.add(name)
        try:
            value = p.resolver.resolve(spec.get("Value"))
        except TemplateError as exc:
            log.debug("output %s not resolved locally: %s", name, exc)
            continue
        if value is not NO_VALUE:
            outputs[name] = value
    return outputs, api_outputs


def provision(
    template_path: str | Path,
    endpoint_url: str,
    parameters: Mapping[str, Any] | None = None,
    *,
    region: str = DEFAULT_REGION,
    account_id: str = ACCOUNT_ID,
    stack_name: str | None = None,
) -> Provisioned:
    """Create (or adopt) the template's resources in the moto server at `endpoint_url`.

    `parameters` override the template defaults; `Stage` defaults to "local". Resources are
    named by the template (so a distinct Stage gives distinct resources in one moto server).
    """
    path = Path(template_path).resolve()
    template = load_template(path)
    values = resolve_parameters(template, parameters)
    p = _Provisioner(
        path,
        template,
        endpoint_url.rstrip("/"),
        values,
        region,
        account_id,
        stack_name or f"prediag-{values.get('Stage', 'local')}",
    )
    p.run()
    outputs, api_outputs = _outputs(p)
    sqs, streams, routes = _triggers(p)
    return Provisioned(
        template_path=path,
        template=template,
        endpoint_url=p.endpoint_url,
        region=region,
        account_id=account_id,
        parameters=values,
        resources=p.resources,
        outputs=outputs,
        api_outputs=api_outputs,
        functions=_function_specs(p),
        sqs_mappings=sqs,
        stream_mappings=streams,
        routes=routes,
        skipped=p.skipped,
    )


# ---------------------------------------------------------------------- helpers
def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def _ints(value: Any) -> Any:
    """CFN gives numbers as strings after Ref; the APIs want ints for capacity fields."""
    if isinstance(value, dict):
        return {
            k: int(v)
            if k in ("ReadCapacityUnits", "WriteCapacityUnits") and not isinstance(v, dict)
            else _ints(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_ints(v) for v in value]
    return value


def _cognito_schema(attr: dict[str, Any]) -> dict[str, Any]:
    out = dict(attr)
    for key in ("Mutable", "Required", "DeveloperOnlyAttribute"):
        if key in out:
            out[key] = _truthy(out[key])
    return out
