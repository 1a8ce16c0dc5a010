"""files.*: Slack's 3-step external upload (get an upload URL, POST the bytes to it, complete and
share); the old files.upload is refused as deprecated."""

from __future__ import annotations

import mimetypes
import secrets
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from .base import ApiError, HttpReply, Method, Params, UploadedFile, invalid_arguments, text_reply
from .workspace import Workspace


class FilesApi:
    def __init__(self, workspace: Workspace, origin: Callable[[], str]) -> None:
        self._ws = workspace
        self._origin = origin  # where the upload URLs point: the running server

    def methods(self) -> dict[str, Method]:
        return {
            "files.getUploadURLExternal": self.get_upload_url_external,
            "files.completeUploadExternal": self.complete_upload_external,
            "files.upload": self.upload,
        }

    def get_upload_url_external(self, params: Params) -> dict[str, Any]:
        filename, length = params.get("filename"), str(params.get("length", ""))
        if not filename or not length.isdigit():
            raise invalid_arguments(["missing required field: filename and length"])
        file = UploadedFile(f"F0{self._ws.next_id():08X}", filename, int(length), secrets.token_urlsafe(16))
        self._ws.state.files[file.id] = file
        return {"ok": True, "upload_url": f"{self._origin()}/upload/v1/{file.upload_key}", "file_id": file.id}

    def complete_upload_external(self, params: Params) -> dict[str, Any]:
        entries = params.get("files")
        if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
            raise invalid_arguments(["missing required field: files [json-pointer:/files]"])
        files = [self._uploaded_file(entry.get("id")) for entry in entries]
        thread_ts = params.get("thread_ts") or None
        # chat:write.public does not cover files: sharing needs the bot in the channel
        channel = self._ws.writable_channel(params["channel_id"], thread_ts) if params.get("channel_id") else None
        for file, entry in zip(files, entries, strict=True):
            file.title = entry.get("title") or file.filename
            file.completed = True
            file.channel_id, file.thread_ts = channel, thread_ts
            file.initial_comment = params.get("initial_comment")
        if channel is not None:
            self._share_files(channel, files, params.get("initial_comment"), thread_ts)
        return {"ok": True, "files": [self._file_object(f) for f in files]}

    def upload(self, params: Params) -> dict[str, Any]:
        raise ApiError("method_deprecated")

    def receive_upload(self, upload_key: str, body: bytes) -> HttpReply:
        """The bytes POSTed to an upload URL (step 2)."""
        with self._ws.lock:
            file = next((f for f in self._ws.state.files.values() if f.upload_key == upload_key), None)
            if file is None or file.completed:
                return text_reply(HTTPStatus.NOT_FOUND, "not found")
            file.content = body
        return text_reply(HTTPStatus.OK, f"OK - {len(body)}")

    def _uploaded_file(self, file_id: Any) -> UploadedFile:
        file = self._ws.state.files.get(file_id) if isinstance(file_id, str) else None
        if file is None or file.content is None or file.completed:
            raise ApiError("file_not_found")
        return file

    def _share_files(self, channel: str, files: list[UploadedFile], comment: str | None, thread_ts: str | None) -> None:
        message = self._ws.bot_message(self._ws.next_ts(), comment, None, thread_ts)
        message.update(subtype="file_share", upload=True, files=[self._file_object(f) for f in files])
        self._ws.state.messages.setdefault(channel, {})[message["ts"]] = message

    def _file_object(self, file: UploadedFile) -> dict[str, Any]:
        ws = self._ws
        mimetype = mimetypes.guess_type(file.filename)[0] or "application/octet-stream"
        return {
            "id": file.id, "created": 1_700_000_000, "timestamp": 1_700_000_000, "name": file.filename,
            "title": file.title, "mimetype": mimetype, "filetype": file.filename.rsplit(".", 1)[-1],
            "user": ws.bot_user_id, "size": len(file.content or b""),
            "url_private": f"https://files.slack.com/files-pri/{ws.team_id}-{file.id}/{file.filename}",
            "permalink": f"https://{ws.team_domain}.slack.com/files/{ws.bot_user_id}/{file.id}/{file.filename}",
        }
