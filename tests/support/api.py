"""A client of yadockeri's HTTP API for the tests: every answer it gets is checked against the
OpenAPI document the server publishes (status documented, body valid for its schema)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import jsonschema
import requests


@dataclass
class ApiClient:
    base: str  # http://host:port
    token: str | None = None
    session: requests.Session = field(default_factory=requests.Session)
    _document: dict | None = None
    checked: list[tuple[str, str, int]] = field(default_factory=list)  # (method, template, status) seen

    @property
    def document(self) -> dict:
        if self._document is None:
            response = self.session.get(self.base + "/api/v1/openapi.json", timeout=10)
            assert response.status_code == 200, response.text
            self._document = response.json()
        return self._document

    def headers(self, token: str | None = None, **more: str) -> dict[str, str]:
        token = token if token is not None else self.token
        return {**({"Authorization": f"Bearer {token}"} if token else {}), **more}

    def call(self, method: str, template: str, *, token: str | None = None, json_body: Any = None,
             data: str | None = None, params: dict | None = None, headers: dict | None = None,
             **path: object) -> requests.Response:
        url = self.base + "/api/v1" + template.format(**path)
        response = self.session.request(method, url, json=json_body, data=data, params=params, timeout=30,
                                        headers={**self.headers(token), **(headers or {}),
                                                 **({"Content-Type": "application/json"} if data else {})})
        self.validate(method, template, response)
        return response

    def validate(self, method: str, template: str, response: requests.Response) -> None:
        """The status is documented for this operation and the body fits its schema."""
        operation = self.document["paths"]["/api/v1" + template][method.lower()]
        status = str(response.status_code)
        assert status in operation["responses"], f"{method} {template} answered {status}, which is not documented"
        content = operation["responses"][status].get("content", {})
        if "application/json" in content:
            schema = dict(content["application/json"]["schema"])
            schema["components"] = self.document["components"]
            jsonschema.Draft202012Validator(schema).validate(response.json())
        self.checked.append((method.upper(), template, response.status_code))

    def events(self, deployment_id: int, *, token: str | None = None, timeout: float = 300) -> Iterator[tuple[str, dict]]:
        """(event, data) of a deployment's stream as they come; keep-alive comments as ("", {})."""
        url = f"{self.base}/api/v1/deployments/{deployment_id}/events"
        with self.session.get(url, headers=self.headers(token), stream=True, timeout=timeout) as response:
            assert response.status_code == 200, response.text
            assert response.headers["content-type"].startswith("text/event-stream")
            event, data = "", ""
            for line in response.iter_lines(decode_unicode=True):
                if line.startswith(":"):
                    yield "", {}
                elif line.startswith("event: "):
                    event = line[len("event: "):]
                elif line.startswith("data: "):
                    data = line[len("data: "):]
                elif line == "" and event:
                    yield event, json.loads(data)
                    event, data = "", ""
