"""CloudFormation template reading: YAML short-form tags and intrinsic function resolution.

`load_template` turns `!Ref X`, `!GetAtt A.B`, `!Sub ...` and the other short forms into their
long dict forms (`{"Ref": "X"}`, `{"Fn::GetAtt": ["A", "B"]}`, ...). `Resolver` evaluates those
forms against parameter values, pseudo parameters, mappings, conditions and a callback that
returns the physical value of a resource (`Ref`) or of one of its attributes (`Fn::GetAtt`).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"

_SUB_VAR = re.compile(r"\$\{([^}]*)\}")


class TemplateError(Exception):
    """The template cannot be read or one of its expressions cannot be resolved."""


class _Omit:
    """Marker for a value that disappears (AWS::NoValue, a Ref to a resource not emulated)."""

    def __repr__(self) -> str:
        return "NoValue"


NO_VALUE = _Omit()


class _CfnLoader(yaml.SafeLoader):
    pass


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:  # pragma: no cover - yaml has no other node kinds
        raise TemplateError(f"unsupported node for !{suffix}")
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    if suffix == "GetAtt" and isinstance(value, str):
        logical_id, _, attribute = value.partition(".")
        return {"Fn::GetAtt": [logical_id, attribute]}
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: str | Path) -> dict[str, Any]:
    """Read a CloudFormation/SAM YAML (or JSON) template into plain dicts, long-form intrinsics."""
    text = Path(path).read_text(encoding="utf-8")
    return loads_template(text)


def loads_template(text: str) -> dict[str, Any]:
    data = yaml.load(text, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(data, dict) or "Resources" not in data:
        raise TemplateError("not a CloudFormation template (no Resources section)")
    return data


def references(value: Any) -> set[str]:
    """Logical ids (resources or parameters) that an expression refers to."""
    found: set[str] = set()
    _collect_refs(value, found)
    return found


def _collect_refs(value: Any, found: set[str]) -> None:
    if isinstance(value, dict):
        if len(value) == 1:
            key, arg = next(iter(value.items()))
            if key == "Ref" and isinstance(arg, str):
                found.add(arg)
                return
            if key == "Fn::GetAtt":
                target = arg[0] if isinstance(arg, list) else str(arg).split(".")[0]
                found.add(target)
                return
            if key == "Fn::Sub":
                text = arg[0] if isinstance(arg, list) else arg
                local = set(arg[1]) if isinstance(arg, list) and len(arg) > 1 else set()
                for name in _SUB_VAR.findall(text if isinstance(text, str) else ""):
                    if name.startswith("!"):
                        continue
                    root = name.split(".")[0]
                    if root not in local:
                        found.add(root)
                if isinstance(arg, list) and len(arg) > 1:
                    _collect_refs(arg[1], found)
                return
        for item in value.values():
            _collect_refs(item, found)
    elif isinstance(value, list):
        for item in value:
            _collect_refs(item, found)


def to_str(value: Any) -> str:
    """CloudFormation's string form of a scalar (numbers, booleans as CFN renders them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


RefLookup = Callable[[str], Any]
AttLookup = Callable[[str, str], Any]


class Resolver:
    """Evaluates intrinsic functions of one template."""

    def __init__(
        self,
        template: Mapping[str, Any],
        parameters: Mapping[str, str],
        *,
        region: str = DEFAULT_REGION,
        account_id: str = ACCOUNT_ID,
        stack_name: str = "prediag-local",
        ref: RefLookup | None = None,
        get_att: AttLookup | None = None,
    ) -> None:
        self.template = template
        self.parameters = dict(parameters)
        self.region = region
        self.account_id = account_id
        self.stack_name = stack_name
        self._ref = ref
        self._get_att = get_att
        self._conditions: dict[str, bool] = {}

    @property
    def pseudo(self) -> dict[str, Any]:
        return {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::StackName": self.stack_name,
            "AWS::StackId": (
                f"arn:aws:cloudformation:{self.region}:{self.account_id}:stack/"
                f"{self.stack_name}/00000000-0000-0000-0000-000000000000"
            ),
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NotificationARNs": [],
            "AWS::NoValue": NO_VALUE,
        }

    # ------------------------------------------------------------------ public
    def resolve(self, value: Any) -> Any:
        """Resolve every intrinsic in `value`; NoValue entries are dropped from dicts and lists."""
        if isinstance(value, dict):
            if len(value) == 1:
                key, arg = next(iter(value.items()))
                if key == "Ref":
                    return self._do_ref(arg)
                if key == "Condition" and isinstance(arg, str):
                    return self.condition(arg)
                if key.startswith("Fn::"):
                    return self._fn(key[4:], arg)
            out: dict[str, Any] = {}
            for k, v in value.items():
                r = self.resolve(v)
                if r is not NO_VALUE:
                    out[k] = r
            return out
        if isinstance(value, list):
            items = [self.resolve(v) for v in value]
            return [v for v in items if v is not NO_VALUE]
        return value

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            conditions = self.template.get("Conditions") or {}
            if name not in conditions:
                raise TemplateError(f"unknown condition {name!r}")
            self._conditions[name] = bool(self.resolve(conditions[name]))
        return self._conditions[name]

    # ------------------------------------------------------------------ intrinsics
    def _do_ref(self, name: str) -> Any:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in (self.template.get("Resources") or {}):
            if self._ref is None:
                raise TemplateError(f"Ref {name}: resources are not available here")
            return self._ref(name)
        raise TemplateError(f"Ref to unknown name {name!r}")

    def _do_get_att(self, logical_id: str, attribute: str) -> Any:
        if logical_id not in (self.template.get("Resources") or {}):
            raise TemplateError(f"GetAtt on unknown resource {logical_id!r}")
        if self._get_att is None:
            raise TemplateError(f"GetAtt {logical_id}.{attribute}: resources are not available")
        return self._get_att(logical_id, attribute)

    def _fn(self, name: str, arg: Any) -> Any:
        handler = getattr(self, f"_fn_{name.lower()}", None)
        if handler is None:
            raise TemplateError(f"intrinsic Fn::{name} is not supported locally")
        return handler(arg)

    def _fn_getatt(self, arg: Any) -> Any:
        if isinstance(arg, str):
            logical_id, _, attribute = arg.partition(".")
        else:
            logical_id, attribute = arg[0], self.resolve(arg[1])
        return self._do_get_att(logical_id, attribute)

    def _fn_sub(self, arg: Any) -> str:
        if isinstance(arg, list):
            text, variables = arg[0], self.resolve(arg[1] if len(arg) > 1 else {})
        else:
            text, variables = arg, {}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return to_str(variables[name])
            if "." in name and name not in self.pseudo:
                logical_id, _, attribute = name.partition(".")
                return to_str(self._do_get_att(logical_id, attribute))
            value = self._do_ref(name)
            if value is NO_VALUE:
                raise TemplateError(f"Fn::Sub: ${{{name}}} has no local value")
            return to_str(value)

        return _SUB_VAR.sub(replace, text)

    def _fn_join(self, arg: Any) -> str:
        delimiter, items = arg[0], self.resolve(arg[1])
        return str(delimiter).join(to_str(i) for i in items)

    def _fn_select(self, arg: Any) -> Any:
        index, items = int(self.resolve(arg[0])), self.resolve(arg[1])
        return items[index]

    def _fn_split(self, arg: Any) -> list[str]:
        delimiter, text = arg[0], self.resolve(arg[1])
        return str(text).split(delimiter)

    def _fn_findinmap(self, arg: Any) -> Any:
        map_name, top, second = (to_str(self.resolve(a)) for a in arg[:3])
        mappings = self.template.get("Mappings") or {}
        try:
            return mappings[map_name][top][second]
        except KeyError as exc:
            raise TemplateError(f"Fn::FindInMap [{map_name}, {top}, {second}]: no entry") from exc

    def _fn_if(self, arg: Any) -> Any:
        name, when_true, when_false = arg
        return self.resolve(when_true if self.condition(name) else when_false)

    def _fn_equals(self, arg: Any) -> bool:
        left, right = (self.resolve(a) for a in arg)
        return to_str(left) == to_str(right)

    def _fn_and(self, arg: Any) -> bool:
        return all(bool(self.resolve(a)) for a in arg)

    def _fn_or(self, arg: Any) -> bool:
        return any(bool(self.resolve(a)) for a in arg)

    def _fn_not(self, arg: Any) -> bool:
        return not bool(self.resolve(arg[0]))

    def _fn_base64(self, arg: Any) -> str:
        return base64.b64encode(to_str(self.resolve(arg)).encode()).decode()

    def _fn_getazs(self, arg: Any) -> list[str]:
        region = self.resolve(arg) or self.region
        return [f"{region}a", f"{region}b", f"{region}c"]

    def _fn_tojsonstring(self, arg: Any) -> str:
        return json.dumps(self.resolve(arg), separators=(",", ":"))

    def _fn_length(self, arg: Any) -> int:
        return len(self.resolve(arg))
