"""A small typed Kubernetes API client for the few calls the operator makes.

Kopf watches and patches the resources it serves; everything else (the owned CronJob, run-now
Jobs, the pods' termination messages, the status subresource) goes through this client. It logs
in exactly as Kopf does (the same ``ConnectionInfo``), so one set of credentials and one RBAC
identity is used for all of it.
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import httpx
import kopf

JsonObject = dict[str, Any]

MERGE_PATCH = "application/merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
FIELD_MANAGER = "okane-operator"


class ApiError(Exception):
    """The API server refused a request; ``status`` and ``reason`` are its verdict."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message

    @property
    def retryable(self) -> bool:
        """Server-side trouble or throttling, as opposed to a request that can never succeed."""
        return self.status >= 500 or self.status in {408, 429}


def _ssl_context(info: kopf.ConnectionInfo, workdir: str) -> ssl.SSLContext | bool:
    if info.insecure:
        return False
    context = ssl.create_default_context()
    if info.ca_path:
        context.load_verify_locations(cafile=os.fsdecode(info.ca_path))
    if info.ca_data:
        data = info.ca_data if isinstance(info.ca_data, bytes) else info.ca_data.encode()
        context.load_verify_locations(cadata=base64.b64decode(data).decode())
    cert = _material(info.certificate_path, info.certificate_data, workdir, "client.crt")
    key = _material(info.private_key_path, info.private_key_data, workdir, "client.key")
    if cert:
        context.load_cert_chain(cert, key)
    return context


def _material(
    path: str | bytes | os.PathLike[str] | os.PathLike[bytes] | None,
    data: str | bytes | None,
    workdir: str,
    name: str,
) -> str | None:
    """A file path for client-certificate material given either as a path or inline data."""
    if path:
        return os.fsdecode(path)
    if not data:
        return None
    target = os.path.join(workdir, name)
    raw = data if isinstance(data, bytes) else data.encode()
    with open(target, "wb") as handle:
        handle.write(base64.b64decode(raw))
    os.chmod(target, 0o600)
    return target


def _auth_headers(info: kopf.ConnectionInfo) -> dict[str, str]:
    if info.token:
        return {"Authorization": f"{info.scheme or 'Bearer'} {info.token}"}
    if info.username and info.password:
        pair = base64.b64encode(f"{info.username}:{info.password}".encode()).decode()
        return {"Authorization": f"Basic {pair}"}
    return {}


class KubeClient:
    """Async JSON calls against one API server with the operator's credentials.

    ``login`` is called again after a 401, so rotated service-account tokens are picked up.
    """

    def __init__(self, login: Callable[[], kopf.ConnectionInfo], *, timeout: float = 30) -> None:
        self._login = login
        self._timeout = timeout
        self._workdir = tempfile.mkdtemp(prefix="okane-operator-")
        self._client = self._connect()

    def _connect(self) -> httpx.AsyncClient:
        info = self._login()
        return httpx.AsyncClient(
            base_url=info.server,
            verify=_ssl_context(info, self._workdir),
            headers={"Accept": "application/json", **_auth_headers(info)},
            timeout=self._timeout,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
        content_type: str = "application/json",
    ) -> JsonObject:
        for attempt in range(2):
            response = await self._client.request(
                method,
                path,
                json=body,
                params=params,
                headers={"Content-Type": content_type} if body is not None else None,
            )
            if response.status_code == 401 and attempt == 0:
                await self._client.aclose()
                self._client = self._connect()
                continue
            break
        if response.is_success:
            result: JsonObject = response.json()
            return result
        try:
            problem = response.json()
        except ValueError:
            problem = {}
        raise ApiError(
            response.status_code,
            str(problem.get("reason") or response.reason_phrase),
            str(problem.get("message") or response.text[:500]),
        )

    async def get(self, path: str) -> JsonObject | None:
        """The object at ``path``, or None when it does not exist."""
        try:
            return await self.request("GET", path)
        except ApiError as error:
            if error.status == 404:
                return None
            raise

    async def list(self, path: str, *, label_selector: str) -> list[JsonObject]:
        result = await self.request("GET", path, params={"labelSelector": label_selector})
        items: list[JsonObject] = result.get("items") or []
        return items

    async def create(self, path: str, body: Mapping[str, Any]) -> JsonObject:
        return await self.request("POST", path, body=body)

    async def merge_patch(self, path: str, body: Mapping[str, Any]) -> JsonObject:
        return await self.request("PATCH", path, body=body, content_type=MERGE_PATCH)

    async def apply(self, path: str, body: Mapping[str, Any]) -> JsonObject:
        """Server-side apply as the operator's field manager: creates or converges ``body``."""
        return await self.request(
            "PATCH",
            path,
            body=body,
            params={"fieldManager": FIELD_MANAGER, "force": "true"},
            content_type=APPLY_PATCH,
        )


def namespaced(group_version: str, namespace: str, plural: str, name: str = "") -> str:
    """The REST path of a namespaced collection, or of one object in it."""
    prefix = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
    path = f"{prefix}/namespaces/{quote(namespace)}/{plural}"
    return f"{path}/{quote(name)}" if name else path
