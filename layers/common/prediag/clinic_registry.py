"""DynamoDB adapter of the registered clinics (the clinics table, key `clinicId`)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import ClientError

from prediag.clinics import Clinic
from prediag.errors import ConflictError, NotFoundError
from prediag.items import from_item, to_item

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient


def _clinic(item: dict[str, Any]) -> Clinic:
    return Clinic.model_validate(from_item(item))


def _failed_condition(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class DynamoClinics:
    """The clinics table: one item per clinic; a clinic is created once and never deleted."""

    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        self.table_name = table_name
        self.client: DynamoDBClient = client or boto3.client("dynamodb")

    def get(self, clinic_id: str) -> Clinic | None:
        res = self.client.get_item(
            TableName=self.table_name, Key={"clinicId": {"S": clinic_id}}, ConsistentRead=True
        )
        item = res.get("Item")
        return _clinic(dict(item)) if item else None

    def create(self, clinic: Clinic) -> Clinic:
        """A new clinic; ConflictError (with the registered one) if the id is taken."""
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item=to_item(clinic.dump()),
                ConditionExpression="attribute_not_exists(clinicId)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not _failed_condition(exc):
                raise
            old: dict[str, Any] = dict(exc.response.get("Item") or {})  # type: ignore[call-overload]
            current = _clinic(old) if old else None
            raise ConflictError(
                f"clinic {clinic.clinic_id} is already registered", current
            ) from exc
        return clinic

    def update(
        self, clinic_id: str, *, name: str | None, active: bool | None, now: datetime
    ) -> Clinic:
        """Change the name and/or the active flag of a registered clinic; NotFoundError if
        there is none."""
        sets = ["updatedAt = :now"]
        values: dict[str, Any] = {":now": now.isoformat()}
        if name is not None:
            sets.append("#name = :name")
            values[":name"] = name
        if active is not None:
            sets.append("active = :active")
            values[":active"] = active
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": {"clinicId": {"S": clinic_id}},
            "UpdateExpression": "SET " + ", ".join(sets),
            "ConditionExpression": "attribute_exists(clinicId)",
            "ExpressionAttributeValues": to_item(values),
            "ReturnValues": "ALL_NEW",
        }
        if name is not None:
            request["ExpressionAttributeNames"] = {"#name": "name"}
        try:
            res = self.client.update_item(**request)
        except ClientError as exc:
            if not _failed_condition(exc):
                raise
            raise NotFoundError(f"clinic {clinic_id} is not registered") from exc
        return _clinic(dict(res["Attributes"]))

    def all(self) -> list[Clinic]:
        """Every registered clinic (a Scan: the table holds one small item per clinic)."""
        found: list[Clinic] = []
        kwargs: dict[str, Any] = {"TableName": self.table_name, "ConsistentRead": True}
        while True:
            res = self.client.scan(**kwargs)
            found += [_clinic(dict(item)) for item in res.get("Items", [])]
            last = res.get("LastEvaluatedKey")
            if not last:
                return found
            kwargs["ExclusiveStartKey"] = last
