"""Every operation of the API's OpenAPI document, fed bad values in each body field and
path parameter: never a server error, always JSON, every refusal a `{"message": ...}`.

The bad values are a fixed list (no random seeds): a NUL, a lone surrogate, a string over
every length limit, each wrong JSON type, a body over the upload limit, an empty string.
"""

import json
from urllib.parse import quote

import pytest

from deployments.tokens import create_token
from tests.deployments.conftest import image

BAD_VALUES = [
    ("a NUL", "a\x00b"),
    ("a lone surrogate", "\ud800"),
    ("a string over every limit", "x" * 10_001),
    ("a number", 12345),
    ("a fraction", 1.5),
    ("a list", ["a"]),
    ("an object", {"a": "b"}),
    ("null", None),
    ("a boolean", True),
    ("3 MB", "x" * 3_000_000),
    ("an empty string", ""),
]
ALWAYS_BAD = {"a NUL", "a lone surrogate", "a string over every limit", "3 MB"}
JSON_TYPES = {str: "string", int: "integer", float: "number", list: "array", dict: "object"}

# Values that pass, so that each request differs from a good one in one field only.
GOOD = {
    "version": "9.9.9",
    "notes": "fuzzed",
    "artifacts": {"api-server": image("api-server")},
    "resources": {"api-server": {"memory_gib": 2}},
    "release": "1.4.0",
    "environment": "staging",
    "strategy": "",
    "reason": "fuzzing",
    "budget_override_reason": "",
    "emergency": False,
    "slug": "staging",
}


@pytest.fixture
def openapi(client, alice):
    """The API's OpenAPI document (the docs need a dashboard session)."""
    client.force_login(alice)
    response = client.get("/api/v1/openapi.json")
    client.logout()
    assert response.status_code == 200, response.status_code
    return response.json()


@pytest.fixture
def rollout(waiting_in_production):
    return waiting_in_production


def _resolve(schema: dict, document: dict) -> dict:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].split("/")[-1]]
    return schema


def _types(schema: dict, document: dict) -> set[str]:
    """The JSON types a field accepts (`anyOf` for optional fields)."""
    schema = _resolve(schema, document)
    types = {schema["type"]} if "type" in schema else set()
    for option in schema.get("anyOf", []):
        types |= _types(option, document)
    return types | ({"number"} if "integer" in types else set())


def _json_type(value) -> str:
    if value is None:
        return "null"
    return "boolean" if isinstance(value, bool) else JSON_TYPES[type(value)]


def _body_schema(operation: dict, document: dict) -> dict:
    content = operation.get("requestBody", {}).get("content", {})
    return _resolve(content.get("application/json", {}).get("schema", {}), document)


def _good_body(schema: dict) -> dict:
    return {name: GOOD[name] for name in schema.get("properties", {})}


def _url(path: str, params: dict) -> str:
    for name, value in params.items():
        text = quote(str(value).encode("utf-8", "surrogatepass"), safe="")
        path = path.replace("{" + name + "}", text)
    return path


def _cases(document: dict, rollout_id: int):
    """(what, method, url, body, must_refuse) for every bad value in every field."""
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"]
            good_params = {name: rollout_id if name == "rollout_id" else "1.4.0" for name in names}
            good_params.update({n: GOOD[n] for n in names if n in GOOD})
            schema = _body_schema(operation, document)
            body = _good_body(schema)
            for name in names:
                for label, value in BAD_VALUES:
                    url = _url(path, {**good_params, name: value})
                    yield f"{method} {path} {name}={label}", method, url, body, False
            url = _url(path, good_params)
            for field, field_schema in schema.get("properties", {}).items():
                types = _types(field_schema, document)
                for label, value in _field_values(field, types):
                    refuse = label in ALWAYS_BAD or _json_type(value) not in types
                    what = f"{method} {path} {field}={label}"
                    yield what, method, url, {**body, field: value}, refuse


def _field_values(field: str, types: set[str]):
    """The bad values, and for a map of strings (artifacts) each bad value as a key and
    as a value of one entry."""
    yield from BAD_VALUES
    if "object" in types:
        for label, value in BAD_VALUES:
            if isinstance(value, str):
                yield f"key {label}", {value: image("api-server")}
            yield f"entry {label}", {"api-server": value}


def _problem(response, must_refuse: bool) -> str | None:
    """What is wrong with an answer, or None."""
    if response.status_code >= 500:
        return f"server error {response.status_code}"
    if not response.get("Content-Type", "").startswith("application/json"):
        return f"{response.status_code} answered as {response.get('Content-Type')}"
    if response.status_code >= 400 and not isinstance(response.json().get("message"), str):
        return f"{response.status_code} without a message: {response.content[:200]!r}"
    if must_refuse and response.status_code < 400:
        return f"accepted with {response.status_code}"
    return None


def test_no_bad_value_in_any_field_of_any_operation_is_a_server_error(
    client, openapi, alice, rollout
):
    token = create_token(alice)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    problems, sent, operations = [], 0, set()
    for what, method, url, body, must_refuse in _cases(openapi, rollout.pk):
        data = json.dumps(body) if body else None
        kwargs = {"data": data, "content_type": "application/json"} if data else {}
        response = getattr(client, method)(url, **auth, **kwargs)
        sent += 1
        operations.add(tuple(what.split(" ")[:2]))
        problem = _problem(response, must_refuse)
        if problem:
            problems.append(f"{what}: {problem}")
    assert len(operations) >= 11 and sent > 300  # every operation was reached
    assert not problems, "\n".join(problems)
