"""The scripted server's HTTP: JSON bodies, chat-completion event streams, keep-alives."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any


async def stream_completion(
    model: str,
    writer: asyncio.StreamWriter,
    cid: str,
    content: str | None,
    tool_calls: list[dict[str, Any]],
    finish: str,
    usage: dict[str, int] | None,
) -> None:
    writer.write(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
        b"transfer-encoding: chunked\r\ncache-control: no-cache\r\n\r\n"
    )

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        }

    events: list[dict[str, Any]] = [chunk({"role": "assistant", "content": ""})]
    for piece in pieces(content or ""):
        events.append(chunk({"content": piece}))
    for i, tc in enumerate(tool_calls):
        args = tc["function"]["arguments"]
        half = len(args) // 2
        events.append(
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": i,
                            "id": tc["id"],
                            "type": "function",
                            "function": {
                                "name": tc["function"]["name"],
                                "arguments": args[:half],
                            },
                        }
                    ]
                }
            )
        )
        events.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": args[half:]}}]}))
    events.append(chunk({}, finish))
    if usage is not None:
        events.append(
            {
                "id": cid,
                "object": "chat.completion.chunk",
                "model": model,
                "created": int(time.time()),
                "choices": [],
                "usage": usage,
            }
        )
    for event in events:
        await write_chunk(writer, f"data: {json.dumps(event)}\n\n".encode())
    await write_chunk(writer, b"data: [DONE]\n\n")
    await write_chunk(writer, b"")


def pieces(text: str) -> list[str]:
    """Split text into word-sized stream deltas, keeping the spaces."""
    out: list[str] = []
    start = 0
    for i, ch in enumerate(text):
        if ch == " " and i > start:
            out.append(text[start:i])
            start = i
    if start < len(text):
        out.append(text[start:])
    return out


def err(message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "scripted_error"}}


async def send_json(writer: asyncio.StreamWriter, status: int, data: Any) -> None:
    payload = json.dumps(data).encode()
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}.get(status, "Error")
    writer.write(
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(payload)}\r\n\r\n".encode()
        + payload
    )
    await writer.drain()


async def send_raw(writer: asyncio.StreamWriter, content_type: str, body: bytes) -> None:
    writer.write(
        f"HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\n"
        f"content-length: {len(body)}\r\n\r\n".encode()
        + body
    )
    await writer.drain()


async def keep_alive(writer: asyncio.StreamWriter) -> None:
    writer.write(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
    )
    while not writer.is_closing():  # until the client goes away
        await write_chunk(writer, b": keep-alive\n\n")
        await asyncio.sleep(0.05)


async def write_chunk(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
    await writer.drain()
