"""Pure pieces of the local stack: template reading, intrinsics, filters, claims, routes."""

from __future__ import annotations

from pathlib import Path

import pytest

from prediag_tools.local.apigw import ApiSettings, LocalApi, compile_path
from prediag_tools.local.cfn import Resolver, TemplateError, loads_template, references
from prediag_tools.local.cognito import apigw_claims
from prediag_tools.local.esm import mapping_uuid
from prediag_tools.local.filters import FilterError, matches, matches_any, parse_patterns
from prediag_tools.local.provision import ApiRoute, FunctionSpec, Provisioned, resolve_parameters
from prediag_tools.local.workers import lambda_environment

TEMPLATE = """
Parameters:
  Stage: {Type: String, Default: dev, AllowedPattern: "^[a-z]+$"}
  Size: {Type: Number, Default: 90, AllowedValues: [30, 90]}
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
  NotProd: !Not [!Condition IsProd]
Mappings:
  Visibility: {"90": {Seconds: 540}, "30": {Seconds: 180}}
Resources:
  Queue: {Type: AWS::SQS::Queue, Properties: {QueueName: !Sub "q-${Stage}"}}
Outputs:
  Out: {Value: !GetAtt Queue.Arn}
"""


def _resolver(**params: str) -> Resolver:
    template = loads_template(TEMPLATE)
    return Resolver(
        template,
        resolve_parameters(template, params),
        ref=lambda name: f"ref:{name}",
        get_att=lambda name, att: f"att:{name}.{att}",
    )


def test_short_form_tags_become_long_form_intrinsics() -> None:
    template = loads_template(TEMPLATE)
    assert template["Resources"]["Queue"]["Properties"]["QueueName"] == {"Fn::Sub": "q-${Stage}"}
    assert template["Outputs"]["Out"]["Value"] == {"Fn::GetAtt": ["Queue", "Arn"]}
    assert template["Conditions"]["NotProd"] == {"Fn::Not": [{"Condition": "IsProd"}]}
    assert references(template["Outputs"]["Out"]["Value"]) == {"Queue"}


def test_intrinsics_resolve_with_parameters_mappings_and_conditions() -> None:
    r = _resolver()
    assert r.resolve({"Fn::Sub": "q-${Stage}-${AWS::Region}-${!Literal}"}) == (
        "q-local-us-east-1-${Literal}"
    )
    assert r.resolve({"Fn::FindInMap": ["Visibility", {"Ref": "Size"}, "Seconds"]}) == 540
    assert r.resolve({"Fn::If": ["NotProd", "a", "b"]}) == "a"
    assert r.resolve({"Fn::Select": [1, {"Fn::Split": [",", "x,y,z"]}]}) == "y"
    assert r.resolve({"Fn::Join": ["/", ["a", {"Ref": "Size"}]]}) == "a/90"
    assert r.resolve({"Ref": "Queue"}) == "ref:Queue"
    assert r.resolve({"Fn::Sub": "${Queue.Arn}"}) == "att:Queue.Arn"
    assert r.resolve({"Fn::Sub": ["${X}-${Stage}", {"X": "y"}]}) == "y-local"
    assert r.resolve(["keep", {"Ref": "AWS::NoValue"}]) == ["keep"]
    assert r.resolve({"Ref": "AWS::AccountId"}) == "123456789012"


def test_parameters_default_stage_to_local_and_are_validated() -> None:
    template = loads_template(TEMPLATE)
    assert resolve_parameters(template) == {"Stage": "local", "Size": "90"}
    assert resolve_parameters(template, {"Stage": "prod", "Size": 30})["Size"] == "30"
    with pytest.raises(TemplateError, match="does not match"):
        resolve_parameters(template, {"Stage": "Bad-1"})
    with pytest.raises(TemplateError, match="not one of"):
        resolve_parameters(template, {"Size": 45})
    with pytest.raises(TemplateError, match="unknown template parameters"):
        resolve_parameters(template, {"Nope": "x"})


def test_unknown_ref_is_a_clear_error() -> None:
    with pytest.raises(TemplateError, match="unknown name 'Missing'"):
        _resolver().resolve({"Ref": "Missing"})


def test_functions_sharing_a_process_must_agree_on_environment(tmp_path: Path) -> None:
    def spec(name: str, env: dict[str, str]) -> FunctionSpec:
        return FunctionSpec(name, name, "arn", tmp_path, "app.handler", 3, 128, env)

    provisioned = Provisioned(
        tmp_path, {}, "http://x", "us-east-1", "1", {}, {}, {}, set(),
        {"A": spec("A", {"K": "1", "A": "a"}), "B": spec("B", {"K": "1", "B": "b"})},
        [], [], [], [],
    )  # fmt: skip
    assert provisioned.union_env() == {"K": "1", "A": "a", "B": "b"}
    provisioned.functions["B"].env["K"] = "2"
    with pytest.raises(TemplateError, match="different values for K"):
        provisioned.union_env()


# ---------------------------------------------------------------------- filters
TERMINAL = parse_patterns(
    [
        '{"eventName": ["MODIFY"], "dynamodb": {"NewImage": {"status": {"S": ["completed", '
        '"failed"]}}, "OldImage": {"status": {"S": ["processing"]}}}}'
    ]
)


def _record(event: str, old: str | None, new: str | None) -> dict[str, object]:
    ddb: dict[str, object] = {}
    if old is not None:
        ddb["OldImage"] = {"status": {"S": old}}
    if new is not None:
        ddb["NewImage"] = {"status": {"S": new}}
    return {"eventName": event, "dynamodb": ddb}


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (_record("MODIFY", "processing", "completed"), True),
        (_record("MODIFY", "processing", "failed"), True),
        (_record("MODIFY", "completed", "completed"), False),
        (_record("MODIFY", "pending", "processing"), False),
        (_record("INSERT", None, "completed"), False),
        (_record("REMOVE", "processing", None), False),
    ],
)
def test_terminal_filter_passes_only_processing_to_terminal(
    record: dict[str, object], expected: bool
) -> None:
    assert matches_any(TERMINAL, record) is expected


def test_filter_operators_follow_eventbridge_semantics() -> None:
    event = {"a": "prefix-value", "n": {"N": "42"}, "tags": ["x", "y"], "flag": True}
    assert matches({"a": [{"prefix": "prefix-"}]}, event)
    assert not matches({"a": [{"prefix": "other"}]}, event)
    assert matches({"a": [{"suffix": "-value"}]}, event)
    assert matches({"a": [{"anything-but": ["nope"]}]}, event)
    assert not matches({"a": [{"anything-but": "prefix-value"}]}, event)
    assert matches({"a": [{"anything-but": {"prefix": "zzz"}}]}, event)
    assert matches({"missing": [{"exists": False}]}, event)
    assert not matches({"missing": [{"exists": True}]}, event)
    assert matches({"a": [{"exists": True}]}, event)
    assert matches({"n": {"N": [{"numeric": [">", 40, "<=", 42]}]}}, event)
    assert not matches({"n": {"N": [{"numeric": ["<", 40]}]}}, event)
    assert matches({"tags": ["y"]}, event)
    assert matches({"flag": [True]}, event)
    assert not matches({"flag": ["true"]}, event)
    assert matches({"$or": [{"a": ["no"]}, {"tags": ["x"]}]}, event)
    assert matches({"a": [{"equals-ignore-case": "PREFIX-VALUE"}]}, event)
    assert matches({"a": [{"wildcard": "prefix-*"}]}, event)


def test_several_filters_are_ored_and_none_means_everything() -> None:
    patterns = parse_patterns(['{"a": ["1"]}', '{"a": ["2"]}'])
    assert matches_any(patterns, {"a": "2"})
    assert not matches_any(patterns, {"a": "3"})
    assert matches_any([], {"a": "3"})


def test_invalid_filter_syntax_is_rejected() -> None:
    with pytest.raises(FilterError):
        matches({"a": "not-a-list"}, {"a": "x"})
    with pytest.raises(FilterError):
        matches({"a": [{"numeric": [">"]}]}, {"a": 1})


# ---------------------------------------------------------------------- API pieces
def test_claims_are_rendered_as_api_gateway_rest_strings() -> None:
    claims = apigw_claims(
        {
            "sub": "u-1",
            "cognito:groups": ["vets", "admins"],
            "email_verified": True,
            "exp": 1680629979,
            "iat": 1680626379,
            "auth_time": 1680626379,
        }
    )
    assert claims == {
        "sub": "u-1",
        "cognito:groups": "vets,admins",
        "email_verified": "true",
        "exp": "Tue Apr 04 17:39:39 UTC 2023",
        "iat": "Tue Apr 04 16:39:39 UTC 2023",
        "auth_time": "1680626379",
    }


def test_path_templates_match_like_api_gateway_resources() -> None:
    one = compile_path("/pre-diagnoses/{id}")
    match = one.match("/pre-diagnoses/abc-1")
    assert match is not None
    assert match.groupdict() == {"id": "abc-1"}
    assert one.match("/pre-diagnoses/abc/extra") is None
    greedy = compile_path("/files/{proxy+}")
    found = greedy.match("/files/a/b/c")
    assert found is not None
    assert found.groupdict() == {"proxy": "a/b/c"}


def test_path_parameters_are_matched_on_the_path_as_sent_and_decoded() -> None:
    api = LocalApi(port=0)
    try:
        route = ApiRoute("GET", "/pre-diagnoses/{id}", "Submit", "Api", None)
        api.add_route(route, None, None)  # type: ignore[arg-type]
        found, params, same_path = api.match("GET", "/pre-diagnoses/abc%2D1%20x")
        assert found is not None and params == {"id": "abc-1 x"}
        found, params, same_path = api.match("POST", "/pre-diagnoses/abc")
        assert found is None and [r.spec for r in same_path] == [route]
        assert api.match("GET", "/pre-diagnoses/a%2Fb/c")[0] is None  # %2F stays in its segment
        assert api.match("GET", "/pre-diagnoses/a%2Fb")[1] == {"id": "a/b"}
    finally:
        api.close()


# ---------------------------------------------------------------------- API Gateway settings
def test_api_settings_read_sam_cors_and_gateway_responses() -> None:
    settings = ApiSettings.of(
        {
            "Cors": {"AllowOrigin": "'https://a.example'", "MaxAge": "'600'"},
            "GatewayResponses": {
                "DEFAULT_4XX": {"ResponseParameters": {"Headers": {"X-A": "'4xx'"}}},
                "UNAUTHORIZED": {"ResponseParameters": {"Headers": {"X-A": "'401'"}}},
            },
        }
    )
    assert settings.cors == {"AllowOrigin": "https://a.example", "MaxAge": "600"}
    assert ("X-A", "401") in settings.headers_for(401)
    assert ("X-A", "4xx") in settings.headers_for(403)
    assert ("x-amzn-ErrorType", "MissingAuthenticationTokenException") in settings.headers_for(403)
    assert ("X-A", "4xx") not in settings.headers_for(502)
    assert ApiSettings.of({"Cors": "'https://b.example'"}).cors == {
        "AllowOrigin": "https://b.example"
    }


def test_the_preflight_needs_the_default_authorizer_unless_the_template_says_not() -> None:
    auth = {
        "DefaultAuthorizer": "Cognito",
        "Authorizers": {"Cognito": {"UserPoolArn": "arn:aws:cognito-idp:r:1:userpool/r_pool"}},
    }
    asked: list[str] = []

    def verifier_for(pool: str) -> object:
        asked.append(pool)
        return object()

    on = ApiSettings.of({"Cors": "'*'", "Auth": auth}, verifier_for)  # type: ignore[arg-type]
    off = ApiSettings.of(
        {"Cors": "'*'", "Auth": {**auth, "AddDefaultAuthorizerToCorsPreflight": False}},
        verifier_for,  # type: ignore[arg-type]
    )
    assert on.preflight_verifier is not None and asked == ["r_pool"]
    assert off.preflight_verifier is None


# ---------------------------------------------------------------------- Lambda
def test_mapping_uuids_are_stable_and_distinct() -> None:
    arn = "arn:aws:lambda:us-east-1:123456789012:function:prediag-local-analyze"
    assert mapping_uuid(arn, "NormalLane") == mapping_uuid(arn, "NormalLane")
    assert mapping_uuid(arn, "NormalLane") != mapping_uuid(arn, "UrgentLane")
    assert mapping_uuid(arn, "NormalLane") != mapping_uuid(
        arn.replace("local", "dev"), "NormalLane"
    )


def test_an_execution_environment_gets_what_lambda_sets_over_the_functions_own(
    tmp_path: Path,
) -> None:
    spec = FunctionSpec("Fn", "fx-fn", "arn:fn", tmp_path, "app.handler", 3, 512, {"K": "v"})
    env = lambda_environment(spec, {"K": "v", "AWS_REGION": "eu-west-1"}, log_stream="s/1")
    assert env["K"] == "v"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "fx-fn"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "512"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/fx-fn"
    assert env["AWS_LAMBDA_LOG_STREAM_NAME"] == "s/1"
    assert env["_HANDLER"] == "app.handler"
    assert env["LAMBDA_TASK_ROOT"] == str(tmp_path)
    assert env["TZ"] == ":UTC"
