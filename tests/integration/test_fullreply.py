"""Show full reply: a real python-telegram-bot Bot sends the whole reply to the Bot API
stand-in, as formatted messages or, past the size, as a Markdown file."""

from __future__ import annotations

from typing import Any

import telegram

from ccr.core.redact import MASK
from ccr.telegram.fullreply import send_full_reply
from ccr.telegram.richtext import LIMIT, u16len

CHAT = 4242


async def send(botapi: Any, text: str, *, file_after: int = 12_000,
               reply_to: int | None = None) -> int:
    async with telegram.Bot(botapi.token, base_url=botapi.base_url) as bot:
        return await send_full_reply(bot, CHAT, text, title="laptop:1", reply_to=reply_to,
                                     file_after=file_after)


async def test_short_reply_is_one_formatted_message(botapi: Any) -> None:
    sent = await send(botapi, "Done:\n```py\nx = 1 < 2\n```\npassword=hunter2xyz", reply_to=7)
    assert sent == 1
    [msg] = botapi.sent_messages(CHAT)
    assert msg["text"] == "laptop:1 · full reply\nDone:\nx = 1 < 2\npassword=" + MASK
    assert '<pre><code class="language-py">x = 1 &lt; 2</code></pre>' in msg["raw"]


async def test_long_reply_comes_as_several_messages_with_code_kept(botapi: Any) -> None:
    lines = [f"result_{i} = compute({i}) < {i + 1}" for i in range(700)]
    text = "Here it is:\n```python\n" + "\n".join(lines) + "\n```\nAll done."
    sent = await send(botapi, text, file_after=100_000)
    messages = botapi.sent_messages(CHAT)
    assert sent == len(messages) >= 3
    assert all(u16len(m["raw"]) <= LIMIT for m in messages)
    assert messages[0]["text"].startswith(f"laptop:1 · full reply 1/{sent}")
    assert all(m["raw"].count("<pre>") == m["raw"].count("</pre>") == 1 for m in messages)
    shown = "\n".join(m["text"] for m in messages)
    assert all(line in shown for line in lines) and shown.endswith("All done.")


async def test_reply_past_the_size_is_one_markdown_file(botapi: Any) -> None:
    text = "# Report\n" + "token ghp_" + "A1b2" * 10 + "\n" + "word " * 5000
    sent = await send(botapi, text, file_after=4000, reply_to=9)
    assert sent == 1 and botapi.sent_messages(CHAT) == []
    [doc] = botapi.sent_documents(CHAT)
    assert doc["filename"] == "laptop-1-reply.md" and doc["reply_to_message_id"] == 9
    content = doc["content"].decode("utf-8")
    assert content.startswith("# Report\ntoken ghp_…" + MASK) and content.count("word") == 5000
    assert "A1b2A1b2" not in content
    assert "full reply" in doc["caption"] and len(doc["caption"]) <= 1024
