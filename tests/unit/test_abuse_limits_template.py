"""Who may do what to others, as the template wires it: sign-up is a parameter, the per-owner
quota is a parameter the API function reads, its table forgets on its own, the clinics table
is kept, and the API function may do no more than it needs on either."""

from __future__ import annotations

from typing import Any

import pytest

from prediag.settings import load_settings
from prediag_tools.local.cfn import load_template
from tests.conftest import TEMPLATE


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE)


def submit_policy(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    fn = template["Resources"]["SubmitFunction"]["Properties"]
    return {s["Sid"]: s for policy in fn["Policies"] for s in policy["Statement"]}


def test_self_sign_up_is_a_parameter_and_off_unless_chosen(template):
    parameter = template["Parameters"]["SelfSignUp"]
    pool = template["Resources"]["UserPool"]["Properties"]

    assert (parameter["Default"], parameter["AllowedValues"]) == ("false", ["false", "true"])
    assert template["Conditions"]["AllowsSelfSignUp"] == {
        "Fn::Equals": [{"Ref": "SelfSignUp"}, "true"]
    }
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] == {
        "Fn::If": ["AllowsSelfSignUp", False, True]
    }
    assert pool["AutoVerifiedAttributes"] == ["email"]  # a self-made account proves its address
    assert pool["VerificationMessageTemplate"]["DefaultEmailOption"] == "CONFIRM_WITH_CODE"
    assert "{####}" in pool["VerificationMessageTemplate"]["EmailMessage"]


def test_the_quota_is_a_parameter_the_api_function_reads_and_the_stage_throttling_stays(template):
    parameter = template["Parameters"]["SubmissionsPerOwnerPerHour"]
    env = template["Resources"]["SubmitFunction"]["Properties"]["Environment"]["Variables"]

    assert (parameter["Default"], parameter["MinValue"], parameter["MaxValue"]) == (20, 1, 1000)
    assert env["SUBMISSIONS_PER_OWNER_PER_HOUR"] == {"Ref": "SubmissionsPerOwnerPerHour"}
    assert env["QUOTA_TABLE_NAME"] == {"Ref": "QuotaTable"}
    assert env["CLINICS_TABLE_NAME"] == {"Ref": "ClinicsTable"}
    settings = template["Resources"]["PrediagApi"]["Properties"]["MethodSettings"][0]
    assert settings["ThrottlingRateLimit"] == {"Ref": "ApiThrottlingRateLimit"}


def test_the_settings_read_the_quota_and_its_window(template):
    base = {"TABLE_NAME": "t", "URGENT_QUEUE_URL": "u", "NORMAL_QUEUE_URL": "n"}
    default = load_settings(base)
    tuned = load_settings(
        base | {"SUBMISSIONS_PER_OWNER_PER_HOUR": "5", "QUOTA_WINDOW_SECONDS": "2"}
    )
    assert (default.submissions_per_window, default.quota_window_seconds) == (20, 3600)
    assert (tuned.submissions_per_window, tuned.quota_window_seconds) == (5, 2)


def test_the_quota_table_forgets_on_its_own_and_the_clinics_table_is_kept(template):
    quota = template["Resources"]["QuotaTable"]
    clinics = template["Resources"]["ClinicsTable"]

    assert quota["Properties"]["TimeToLiveSpecification"] == {
        "AttributeName": "expiresAt",
        "Enabled": True,
    }
    assert quota["Properties"]["KeySchema"] == [{"AttributeName": "owner", "KeyType": "HASH"}]
    assert clinics["DeletionPolicy"] == "Retain"
    assert clinics["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"]
    assert clinics["Properties"]["KeySchema"] == [{"AttributeName": "clinicId", "KeyType": "HASH"}]


def test_the_api_function_may_only_read_and_write_quota_items_and_never_delete_a_clinic(
    template,
):
    granted = submit_policy(template)

    assert set(granted["SubmissionQuota"]["Action"]) == {"dynamodb:GetItem", "dynamodb:PutItem"}
    assert granted["SubmissionQuota"]["Resource"] == {"Fn::GetAtt": ["QuotaTable", "Arn"]}
    clinic_actions = set(granted["RegisteredClinics"]["Action"])
    assert "dynamodb:DeleteItem" not in clinic_actions
    assert granted["RegisteredClinics"]["Resource"] == {"Fn::GetAtt": ["ClinicsTable", "Arn"]}


def test_the_stack_outputs_name_the_clinics_table_for_the_cli(template):
    assert template["Outputs"]["ClinicsTableName"]["Value"] == {"Ref": "ClinicsTable"}
