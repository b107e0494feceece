"""The local moto server's shortcuts answer exactly what moto's own code answers.

`moto_main` writes DynamoDB's item operations and a stream's GetRecords out with `json.dumps`
instead of moto's model-driven serializer. Both are run here on the same data, on an in-process
moto server on 127.0.0.1, and their bodies compared as JSON, then as boto3 parses them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto.core.responses import ActionResult, BaseResponse
from moto.dynamodb.responses import DynamoHandler
from moto.dynamodbstreams.responses import DynamoDBStreamsHandler
from moto.server import ThreadedMotoServer

from prediag_tools.local import moto_main

REGION = "eu-west-1"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def _client(endpoint: str, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture(scope="module")
def shard_iterator(endpoint: str) -> tuple[Any, str]:
    """A stream holding inserts, modifies and a remove of items of every attribute type."""
    ddb = _client(endpoint, "dynamodb")
    table = f"records-{uuid.uuid4().hex[:8]}"
    ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    every_type = {
        "s": {"S": 'Rex — \u00e9t\u00e9 "quoted" \\ \n tab\t'},
        "n": {"N": "-12.5e3"},
        "b": {"B": b"\x00\xffbinary"},
        "yes": {"BOOL": True},
        "nothing": {"NULL": True},
        "ss": {"SS": ["a", "b"]},
        "ns": {"NS": ["1", "2.5"]},
        "bs": {"BS": [b"x", b"y"]},
        "l": {"L": [{"S": "x"}, {"N": "1"}, {"M": {"deep": {"L": []}}}]},
        "m": {"M": {"attempts": {"L": [{"M": {"n": {"N": "1"}, "e": {"NULL": True}}}]}}},
    }
    ddb.put_item(TableName=table, Item={"id": {"S": "a"}, **every_type})
    ddb.put_item(TableName=table, Item={"id": {"S": "b"}, "status": {"S": "pending"}})
    ddb.update_item(
        TableName=table,
        Key={"id": {"S": "b"}},
        UpdateExpression="SET #s = :s, analysis = :a",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "completed"}, ":a": {"M": every_type}},
    )
    ddb.delete_item(TableName=table, Key={"id": {"S": "a"}})

    streams = _client(endpoint, "dynamodbstreams")
    arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]
    iterator = streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    return streams, iterator


def _call(client: Any, operation: str, **params: Any) -> tuple[dict[str, Any], Any]:
    """(the raw body as JSON, what boto3 parsed) of one call; an error's too."""
    raw: list[bytes] = []

    def keep(http_response: Any, **_: Any) -> None:
        raw.append(http_response.content)

    event = f"after-call.{client.meta.service_model.service_name}.{operation}"
    client.meta.events.register(event, keep)
    try:
        method = getattr(client, _snake(operation))
        try:
            parsed = method(**params)
        except client.exceptions.ClientError as exc:
            parsed = dict(exc.response)
    finally:
        client.meta.events.unregister(event, keep)
    parsed.pop("ResponseMetadata", None)
    return json.loads(raw[0]), parsed


def _snake(operation: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in operation).lstrip("_")


def _answer_directly(patch: pytest.MonkeyPatch, handler: type[BaseResponse]) -> list[str]:
    """Give `handler` moto_main's `serialized`; the list gets each action that still went
    through moto's serializer."""
    through_moto: list[str] = []
    original = BaseResponse.serialized

    def counted(self: BaseResponse, action_result: ActionResult) -> Any:
        through_moto.append(self._get_action())
        return original(self, action_result)

    patch.setattr(BaseResponse, "serialized", counted)
    patch.setattr(handler, "serialized", moto_main.serialized)
    return through_moto


def _get_records(streams: Any, iterator: str, **limit: int) -> tuple[dict[str, Any], Any]:
    return _call(streams, "GetRecords", ShardIterator=iterator, **limit)


@pytest.mark.parametrize("limit", [{}, {"Limit": 2}])
def test_get_records_written_directly_equals_motos_serializer(
    shard_iterator: tuple[Any, str], monkeypatch: pytest.MonkeyPatch, limit: dict[str, int]
) -> None:
    streams, iterator = shard_iterator
    serialized_body, serialized = _get_records(streams, iterator, **limit)

    through_moto = _answer_directly(monkeypatch, DynamoDBStreamsHandler)
    direct_body, direct = _get_records(streams, iterator, **limit)
    assert through_moto == []

    records = direct["Records"]
    assert [r["eventName"] for r in records] == (
        ["INSERT", "INSERT"] if limit else ["INSERT", "INSERT", "MODIFY", "REMOVE"]
    )
    # each call makes a new next iterator; everything else is the same, byte for byte
    assert direct_body.pop("NextShardIterator") != serialized_body.pop("NextShardIterator")
    assert direct_body == serialized_body
    direct.pop("NextShardIterator"), serialized.pop("NextShardIterator")
    assert direct == serialized
    assert records[0]["dynamodb"]["NewImage"]["b"] == {"B": b"\x00\xffbinary"}
    assert records[0]["dynamodb"]["ApproximateCreationDateTime"].tzinfo is not None


def test_get_records_past_the_end_is_empty_with_a_next_iterator(
    shard_iterator: tuple[Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    streams, iterator = shard_iterator
    through_moto = _answer_directly(monkeypatch, DynamoDBStreamsHandler)
    _, everything = _get_records(streams, iterator)
    _, after = _get_records(streams, everything["NextShardIterator"])

    assert through_moto == []

    assert after["Records"] == []
    assert after["NextShardIterator"]


# ---------------------------------------------------------------------- item operations
TABLE = "@table"  # each test binds it to two tables of its own
KEY = {"pk": {"S": "p"}, "sk": {"S": "2"}}
ITEM_OPERATIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "get": ("GetItem", {"TableName": TABLE, "Key": KEY}),
    "get-missing": ("GetItem", {"TableName": TABLE, "Key": {**KEY, "sk": {"S": "none"}}}),
    "get-projected": (
        "GetItem",
        {"TableName": TABLE, "Key": KEY, "ProjectionExpression": "m.attempts, b, n"},
    ),
    "put-all-old": (
        "PutItem",
        {
            "TableName": TABLE,
            "Item": {**KEY, "status": {"S": "new"}},
            "ReturnValues": "ALL_OLD",
            "ReturnConsumedCapacity": "TOTAL",
        },
    ),
    "put-none": ("PutItem", {"TableName": TABLE, "Item": {"pk": {"S": "q"}, "sk": {"S": "1"}}}),
    **{
        f"update-{returns.lower()}": (
            "UpdateItem",
            {
                "TableName": TABLE,
                "Key": KEY,
                "UpdateExpression": "SET #s = :s, attempts = list_append(attempts, :a) ADD n :one",
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": {
                    ":s": {"S": "completed"},
                    ":a": {"L": [{"M": {"n": {"N": "2"}, "at": {"NULL": True}}}]},
                    ":one": {"N": "1"},
                },
                "ReturnValues": returns,
            },
        )
        for returns in ("NONE", "ALL_NEW", "ALL_OLD", "UPDATED_NEW", "UPDATED_OLD")
    },
    "update-condition-failed": (
        "UpdateItem",
        {
            "TableName": TABLE,
            "Key": KEY,
            "UpdateExpression": "SET #s = :s",
            "ConditionExpression": "#s = :other",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": {":s": {"S": "x"}, ":other": {"S": "y"}},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        },
    ),
    "delete-all-old": ("DeleteItem", {"TableName": TABLE, "Key": KEY, "ReturnValues": "ALL_OLD"}),
    "query-paged": (
        "Query",
        {
            "TableName": TABLE,
            "KeyConditionExpression": "pk = :p",
            "ExpressionAttributeValues": {":p": {"S": "p"}},
            "Limit": 2,
            "ReturnConsumedCapacity": "TOTAL",
        },
    ),
    "query-all": (
        "Query",
        {
            "TableName": TABLE,
            "KeyConditionExpression": "pk = :p",
            "ExpressionAttributeValues": {":p": {"S": "p"}},
            "ScanIndexForward": False,
        },
    ),
    "scan": ("Scan", {"TableName": TABLE, "Limit": 3}),
    "batch-get": (
        "BatchGetItem",
        {
            "RequestItems": {
                TABLE: {"Keys": [KEY, {**KEY, "sk": {"S": "1"}}, {**KEY, "sk": {"S": "none"}}]}
            }
        },
    ),
    "batch-write": (
        "BatchWriteItem",
        {
            "RequestItems": {
                TABLE: [
                    {"PutRequest": {"Item": {"pk": {"S": "r"}, "sk": {"S": "1"}}}},
                    {"DeleteRequest": {"Key": {**KEY, "sk": {"S": "3"}}}},
                ]
            }
        },
    ),
    "transact-get": (
        "TransactGetItems",
        {"TransactItems": [{"Get": {"TableName": TABLE, "Key": KEY}}]},
    ),
    "transact-write": (
        "TransactWriteItems",
        {
            "TransactItems": [
                {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "t"}, "sk": {"S": "1"}}}},
                {
                    "Update": {
                        "TableName": TABLE,
                        "Key": KEY,
                        "UpdateExpression": "REMOVE b",
                    }
                },
            ]
        },
    ),
}


def _bound(value: Any, table: str) -> Any:
    """`value` (JSON) with the table placeholder replaced by a table's name."""
    return json.loads(json.dumps(value).replace(TABLE, table))


def _renamed(value: Any, old: str, new: str) -> Any:
    """`value` with the string `old` replaced by `new`, in keys and values, at any depth."""
    if isinstance(value, dict):
        return {_renamed(k, old, new): _renamed(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_renamed(v, old, new) for v in value]
    return new if value == old else value


def _seeded(ddb: Any, table: str) -> None:
    """A table holding the same three items, whatever its name."""
    ddb.create_table(
        TableName=table,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    for sk in ("1", "2", "3"):
        ddb.put_item(
            TableName=table,
            Item={
                "pk": {"S": "p"},
                "sk": {"S": sk},
                "status": {"S": "processing"},
                "n": {"N": "41.5"},
                "b": {"B": b"\x00\xff"},
                "tags": {"SS": ["a", "b"]},
                "attempts": {"L": [{"M": {"n": {"N": "1"}, "at": {"S": "2026-12-01T00:00:00Z"}}}]},
                "m": {"M": {"attempts": {"L": []}, "ok": {"BOOL": False}}},
            },
        )


@pytest.mark.parametrize("case", sorted(ITEM_OPERATIONS))
def test_item_operations_written_directly_equal_motos_serializer(
    endpoint: str, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    operation, params = ITEM_OPERATIONS[case]
    ddb = _client(endpoint, "dynamodb")
    # the same items in two tables: one answered by moto's serializer, the other directly
    by_serializer, direct_table = (f"items-{uuid.uuid4().hex[:8]}" for _ in range(2))
    _seeded(ddb, by_serializer)
    _seeded(ddb, direct_table)

    serialized_body, serialized = _call(ddb, operation, **_bound(params, by_serializer))
    with monkeypatch.context() as patched:
        through_moto = _answer_directly(patched, DynamoHandler)
        direct_body, direct = _call(ddb, operation, **_bound(params, direct_table))

    assert through_moto == []

    assert _renamed(direct_body, direct_table, by_serializer) == serialized_body
    assert _renamed(direct, direct_table, by_serializer) == serialized
    if case == "get":
        assert direct["Item"]["b"] == {"B": b"\x00\xff"}
        assert direct["Item"]["n"] == {"N": "41.5"}
    if case == "update-condition-failed":
        assert direct["Error"]["Code"] == "ConditionalCheckFailedException"


def test_a_control_plane_result_still_goes_through_motos_serializer(
    endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ddb = _client(endpoint, "dynamodb")
    _seeded(ddb, "described")
    through_moto = _answer_directly(monkeypatch, DynamoHandler)

    described = ddb.describe_table(TableName="described")["Table"]

    assert through_moto == ["DescribeTable"]
    assert described["TableName"] == "described"
    assert described["CreationDateTime"].tzinfo is not None
