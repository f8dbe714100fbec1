"""Kubernetes provider (Tomcat's ``KubernetesMembershipProvider``): members = the Running pods.

Pure parts:

* :class:`KubernetesSettings.from_env` reads the same environment variables as Tomcat, the
  ``OPENSHIFT_KUBE_PING_*`` aliases first: namespace, ``KUBERNETES_MASTER_PROTOCOL`` (https),
  ``KUBERNETES_SERVICE_HOST``/``_PORT``, ``KUBERNETES_API_VERSION`` (v1), ``KUBERNETES_LABELS``,
  ``KUBERNETES_CA_CERTIFICATE_FILE`` (default: the service account's ``ca.crt``),
  ``SA_TOKEN_FILE`` (default: the service account's ``token``; not used with a client
  certificate), ``KUBERNETES_CLIENT_CERTIFICATE_FILE`` + ``KUBERNETES_CLIENT_KEY_FILE``
  (+ ``KUBERNETES_CLIENT_KEY_PASSWORD``), and builds Tomcat's URL
  ``<proto>://<host>:<port>/api/<ver>/namespaces/<ns>/pods[?labelSelector=<labels>]``
  (``URLEncoder.encode`` rules).
* :func:`parse_pods` turns the JSON body of that URL into a
  :class:`~tribes.membership.cloud.core.Discovery` with Tomcat's rules: items of ``kind`` Pod
  (or no kind) with ``metadata.name``, ``metadata.creationTimestamp``, ``status.phase ==
  "Running"`` and ``status.podIP``; uniqueId = MD5 of ``metadata.uid`` (of the podIP when there
  is no uid); alive = creationTimestamp -> provider start in ms (older pods sort first); the pod
  with this node's address gives the local uniqueId. A body that is not JSON, not an object or
  has no ``items`` list raises :class:`~tribes.membership.cloud.core.CloudFetchError` (Tomcat
  logs "JSON error" / "Invalid pods list" and keeps the pods parsed so far, then expires the rest).

I/O part, :class:`KubernetesMembershipProvider`: one GET per poll with httpx (no proxies from the
environment, no redirects), ``connectTimeout``/``readTimeout`` as Tomcat's ``URLConnection``
timeouts plus an overall bound, the body capped at ``max_response_size``. TLS as Tomcat does it:
the CA file is the only trust anchor (no trust-all mode exists here), the server's host name or
IP is verified against the certificate, a client certificate/key is presented when configured.
A missing CA, token, certificate or key file is a start error that names the file (Tomcat logs it
and then never finds a member). The token file is re-read when its modification time changes.
"""
from __future__ import annotations

import asyncio
import datetime as _dt
import json
import logging
import os
import ssl
import urllib.parse
from dataclasses import dataclass
from typing import Any, Mapping

from tribes.membership.cloud.core import CloudFetchError, Discovery, md5_id, packed
from tribes.membership.cloud.env import CUSTOM_ENV_PREFIX as P
from tribes.membership.cloud.env import get_env, namespace
from tribes.membership.member import Member
from tribes.membership.service import MembershipError
from tribes.ratelimit import RateLimitedLog

__all__ = ["KubernetesSettings", "KubernetesMembershipProvider", "parse_pods", "java_url_encode",
           "SA_DIR", "DEFAULT_MAX_RESPONSE_SIZE"]

log = logging.getLogger("tribes.membership.cloud.kubernetes")

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
DEFAULT_MAX_RESPONSE_SIZE = 32 * 1024 * 1024


def java_url_encode(text: str) -> str:
    """``URLEncoder.encode(text, UTF_8)``: letters, digits and ``.-*_`` kept, space -> ``+``."""
    return urllib.parse.quote_plus(text, safe="*").replace("~", "%7E")


@dataclass(frozen=True)
class KubernetesSettings:
    namespace: str
    protocol: str = "https"
    master_host: str | None = None
    master_port: str | None = None
    api_version: str = "v1"
    labels: str | None = None
    ca_cert_file: str = SA_DIR + "/ca.crt"
    sa_token_file: str | None = SA_DIR + "/token"
    client_cert_file: str | None = None
    client_key_file: str | None = None
    client_key_password: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "KubernetesSettings":
        """The settings Tomcat's provider reads at start (``KubernetesMembershipProvider.start``)."""
        cert = get_env(environ, P + "CLIENT_CERT_FILE", "KUBERNETES_CLIENT_CERTIFICATE_FILE")
        token = None
        if cert is None:
            token = get_env(environ, P + "SA_TOKEN_FILE", "SA_TOKEN_FILE") or SA_DIR + "/token"
        return cls(
            namespace=namespace(environ, log),
            protocol=get_env(environ, P + "MASTER_PROTOCOL", "KUBERNETES_MASTER_PROTOCOL") or "https",
            master_host=get_env(environ, P + "MASTER_HOST", "KUBERNETES_SERVICE_HOST"),
            master_port=get_env(environ, P + "MASTER_PORT", "KUBERNETES_SERVICE_PORT"),
            api_version=get_env(environ, P + "API_VERSION", "KUBERNETES_API_VERSION") or "v1",
            labels=get_env(environ, P + "LABELS", "KUBERNETES_LABELS"),
            ca_cert_file=get_env(environ, P + "CA_CERT_FILE", "KUBERNETES_CA_CERTIFICATE_FILE") or SA_DIR + "/ca.crt",
            sa_token_file=token,
            client_cert_file=cert,
            # Tomcat reads these two without the OPENSHIFT_KUBE_PING_ alias
            client_key_file=get_env(environ, "KUBERNETES_CLIENT_KEY_FILE"),
            client_key_password=get_env(environ, "KUBERNETES_CLIENT_KEY_PASSWORD"),
        )

    @property
    def url(self) -> str:
        host = self.master_host or ""
        if ":" in host:
            host = f"[{host}]"  # raw IPv6
        url = (f"{self.protocol}://{host}:{self.master_port}/api/{self.api_version}/namespaces/"
               f"{java_url_encode(self.namespace)}/pods")
        if self.labels:
            url += "?labelSelector=" + java_url_encode(self.labels)
        return url

    def check(self) -> None:
        """Start-time checks; raises :class:`MembershipError` naming what to fix."""
        if not self.master_host:
            raise MembershipError("Kubernetes membership: KUBERNETES_SERVICE_HOST is not set (inside a pod Kubernetes "
                                  "sets it; elsewhere set KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT)")
        if not self.master_port:
            raise MembershipError("Kubernetes membership: KUBERNETES_SERVICE_PORT is not set")
        if self.protocol not in ("https", "http"):
            raise MembershipError(f"Kubernetes membership: KUBERNETES_MASTER_PROTOCOL={self.protocol!r}: use https")
        if self.client_cert_file is not None and self.client_key_file is None:
            raise MembershipError("Kubernetes membership: KUBERNETES_CLIENT_CERTIFICATE_FILE is set but "
                                  "KUBERNETES_CLIENT_KEY_FILE is not (Tomcat: 'Client certificate key was not "
                                  "specified in the environment')")
        files = [("CA certificate file", "KUBERNETES_CA_CERTIFICATE_FILE",
                  self.ca_cert_file if self.protocol == "https" else None),
                 ("service-account token file", "SA_TOKEN_FILE", self.sa_token_file),
                 ("client certificate file", "KUBERNETES_CLIENT_CERTIFICATE_FILE", self.client_cert_file),
                 ("client key file", "KUBERNETES_CLIENT_KEY_FILE", self.client_key_file)]
        for what, env, path in files:
            if path is not None and not os.path.isfile(path):
                raise MembershipError(f"Kubernetes membership: {what} {path} not found (set {env} or mount "
                                      "the service account)")


def _parse_instant(text: str) -> _dt.datetime:
    t = _dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if t.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone")
    return t


def parse_pods(body: bytes | str, port: int, local_host: bytes, start_time: _dt.datetime) -> Discovery:
    """The members listed by one pods-list body (see the module docstring for the rules)."""
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise CloudFetchError(f"Kubernetes API answer is not JSON: {str(exc)[:200]}", "malformed") from None
    if not isinstance(doc, dict):
        raise CloudFetchError(f"Kubernetes API answer is a JSON {type(doc).__name__}, not a PodList object",
                              "malformed")
    items = doc.get("items")
    if not isinstance(items, list):
        raise CloudFetchError("Kubernetes API answer is not a pods list: no 'items' array "
                              f"(kind {doc.get('kind')!r})", "malformed")
    members: list[Member] = []
    skipped: list[str] = []
    local_id = None
    for i, pod in enumerate(items):
        if not isinstance(pod, dict):
            skipped.append(f"item {i}: not an object")
            continue
        kind = pod.get("kind")
        if kind is not None and kind != "Pod":
            continue
        meta = pod.get("metadata")
        if not isinstance(meta, dict):
            skipped.append(f"item {i}: no metadata")
            continue
        name = meta.get("name")
        if name is None:
            skipped.append(f"item {i}: no metadata.name")
            continue
        created = meta.get("creationTimestamp")
        if created is None:
            skipped.append(f"pod {name}: no metadata.creationTimestamp")
            continue
        status = pod.get("status")
        if not isinstance(status, dict):
            skipped.append(f"pod {name}: no status")
            continue
        if status.get("phase") != "Running":
            continue
        pod_ip = status.get("podIP")
        if pod_ip is None:
            skipped.append(f"pod {name}: Running without status.podIP")
            continue
        pod_ip = _java_string(pod_ip)
        uid = meta.get("uid")
        uid_text = pod_ip if uid is None else _java_string(uid)
        try:
            host = packed(pod_ip)
        except ValueError:
            skipped.append(f"pod {name}: podIP {pod_ip[:60]!r} is not an IP address")
            continue
        unique_id = md5_id(uid_text)
        if host == local_host:
            local_id = unique_id
            continue
        try:
            alive = (start_time - _parse_instant(str(created))) // _dt.timedelta(milliseconds=1)
        except (ValueError, TypeError, OverflowError) as exc:
            skipped.append(f"pod {name}: creationTimestamp {str(created)[:40]!r}: {exc}")
            continue
        members.append(Member(host=host, port=port, unique_id=unique_id, alive=int(alive)))
    return Discovery(tuple(members), local_id, tuple(skipped))


def _java_string(value: Any) -> str:
    """``Object.toString()`` of a value Tomcat's JSONParser made (strings, numbers, booleans)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class KubernetesMembershipProvider:
    """Polls the pods list of one namespace (see the module docstring)."""

    name = "kubernetes"

    def __init__(self, settings: KubernetesSettings | None = None, *, connect_timeout: float = 1.0,
                 read_timeout: float = 1.0, max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
                 environ: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self.connect_timeout = float(connect_timeout)
        self.read_timeout = float(read_timeout)
        self.max_response_size = int(max_response_size)
        self.environ = environ
        self.start_time = _dt.datetime.now(_dt.timezone.utc)
        self._client: Any = None
        self._token: str | None = None
        self._token_mtime: float | None = None
        self.notes = RateLimitedLog(log)

    def describe(self) -> str:
        s = self.settings
        return f"Kubernetes API {s.url}" if s is not None else "Kubernetes API"

    # ------------------------------------------------------------------ set-up
    def configure(self, environ: Mapping[str, str]) -> None:
        import httpx

        if self.settings is None:
            self.settings = KubernetesSettings.from_env(self.environ if self.environ is not None else environ)
        s = self.settings
        s.check()
        self.start_time = _dt.datetime.now(_dt.timezone.utc)
        verify: ssl.SSLContext | bool = False
        if s.protocol == "https":
            verify = self._ssl_context(s)
        else:
            log.warning("Kubernetes membership over plain http (%s): the token travels unencrypted", s.url)
        if s.sa_token_file is not None:
            self._read_token(s.sa_token_file)
        self._client = httpx.AsyncClient(
            verify=verify, trust_env=False, follow_redirects=False,
            timeout=httpx.Timeout(connect=self.connect_timeout, read=self.read_timeout,
                                  write=self.read_timeout, pool=self.connect_timeout))

    @staticmethod
    def _ssl_context(s: KubernetesSettings) -> ssl.SSLContext:
        try:
            ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=s.ca_cert_file)
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise MembershipError(f"Kubernetes membership: CA certificate file {s.ca_cert_file} cannot be used: "
                                  f"{exc} (it must hold PEM certificates)") from exc
        if s.client_cert_file is not None:
            try:
                ctx.load_cert_chain(s.client_cert_file, s.client_key_file, s.client_key_password)
            except (ssl.SSLError, OSError, ValueError) as exc:
                raise MembershipError(f"Kubernetes membership: client certificate {s.client_cert_file} / key "
                                      f"{s.client_key_file} cannot be used: {exc}") from exc
        return ctx

    def _read_token(self, path: str) -> None:
        try:
            st = os.stat(path)
            with open(path, "rb") as f:
                raw = f.read(1024 * 1024)
        except OSError as exc:
            raise MembershipError(f"Kubernetes membership: service-account token file {path} cannot be read: "
                                  f"{exc}") from exc
        self._token = raw.decode("ascii", errors="replace").strip()
        self._token_mtime = st.st_mtime

    def _reload_token_if_changed(self) -> None:
        """Tomcat's ``reloadSaTokenIfChanged``: re-read the token when its mtime changed."""
        path = self.settings.sa_token_file if self.settings is not None else None
        if path is None:
            return
        try:
            mtime = os.stat(path).st_mtime
        except OSError:
            self.notes.warn("token", "service-account token not found at %s: using the one read before", path)
            return
        if mtime != self._token_mtime:
            try:
                self._read_token(path)
                log.info("service-account token %s changed: reloaded", path)
            except MembershipError as exc:
                self.notes.warn("token", "%s", exc)

    # ------------------------------------------------------------------ polling
    @property
    def overall_timeout(self) -> float:
        """Bound of one whole request (a server that trickles bytes cannot hold a poll forever)."""
        return self.connect_timeout + 5 * self.read_timeout

    async def get_body(self) -> bytes:
        """One GET of the pods list; raises :class:`CloudFetchError` with what to check."""
        if self._client is None:
            self.configure(os.environ)
        assert self.settings is not None
        self._reload_token_if_changed()
        url = self.settings.url
        try:
            return await asyncio.wait_for(self._get(url), self.overall_timeout)
        except asyncio.TimeoutError:
            raise CloudFetchError(f"GET {url}: no complete answer within {self.overall_timeout:.1f} s "
                                  "(connectTimeout + 5 x readTimeout)", "timeout") from None

    async def _get(self, url: str) -> bytes:
        import httpx

        headers = {"Accept": "application/json"}
        if self._token is not None:
            headers["Authorization"] = "Bearer " + self._token
        limit = self.max_response_size
        try:
            async with self._client.stream("GET", url, headers=headers) as resp:
                if resp.status_code != 200:
                    detail = await _read_some(resp, 2048)
                    raise CloudFetchError(_http_error(url, resp.status_code, detail, self.settings), "http")
                length = resp.headers.get("content-length")
                if length is not None and length.isdigit() and int(length) > limit:
                    raise CloudFetchError(f"GET {url}: answer of {int(length)} bytes exceeds maxResponseSize="
                                          f"{limit}; raise maxResponseSize or narrow KUBERNETES_LABELS", "huge")
                chunks: list[bytes] = []
                total = 0
                async for chunk in resp.aiter_bytes():
                    total += len(chunk)
                    if total > limit:
                        raise CloudFetchError(f"GET {url}: answer exceeds maxResponseSize={limit} bytes; raise "
                                              "maxResponseSize or narrow KUBERNETES_LABELS", "huge")
                    chunks.append(chunk)
                return b"".join(chunks)
        except CloudFetchError:
            raise
        except httpx.ConnectTimeout:
            raise CloudFetchError(f"GET {url}: no connection within connectTimeout={self.connect_timeout * 1000:.0f} ms",
                                  "timeout") from None
        except httpx.ReadTimeout:
            raise CloudFetchError(f"GET {url}: no answer within readTimeout={self.read_timeout * 1000:.0f} ms",
                                  "timeout") from None
        except httpx.HTTPError as exc:
            tls = _ssl_cause(exc)
            if tls is not None:
                raise CloudFetchError(
                    f"GET {url}: TLS failed: {tls}. The API server's certificate must be signed by a CA in "
                    f"{self.settings.ca_cert_file if self.settings else '?'} and name this host/IP "
                    "(subjectAltName)", "tls") from None
            raise CloudFetchError(f"GET {url}: {type(exc).__name__}: {exc}", "connect") from None
        except (ssl.SSLError, OSError) as exc:
            raise CloudFetchError(f"GET {url}: {type(exc).__name__}: {exc}", "connect") from None

    async def fetch(self, port: int, local_host: bytes) -> Discovery:
        body = await self.get_body()
        if len(body) > 256 * 1024:  # a big list is parsed off the loop
            return await asyncio.get_running_loop().run_in_executor(
                None, parse_pods, body, port, local_host, self.start_time)
        return parse_pods(body, port, local_host, self.start_time)

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()


async def _read_some(resp: Any, n: int) -> str:
    out = b""
    try:
        async for chunk in resp.aiter_bytes():
            out += chunk
            if len(out) >= n:
                break
    except Exception:  # noqa: BLE001 - only for the error message
        pass
    return out[:n].decode("utf-8", errors="replace")


def _http_error(url: str, status: int, body: str, s: KubernetesSettings | None) -> str:
    reason = ""
    try:
        reason = str(json.loads(body).get("message", ""))
    except (ValueError, AttributeError):
        reason = body.strip().splitlines()[0][:200] if body.strip() else ""
    hint = ""
    if status == 401:
        hint = (f"; the token was refused: check the service-account token file "
                f"({s.sa_token_file if s and s.sa_token_file else 'SA_TOKEN_FILE'}) or the client certificate")
    elif status == 403:
        hint = (f"; the service account may not list pods in namespace {s.namespace if s else '?'}: bind a Role "
                "allowing get/list on pods (see deploy/kubernetes/rbac.yaml)")
    elif status == 404:
        hint = "; check KUBERNETES_NAMESPACE and KUBERNETES_API_VERSION"
    return f"GET {url}: HTTP {status}{(' ' + reason) if reason else ''}{hint}"


def _ssl_cause(exc: BaseException) -> BaseException | None:
    seen = 0
    cur: BaseException | None = exc
    while cur is not None and seen < 10:
        if isinstance(cur, ssl.SSLError):
            return cur
        cur = cur.__cause__ or cur.__context__
        seen += 1
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text or "SSL" in text:
        return exc
    return None
