"""A small client for Pulp 3's REST API (pulpcore, pulp_rpm, pulp_file) on
the standard library only: JSON calls, multipart uploads streamed from a
file, paged listings and bounded task polling.

Every failure becomes a FleetError with the exit code of its kind
(persistrepo(8), "EXIT STATUS").
"""

import base64
import json
import os
import socket
import ssl
import time

try:
    from urllib.error import HTTPError, URLError
    from urllib.parse import urlencode, urlsplit
    from urllib.request import HTTPSHandler, ProxyHandler, Request, build_opener
except ImportError:  # Python 2: the fleet commands need Python 3, say so in one line
    HTTPError = URLError = None

from persistrepo.fleet.errors import Failed, Unauthorized, Unreachable

API = "/pulp/api/v3/"
MAX_JSON = 64 * 1024 * 1024
TIMEOUT = 60  # seconds for one HTTP exchange


class _Multipart(object):
    """A multipart/form-data body that streams one file between its fields."""

    def __init__(self, fields, file_field, filename, fileobj):
        self.boundary = "persistrepo-%s" % base64.b16encode(os.urandom(12)).decode("ascii")
        head = b""
        for name, value in fields:
            head += self._part(name) + b"\r\n" + value.encode("utf-8") + b"\r\n"
        head += self._part(file_field, filename) + \
            b"Content-Type: application/octet-stream\r\n\r\n"
        self._parts = [head, None, ("\r\n--%s--\r\n" % self.boundary).encode("ascii")]
        self._file = fileobj
        size = fileobj.seek(0, os.SEEK_END)
        fileobj.seek(0)
        self.length = len(head) + size + len(self._parts[2])

    def _part(self, name, filename=None):
        disposition = 'form-data; name="%s"' % name
        if filename is not None:
            disposition += '; filename="%s"' % filename
        return ("--%s\r\nContent-Disposition: %s\r\n" % (self.boundary, disposition)).encode(
            "utf-8")

    def read(self, size=-1):
        while self._parts:
            part = self._parts[0]
            if part is None:
                block = self._file.read(size if size and size > 0 else 1024 * 1024)
                if block:
                    return block
                self._parts.pop(0)
                continue
            self._parts.pop(0)
            return part
        return b""


class Client(object):
    """One Pulp server: its URL, a TLS context and basic-auth credentials."""

    def __init__(self, server, credentials=None, cafile=None, verify=True,
                 task_timeout=600):
        if HTTPError is None:
            raise Failed("push and pull need Python 3")
        parts = urlsplit(server)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise Failed("server = %s is not an http:// or https:// URL" % server)
        self.server = server.rstrip("/")
        self.task_timeout = task_timeout
        context = ssl.create_default_context(cafile=cafile)
        if not verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        # The Pulp server is reached directly: no proxy from the environment.
        self._opener = build_opener(ProxyHandler({}), HTTPSHandler(context=context))
        self._auth = None
        if credentials is not None:
            self._auth = "Basic " + base64.b64encode(
                ("%s:%s" % credentials).encode("utf-8")).decode("ascii")

    def url(self, href):
        return href if href.startswith(("http://", "https://")) else self.server + href

    # -- HTTP ------------------------------------------------------------

    def _open(self, href, method="GET", body=None, headers=None, auth=True):
        req = Request(self.url(href), data=body, method=method)
        for key, value in (headers or {}).items():
            req.add_header(key, value)
        if auth and self._auth:
            req.add_header("Authorization", self._auth)
        try:
            return self._opener.open(req, timeout=TIMEOUT)
        except HTTPError as e:
            detail = e.read(4096).decode("utf-8", "replace")
            e.close()
            if e.code in (401, 403):
                raise Unauthorized("%s refused the credentials (HTTP %d); check the "
                                   "credentials file (persist_rpm.conf, [fleet] credentials)"
                                   % (self.server, e.code))
            raise Failed("%s %s: HTTP %d: %s" % (method, self.url(href), e.code,
                                                  _one_line(detail) or e.reason))
        except (URLError, socket.error, ssl.SSLError, socket.timeout) as e:
            reason = getattr(e, "reason", None) or e
            raise Unreachable("cannot reach the Pulp server %s: %s" % (self.server, reason))

    def call(self, href, method="GET", data=None):
        """A JSON request; the decoded JSON answer."""
        body = None if data is None else json.dumps(data).encode("utf-8")
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        return self._json(self._open(href, method, body, headers), href)

    def _json(self, resp, href):
        with resp:
            data = resp.read(MAX_JSON + 1)
        if len(data) > MAX_JSON:
            raise Failed("%s: the answer is larger than %d bytes" % (href, MAX_JSON))
        try:
            return json.loads(data.decode("utf-8")) if data else None
        except ValueError:
            raise Failed("%s: the answer is not JSON; is %s a Pulp 3 server?"
                         % (self.url(href), self.server))

    def upload(self, href, filename, fileobj, fields=()):
        """POST fileobj's bytes as the multipart field `file` with fields."""
        body = _Multipart(fields, "file", filename, fileobj)
        resp = self._open(href, "POST", body, {
            "Content-Type": "multipart/form-data; boundary=%s" % body.boundary,
            "Content-Length": str(body.length), "Accept": "application/json"})
        return self._json(resp, href)

    def download(self, url, fd, limit):
        """Write url's bytes (at most limit of them) to fd; the count."""
        resp = self._open(url, auth=False)
        written = 0
        with resp:
            while True:
                block = resp.read(1024 * 1024)
                if not block:
                    return written
                written += len(block)
                if written > limit:
                    raise Failed("%s is larger than the %d bytes expected" % (url, limit))
                os.write(fd, block)

    def fetch(self, url, limit=MAX_JSON):
        """The bytes at url (the content app: no credentials), at most limit."""
        with self._open(url, auth=False) as resp:
            data = resp.read(limit + 1)
        if len(data) > limit:
            raise Failed("%s is larger than %d bytes" % (url, limit))
        return data

    # -- Pulp's conventions ----------------------------------------------

    def list(self, path, **filters):
        """Every result of a paged listing under the API root."""
        href = API + path + ("?" + urlencode(sorted(filters.items())) if filters else "")
        found = []
        while href:
            page = self.call(href)
            found.extend(page.get("results") or [])
            href = page.get("next")
        return found

    def first(self, path, **filters):
        found = self.list(path, **filters)
        return found[0] if found else None

    def wait(self, answer, what):
        """Wait for the task an asynchronous call answered with; the finished
        task. Bounded by task_timeout; a failed task is a Failed naming it."""
        href = answer["task"]
        deadline = time.time() + self.task_timeout
        pause = 0.1
        while True:
            task = self.call(href)
            state = task.get("state")
            if state == "completed":
                return task
            if state in ("failed", "canceled", "skipped"):
                error = task.get("error") or {}
                raise Failed("Pulp task %s (%s) %s: %s" % (href, what, state, _one_line(
                    error.get("description") or error.get("reason") or "no reason given")))
            if time.time() > deadline:
                raise Failed("Pulp task %s (%s) did not finish within %d s (task_timeout); "
                             "it may still finish on the server, then push again"
                             % (href, what, self.task_timeout))
            time.sleep(pause)
            pause = min(pause * 2, 1.0)

    def status(self):
        """The server's status (public: the next call proves the credentials)."""
        status = self.call(API + "status/")
        if not isinstance(status, dict) or not isinstance(status.get("versions"), list):
            raise Failed("%s does not answer as a Pulp 3 server" % self.server)
        versions = dict((v.get("component"), v.get("version")) for v in status["versions"])
        if "rpm" not in versions:
            raise Failed("%s has no pulp_rpm plugin" % self.server)
        return status


def _one_line(text):
    return " ".join(text.split())[:400]
