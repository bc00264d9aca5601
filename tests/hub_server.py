"""A small, in-memory Hugging Face Hub for tests (standard library only).

It speaks the part of the Hub HTTP protocol that ``huggingface_hub`` (2.4) and ``transformers`` (5.23) use
to create repositories, push commits and download files (see ``../shared/docs/hub-protocol.md``):

    GET    /api/whoami-v2
    POST   /api/repos/create                              200 {"url", "name", "id"}; 409 if it exists
    POST   /api/validate-yaml                             {"errors": [], "warnings": []}
    POST   /api/{type}s/{ns}/{name}/preupload/{rev}       every file "regular" (never LFS / Xet)
    POST   /api/{type}s/{ns}/{name}/commit/{rev}          NDJSON: header, file (base64), deletedFile,
                                                          deletedFolder; ?create_pr=1 opens refs/pr/N
    GET    /api/{type}s/{ns}/{name}                       repo info (sha, siblings, private, ...)
    GET    /api/{type}s/{ns}/{name}/revision/{rev}        repo info at a revision
    GET    /api/{type}s/{ns}/{name}/refs                  branches, tags, converts (, pullRequests)
    GET    /api/{type}s/{ns}/{name}/commits/{rev}         history, newest first
    GET    /api/{type}s/{ns}/{name}/tree/{rev}[/{path}]   ?recursive=true
    POST   /api/{type}s/{ns}/{name}/paths-info/{rev}      form or JSON "paths"
    POST   /api/{type}s/{ns}/{name}/branch/{branch}       {"startingPoint"}; 409 if it exists
    DELETE /api/{type}s/{ns}/{name}/branch/{branch}
    POST   /api/{type}s/{ns}/{name}/tag/{rev}             {"tag", "message"}; 409 if it exists
    HEAD|GET /[{type}s/]{ns}/{name}/resolve/{rev}/{path}  bytes + X-Repo-Commit, ETag (git blob sha1),
                                                          Content-Length, Accept-Ranges; Range -> 206

Errors carry ``X-Error-Code`` (``RepoNotFound``, ``RevisionNotFound``, ``EntryNotFound``) and
``X-Error-Message`` headers and a JSON ``{"error": ...}`` body, as the Hub's do; ``huggingface_hub`` turns
them into ``RepositoryNotFoundError``, ``RevisionNotFoundError`` and ``EntryNotFoundError``. Writes need
an ``Authorization: Bearer`` token (any token, or one of ``tokens`` if given); a private repository
answers 401 ``RepoNotFound`` to anonymous readers.

Repositories and commits live in memory: branches, tags and full commit shas all work as revisions, so
revision pinning can be tested. Every request is recorded in ``server.requests`` as ``(method, path)``.

Usage::

    with HubServer() as hub:            # 127.0.0.1, a free port, a background thread
        os.environ["HF_ENDPOINT"] = hub.url
        ...
    # leaving the block stops the server, closes every connection and joins every thread
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlsplit

DEFAULT_BRANCH = "main"
REPO_TYPES = ("model", "dataset", "space")

# What the Hub puts in a new repository's first commit.
INITIAL_GITATTRIBUTES = b"""*.bin filter=lfs diff=lfs merge=lfs -text
*.ckpt filter=lfs diff=lfs merge=lfs -text
*.pt filter=lfs diff=lfs merge=lfs -text
*.pth filter=lfs diff=lfs merge=lfs -text
*.pkl filter=lfs diff=lfs merge=lfs -text
*.safetensors filter=lfs diff=lfs merge=lfs -text
"""


def git_blob_sha1(content: bytes) -> str:
    """The git object id of a blob, which is what the Hub sends as a regular file's ETag / oid."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class HubError(Exception):
    """An HTTP error answered the way the Hub answers it."""

    def __init__(self, status: int, message: str, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


@dataclass
class Commit:
    sha: str
    parent: str | None
    files: dict[str, bytes]
    title: str
    message: str
    date: str
    author: str


@dataclass
class Repo:
    repo_type: str
    repo_id: str
    private: bool
    created_at: str
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    pull_requests: dict[str, str] = field(default_factory=dict)

    def resolve(self, revision: str) -> Commit:
        """Branch, tag, ``refs/heads/x``, ``refs/tags/x``, ``refs/pr/N`` or a full commit sha."""
        revision = unquote(revision)
        for prefix, refs in (("refs/heads/", self.branches), ("refs/tags/", self.tags)):
            if revision.startswith(prefix) and revision[len(prefix) :] in refs:
                return self.commits[refs[revision[len(prefix) :]]]
        for refs in (self.branches, self.tags, self.pull_requests):
            if revision in refs:
                return self.commits[refs[revision]]
        if revision in self.commits:
            return self.commits[revision]
        raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")

    def add_commit(self, branch: str, files: dict[str, bytes], title: str, message: str, author: str) -> Commit:
        parent = self.branches.get(branch) or self.pull_requests.get(branch)
        seed = f"{self.repo_id}\n{parent}\n{title}\n{time.time_ns()}\n{len(self.commits)}\n"
        seed += "\n".join(f"{path} {git_blob_sha1(data)}" for path, data in sorted(files.items()))
        commit = Commit(hashlib.sha1(seed.encode()).hexdigest(), parent, files, title, message, _now_iso(), author)
        self.commits[commit.sha] = commit
        if branch in self.pull_requests:
            self.pull_requests[branch] = commit.sha
        else:
            self.branches[branch] = commit.sha
        return commit


class HubStore:
    """The server's state: repositories by ``(repo_type, repo_id)``, guarded by one lock."""

    def __init__(self, user: str = "tester", tokens: set[str] | None = None):
        self.user = user
        self.tokens = tokens
        self.repos: dict[tuple[str, str], Repo] = {}
        self.lock = threading.RLock()

    def create_repo(self, repo_type: str, repo_id: str, private: bool = False) -> Repo:
        with self.lock:
            if (repo_type, repo_id) in self.repos:
                raise HubError(409, f"You already created this {repo_type} repo")
            repo = Repo(repo_type, repo_id, private, _now_iso())
            repo.add_commit(DEFAULT_BRANCH, {".gitattributes": INITIAL_GITATTRIBUTES}, "initial commit", "", self.user)
            self.repos[(repo_type, repo_id)] = repo
            return repo

    def get(self, repo_type: str, repo_id: str, authorized: bool) -> Repo:
        repo = self.repos.get((repo_type, repo_id))
        if repo is None:
            raise HubError(404, "Repository not found", "RepoNotFound")
        if repo.private and not authorized:
            raise HubError(401, "Invalid username or password.", "RepoNotFound")
        return repo


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real client expects
    server_version = "TestHub/1.0"
    timeout = 30  # an idle keep-alive connection is closed after this many seconds

    # -- plumbing ---------------------------------------------------------------------------------

    @property
    def store(self) -> HubStore:
        return self.server.store  # type: ignore[attr-defined]

    def log_message(self, format, *args):  # quiet: pytest shows failures, not access logs
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()  # CRLF after each chunk
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _json_body(self, body: bytes) -> dict:
        try:
            return json.loads(body or b"{}")
        except json.JSONDecodeError:
            raise HubError(400, "Invalid JSON body") from None

    def _token(self) -> str | None:
        header = self.headers.get("Authorization", "")
        return header[len("Bearer ") :].strip() or None if header.startswith("Bearer ") else None

    def _authorized(self) -> bool:
        token = self._token()
        return token is not None and (self.store.tokens is None or token in self.store.tokens)

    def _require_auth(self) -> None:
        if self._token() is None:
            raise HubError(401, "Invalid credentials in Authorization header")
        if not self._authorized():
            raise HubError(401, "Invalid credentials in Authorization header (invalid token)")

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None, head: bool = False) -> None:
        self.send_response(status)
        headers = {"Content-Type": "application/json", **(headers or {})}
        headers.setdefault("Content-Length", str(len(body)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if not head and body:
            self.wfile.write(body)

    def _send_json(self, obj, status: int = 200, headers: dict | None = None) -> None:
        self._send(status, json.dumps(obj).encode(), headers)

    def _send_error(self, error: HubError, head: bool = False) -> None:
        headers = {"X-Error-Message": error.message}
        if error.code:
            headers["X-Error-Code"] = error.code
        self._send(error.status, json.dumps({"error": error.message}).encode(), headers, head=head)

    def _dispatch(self, method: str) -> None:
        self.server.requests.append((method, self.path))  # type: ignore[attr-defined]
        body = self._body() if method in ("POST", "PUT", "DELETE") else b""
        try:
            split = urlsplit(self.path)
            query = {key: values[-1] for key, values in parse_qs(split.query).items()}
            segments = [unquote(part) for part in split.path.split("/")[1:]]
            with self.store.lock:
                self._route(method, segments, query, body)
        except HubError as error:
            self._send_error(error, head=method == "HEAD")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as error:  # a bug in the test server: say so loudly rather than hang the client
            self._send_error(HubError(500, f"test hub server error: {type(error).__name__}: {error}"))

    def do_GET(self):
        self._dispatch("GET")

    def do_HEAD(self):
        self._dispatch("HEAD")

    def do_POST(self):
        self._dispatch("POST")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def do_PUT(self):
        self._dispatch("PUT")

    # -- routing ----------------------------------------------------------------------------------

    def _route(self, method: str, seg: list[str], query: dict, body: bytes) -> None:
        if seg[:1] == ["api"]:
            return self._route_api(method, seg[1:], query, body)
        repo_type = "model"
        if seg and seg[0] in ("datasets", "spaces"):
            repo_type, seg = seg[0][:-1], seg[1:]
        if len(seg) >= 5 and seg[2] == "resolve" and method in ("GET", "HEAD"):
            return self._resolve(repo_type, f"{seg[0]}/{seg[1]}", seg[3], "/".join(seg[4:]), head=method == "HEAD")
        raise HubError(404, f"Not found: {method} {self.path}")

    def _route_api(self, method: str, seg: list[str], query: dict, body: bytes) -> None:
        if seg == ["whoami-v2"] and method == "GET":
            return self._whoami()
        if seg == ["repos", "create"] and method == "POST":
            return self._create_repo(self._json_body(body))
        if seg == ["validate-yaml"] and method == "POST":
            return self._send_json({"errors": [], "warnings": []})
        if len(seg) < 3 or seg[0] not in {f"{kind}s" for kind in REPO_TYPES}:
            raise HubError(404, f"Not found: {method} {self.path}")
        repo_type, repo_id, rest = seg[0][:-1], f"{seg[1]}/{seg[2]}", seg[3:]
        if method in ("POST", "PUT", "DELETE"):
            self._require_auth()
        repo = self.store.get(repo_type, repo_id, self._authorized())
        action, args = (rest[0], rest[1:]) if rest else ("", [])
        revision = args[0] if args else DEFAULT_BRANCH
        path = "/".join(args[1:])
        if method == "GET" and action == "":
            return self._send_json(self._repo_info(repo, repo.resolve(DEFAULT_BRANCH), query))
        if method == "GET" and action == "revision" and args:
            return self._send_json(self._repo_info(repo, repo.resolve("/".join(args)), query))
        if method == "GET" and action == "refs":
            return self._send_json(self._refs(repo, query))
        if method == "GET" and action == "commits":
            return self._send_json(self._commits(repo, repo.resolve(revision)))
        if method == "GET" and action == "tree":
            return self._send_json(self._tree(repo.resolve(revision), path, query))
        if method == "POST" and action == "paths-info":
            return self._send_json(self._paths_info(repo.resolve(revision), body))
        if method == "POST" and action == "preupload":
            return self._send_json(self._preupload(repo, revision, self._json_body(body)))
        if method == "POST" and action == "commit":
            return self._send_json(self._commit(repo, revision, body, query))
        if action == "branch" and args:
            return self._branch(repo, "/".join(args), method, self._json_body(body) if method == "POST" else {})
        if method == "POST" and action == "tag" and args:
            return self._tag(repo, "/".join(args), self._json_body(body))
        raise HubError(404, f"Not found: {method} {self.path}")

    # -- endpoints --------------------------------------------------------------------------------

    def _whoami(self) -> None:
        self._require_auth()
        self._send_json(
            {
                "type": "user",
                "id": "0" * 24,
                "name": self.store.user,
                "fullname": "Test User",
                "email": None,
                "emailVerified": False,
                "canPay": False,
                "isPro": False,
                "periodEnd": None,
                "avatarUrl": "",
                "orgs": [],
                "auth": {"type": "access_token", "accessToken": {"displayName": "test", "role": "write"}},
            }
        )

    def _create_repo(self, payload: dict) -> None:
        self._require_auth()
        name = payload.get("name") or ""
        namespace = payload.get("organization") or self.store.user
        repo_type = payload.get("type") or "model"
        if not name or "/" in name or repo_type not in REPO_TYPES:
            raise HubError(400, f"Invalid repo name or type: {namespace}/{name} ({repo_type})")
        private = bool(payload.get("private")) or payload.get("visibility") == "private"
        repo_id = f"{namespace}/{name}"
        url = self._repo_url(repo_type, repo_id)
        try:
            self.store.create_repo(repo_type, repo_id, private)
        except HubError as error:
            headers = {"X-Error-Message": error.message}
            return self._send(409, json.dumps({"error": error.message, "url": url}).encode(), headers)
        self._send_json({"url": url, "name": repo_id, "id": hashlib.sha1(repo_id.encode()).hexdigest()[:24]})

    def _repo_url(self, repo_type: str, repo_id: str) -> str:
        host, port = self.server.server_address[:2]
        prefix = "" if repo_type == "model" else f"{repo_type}s/"
        return f"http://{host}:{port}/{prefix}{repo_id}"

    def _repo_info(self, repo: Repo, commit: Commit, query: dict) -> dict:
        blobs = query.get("blobs", "").lower() in ("1", "true")
        siblings = []
        for path, data in sorted(commit.files.items()):
            sibling = {"rfilename": path}
            if blobs:
                sibling.update(size=len(data), blobId=git_blob_sha1(data))
            siblings.append(sibling)
        author = repo.repo_id.split("/")[0]
        return {
            "_id": hashlib.sha1(repo.repo_id.encode()).hexdigest()[:24],
            "id": repo.repo_id,
            "modelId": repo.repo_id,
            "author": author,
            "sha": commit.sha,
            "lastModified": commit.date,
            "createdAt": repo.created_at,
            "private": repo.private,
            "disabled": False,
            "gated": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "siblings": siblings,
            "usedStorage": sum(len(data) for data in commit.files.values()),
        }

    def _refs(self, repo: Repo, query: dict) -> dict:
        def ref(kind: str, name: str, sha: str) -> dict:
            return {"name": name, "ref": f"refs/{kind}/{name}" if kind != "pr" else name, "targetCommit": sha}

        refs = {
            "branches": [ref("heads", name, sha) for name, sha in repo.branches.items()],
            "converts": [],
            "tags": [ref("tags", name, sha) for name, sha in repo.tags.items()],
        }
        if query.get("include_prs", "") in ("1", "true", "True"):
            refs["pullRequests"] = [ref("pr", name, sha) for name, sha in repo.pull_requests.items()]
        return refs

    def _commits(self, repo: Repo, commit: Commit) -> list[dict]:
        history = []
        current: Commit | None = commit
        while current is not None:
            history.append(
                {
                    "id": current.sha,
                    "title": current.title,
                    "message": current.message,
                    "authors": [{"user": current.author, "avatar": None}],
                    "date": current.date,
                }
            )
            current = repo.commits.get(current.parent) if current.parent else None
        return history

    @staticmethod
    def _entry(commit: Commit, path: str) -> dict | None:
        if path in commit.files:
            data = commit.files[path]
            return {"type": "file", "oid": git_blob_sha1(data), "size": len(data), "path": path}
        prefix = path.rstrip("/") + "/"
        children = sorted(name for name in commit.files if name.startswith(prefix))
        if path and children:
            tree_id = hashlib.sha1("\n".join(children).encode()).hexdigest()
            return {"type": "directory", "oid": tree_id, "size": 0, "path": path.rstrip("/")}
        return None

    def _tree(self, commit: Commit, path: str, query: dict) -> list[dict]:
        recursive = query.get("recursive", "").lower() in ("1", "true")
        path = path.strip("/")
        prefix = f"{path}/" if path else ""
        if path and self._entry(commit, path) is None:
            raise HubError(404, f"Entry not found: {path}", "EntryNotFound")
        entries: dict[str, dict] = {}
        for name in sorted(commit.files):
            if not name.startswith(prefix):
                continue
            parts = name[len(prefix) :].split("/")
            for depth in range(1, len(parts) + 1):
                if depth > 1 and not recursive:
                    break
                sub = prefix + "/".join(parts[:depth])
                if sub not in entries:
                    entries[sub] = self._entry(commit, sub)  # type: ignore[assignment]
        return sorted(entries.values(), key=lambda entry: (entry["type"] != "directory", entry["path"]))

    def _paths_info(self, commit: Commit, body: bytes) -> list[dict]:
        content_type = self.headers.get("Content-Type", "")
        if "json" in content_type:
            paths = self._json_body(body).get("paths", [])
        else:
            paths = parse_qs(body.decode()).get("paths", [])
        if isinstance(paths, str):
            paths = [paths]
        return [entry for entry in (self._entry(commit, path.strip("/")) for path in paths) if entry]

    def _writable_branch(self, repo: Repo, revision: str) -> str:
        revision = unquote(revision)
        revision = revision.removeprefix("refs/heads/")
        if revision in repo.branches or revision in repo.pull_requests:
            return revision
        raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")

    def _preupload(self, repo: Repo, revision: str, payload: dict) -> dict:
        branch = self._writable_branch(repo, revision)
        commit = repo.resolve(branch)
        files = []
        for item in payload.get("files", []):
            existing = commit.files.get(item["path"])
            files.append(
                {
                    "path": item["path"],
                    "uploadMode": "regular",
                    "shouldIgnore": False,
                    "oid": git_blob_sha1(existing) if existing is not None else None,
                }
            )
        return {"files": files, "commitOid": commit.sha}

    def _commit(self, repo: Repo, revision: str, body: bytes, query: dict) -> dict:
        branch = self._writable_branch(repo, revision)
        header: dict = {}
        files = dict(repo.resolve(branch).files)
        for line in body.splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            key, value = item.get("key"), item.get("value", {})
            if key == "header":
                header = value
            elif key == "file":
                if value.get("encoding", "base64") != "base64":
                    raise HubError(400, f"Unsupported encoding {value.get('encoding')!r}")
                files[value["path"]] = base64.b64decode(value["content"])
            elif key == "deletedFile":
                if value["path"] not in files:
                    raise HubError(404, f"A file with this name doesn't exist: {value['path']}", "EntryNotFound")
                del files[value["path"]]
            elif key == "deletedFolder":
                prefix = value["path"].rstrip("/") + "/"
                files = {path: data for path, data in files.items() if not path.startswith(prefix)}
            elif key in ("lfsFile", "lfsFileCopy"):
                raise HubError(400, "This test server accepts regular (base64) files only, not LFS")
            else:
                raise HubError(400, f"Unknown commit operation {key!r}")
        parent_commit = header.get("parentCommit")
        if parent_commit and parent_commit != repo.resolve(branch).sha:
            raise HubError(412, "A commit has happened since. Please refresh and try again.")
        if query.get("create_pr") in ("1", "true"):
            branch = f"refs/pr/{len(repo.pull_requests) + 1}"
            repo.pull_requests[branch] = repo.resolve(revision.removeprefix("refs/heads/")).sha
        commit = repo.add_commit(
            branch, files, header.get("summary") or "Upload", header.get("description") or "", self.store.user
        )
        result = {
            "success": True,
            "commitOid": commit.sha,
            "commitUrl": f"{self._repo_url(repo.repo_type, repo.repo_id)}/commit/{commit.sha}",
        }
        if branch.startswith("refs/pr/"):
            number = branch.rsplit("/", 1)[1]
            result["pullRequestUrl"] = f"{self._repo_url(repo.repo_type, repo.repo_id)}/discussions/{number}"
        return result

    def _branch(self, repo: Repo, branch: str, method: str, payload: dict) -> None:
        if method == "DELETE":
            if branch not in repo.branches:
                raise HubError(404, f"Invalid rev id: {branch}", "RevisionNotFound")
            if branch == DEFAULT_BRANCH:
                raise HubError(403, "Cannot delete the default branch")
            del repo.branches[branch]
            return self._send_json({})
        if method != "POST":
            raise HubError(405, f"Method {method} not allowed")
        if branch in repo.branches:
            raise HubError(409, f"Reference already exists: refs/heads/{branch}")
        if branch.startswith("refs/") or not branch:
            raise HubError(400, f"Invalid reference for a branch: {branch}")
        start = repo.resolve(payload.get("startingPoint") or DEFAULT_BRANCH)
        repo.branches[branch] = start.sha
        self._send_json({})

    def _tag(self, repo: Repo, revision: str, payload: dict) -> None:
        tag = payload.get("tag") or ""
        if not tag:
            raise HubError(400, "Missing tag name")
        if tag in repo.tags:
            raise HubError(409, f"Tag already exists: {tag}")
        repo.tags[tag] = repo.resolve(revision).sha
        self._send_json({})

    def _resolve(self, repo_type: str, repo_id: str, revision: str, path: str, head: bool) -> None:
        repo = self.store.get(repo_type, repo_id, self._authorized())
        commit = repo.resolve(revision)
        if path not in commit.files:
            raise HubError(404, "Entry not found", "EntryNotFound")
        data = commit.files[path]
        headers = {
            "Content-Type": "application/octet-stream",
            "X-Repo-Commit": commit.sha,
            "ETag": f'"{git_blob_sha1(data)}"',
            "Accept-Ranges": "bytes",
            "Content-Disposition": f"inline; filename*=UTF-8''{quote(path.rsplit('/', 1)[-1])}",
        }
        status, payload = 200, data
        requested = self.headers.get("Range")
        if requested:
            start, end = self._parse_range(requested, len(data))
            if start is None:
                headers["Content-Range"] = f"bytes */{len(data)}"
                body = json.dumps({"error": "Requested range not satisfiable"}).encode()
                return self._send(416, body, headers, head=head)
            status, payload = 206, data[start : end + 1]
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
        headers["Content-Length"] = str(len(payload))
        self._send(status, payload, headers, head=head)

    @staticmethod
    def _parse_range(value: str, total: int) -> tuple[int | None, int | None]:
        """One ``bytes=a-b`` / ``bytes=a-`` / ``bytes=-n`` range -> inclusive (start, end), or (None, None)."""
        try:
            unit, spec = value.split("=", 1)
            first, last = spec.split(",")[0].strip().split("-", 1)
            if unit.strip() != "bytes":
                return None, None
            if first == "":
                start, end = max(total - int(last), 0), total - 1
            else:
                start, end = int(first), min(int(last), total - 1) if last else total - 1
        except ValueError:
            return None, None
        if start >= total or start > end:
            return None, None
        return start, end


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address, store: HubStore):
        super().__init__(address, _Handler)
        self.store = store
        self.requests: list[tuple[str, str]] = []
        self._connections: set[socket.socket] = set()
        self._handler_threads: set[threading.Thread] = set()
        self._tracking = threading.Lock()

    def process_request(self, request, client_address):
        thread = threading.Thread(
            target=self._serve_one, args=(request, client_address), name="test-hub-connection", daemon=True
        )
        with self._tracking:
            self._connections.add(request)
            self._handler_threads.add(thread)
        thread.start()

    def _serve_one(self, request, client_address):
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self._tracking:
                self._connections.discard(request)
                self._handler_threads.discard(threading.current_thread())

    def close_all(self, timeout: float = 5.0) -> None:
        """Shut down every open keep-alive connection and wait for its thread."""
        with self._tracking:
            connections, threads = list(self._connections), list(self._handler_threads)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in threads:
            thread.join(timeout)


class HubServer:
    """The test Hub on ``127.0.0.1`` at a free port, served from a background thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, user: str = "tester", tokens: set[str] | None = None):
        self.store = HubStore(user=user, tokens=tokens)
        self._httpd = _Server((host, port), self.store)
        self.host, self.port = self._httpd.server_address[:2]
        self.url = f"http://{self.host}:{self.port}"
        self._thread: threading.Thread | None = None

    @property
    def requests(self) -> list[tuple[str, str]]:
        return self._httpd.requests

    def start(self) -> HubServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.name = "test-hub-server"
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(5)
            self._thread = None
        self._httpd.server_close()
        self._httpd.close_all()

    def threads(self) -> list[threading.Thread]:
        """Threads this server still runs (empty after ``stop``)."""
        alive = [thread for thread in self._httpd._handler_threads if thread.is_alive()]
        if self._thread is not None and self._thread.is_alive():
            alive.append(self._thread)
        return alive

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


if __name__ == "__main__":  # a manual run: python tests/hub_server.py [port]
    import sys

    server = HubServer(port=int(sys.argv[1]) if len(sys.argv) > 1 else 0).start()
    print(f"test hub listening on {server.url} (Ctrl+C stops it)")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()
